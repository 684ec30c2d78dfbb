"""Malformed input on every endpoint and on protected views: garbage, truncated, oversized,
duplicated and non-UTF-8 cookies and ``Authorization`` headers, CR/LF injection attempts, wrong
methods. Each gets the protocol's 401 or 405 (or the anonymous answer where a session is
optional), never a 500, and no body ever echoes the input or a traceback."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from supertokens_django import engine
from supertokens_django.models import Session as SessionRow
from tests.http_helpers import HTTP_TEST_MARKS, JWKS, REFRESH, SIGNOUT

pytestmark = HTTP_TEST_MARKS

UNAUTHORISED = {"message": "unauthorised"}
TRY_REFRESH = {"message": "try refresh token"}
NOT_ALLOWED = {"message": "method not allowed"}
ANONYMOUS = {"user_id": None}

#: (method, path, allowed (status, body) pairs; a body of None means "any JSON object").
ENDPOINTS: list[tuple[str, str, set[tuple[int, Any]]]] = [
    ("GET", "/protected", {(401, "unauthorised"), (401, "try refresh token")}),
    ("POST", "/protected", {(401, "unauthorised"), (401, "try refresh token")}),
    ("GET", "/csrf-always", {(401, "unauthorised"), (401, "try refresh token")}),
    ("GET", "/optional", {(200, "anonymous"), (401, "try refresh token")}),
    ("GET", "/lazy", {(200, "anonymous"), (401, "try refresh token")}),
    ("GET", "/cbv/profile", {(401, "unauthorised"), (401, "try refresh token")}),
    ("POST", REFRESH, {(401, "unauthorised")}),
    ("POST", SIGNOUT, {(200, "ok"), (401, "try refresh token")}),
    ("GET", JWKS, {(200, "jwks")}),
    ("GET", REFRESH, {(405, "method not allowed")}),
    ("PUT", SIGNOUT, {(405, "method not allowed")}),
    ("DELETE", JWKS, {(405, "method not allowed")}),
]


def classify(response: Any) -> tuple[int, str]:
    """The response's status and what kind of body it has; fails on anything unexpected."""
    text = response.content.decode("utf-8")
    assert "Traceback" not in text and 'File "' not in text
    body = json.loads(text)
    if body == UNAUTHORISED:
        kind = "unauthorised"
    elif body == TRY_REFRESH:
        kind = "try refresh token"
    elif body == NOT_ALLOWED:
        kind = "method not allowed"
    elif body == {"status": "OK"}:
        kind = "ok"
    elif body.get("user_id", "absent") is None:
        kind = "anonymous"
    elif set(body) == {"keys"}:
        kind = "jwks"
    else:
        raise AssertionError(f"unexpected body {body!r}")
    return response.status_code, kind


def check(response: Any, allowed: set[tuple[int, Any]], secret: str = "") -> None:
    assert response.status_code < 500
    assert classify(response) in allowed
    if len(secret) >= 8:
        assert secret.encode("latin-1", "replace") not in response.content
    # No injected header or cookie ever makes it into the response.
    assert "injected" not in response.cookies
    assert all("injected" not in str(value).lower() for _name, value in response.items())


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _real_tokens() -> tuple[str, str]:
    tokens = engine.create_session("victim")
    return tokens.access_token.token, tokens.refresh_token.token


