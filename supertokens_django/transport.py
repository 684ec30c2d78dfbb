"""Reading tokens from requests and writing token changes and errors onto responses.

This is PROTOCOL.md §2–§6 in code: the two token modes (cookies, or ``Authorization: Bearer``
plus ``st-*`` response headers), cookie attributes, the ``front-token`` header, anti-CSRF, and
the error table of §5. It is one of the two places (with ``drf``) where errors become HTTP.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any, Literal, cast

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

from . import fastpath
from .conf import st_settings
from .exceptions import (
    InvalidClaim,
    ServiceUnavailable,
    SuperTokensError,
    TokenTheftDetected,
    TryRefreshToken,
)
from .tokens import MAX_ACCESS_TOKEN_LENGTH, AccessToken, front_token, parse_refresh_token

if TYPE_CHECKING:
    from .engine import SessionTokens
    from .session import Session

Mode = Literal["cookie", "header"]
SameSite = Literal["Lax", "Strict", "None"]
logger = logging.getLogger("supertokens_django.transport")

ACCESS_COOKIE = "sAccessToken"
REFRESH_COOKIE = "sRefreshToken"
LEGACY_COOKIE = "sIdRefreshToken"
FRONT_TOKEN = "front-token"
ANTI_CSRF = "anti-csrf"
ACCESS_HEADER = "st-access-token"
REFRESH_HEADER = "st-refresh-token"
#: Headers the SDK must be able to read cross-origin (PROTOCOL.md §10).
EXPOSED_HEADERS = (FRONT_TOKEN, ANTI_CSRF, ACCESS_HEADER, REFRESH_HEADER)
#: Request headers the SDK sends, to allow in CORS preflights.
ALLOWED_HEADERS = (
    "content-type",
    "rid",
    "fdi-version",
    "anti-csrf",
    "authorization",
    "st-auth-mode",
)
SAFE_METHODS = frozenset({"GET", "OPTIONS", "TRACE"})
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")
_REFRESH_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z")
_ONE_YEAR = timedelta(days=365)


# --------------------------------------------------------------------------- per-request state


@dataclass
class RequestState:
    """What this request did to its session; the middleware writes it onto the response."""

    #: The verified session (or ``None`` when there is none), once something asked.
    session: Session | None = None
    verified: bool = False
    #: The mode the session's tokens travel in on this request.
    mode: Mode = "cookie"
    #: New tokens from create or refresh, with the mode to send them in.
    issued: SessionTokens | None = None
    #: Tokens of the *other* mode that came with a refresh and must be cleared.
    clear_other: Mode | None = None
    #: Whether the verification that produced ``session`` ran the anti-CSRF check.
    csrf_checked: bool = False
    #: Set by the middleware (or an endpoint): someone will write the queued changes.
    managed: bool = False
    #: The session turned out to be over (e.g. an error answered by DRF's exception handler):
    #: the response clears the client's tokens.
    clear_tokens: bool = False
    #: ``issued`` came from inside a caller's transaction, which an error response rolled back.
    uncommitted: bool = False
    #: A session revoked for theft inside a caller's transaction: revoked again once the view
    #: is done, in case that transaction rolled back (see ``requests.confirm_theft``).
    theft_to_confirm: str | None = None
    written: bool = field(default=False)


def state_of(request: HttpRequest) -> RequestState | None:
    return getattr(request, "_supertokens_state", None)


def ensure_state(request: HttpRequest, *, managed: bool = False) -> RequestState:
    state = state_of(request)
    if state is None:
        state = RequestState()
        request._supertokens_state = state  # type: ignore[attr-defined]
    state.managed = state.managed or managed
    return state


# --------------------------------------------------------------------------- reading


def request_cookies(request: HttpRequest) -> dict[str, str]:
    """``request.COOKIES``, robust to split ``Cookie`` headers joined with ``","``.

    HTTP/2 browsers send one ``Cookie`` header per cookie; Django's ``ASGIRequest`` (before
    ticket #36399) joins repeated headers with ``","``, which ``parse_cookie`` does not split,
    so ``sAccessToken`` would read as ``"<token>,other=..."`` and every call would be "try
    refresh token". RFC 6265 cookie values contain no ``","``, and ours never do.
    """
    raw = request.META.get("HTTP_COOKIE", "")
    if "," not in raw:
        return request.COOKIES
    return {**request.COOKIES, **parse_cookie(raw.replace(",", ";"))}


def _bearer(request: HttpRequest) -> str | None:
    value = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    credentials = credentials.strip()
    return credentials or None


def requested_mode(request: HttpRequest) -> Mode:
    """The mode a new session uses: what ``st-auth-mode`` asks for, else header mode."""
    return "cookie" if request.headers.get("st-auth-mode", "").lower() == "cookie" else "header"


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def looks_like_access_token(value: str) -> bool:
    """Whether ``value`` has the structure of one of our access tokens: a JWT whose header names
    a ``kid`` and whose (unverified) claims carry our session claims.

    Cheap (no signature, no database); the full verification comes later and decides. A JWT of
    another issuer, or an opaque API key, fails this and is ignored (PROTOCOL.md §2).
    """
    if len(value) > MAX_ACCESS_TOKEN_LENGTH or not _JWT_SHAPE.match(value):
        return False
    header, claims, _signature = value.split(".")
    try:
        header_json, claims_json = _b64json(header), _b64json(claims)
    except (ValueError, binascii.Error, RecursionError):  # UnicodeDecodeError is a ValueError
        return False
    return (
        isinstance(header_json, dict)
        and isinstance(header_json.get("kid"), str)
        and isinstance(claims_json, dict)
        and all(
            isinstance(claims_json.get(c), str)
            for c in ("sub", "sessionHandle", "refreshTokenHash1")
        )
    )


def _is_our_refresh_token(value: str) -> bool:
    from .keys import server_secrets

    if not _REFRESH_SHAPE.match(value):
        return False
    try:
        parse_refresh_token(value, secrets_=server_secrets())
    except SuperTokensError:
        return False
    return True


def read_access_token(
    request: HttpRequest, cookies: dict[str, str] | None = None
) -> tuple[str, Mode] | None:
    """A Bearer value that has the structure of one of our access tokens wins over the cookie;
    other Bearer values are ignored so that other authentication schemes can coexist
    (PROTOCOL.md §2). A cookie is always ours: a damaged one gets "try refresh token".
    ``cookies``: :func:`request_cookies`, for a caller that has them already."""
    bearer = _bearer(request)
    # A token this process verified in full has our structure: skip parsing it again.
    if bearer and (fastpath.is_known(bearer) or looks_like_access_token(bearer)):
        return bearer, "header"
    cookie = (request_cookies(request) if cookies is None else cookies).get(ACCESS_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None


def read_refresh_token(request: HttpRequest) -> tuple[str, Mode] | None:
    """The refresh token and the mode it came in. A Bearer value is preferred when it is one of
    ours (its MAC verifies: no database); a foreign one loses to a refresh cookie, so that an
    unrelated ``Authorization`` header cannot sign a cookie session out."""
    bearer = _bearer(request)
    cookie = request_cookies(request).get(REFRESH_COOKIE)
    if bearer and _REFRESH_SHAPE.match(bearer) and (not cookie or _is_our_refresh_token(bearer)):
        return bearer, "header"
    if cookie:
        return cookie, "cookie"
    return None


def has_legacy_cookie(request: HttpRequest) -> bool:
    return LEGACY_COOKIE in request_cookies(request)


def has_tokens_in(request: HttpRequest, mode: Mode) -> bool:
    """Whether the request carries tokens of ours in ``mode`` (which a new session clears)."""
    if mode == "cookie":
        cookies = request_cookies(request)
        return ACCESS_COOKIE in cookies or REFRESH_COOKIE in cookies
    bearer = _bearer(request)
    return bearer is not None and (looks_like_access_token(bearer) or _is_our_refresh_token(bearer))


def anti_csrf_required(request: HttpRequest, mode: Mode, anti_csrf_check: bool | None) -> bool:
    """Whether this request must pass the anti-CSRF check (cookie mode only, PROTOCOL.md §6)."""
    if mode != "cookie" or (anti_csrf_check is None and request.method in SAFE_METHODS):
        return False  # (the settings read last: most requests are safe ones)
    if st_settings.anti_csrf == "NONE":
        return False
    return True if anti_csrf_check is None else anti_csrf_check


def has_custom_header(request: HttpRequest) -> bool:
    return "rid" in request.headers


def issuer_for(request: HttpRequest) -> str:
    domain = st_settings.api_domain or f"{request.scheme}://{request.get_host()}"
    return f"{domain}{st_settings.api_base_path}"


def refresh_path() -> str:
    return f"{st_settings.api_base_path}/session/refresh"


# --------------------------------------------------------------------------- writing


def _expose(response: HttpResponse, *names: str) -> None:
    current = [h.strip() for h in response.get("Access-Control-Expose-Headers", "").split(",")]
    merged = [h for h in current if h]
    merged += [n for n in names if n not in merged]
    response["Access-Control-Expose-Headers"] = ", ".join(merged)


def _samesite() -> SameSite:
    # Validated by the system checks; the settings object only knows it is a string.
    return cast(SameSite, st_settings.cookie_samesite)


def _as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime, reading a naive one as the process's local time.

    With ``USE_TZ = False`` Django's clock (``timezone.now()``, hence the engine's expiry
    times) is naive local time, while ``set_cookie`` reads a naive ``expires`` as UTC: west of
    UTC a refresh cookie shorter than the offset was expired when set, east of UTC it outlived
    its session. ``astimezone`` reads a naive datetime exactly as ``datetime.now()`` produced
    it, and as the tokens' epoch claims (``datetime.timestamp()``) do, whatever time zone a
    middleware has activated for the request.
    """
    return moment.astimezone(dt_timezone.utc) if timezone.is_naive(moment) else moment


