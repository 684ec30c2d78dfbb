"""Signing a Django test client in, as ``Client.force_login`` does for Django's own sessions.

``sign_in(client, user)`` starts a real session: it runs ``create_new_session`` on a request of
its own, so the session row, the signed tokens and ``user_logged_in`` (``last_login``) are what
a login view would produce. It then hands the client what a browser running the SuperTokens SDK
holds after that login: the token cookies, or ``Authorization: Bearer`` in header mode, plus the
headers the SDK sends with every call (``rid``, ``st-auth-mode``, and ``anti-csrf`` when
``ANTI_CSRF`` is ``"VIA_TOKEN"``). ``st-auth-mode`` matters to a view that creates a session (a
password change): without it the new session would answer in header mode, and a cookie-mode
client would lose its session. The client's later requests go through ``verify_session``, the
middleware and ``SuperTokensAuthentication`` exactly as the frontend's would, the anti-CSRF
check included: nothing is patched or bypassed.

``refresh(client)`` then refreshes as the SDK does (``POST {API_BASE_PATH}/session/refresh``)
and keeps what the SDK keeps from the answer: the new tokens, and under ``VIA_TOKEN`` the new
``anti-csrf`` token, which the client's next unsafe call must carry.

Django's test client sends every cookie on every request, whatever its ``Path``, so the refresh
cookie also travels to views; the library reads it only at the refresh endpoint.
"""

from __future__ import annotations

import weakref
from importlib import import_module
from typing import Any, cast

import django
from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import HttpHeaders
from django.http.response import HttpResponseBase
from django.test import AsyncRequestFactory, Client, RequestFactory
from django.test.client import AsyncClient

from . import transport
from .requests import create_new_session
from .session import Session
from .transport import Mode

__all__ = ["arefresh", "asign_in", "refresh", "sign_in"]

#: The ``rid`` the SDK sends on calls other than the refresh (PROTOCOL.md §6 accepts any value).
SDK_RID = "anti-csrf"
_CLIENT_HEADERS = ("Authorization", "anti-csrf", "rid", "st-auth-mode")
#: The defaults the SDK's refresh call replaces (an async client would send both values).
_REFRESH_REPLACES = ("Authorization", "rid", "st-auth-mode")
#: A header-mode client's refresh token, which the SDK keeps apart from what it sends on calls.
_refresh_tokens: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def sign_in(
    client: Client | AsyncClient,
    user: Any,
    *,
    mode: Mode = "cookie",
    jwt_payload: dict[str, Any] | None = None,
    session_data: dict[str, Any] | None = None,
) -> Session:
    """Create a session for ``user`` (a Django user, or a user id: a string, an ``int`` or a
    ``UUID``) and sign ``client`` in with it.

    ``client`` is a ``django.test.Client``, a DRF ``APIClient`` or (Django 5.2+) an
    ``AsyncClient``; ``mode`` is the SDK's token transfer method, ``"cookie"`` or ``"header"``.
    Tokens the client held before are replaced (their session is not revoked). Returns the new
    session, as ``create_new_session`` does.
    """
    if mode not in ("cookie", "header"):
        raise ValueError(f'mode must be "cookie" or "header", not {mode!r}')
    if isinstance(client, AsyncRequestFactory) and django.VERSION < (5, 2):
        # Its defaults would be dropped, and every call would go without rid and Authorization.
        raise TypeError(
            "sign_in() needs Django 5.2 or newer for an AsyncClient: before 5.2 an AsyncClient"
            " sends no default headers (Django ticket #35414). Use a Client."
        )
    request = RequestFactory().post("/", headers={"st-auth-mode": mode})
    _attach_django_session(request)
    transport.ensure_state(request, managed=True)
    session = create_new_session(request, user, jwt_payload=jwt_payload, session_data=session_data)
    response = transport.finalize(request, HttpResponse())
    _forget_tokens(client)
    _keep_django_session(client, request)
    _keep_tokens(client, response, mode)
    _set_header(client, "rid", SDK_RID)
    _set_header(client, "st-auth-mode", mode)
    return session


def refresh(client: Client) -> HttpResponseBase:
    """Refresh ``client``'s session as the SDK does, and keep what the SDK keeps; return the
    response. On a 401 (a revoked session, theft) the client is signed out, as the SDK's is."""
    mode = _mode_of(client)
    replaced = _take_defaults(client, _REFRESH_REPLACES)
    try:
        response = client.post(transport.refresh_path(), **_refresh_headers(client, mode))
    finally:
        _restore(client, replaced)
    _after_refresh(client, response, mode)
    return response