#: Bad values, built from a real access token and refresh token where that makes them nastier.
BAD_VALUES: dict[str, Callable[[str, str], str]] = {
    "garbage": lambda at, rt: "garbage-garbage",
    "three-dots": lambda at, rt: "a.b.c",
    "two-dots": lambda at, rt: "a.b",
    "empty-parts": lambda at, rt: "..",
    "truncated-access": lambda at, rt: at[: len(at) // 2],
    "truncated-access-signature": lambda at, rt: at[:-10],
    "truncated-refresh": lambda at, rt: rt[:-10],
    "oversized": lambda at, rt: "A" * 10_240,
    "oversized-jwt": lambda at, rt: at.split(".")[0] + "." + "B" * 10_240 + ".sig",
    "oversized-refresh": lambda at, rt: "C" * 5_000 + "." + "D" * 5_000,
    "non-utf8": lambda at, rt: b"\xff\xfe\x80\xc3(abc".decode("latin-1"),
    "non-utf8-in-jwt": lambda at, rt: at[:20] + "\xff\xfe" + at[22:],
    "crlf": lambda at, rt: "abc\r\nSet-Cookie: injected=1",
    "crlf-in-jwt": lambda at, rt: at + "\r\nX-Injected: 1",
    "nul": lambda at, rt: "abc\x00def",
    "utf8": lambda at, rt: ("☃" * 10).encode().decode("latin-1"),  # as WSGI hands it over
    "quoted-garbage": lambda at, rt: '"' + at[:-5] + '"',
    "alg-none": lambda at, rt: jwt.encode(
        jwt.decode(at, options={"verify_signature": False}), None, algorithm="none"
    ),
    "hs256-with-public-claims": lambda at, rt: jwt.encode(
        jwt.decode(at, options={"verify_signature": False}),
        "guessed-secret-0123456789abcdef0123",
        algorithm="HS256",
        headers={"kid": jwt.get_unverified_header(at)["kid"]},
    ),
    "kid-traversal": lambda at, rt: jwt.encode(
        {"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "../../../etc/passwd"}
    ),
    "deep-header": lambda at, rt: b64(b"[" * 5_000) + "." + at.split(".")[1] + ".sig",
    "header-not-object": lambda at, rt: b64(b'"x"') + "." + at.split(".")[1] + ".sig",
    "refresh-mac-swapped": lambda at, rt: rt.split(".")[0] + "." + b64(b"\x00" * 32),
}


def carriers(value: str) -> dict[str, dict[str, str]]:
    return {
        "access-cookie": {"HTTP_COOKIE": f"sAccessToken={value}"},
        "refresh-cookie": {"HTTP_COOKIE": f"sRefreshToken={value}"},
        "both-cookies": {"HTTP_COOKIE": f"sAccessToken={value}; sRefreshToken={value}"},
        "duplicated-cookie": {"HTTP_COOKIE": f"sAccessToken=a.b.c; sAccessToken={value}"},
        "bearer": {"HTTP_AUTHORIZATION": f"Bearer {value}"},
        "bearer-and-cookie": {
            "HTTP_AUTHORIZATION": f"Bearer {value}",
            "HTTP_COOKIE": f"sAccessToken={value}",
        },
        "raw-authorization": {"HTTP_AUTHORIZATION": value},
    }


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_tokens_on_every_endpoint(client: Client, name: str) -> None:
    value = BAD_VALUES[name](*_real_tokens())
    for carrier, extra in carriers(value).items():
        for method, path, allowed in ENDPOINTS:
            # With rid, anti-CSRF passes and the value reaches the token parsers.
            response = client.generic(method, path, HTTP_RID="session", **extra)  # type: ignore[arg-type]
            try:
                check(response, allowed, secret=value)
            except AssertionError as exc:
                raise AssertionError(f"{carrier} {method} {path}: {exc}") from exc
    # Nothing an attacker sent revoked the real session.
    assert SessionRow.objects.count() == 1


def test_each_kind_of_token_in_the_others_place(client: Client) -> None:
    access, refresh = _real_tokens()
    as_refresh = [
        {"HTTP_COOKIE": f"sRefreshToken={access}"},
        {"HTTP_AUTHORIZATION": f"Bearer {access}"},
    ]
    as_access = [
        {"HTTP_COOKIE": f"sAccessToken={refresh}"},
        {"HTTP_AUTHORIZATION": f"Bearer {refresh}"},
    ]
    for extra in as_refresh:
        response = client.post(REFRESH, HTTP_RID="session", **extra)  # type: ignore[arg-type]
        check(response, {(401, "unauthorised")}, secret=access)
    for extra in as_access:
        response = client.get("/protected", **extra)  # type: ignore[arg-type]
        check(response, {(401, "unauthorised"), (401, "try refresh token")}, secret=refresh)


def test_a_refused_real_token_is_never_echoed(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from tests.http_helpers import advance_clock

    access, refresh = _real_tokens()
    advance_clock(monkeypatch, timedelta(days=101))
    for extra in (
        {"HTTP_COOKIE": f"sAccessToken={access}; sRefreshToken={refresh}"},
        {"HTTP_AUTHORIZATION": f"Bearer {access}"},
        {"HTTP_AUTHORIZATION": f"Bearer {refresh}"},
    ):
        for method, path, allowed in ENDPOINTS:
            response = client.generic(method, path, HTTP_RID="session", **extra)  # type: ignore[arg-type]
            check(response, allowed)
            assert access.encode() not in response.content
            assert refresh.encode() not in response.content


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer a.b.c"), (b"authorization", b"Bearer d.e.f")],
        [(b"cookie", b"sAccessToken=a.b.c"), (b"cookie", b"sAccessToken=d.e.f")],
        [(b"cookie", b"sRefreshToken=a.b"), (b"cookie", b"sRefreshToken=c.d")],
        [(b"authorization", b"Bearer \xff\xfe\x80"), (b"cookie", b"sAccessToken=\xc3\x28")],
        [(b"cookie", b"sAccessToken=\x00\x01\x02; sRefreshToken=\x7f")],
        [(b"st-auth-mode", b"\xff"), (b"rid", b"\xff"), (b"anti-csrf", b"\xff" * 100)],
    ],
    ids=[
        "two-authorization",
        "two-access-cookies",
        "two-refresh-cookies",
        "latin1",
        "controls",
        "odd-headers",
    ],
)
def test_raw_duplicated_and_non_utf8_headers_over_asgi(
    async_client: AsyncClient, headers: list[tuple[bytes, bytes]]
) -> None:
    """Header lists a dict cannot express, straight into the ASGI scope."""
    for method, path, allowed in ENDPOINTS:
        response = async_to_sync(async_client.request)(
            method=method,
            path=path,
            query_string="",
            headers=[(b"host", b"testserver"), *headers],
        )
        check(response, allowed)


def test_header_injection_in_the_host_or_mode_headers_is_harmless(client: Client) -> None:
    from tests.http_helpers import Agent

    agent = Agent(client, "header")
    agent.login()
    response = agent.refresh(HTTP_ST_AUTH_MODE="cookie\r\nSet-Cookie: injected=1")

    assert response.status_code == 200
    assert "injected" not in response.cookies


def test_a_huge_number_of_cookies_is_harmless(client: Client) -> None:
    jar = "; ".join(f"c{i}=v{i}" for i in range(2_000))
    for method, path, allowed in ENDPOINTS:
        check(client.generic(method, path, HTTP_COOKIE=f"{jar}; sAccessToken=x"), allowed)


@hypothesis_settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cookie_value=st.binary(max_size=300),
    authorization=st.binary(max_size=300),
    cookie_name=st.sampled_from(["sAccessToken", "sRefreshToken", "sIdRefreshToken", "other"]),
    scheme=st.sampled_from([b"", b"Bearer ", b"bearer ", b"Basic "]),
)
def test_arbitrary_bytes_never_cause_a_server_error(
    client: Client, cookie_value: bytes, authorization: bytes, cookie_name: str, scheme: bytes
) -> None:
    # WSGI hands headers over as latin-1 decoded strings: every byte sequence is possible.
    extra = {
        "HTTP_COOKIE": f"{cookie_name}={cookie_value.decode('latin-1')}",
        "HTTP_AUTHORIZATION": (scheme + authorization).decode("latin-1"),
        "HTTP_RID": "session",
    }
    for method, path, allowed in ENDPOINTS:
        response = client.generic(method, path, **extra)  # type: ignore[arg-type]
        check(response, allowed)