def _set_cookie(
    response: HttpResponse, name: str, value: str, expires: datetime, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        expires=_as_utc(expires),
        path=path,
        domain=st_settings.cookie_domain,
        secure=st_settings.cookie_secure,
        httponly=True,
        samesite=_samesite(),
    )


def _clear_cookie(response: HttpResponse, name: str, path: str) -> None:
    # Same Path, Domain, Secure and SameSite as when set, or the browser keeps the old cookie.
    response.set_cookie(
        name,
        "",
        max_age=0,
        expires="Thu, 01 Jan 1970 00:00:00 GMT",
        path=path,
        domain=st_settings.cookie_domain,
        secure=st_settings.cookie_secure,
        httponly=True,
        samesite=_samesite(),
    )


def write_access_token(response: HttpResponse, access: AccessToken, mode: Mode) -> None:
    response[FRONT_TOKEN] = front_token(access)
    exposed = [FRONT_TOKEN]
    if mode == "cookie":
        _set_cookie(response, ACCESS_COOKIE, access.token, timezone.now() + _ONE_YEAR, "/")
        if st_settings.anti_csrf == "VIA_TOKEN" and access.anti_csrf_token:
            response[ANTI_CSRF] = access.anti_csrf_token
            exposed.append(ANTI_CSRF)
    else:
        response[ACCESS_HEADER] = access.token
        exposed.append(ACCESS_HEADER)
    _expose(response, *exposed)