async def arefresh(client: AsyncClient) -> HttpResponseBase:
    """:func:`refresh` for an ``AsyncClient`` (Django 5.2+)."""
    mode = _mode_of(client)
    replaced = _take_defaults(client, _REFRESH_REPLACES)
    try:
        response = await client.post(transport.refresh_path(), **_refresh_headers(client, mode))
    finally:
        _restore(client, replaced)
    _after_refresh(client, response, mode)
    return response


async def asign_in(
    client: Client | AsyncClient,
    user: Any,
    *,
    mode: Mode = "cookie",
    jwt_payload: dict[str, Any] | None = None,
    session_data: dict[str, Any] | None = None,
) -> Session:
    """:func:`sign_in` for async tests (it writes to the database)."""
    return await sync_to_async(sign_in)(
        client, user, mode=mode, jwt_payload=jwt_payload, session_data=session_data
    )


def _attach_django_session(request: HttpRequest) -> None:
    # A login view has one (SessionMiddleware), and user_logged_in receivers may write to it.
    if apps.is_installed("django.contrib.sessions"):
        request.session = import_module(settings.SESSION_ENGINE).SessionStore()


def _keep_django_session(client: Client | AsyncClient, request: HttpRequest) -> None:
    # What SessionMiddleware would do with a session the login wrote to: save it, set the cookie.
    store = getattr(request, "session", None)
    if store is not None and store.modified:
        store.save()
        client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key


def _keep_tokens(client: Client | AsyncClient, response: HttpResponseBase, mode: Mode) -> None:
    if mode == "cookie":
        client.cookies.update(response.cookies)
    else:
        _set_header(client, "Authorization", f"Bearer {response[transport.ACCESS_HEADER]}")
        _refresh_tokens[client] = response[transport.REFRESH_HEADER]
    if response.has_header(transport.ANTI_CSRF):
        _set_header(client, "anti-csrf", response[transport.ANTI_CSRF])


def _mode_of(client: Client | AsyncClient) -> Mode:
    return "header" if client in _refresh_tokens else "cookie"


def _take_defaults(client: Client | AsyncClient, names: tuple[str, ...]) -> dict[str, str]:
    taken = {name: _defaults(client).pop(_header_key(client, name), None) for name in names}
    return {name: value for name, value in taken.items() if value is not None}


def _restore(client: Client | AsyncClient, values: dict[str, str]) -> None:
    for name, value in values.items():
        _set_header(client, name, value)


def _refresh_headers(client: Client | AsyncClient, mode: Mode) -> dict[str, Any]:
    # The SDK's refresh call: rid "session", the mode, and in header mode the refresh token as
    # the Bearer (the caller took the defaults these replace out of the client's: an async
    # client would send both values, joined with a comma).
    headers = {"rid": "session", "st-auth-mode": mode}
    if mode == "header":
        headers["Authorization"] = f"Bearer {_refresh_tokens[client]}"
    return {"headers": headers}


def _after_refresh(client: Client | AsyncClient, response: HttpResponseBase, mode: Mode) -> None:
    # Cookies: the test client applied the response's Set-Cookie (new tokens, or their removal).
    if response.status_code == 200:
        _keep_tokens(client, response, mode)
    elif response.get(transport.FRONT_TOKEN) == "remove":
        _forget_tokens(client)


def _header_key(client: Client | AsyncClient, name: str) -> str:
    # A sync client's defaults are WSGI environ keys; an async client's are header names, sent
    # as given (not HttpHeaders.to_asgi_name's ANTI_CSRF: ASGIRequest drops names with "_").
    if isinstance(client, AsyncRequestFactory):
        return name.lower()
    return HttpHeaders.to_wsgi_name(name)


def _defaults(client: Client | AsyncClient) -> dict[str, Any]:
    # django-stubs types an async client's defaults as an ASGI scope; extra headers go there too.
    return cast("dict[str, Any]", client.defaults)


def _set_header(client: Client | AsyncClient, name: str, value: str) -> None:
    _defaults(client)[_header_key(client, name)] = value


def _forget_tokens(client: Client | AsyncClient) -> None:
    for name in (transport.ACCESS_COOKIE, transport.REFRESH_COOKIE):
        client.cookies.pop(name, None)
    for header in _CLIENT_HEADERS:
        _defaults(client).pop(_header_key(client, header), None)
    _refresh_tokens.pop(client, None)
