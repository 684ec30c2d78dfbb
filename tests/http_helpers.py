"""Helpers for the HTTP-layer tests: a minimal stand-in for the browser SDK, and readers for
what the protocol puts on a response (cookies, ``front-token``, exposed headers)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from http.cookies import Morsel
from typing import Any, Literal

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.http.cookie import parse_cookie
from django.test import AsyncClient, Client
from django.utils import timezone

from supertokens_django import engine

Mode = Literal["cookie", "header"]
TOKEN_HEADERS = ("front-token", "st-access-token", "st-refresh-token", "anti-csrf")
REFRESH = "/auth/session/refresh"
SIGNOUT = "/auth/signout"
JWKS = "/auth/jwt/jwks.json"


#: ``pytestmark`` of a module whose tests speak HTTP to ``tests.http_urls``: that URLconf, the
#: database, and an empty key ring (tests/conftest.py's ``keyring``) before and after each test.
HTTP_TEST_MARKS = [
    pytest.mark.urls("tests.http_urls"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("keyring"),
]


def advance_clock(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    """Move the engine's clock (its ``_now`` seam) ``delta`` into the future."""
    monkeypatch.setattr(engine, "_now", lambda: timezone.now() + delta)


# --------------------------------------------------------------------------- reading responses


def json_body(response: HttpResponse) -> Any:
    return json.loads(response.content)


def decode_front_token(value: str) -> dict[str, Any]:
    """The SDK's decoding: standard base64 (padded), then UTF-8 JSON."""
    assert len(value) % 4 == 0, "front-token must be padded base64"
    return json.loads(base64.b64decode(value, validate=True).decode("utf-8"))  # type: ignore[no-any-return]


def decode_jwt_payload(token: str) -> dict[str, Any]:
    """The unverified claims of a JWT (what the SDK could read; it never verifies)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def exposed(response: HttpResponse) -> set[str]:
    value = response.get("Access-Control-Expose-Headers", "")
    return {h.strip() for h in value.split(",") if h.strip()}


def set_token_headers(response: HttpResponse) -> set[str]:
    """The protocol's headers this response sets (empty values included: they clear)."""
    return {h for h in TOKEN_HEADERS if response.has_header(h)}


def cookie(response: HttpResponse, name: str) -> Morsel[str] | None:
    return response.cookies.get(name)


def is_cleared(morsel: Morsel[str] | None) -> bool:
    return morsel is not None and morsel.value == "" and str(morsel["max-age"]) == "0"


def assert_cleared_both_modes(response: HttpResponse, *, refresh_path: str = REFRESH) -> None:
    """Tokens cleared in cookie and header mode with ``front-token: remove`` (PROTOCOL.md §5)."""
    access, refresh = cookie(response, "sAccessToken"), cookie(response, "sRefreshToken")
    assert is_cleared(access) and access is not None and access["path"] == "/"
    assert is_cleared(refresh) and refresh is not None and refresh["path"] == refresh_path
    assert response["st-access-token"] == ""
    assert response["st-refresh-token"] == ""
    assert response["front-token"] == "remove"
    assert exposed(response) == {"front-token", "st-access-token", "st-refresh-token"}


def assert_untouched(response: HttpResponse) -> None:
    """No token change of any kind on ``response``."""
    assert "sAccessToken" not in response.cookies
    assert "sRefreshToken" not in response.cookies
    assert set_token_headers(response) == set()
    assert "Access-Control-Expose-Headers" not in response


def cookie_expiry(morsel: Morsel[str]) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(morsel["expires"])


# --------------------------------------------------------------------------- the SDK stand-in


