"""The request-level API: create, get and refresh the session of an ``HttpRequest``."""

from __future__ import annotations

import functools
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import user_logged_in
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db import models as dj_models
from django.http import HttpRequest

from . import db, engine, transport
from .conf import st_settings
from .exceptions import ServiceUnavailable, TokenTheftDetected, TryRefreshToken, Unauthorised
from .session import Session


def request_meta(request: HttpRequest) -> engine.RequestMeta:
    # REMOTE_ADDR only: trusting X-Forwarded-For is a deployment decision (set REMOTE_ADDR from
    # it in a middleware behind a known proxy), not something to guess here.
    ip = request.META.get("REMOTE_ADDR") or None
    agent = request.META.get("HTTP_USER_AGENT", "")
    return engine.RequestMeta(ip_address=ip, user_agent=agent[:512])


MIDDLEWARE_PATH = "supertokens_django.middleware.SuperTokensMiddleware"


def require_middleware(request: HttpRequest, what: str) -> transport.RequestState:
    """The request's state, if the middleware will write it onto the response; else fail loudly
    (a session whose tokens never reach the client is a bug nobody would notice)."""
    state = transport.state_of(request)
    if state is None or not state.managed:
        raise ImproperlyConfigured(
            f"{what} requires the SuperTokens middleware. Edit your MIDDLEWARE setting to insert"
            f" '{MIDDLEWARE_PATH}' after"
            " 'django.contrib.auth.middleware.AuthenticationMiddleware'."
        )
    return state


def _hold_until_commit(state: transport.RequestState) -> None:
    """Remember that the new tokens come from inside a caller's transaction (ATOMIC_REQUESTS).

    Django rolls such a transaction back exactly when the view raises, and then answers with an
    error; ``transport.finalize`` holds the tokens back from an error response in that case, so
    a rolled-back refresh never hands out a token the database does not have (the client's next
    refresh would look like theft).
    """
    state.uncommitted = connections[db.write_alias()].in_atomic_block


def create_new_session(
    request: HttpRequest,
    user: Any,
    jwt_payload: dict[str, Any] | None = None,
    session_data: dict[str, Any] | None = None,
) -> Session:
    """Start a session for ``user``; the response carries the tokens in the mode the request asks
    for (``st-auth-mode``; header mode when it names none), and clears tokens the request carried
    in the other mode.

    ``user`` is a Django user (``user_logged_in`` is sent), or a user id: a string, an ``int`` or
    a ``UUID`` such as ``user.pk``, meaning its ``str()``. An id is not looked up: no signal, and
    the session links no user row.
    """
    state = require_middleware(request, "create_new_session()")
    if isinstance(user, dj_models.Model):
        # Before the INSERT: update_last_login then takes the user row's exclusive lock first.
        # After it, two logins of one user inside ATOMIC_REQUESTS deadlock on MariaDB (the
        # INSERT's foreign-key check holds a shared lock on the same row).
        request.user = user  # type: ignore[assignment]
        user_logged_in.send(sender=user.__class__, request=request, user=user)
    tokens = engine.create_session(
        user,
        jwt_payload=jwt_payload,
        session_data=session_data,
        issuer=transport.issuer_for(request),
        meta=request_meta(request),
        request=request,
    )
    mode = transport.requested_mode(request)
    other: transport.Mode = "header" if mode == "cookie" else "cookie"
    state.issued, state.session, state.verified, state.mode = tokens, tokens.session, True, mode
    state.clear_other = other if transport.has_tokens_in(request, other) else None
    request.supertokens = tokens.session  # type: ignore[attr-defined]
    _hold_until_commit(state)
    return tokens.session


def get_session(
    request: HttpRequest,
    *,
    session_required: bool = True,
    anti_csrf_check: bool | None = None,
    check_database: bool = False,
) -> Session | None:
    """Verify the request's access token. ``None`` when there is none and it is not required.

    Raises :class:`TryRefreshToken` (expired, forged, anti-CSRF failed, legacy cookie) or
    :class:`Unauthorised` (missing when required; revoked).
    """
    return verify_request(
        request, transport.ensure_state(request), session_required, anti_csrf_check, check_database
    )


