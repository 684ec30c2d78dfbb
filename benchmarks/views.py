"""One view per case. Every protected view answers ``200 ok`` and nothing else: what differs
between cases is only how the request is authenticated."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model, user_logged_in
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from knox.auth import TokenAuthentication as KnoxAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import (
    JWTAuthentication,
    JWTStatelessUserAuthentication,
)
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken as SimpleJWTAccessToken

from supertokens_django import create_new_session, verify_session
from supertokens_django.drf import SuperTokensAuthentication

OK = b"ok"


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(OK)


@verify_session
def ours(request: HttpRequest) -> HttpResponse:
    return HttpResponse(OK)


def sessions(request: HttpRequest) -> HttpResponse:
    """``django.contrib.sessions`` (db or cached_db) with ``contrib.auth``: the session row (or
    cache entry) and the user are loaded, as ``@login_required`` would."""
    if not request.user.is_authenticated:
        return HttpResponse(status=401)
    return HttpResponse(OK)


@cache
def bench_user_id() -> Any:
    return get_user_model()._default_manager.values_list("pk", flat=True).get(username="bench")


@csrf_exempt
def create(request: HttpRequest) -> HttpResponse:
    """A sign-in without the password check (the hasher would dominate): load the user by its
    primary key, create a session."""
    user = get_user_model()._default_manager.get(pk=bench_user_id())
    create_new_session(request, user)
    return HttpResponse(OK)


@csrf_exempt
def create_for_user_id(request: HttpRequest) -> HttpResponse:
    """A diagnostic of section C: the session alone, for a user id (no user row is read, no
    ``user_logged_in``, so no ``last_login`` update)."""
    create_new_session(request, str(bench_user_id()))
    return HttpResponse(OK)


@csrf_exempt
def sign_in_without_session(request: HttpRequest) -> HttpResponse:
    """A diagnostic of section C: what ``create`` does that is Django's rather than ours (load
    the user, ``user_logged_in``, whose receiver updates ``last_login``), without a session."""
    user = get_user_model()._default_manager.get(pk=bench_user_id())
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return HttpResponse(OK)


def pyjwt_hs256(request: HttpRequest) -> HttpResponse:
    """The floor of any pyjwt design: parse the header, verify an HS256 token, read a claim."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme != "Bearer":
        return HttpResponse(status=401)
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        return HttpResponse(status=401)
    if "sub" not in claims:
        return HttpResponse(status=401)
    return HttpResponse(OK)


class _Protected(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(OK)


class SimpleJWTView(_Protected):
    authentication_classes = [JWTAuthentication]


class SimpleJWTStatelessView(_Protected):
    authentication_classes = [JWTStatelessUserAuthentication]


# --- simplejwt with RS256, next to its HS256 configuration in the same process


@cache
def rsa_pems() -> tuple[str, str]:
    """The key pair, from the file ``run.py`` shares with the servers it starts."""
    from cryptography.hazmat.primitives import serialization

    from supertokens_django.keys import generate_private_key, private_to_bytes, public_pem

    path = os.environ.get("BENCH_SIMPLEJWT_RSA_KEY")
    if path:
        with open(path, "rb") as file:
            private = serialization.load_pem_private_key(file.read(), password=None)
    else:
        private = generate_private_key("RS256")
    return private_to_bytes(private).decode(), public_pem(private)


class RS256AccessToken(SimpleJWTAccessToken):
    @property
    def token_backend(self) -> TokenBackend:  # type: ignore[override]
        private, public = rsa_pems()
        return _rs256_backend(private, public)


@cache
def _rs256_backend(private: str, public: str) -> TokenBackend:
    return TokenBackend("RS256", signing_key=private, verifying_key=public)


class RS256Authentication(JWTAuthentication):
    def get_validated_token(self, raw_token: bytes) -> Any:
        from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

        try:
            return RS256AccessToken(raw_token)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc


class SimpleJWTRS256View(_Protected):
    authentication_classes = [RS256Authentication]


class KnoxView(_Protected):
    authentication_classes = [KnoxAuthentication]


class OursDRFView(_Protected):
    authentication_classes = [SuperTokensAuthentication]