class Agent:
    """What ``supertokens-website`` does with a token-carrying response, in either mode.

    Cookie mode keeps cookies like a browser (honouring ``Path`` and expiry); header mode keeps
    the ``st-*`` headers and sends ``Authorization: Bearer``. Every call carries ``rid``,
    ``fdi-version``, ``st-auth-mode`` and, when it holds one, ``anti-csrf``.
    """

    def __init__(self, client: Client | AsyncClient, mode: Mode = "cookie") -> None:
        self.client = client
        self.mode = mode
        self.cookies: dict[str, tuple[str, str]] = {}  # name -> (value, path)
        self.access: str | None = None
        self.refresh_token: str | None = None
        self.anti_csrf: str | None = None
        self.front: dict[str, Any] | None = None

    # -- requests

    def headers(self, path: str, *, rid: bool = True, anti_csrf: bool = True) -> dict[str, str]:
        extra: dict[str, str] = {"HTTP_FDI_VERSION": "4.1", "HTTP_ST_AUTH_MODE": self.mode}
        if rid:
            extra["HTTP_RID"] = "session" if path == REFRESH else "anti-csrf"
        if anti_csrf and self.anti_csrf:
            extra["HTTP_ANTI_CSRF"] = self.anti_csrf
        jar = "; ".join(
            f"{name}={value}"
            for name, (value, cookie_path) in sorted(self.cookies.items())
            if path == cookie_path or path.startswith(cookie_path.rstrip("/") + "/")
        )
        if jar:
            extra["HTTP_COOKIE"] = jar
        if self.mode == "header":
            token = self.refresh_token if path == REFRESH else self.access
            if token:
                extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return extra

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        rid: bool = True,
        anti_csrf: bool = True,
        **extra: str,
    ) -> HttpResponse:
        headers = {**self.headers(path, rid=rid, anti_csrf=anti_csrf), **extra}
        kwargs: dict[str, Any] = {}
        if data is not None:
            kwargs = {"data": json.dumps(data), "content_type": "application/json"}
        self.client.cookies.clear()  # our jar, with paths, is what gets sent
        send = getattr(self.client, method.lower())
        if isinstance(self.client, AsyncClient):
            # AsyncClient always sends its own jar as a Cookie header (a second one would be
            # joined with ","), and takes real header names: its **extra goes into the scope.
            for name, value in parse_cookie(headers.pop("HTTP_COOKIE", "")).items():
                self.client.cookies[name] = value
            names = {k: k[5:].replace("_", "-").lower() for k in headers}
            response = async_to_sync(send)(
                path, **kwargs, headers={names[k]: v for k, v in headers.items()}
            )
        else:
            response = send(path, **kwargs, **headers)
        self.absorb(response)
        return response  # type: ignore[no-any-return]

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> HttpResponse:
        return self.call("POST", path, data, **kwargs)

    def login(self, **body: Any) -> HttpResponse:
        response = self.post("/login", body)
        assert response.status_code == 200, response.content
        return response

    def refresh(self, **kwargs: Any) -> HttpResponse:
        return self.post(REFRESH, **kwargs)

    def use_refresh_token(self, token: str) -> None:
        """Put ``token`` where this browser keeps its refresh token."""
        self.refresh_token = token
        if self.mode == "cookie":
            self.cookies["sRefreshToken"] = (token, REFRESH)

    # -- responses

    def absorb(self, response: HttpResponse) -> None:
        for name, morsel in response.cookies.items():
            if morsel.value == "" or str(morsel["max-age"]) == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = (morsel.value, morsel["path"] or "/")
        if response.has_header("st-access-token"):
            self.access = response["st-access-token"] or None
        if response.has_header("st-refresh-token"):
            self.refresh_token = response["st-refresh-token"] or None
        if "sAccessToken" in self.cookies:
            self.access = self.cookies["sAccessToken"][0]
        if "sRefreshToken" in self.cookies:
            self.refresh_token = self.cookies["sRefreshToken"][0]
        if response.has_header("anti-csrf"):
            self.anti_csrf = response["anti-csrf"]
        front = response.get("front-token")
        if front == "remove":
            self.front = None
            self.anti_csrf = None
            if self.mode == "cookie":
                self.access = self.refresh_token = None
        elif front:
            self.front = decode_front_token(front)

    @property
    def session_exists(self) -> bool:
        return self.front is not None
