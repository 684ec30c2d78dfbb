"""The demo page and the JSON API of the example project.

The API is stable: the end-to-end tests and the benchmarks call it. Every answer is JSON; a
failed session check is answered by supertokens_django itself (PROTOCOL.md §5), and everything
else that goes wrong on the client's side is a 400 with ``{"message": ...}`` (never a 401, which
the SDK would take for an expired session and answer with a refresh).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

from django.apps import apps
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from supertokens_django import (
    Session,
    create_new_session,
    revoke_all_sessions_for_user,
    verify_session,
)


def _json_object(request: HttpRequest) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is anything else."""
    try:
        body = json.loads(request.body)
    except ValueError:  # also UnicodeDecodeError: the body need not be UTF-8
        return None
    return body if isinstance(body, dict) else None


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=400)


def _describe(session: Session) -> dict[str, Any]:
    return {
        "user_id": session.get_user_id(),
        "session_handle": session.get_handle(),
        "jwt_payload": session.get_jwt_payload(),
    }


def drf_available() -> bool:
    """Whether ``/api/drf/me`` exists: DRF is installed, and so is the package's DRF support."""
    return (
        apps.is_installed("rest_framework")
        and importlib.util.find_spec("supertokens_django.drf") is not None
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html", {"has_drf": drf_available()})


# Exempt from Django's CSRF check: the request carries no session yet, and once it does, the
# protocol's own anti-CSRF (PROTOCOL.md §6) protects the API.
@csrf_exempt
@require_POST
def login(request: HttpRequest) -> JsonResponse:
    """Check the password with Django auth, then start a session in the mode the SDK asks for."""
    body = _json_object(request)
    if body is None:
        return _bad_request("expected a JSON object")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _bad_request("invalid credentials")
    user = authenticate(request, username=username, password=password)
    if user is None:
        return _bad_request("invalid credentials")
    session = create_new_session(
        request,
        user,
        jwt_payload={"username": user.get_username()},
        session_data={"counter": 0},
    )
    return JsonResponse({"user_id": session.get_user_id()})


# require_* outside verify_session: a wrong method is a 405 before any session check.
@require_http_methods(["GET", "POST"])
@verify_session
def me(request: HttpRequest) -> JsonResponse:
    """Who is signed in; a POST also counts its calls in the session data."""
    session: Session = request.supertokens  # type: ignore[attr-defined]
    answer = _describe(session)
    if request.method == "POST":
        data = session.get_session_data()
        counter = data.get("counter")
        data["counter"] = (counter if isinstance(counter, int) else 0) + 1
        session.update_session_data(data)
        answer["counter"] = data["counter"]
    return JsonResponse(answer)


@require_POST
@verify_session
def jwt_payload(request: HttpRequest) -> JsonResponse:
    """Replace the access token's custom claims; the new token goes out with this response."""
    session: Session = request.supertokens  # type: ignore[attr-defined]
    body = _json_object(request)
    if body is None:
        return _bad_request("expected a JSON object")
    try:
        session.update_jwt_payload(body)
    except ValueError as exc:  # a protected claim, too big, not JSON-safe
        return _bad_request(str(exc))
    return JsonResponse({"jwt_payload": session.get_jwt_payload()})


@require_POST
@verify_session
def session_data(request: HttpRequest) -> JsonResponse:
    """Overwrite the server-side session data (the tokens do not change)."""
    session: Session = request.supertokens  # type: ignore[attr-defined]
    body = _json_object(request)
    if body is None:
        return _bad_request("expected a JSON object")
    try:
        session.update_session_data(body)
    except ValueError as exc:
        return _bad_request(str(exc))
    return JsonResponse({"session_data": session.get_session_data()})


@require_GET
@verify_session(session_required=False)
def optional(request: HttpRequest) -> JsonResponse:
    session: Session | None = request.supertokens  # type: ignore[attr-defined]
    return JsonResponse({"user_id": session.get_user_id() if session is not None else None})


@require_GET
@verify_session(check_database=True)
def strict(request: HttpRequest) -> JsonResponse:
    """Checks revocation in the database even when blacklisting is off."""
    return JsonResponse(_describe(request.supertokens))  # type: ignore[attr-defined]


@require_POST
@verify_session
def revoke_all(request: HttpRequest) -> JsonResponse:
    """Revoke every session of the signed-in user, this one included.

    The caller's own tokens are left in place on purpose: its next call shows what any revoked
    browser sees (with blacklisting on, a 401 and the SDK's ``UNAUTHORISED`` event).
    """
    session: Session = request.supertokens  # type: ignore[attr-defined]
    handles = revoke_all_sessions_for_user(session.get_user_id())
    return JsonResponse({"revoked": [str(handle) for handle in handles]})