def write_session_tokens(
    response: HttpResponse, tokens: SessionTokens, mode: Mode, *, clear_other: Mode | None = None
) -> None:
    if clear_other is not None:
        clear_mode(response, clear_other)
    write_access_token(response, tokens.access_token, mode)
    if mode == "cookie":
        _set_cookie(
            response,
            REFRESH_COOKIE,
            tokens.refresh_token.token,
            tokens.refresh_token.expires_at,
            refresh_path(),
        )
    else:
        response[REFRESH_HEADER] = tokens.refresh_token.token
        _expose(response, REFRESH_HEADER)


def clear_mode(response: HttpResponse, mode: Mode) -> None:
    if mode == "cookie":
        _clear_cookie(response, ACCESS_COOKIE, "/")
        _clear_cookie(response, REFRESH_COOKIE, refresh_path())
    else:
        response[ACCESS_HEADER] = ""
        response[REFRESH_HEADER] = ""
        _expose(response, ACCESS_HEADER, REFRESH_HEADER)


def clear_session(response: HttpResponse) -> None:
    """The session is over: clear the tokens in both modes, and ``front-token: remove``."""
    clear_mode(response, "cookie")
    clear_mode(response, "header")
    response[FRONT_TOKEN] = "remove"
    _expose(response, FRONT_TOKEN)


