"""``supertokens_django.transport`` (and the CORS lists of ``cors``): reading tokens from a
request, writing token changes and errors onto a response (PROTOCOL.md §2–§6, §10)."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from supertokens_django import cors, engine, transport
from supertokens_django.exceptions import (
    InvalidClaim,
    ServiceUnavailable,
    SuperTokensError,
    TokenTheftDetected,
    TryRefreshToken,
    Unauthorised,
)
from tests.http_helpers import (
    assert_cleared_both_modes,
    assert_untouched,
    cookie,
    decode_front_token,
    exposed,
    is_cleared,
    json_body,
)

if TYPE_CHECKING:
    from pytest_django import Settings

pytestmark = pytest.mark.usefixtures("keyring")
rf = RequestFactory()


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def shaped(header: Any, claims: Any) -> str:
    return f"{b64(header)}.{b64(claims)}.c2lnbmF0dXJl"


OUR_CLAIMS = {"sub": "u", "sessionHandle": "h", "refreshTokenHash1": "x", "exp": 1, "iat": 0}
OUR_HEADER = {"alg": "RS256", "kid": "k1", "typ": "JWT", "version": "5"}


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("cookie", "cookie"),
        ("COOKIE", "cookie"),
        ("header", "header"),
        ("", "header"),
        ("cookies", "header"),
        (None, "header"),
    ],
)
def test_requested_mode(value: str | None, mode: str) -> None:
    extra = {} if value is None else {"HTTP_ST_AUTH_MODE": value}
    assert transport.requested_mode(rf.get("/", **extra)) == mode


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("Bearerabc", None),
        ("", None),
    ],
)
def test_bearer_credentials(header: str, expected: str | None) -> None:
    assert transport._bearer(rf.get("/", HTTP_AUTHORIZATION=header)) == expected


@pytest.mark.parametrize(
    ("value", "ours"),
    [
        (shaped(OUR_HEADER, OUR_CLAIMS), True),
        (shaped({"alg": "HS256"}, OUR_CLAIMS), False),  # no kid
        (shaped(OUR_HEADER, {"sub": "u", "scope": "read"}), False),  # another issuer's claims
        (shaped(OUR_HEADER, {**OUR_CLAIMS, "sessionHandle": 7}), False),
        (shaped(OUR_HEADER, [1, 2]), False),
        (shaped([1], OUR_CLAIMS), False),
        (b64(b"not json") + "." + b64(OUR_CLAIMS) + ".c2ln", False),
        (b64(b"\xff\xfe") + "." + b64(OUR_CLAIMS) + ".c2ln", False),
        (b64(b"[" * 5000) + "." + b64(OUR_CLAIMS) + ".c2ln", False),  # nesting beyond recursion
        ("a.b.c", False),
        ("a.b", False),
        ("not a token", False),
        (shaped(OUR_HEADER, {**OUR_CLAIMS, "pad": "x" * 9000}), False),  # oversized
    ],
)
def test_looks_like_access_token(value: str, ours: bool) -> None:
    assert transport.looks_like_access_token(value) is ours


def test_a_bearer_of_ours_wins_over_the_cookie() -> None:
    token = shaped(OUR_HEADER, OUR_CLAIMS)
    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_COOKIE="sAccessToken=c")
    assert transport.read_access_token(request) == (token, "header")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer opaque",
        "Bearer " + jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256"),
        "Basic dXNlcjpwYXNz",
    ],
)
def test_a_bearer_that_is_not_ours_is_ignored(authorization: str) -> None:
    with_cookie = rf.get("/", HTTP_AUTHORIZATION=authorization, HTTP_COOKIE="sAccessToken=c")
    alone = rf.get("/", HTTP_AUTHORIZATION=authorization)

    assert transport.read_access_token(with_cookie) == ("c", "cookie")
    assert transport.read_access_token(alone) is None


def test_cookie_headers_joined_with_commas_are_split() -> None:
    request = rf.get("/", HTTP_COOKIE="theme=dark,sAccessToken=a.b.c,sRefreshToken=d.e; x=1")

    assert transport.read_access_token(request) == ("a.b.c", "cookie")
    assert transport.read_refresh_token(request) == ("d.e", "cookie")
    assert transport.has_tokens_in(request, "cookie")
    assert transport.has_legacy_cookie(rf.get("/", HTTP_COOKIE="a=1,sIdRefreshToken=x"))


def test_an_empty_cookie_is_no_token() -> None:
    assert transport.read_access_token(rf.get("/", HTTP_COOKIE="sAccessToken=")) is None
    assert transport.read_refresh_token(rf.get("/", HTTP_COOKIE="sRefreshToken=")) is None


@pytest.mark.django_db
def test_read_refresh_token_prefers_a_bearer_of_ours() -> None:
    tokens = engine.create_session("u")
    rt = tokens.refresh_token.token
    ours = rf.post("/", HTTP_AUTHORIZATION=f"Bearer {rt}", HTTP_COOKIE="sRefreshToken=c.d")
    foreign = rf.post("/", HTTP_AUTHORIZATION="Bearer api.key", HTTP_COOKIE=f"sRefreshToken={rt}")
    foreign_alone = rf.post("/", HTTP_AUTHORIZATION="Bearer api.key")
    access_token = rf.post(
        "/",
        HTTP_AUTHORIZATION=f"Bearer {tokens.access_token.token}",
        HTTP_COOKIE=f"sRefreshToken={rt}",
    )

    assert transport.read_refresh_token(ours) == (rt, "header")
    # A foreign value cannot sign a cookie session out by making its refresh fail...
    assert transport.read_refresh_token(foreign) == (rt, "cookie")
    # ...and on its own it is tried, and fails as any malformed refresh token does.
    assert transport.read_refresh_token(foreign_alone) == ("api.key", "header")
    # Header-mode leftovers (an access token) never count as a refresh token.
    assert transport.read_refresh_token(access_token) == (rt, "cookie")


def test_legacy_cookie_and_tokens_in_a_mode() -> None:
    assert transport.has_legacy_cookie(rf.get("/", HTTP_COOKIE="sIdRefreshToken=x"))
    assert not transport.has_legacy_cookie(rf.get("/"))
    assert transport.has_tokens_in(rf.get("/", HTTP_COOKIE="sRefreshToken=x"), "cookie")
    assert transport.has_tokens_in(rf.get("/", HTTP_COOKIE="sAccessToken=x"), "cookie")
    assert not transport.has_tokens_in(rf.get("/", HTTP_COOKIE="other=x"), "cookie")
    ours = shaped(OUR_HEADER, OUR_CLAIMS)
    assert transport.has_tokens_in(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {ours}"), "header")
    # Another scheme's credentials are not ours to clear.
    assert not transport.has_tokens_in(rf.get("/", HTTP_AUTHORIZATION="Bearer x.y"), "header")
    assert not transport.has_tokens_in(rf.get("/", HTTP_AUTHORIZATION="Bearer opaque"), "header")
    assert not transport.has_tokens_in(rf.get("/", HTTP_AUTHORIZATION="Basic x"), "header")


@pytest.mark.parametrize(
    ("setting", "method", "mode", "forced", "required"),
    [
        ("VIA_CUSTOM_HEADER", "POST", "cookie", None, True),
        ("VIA_CUSTOM_HEADER", "HEAD", "cookie", None, True),
        ("VIA_CUSTOM_HEADER", "GET", "cookie", None, False),
        ("VIA_CUSTOM_HEADER", "OPTIONS", "cookie", None, False),
        ("VIA_CUSTOM_HEADER", "TRACE", "cookie", None, False),
        ("VIA_CUSTOM_HEADER", "GET", "cookie", True, True),
        ("VIA_CUSTOM_HEADER", "POST", "cookie", False, False),
        ("VIA_TOKEN", "DELETE", "cookie", None, True),
        ("VIA_CUSTOM_HEADER", "POST", "header", True, False),
        ("NONE", "POST", "cookie", True, False),
    ],
)
def test_anti_csrf_required(
    settings: Settings, setting: str, method: str, mode: str, forced: bool | None, required: bool
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    request = rf.generic(method, "/")
    assert transport.anti_csrf_required(request, mode, forced) is required  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "issuer", "refresh"),
    [
        ({}, "http://testserver/auth", "/auth/session/refresh"),
        ({"API_DOMAIN": "https://api.example.com/"}, "https://api.example.com/auth", None),
        (
            {"API_BASE_PATH": "api/v1/auth/"},
            "http://testserver/api/v1/auth",
            "/api/v1/auth/session/refresh",
        ),
        ({"API_BASE_PATH": "/"}, "http://testserver", "/session/refresh"),
    ],
)
def test_issuer_and_refresh_path(
    settings: Settings, overrides: dict[str, Any], issuer: str, refresh: str | None
) -> None:
    settings.SUPERTOKENS = overrides
    assert transport.issuer_for(rf.get("/")) == issuer
    if refresh is not None:
        assert transport.refresh_path() == refresh


# --------------------------------------------------------------------------- writing


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["cookie", "header"])
def test_write_session_tokens(mode: str) -> None:
    tokens = engine.create_session("u-1", jwt_payload={"k": "v"})
    response = HttpResponse()
    transport.write_session_tokens(response, tokens, mode)  # type: ignore[arg-type]

    front = decode_front_token(response["front-token"])
    assert front == {
        "ate": front["up"]["exp"] * 1000,
        "uid": "u-1",
        "up": dict(tokens.access_token.payload),
    }
    if mode == "cookie":
        assert cookie(response, "sAccessToken").value == tokens.access_token.token  # type: ignore[union-attr]
        assert cookie(response, "sRefreshToken").value == tokens.refresh_token.token  # type: ignore[union-attr]
        assert exposed(response) == {"front-token"}
    else:
        assert response["st-access-token"] == tokens.access_token.token
        assert response["st-refresh-token"] == tokens.refresh_token.token
        assert exposed(response) == {"front-token", "st-access-token", "st-refresh-token"}


def test_clear_session_clears_both_modes() -> None:
    response = HttpResponse()
    transport.clear_session(response)
    assert_cleared_both_modes(response)


def test_expose_merges_with_what_the_response_already_exposes() -> None:
    response = HttpResponse()
    response["Access-Control-Expose-Headers"] = "X-Request-Id, front-token"
    transport.clear_session(response)

    assert response["Access-Control-Expose-Headers"].count("front-token") == 1
    assert exposed(response) == {
        "X-Request-Id",
        "front-token",
        "st-access-token",
        "st-refresh-token",
    }


def test_expire_legacy_cookie() -> None:
    response = HttpResponse()
    transport.expire_legacy_cookie(response)
    legacy = cookie(response, "sIdRefreshToken")
    assert is_cleared(legacy) and legacy is not None and legacy["path"] == "/"


def test_finalize_without_state_or_twice_changes_nothing() -> None:
    request = rf.get("/")
    response = HttpResponse()
    assert transport.finalize(request, response) is response
    assert_untouched(response)
    assert not response.has_header("Vary")

    transport.ensure_state(request).verified = True
    transport.finalize(request, response)
    transport.finalize(request, response)
    assert response["Vary"] == "Cookie, Authorization"
    assert response.has_header("vary")
    assert ("Vary", "Cookie, Authorization") in response.items()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "Cookie, Authorization"),
        ("Accept-Encoding", "Accept-Encoding, Cookie, Authorization"),
        ("cookie", "cookie, Authorization"),
        ("authorization", "authorization, Cookie"),
        ("Cookie, Authorization", "Cookie, Authorization"),
        ("*", "*"),
    ],
)
def test_vary_joins_what_the_response_varies_on(before: str | None, after: str) -> None:
    request, response = rf.get("/"), HttpResponse()
    if before is not None:
        response["Vary"] = before
    transport.ensure_state(request).verified = True
    transport.finalize(request, response)
    assert response["Vary"] == after
    assert [name for name, _ in response.items()].count("Vary") == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 502, 503])
def test_finalize_writes_nothing_on_a_server_error(status: int) -> None:
    request = rf.post("/")
    state = transport.ensure_state(request)
    tokens = engine.create_session("u")
    state.issued, state.session, state.verified = tokens, tokens.session, True
    response = HttpResponse(status=status)

    transport.finalize(request, response)

    assert_untouched(response)
    assert "Cache-Control" not in response


@pytest.mark.django_db
def test_finalize_clears_a_revoked_session_even_if_it_was_just_created() -> None:
    request = rf.post("/")
    state = transport.ensure_state(request)
    tokens = engine.create_session("u")
    state.issued, state.session, state.verified = tokens, tokens.session, True
    tokens.session.revoke_session()
    response = HttpResponse()

    transport.finalize(request, response)

    assert_cleared_both_modes(response)
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_finalize_overrides_a_public_cache_control_when_it_writes_tokens() -> None:
    request = rf.post("/")
    state = transport.ensure_state(request)
    tokens = engine.create_session("u")
    state.issued, state.session, state.verified = tokens, tokens.session, True
    response = HttpResponse()
    response["Cache-Control"] = "public, max-age=600"

    transport.finalize(request, response)

    directives = {d.strip() for d in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= directives and "public" not in directives


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("exc", "status", "body", "cleared"),
    [
        (
            Unauthorised("no access token", clear_tokens=False),
            401,
            {"message": "unauthorised"},
            False,
        ),
        (Unauthorised("session abc revoked"), 401, {"message": "unauthorised"}, True),
        (TryRefreshToken("access token expired"), 401, {"message": "try refresh token"}, False),
        (
            TokenTheftDetected(handle="h", user_id="u"),
            401,
            {"message": "token theft detected"},
            True,
        ),
        (
            InvalidClaim([{"id": "st-role", "reason": "wrong value"}]),
            403,
            {
                "message": "invalid claim",
                "claimValidationErrors": [{"id": "st-role", "reason": "wrong value"}],
            },
            False,
        ),
        (
            ServiceUnavailable("db-1.internal refused"),
            503,
            {"message": "service unavailable"},
            False,
        ),
    ],
)
def test_error_response(
    exc: SuperTokensError, status: int, body: dict[str, Any], cleared: bool
) -> None:
    request = rf.post("/")
    transport.ensure_state(request)
    response = transport.error_response(request, exc)

    assert isinstance(response, JsonResponse)
    assert response.status_code == status
    assert json_body(response) == body
    assert exc.detail not in response.content.decode() or not exc.detail
    assert "no-store" in response["Cache-Control"]
    assert response["Vary"] == "Cookie, Authorization"
    if cleared:
        assert_cleared_both_modes(response)
    else:
        assert_untouched(response)
    # Nothing the view queued may be written after an error.
    assert transport.state_of(request).written  # type: ignore[union-attr]


def test_error_status_codes_follow_settings(settings: Settings) -> None:
    settings.SUPERTOKENS = {"SESSION_EXPIRED_STATUS_CODE": 440, "INVALID_CLAIM_STATUS_CODE": 409}

    assert transport.error_status(TryRefreshToken()) == 440
    assert transport.error_status(Unauthorised()) == 440
    assert transport.error_status(TokenTheftDetected(handle="h", user_id="u")) == 440
    assert transport.error_status(InvalidClaim([])) == 409
    assert transport.error_status(ServiceUnavailable()) == 503


def test_error_response_without_a_request_or_its_state() -> None:
    for request in (None, rf.get("/")):
        response = transport.error_response(request, Unauthorised())
        assert response.status_code == 401
        assert_cleared_both_modes(response)


@pytest.mark.django_db
def test_a_payload_update_right_after_create_is_in_the_tokens_written() -> None:
    request = rf.post("/", HTTP_ST_AUTH_MODE="header")
    state = transport.ensure_state(request)
    tokens = engine.create_session("u")
    state.issued, state.session, state.verified, state.mode = (
        tokens,
        tokens.session,
        True,
        "header",
    )
    tokens.session.update_jwt_payload({"step": 2})
    response = HttpResponse()

    transport.finalize(request, response)

    assert decode_front_token(response["front-token"])["up"]["step"] == 2
    assert response["st-access-token"] == tokens.session.access_token.token
    assert response["st-refresh-token"] == tokens.refresh_token.token


# --------------------------------------------------------------------------- CORS (§10)


def test_cors_lists() -> None:
    assert set(cors.cors_allow_headers()) == {
        "content-type",
        "rid",
        "fdi-version",
        "anti-csrf",
        "authorization",
        "st-auth-mode",
    }
    assert set(cors.cors_expose_headers()) == {
        "front-token",
        "anti-csrf",
        "st-access-token",
        "st-refresh-token",
    }
    # Fresh lists: a project that appends to one does not change the library's.
    cors.cors_allow_headers().append("x-mine")
    assert "x-mine" not in cors.cors_allow_headers()


def test_every_header_the_transport_exposes_is_in_the_cors_list() -> None:
    response = HttpResponse()
    transport.clear_session(response)
    assert exposed(response) <= set(cors.cors_expose_headers())