def verify_request(
    request: HttpRequest,
    state: transport.RequestState,
    session_required: bool,
    anti_csrf_check: bool | None,
    check_database: bool,
) -> Session | None:
    """:func:`get_session` for a caller that holds the request's state (the decorator)."""
    if state.issued is not None:
        # Created or refreshed on this request: that session is the request's session now, and
        # the tokens the request arrived with are superseded.
        return state.session
    if state.verified and not check_database:
        # Reuse an earlier verification of this request unless this call asks for more.
        if state.session is None and not session_required:
            return None
        if state.session is not None and (
            state.csrf_checked
            or not transport.anti_csrf_required(request, state.mode, anti_csrf_check)
        ):
            return state.session
    cookies = transport.request_cookies(request)
    if transport.LEGACY_COOKIE in cookies:
        raise TryRefreshToken("legacy sIdRefreshToken cookie present")
    found = transport.read_access_token(request, cookies)
    if found is None:
        if session_required:
            raise Unauthorised("no access token", clear_tokens=False)
        state.verified, state.session = True, None
        request.supertokens = None  # type: ignore[attr-defined]
        return None
    token, mode = found
    check_csrf = transport.anti_csrf_required(request, mode, anti_csrf_check)
    if (
        check_csrf
        and st_settings.anti_csrf == "VIA_CUSTOM_HEADER"
        and not transport.has_custom_header(request)
    ):
        raise TryRefreshToken("anti-csrf check failed: no rid header")
    session = engine.verify_access_token(
        token,
        # Straight from META: ``request.headers`` builds a map of every header on first use.
        anti_csrf_token=request.META.get("HTTP_ANTI_CSRF") if check_csrf else None,
        check_anti_csrf=check_csrf,
        check_database=check_database,
        # Only minting needs the issuer (and ``get_host()`` costs several µs): computed then.
        issuer=functools.partial(transport.issuer_for, request),
    )
    state.session, state.verified, state.mode = session, True, mode
    state.csrf_checked = check_csrf
    request.supertokens = session  # type: ignore[attr-defined]
    return session


def refresh_session(request: HttpRequest) -> Session:
    """Rotate the request's refresh token (PROTOCOL.md §8); the response carries new tokens in
    the mode the refresh token came in, clearing tokens of the other mode."""
    state = require_middleware(request, "refresh_session()")
    found = transport.read_refresh_token(request)
    if found is None:
        raise Unauthorised("no refresh token")
    token, mode = found
    check_csrf = mode == "cookie" and st_settings.anti_csrf != "NONE"
    if (
        check_csrf
        and st_settings.anti_csrf == "VIA_CUSTOM_HEADER"
        and not transport.has_custom_header(request)
    ):
        raise Unauthorised("anti-csrf check failed on refresh: no rid header", clear_tokens=False)
    try:
        tokens = engine.refresh_session(
            token,
            anti_csrf_token=request.headers.get("anti-csrf"),
            check_anti_csrf=check_csrf,
            issuer=transport.issuer_for(request),
            meta=request_meta(request),
            request=request,
        )
    except TokenTheftDetected as exc:
        if connections[db.write_alias()].in_atomic_block:
            state.theft_to_confirm = exc.handle
        raise
    other: transport.Mode = "header" if mode == "cookie" else "cookie"
    state.issued, state.session, state.verified, state.mode = tokens, tokens.session, True, mode
    state.clear_other = other if transport.has_tokens_in(request, other) else None
    _hold_until_commit(state)
    request.supertokens = tokens.session  # type: ignore[attr-defined]
    return tokens.session


def confirm_theft(state: transport.RequestState) -> None:
    """Revoke again a session that ``state``'s request revoked for theft inside a caller's
    transaction.

    Under ``ATOMIC_REQUESTS`` an application view that lets :class:`TokenTheftDetected`
    propagate has its transaction rolled back, the theft's revocation with it, while the 401
    and the signal still go out: the stolen session would stay live. The middleware calls this
    after the view, outside its transaction; when the revocation did commit, it finds no row and
    does nothing. A database fault here is logged, not raised: the response is already a 401.
    """
    handle = state.theft_to_confirm
    if handle is None:
        return
    state.theft_to_confirm = None
    try:
        engine.confirm_theft(handle)
    except ServiceUnavailable:
        engine.security_logger.error(
            "session %s was revoked for theft in a transaction that may have rolled back, and "
            "the database is unavailable to revoke it again",
            handle,
        )


acreate_new_session = sync_to_async(create_new_session, thread_sensitive=True)
aget_session = sync_to_async(get_session, thread_sensitive=True)
arefresh_session = sync_to_async(refresh_session, thread_sensitive=True)
