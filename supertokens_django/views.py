"""The protocol's endpoints: refresh, sign-out and the JWKS (PROTOCOL.md §1)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import user_logged_out
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import transport
from .exceptions import SuperTokensError, Unauthorised
from .keys import keyring
from .requests import get_session, refresh_session


def _allow(
    methods: tuple[str, ...], view: Callable[[HttpRequest], HttpResponse]
) -> Callable[[HttpRequest], HttpResponse]:
    """Answer OPTIONS (CORS preflight) and refuse other methods with a JSON 405."""

    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
        elif request.method not in methods:
            response = JsonResponse({"message": "method not allowed"}, status=405)
        else:
            # The endpoints write their own responses, with or without the middleware.
            transport.ensure_state(request, managed=True)
            try:
                response = view(request)
            except SuperTokensError as exc:
                return transport.error_response(request, exc)
            return transport.finalize(request, response)
        response["Allow"] = ", ".join((*methods, "OPTIONS"))
        return response

    wrapper.__name__ = wrapper.__qualname__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return csrf_exempt(wrapper)


def _refresh(request: HttpRequest) -> HttpResponse:
    """``POST {base}/session/refresh``: rotate the refresh token; ``200 {}`` with new tokens."""
    response: HttpResponse
    try:
        refresh_session(request)
        response = JsonResponse({})
    except SuperTokensError as exc:
        response = transport.error_response(request, exc)
    # Success or not, the 2020 protocol's cookie goes (PROTOCOL.md §3).
    if transport.has_legacy_cookie(request):
        transport.expire_legacy_cookie(response)
    response["Cache-Control"] = "no-store"
    return response


def _signout(request: HttpRequest) -> HttpResponse:
    """``POST {base}/signout``: revoke the session (if any) and clear the client's tokens.

    An expired access token is "try refresh token" (the SDK refreshes and signs out again); a
    session that is already gone is simply signed out.
    """
    try:
        session = get_session(request, session_required=False)
    except Unauthorised:
        session = None
    response = JsonResponse({"status": "OK"})
    if session is not None:
        # As Django's logout() does, and with the user: receivers.revoke_on_logout, one of its
        # receivers, finds this session revoked already.
        user = session.get_user()
        session.revoke_session()
        if user is not None:
            user_logged_out.send(sender=user.__class__, request=request, user=user)
    else:
        transport.clear_session(response)
    response["Cache-Control"] = "no-store"
    return response


def _jwks(request: HttpRequest) -> HttpResponse:
    """``GET {base}/jwt/jwks.json``: the public keys that verify access tokens."""
    response = JsonResponse(keyring.jwks(timezone.now()))
    # Short enough that a key announced before it signs is seen in time.
    response["Cache-Control"] = "public, max-age=60"
    return response


refresh = _allow(("POST",), _refresh)
signout = _allow(("POST",), _signout)
jwks = _allow(("GET", "HEAD"), _jwks)
