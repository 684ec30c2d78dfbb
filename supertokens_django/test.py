"""Signing a Django test client in, as ``Client.force_login`` does for Django's own sessions.

``sign_in(client, user)`` starts a real session: it runs ``create_new_session`` on a request of
its own, so the session row, the signed tokens and ``user_logged_in`` (``last_login``) are what
a login view would produce. It then hands the client what a browser running the SuperTokens SDK
holds after that login: the token cookies, or ``Authorization: Bearer`` in header mode, plus the
headers the SDK sends with every call (``rid``, and ``anti-csrf`` when ``ANTI_CSRF`` is
``"VIA_TOKEN"``). The client's later requests go through ``verify_session``, the middleware and
``SuperTokensAuthentication`` exactly as the frontend's would, the anti-CSRF check included:
nothing is patched or bypassed.

Django's test client sends every cookie on every request, whatever its ``Path``, so the refresh
cookie also travels to views; the library reads it only at the refresh endpoint.
"""

from __future__ import annotations

from typing import Any, cast

import django
from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.http.request import HttpHeaders
from django.test import AsyncRequestFactory, Client, RequestFactory
from django.test.client import AsyncClient

from . import transport
from .requests import create_new_session
from .session import Session
from .transport import Mode

__all__ = ["asign_in", "sign_in"]

#: The ``rid`` the SDK sends on calls other than the refresh (PROTOCOL.md §6 accepts any value).
SDK_RID = "anti-csrf"
_CLIENT_HEADERS = ("Authorization", "anti-csrf", "rid")


def sign_in(
    client: Client | AsyncClient,
    user: Any,
    *,
    mode: Mode = "cookie",
    jwt_payload: dict[str, Any] | None = None,
    session_data: dict[str, Any] | None = None,
) -> Session:
    """Create a session for ``user`` (a Django user or a user id) and sign ``client`` in with it.

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
    transport.ensure_state(request, managed=True)
    session = create_new_session(request, user, jwt_payload=jwt_payload, session_data=session_data)
    response = transport.finalize(request, HttpResponse())
    _forget_tokens(client)
    if mode == "cookie":
        client.cookies.update(response.cookies)
    else:
        _set_header(client, "Authorization", f"Bearer {response[transport.ACCESS_HEADER]}")
    _set_header(client, "rid", SDK_RID)
    if response.has_header(transport.ANTI_CSRF):
        _set_header(client, "anti-csrf", response[transport.ANTI_CSRF])
    return session


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