def expire_legacy_cookie(response: HttpResponse) -> None:
    response.set_cookie(
        LEGACY_COOKIE,
        "",
        max_age=0,
        expires="Thu, 01 Jan 1970 00:00:00 GMT",
        path="/",
        domain=st_settings.cookie_domain,
        secure=st_settings.cookie_secure,
        httponly=True,
        samesite=_samesite(),
    )


def _no_store(response: HttpResponse) -> None:
    # Tokens must never be served from a shared (or the browser's) cache to someone else.
    patch_cache_control(response, no_store=True, private=True)


#: The request headers a session is read from: ``Authorization`` carries a header-mode session
#: (and is consulted in either mode), ``Cookie`` a cookie-mode one.
_VARY_ON = ("Cookie", "Authorization")
_VARY_VALUE = ", ".join(_VARY_ON)


def _vary_on_credentials(response: HttpResponse) -> None:
    """``patch_vary_headers(response, ("Cookie", "Authorization"))``, cheaply in the usual case.

    A response that depends on the session must vary on every header the session can come
    from, or a cache keys it on neither: Django 4.2's cache middleware and ``cache_page`` add
    nothing for ``Authorization`` (5.x adds it, but not to a ``Cache-Control: public``
    response), so a header-mode user's page would be served to anyone without cookies.

    Every verified request comes here, and most responses have no ``Vary`` yet. Django's public
    ways to ask (``has_header``, ``in``, ``get``) raise and catch a ``KeyError`` inside, and
    assigning re-validates a constant: about 1 % of a small request. ``ResponseHeaders`` keeps
    its headers in ``_store`` (lower-cased name → ``(name, value)``); when it has that shape the
    usual case is one lookup and one assignment, and anything else takes the public way.
    """
    store = getattr(response.headers, "_store", None)
    if type(store) is dict and "vary" not in store:
        store["vary"] = ("Vary", _VARY_VALUE)
    else:
        patch_vary_headers(response, _VARY_ON)


def finalize(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Write this request's queued token changes onto ``response`` (once)."""
    state = state_of(request)
    if state is None or state.written:
        return response
    state.written = True
    if state.verified or state.issued is not None:
        _vary_on_credentials(response)
    # Like Django's session middleware, a server error writes nothing: the client keeps the
    # tokens it had, which the database still accepts (a refresh never invalidates its parent).
    if response.status_code >= 500:
        return response
    session = state.session
    if state.clear_tokens or (session is not None and session.revoked):
        clear_session(response)
    elif state.issued is not None and not (state.uncommitted and response.status_code >= 400):
        issued = state.issued
        if session is not None and session.new_access_token is not None:
            issued = replace(issued, access_token=session.new_access_token)
        write_session_tokens(response, issued, state.mode, clear_other=state.clear_other)
    elif session is not None and session.new_access_token is not None:
        write_access_token(response, session.new_access_token, state.mode)
    else:
        return response
    _no_store(response)
    return response


# --------------------------------------------------------------------------- errors


def error_body(exc: SuperTokensError) -> dict[str, Any]:
    if isinstance(exc, InvalidClaim):
        return {"message": exc.message, "claimValidationErrors": exc.errors}
    return {"message": exc.message}


def error_status(exc: SuperTokensError) -> int:
    if isinstance(exc, InvalidClaim):
        return st_settings.invalid_claim_status_code
    if isinstance(exc, ServiceUnavailable):
        return 503
    return st_settings.session_expired_status_code


def error_response(request: HttpRequest | None, exc: SuperTokensError) -> HttpResponse:
    """The response of PROTOCOL.md §5 for ``exc``; bodies never carry token internals."""
    if isinstance(exc, (TryRefreshToken, TokenTheftDetected)) or exc.clear_tokens:
        logger.info("session request refused: %s", exc.detail or exc.message)
    response = JsonResponse(error_body(exc), status=error_status(exc))
    if exc.clear_tokens:
        clear_session(response)
    if request is not None:
        state = state_of(request)
        if state is not None:
            state.written = True  # nothing queued may follow an error
        _vary_on_credentials(response)
    _no_store(response)
    return response
