"""Cookies and headers: the attributes of every token cookie the server sets or clears,
duplicated and oversized cookies, CR/LF and non-UTF-8 bytes in request headers, and nothing of
the request ever reflected into a response header (or into the tokens the headers carry)."""

from __future__ import annotations

import base64
import json
from http.cookies import Morsel
from typing import TYPE_CHECKING

import pytest
from django.http import HttpResponse
from django.test import Client

from supertokens_django import engine
from supertokens_django.models import Session as SessionRow
from tests.http_helpers import JWKS, REFRESH, SIGNOUT, decode_jwt_payload
from tests.security.support import (
    HAS_DRF,
    REFUSED_ACCESS,
    REFUSED_REFRESH,
    TRY_REFRESH,
    UNAUTHORISED,
    Outcome,
    assert_no_new_tokens,
    carry,
    expect,
    json_body,
    live_handles,
    send,
    unchanged_db,
)

if TYPE_CHECKING:
    from pytest_django import Settings as SettingsWrapper

    from tests.security.conftest import BrowserFactory
    from tests.security.support import Browser

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]

DOMAIN = ".example.com"
#: A Bearer value that is not ours: the request has no session (PROTOCOL.md §2).
MISSING = Outcome(401, UNAUTHORISED)
PATHS = {"sAccessToken": "/", "sRefreshToken": REFRESH, "sIdRefreshToken": "/"}


# =========================================================================== attributes


def token_responses(client: Client, browser: BrowserFactory) -> list[tuple[str, HttpResponse]]:
    """One response of every kind that sets or clears a token cookie."""
    seen: list[tuple[str, HttpResponse]] = []
    alice = browser("cookie")
    seen.append(("login", alice.sign_in("alice")))
    seen.append(("refresh", alice.refresh()))
    seen.append(("first call after a refresh", alice.get("/api/me")))
    seen.append(("payload update", alice.post("/api/jwt-payload", {"role": "reader"})))
    SessionRow.objects.filter(handle=alice.handle).update(jwt_payload={"role": "writer"})
    seen.append(("payload re-issued by check_database", alice.get("/api/strict")))
    seen.append(
        ("refresh expiring the legacy cookie", alice.refresh(HTTP_COOKIE=_with_legacy(alice)))
    )
    if HAS_DRF:
        alice.refresh()
        seen.append(("DRF call after a refresh", alice.get("/api/drf/me")))
    seen.append(("signout", alice.post(SIGNOUT)))
    seen.append(("signout without a session", send(client, "POST", SIGNOUT)))

    forged = browser("cookie", sign_in="alice")
    forged.use_refresh_token((forged.refresh_token or "")[:-4])
    seen.append(("unusable refresh token", forged.refresh()))

    thief = browser("cookie", sign_in="alice")
    rt0 = thief.refresh_token or ""
    thief.refresh()
    thief.get("/api/me")
    thief.use_refresh_token(rt0)
    seen.append(("theft", thief.refresh()))

    revoked = browser("cookie", sign_in="alice")
    engine.revoke_session(revoked.handle)
    seen.append(("revoked session, check_database", revoked.get("/api/strict")))
    return seen


def _with_legacy(agent: Browser) -> str:
    jar = "; ".join(f"{n}={v}" for n, (v, _p) in agent.cookies.items())
    return f"{jar}; sIdRefreshToken=legacy"


def raw_set_cookie_lines(response: HttpResponse) -> list[tuple[str, str]]:
    return [(m.value, m.OutputString()) for m in response.cookies.values()]


@pytest.mark.parametrize("samesite", ["Lax", "Strict", "None"])
def test_every_token_cookie_set_or_cleared_carries_every_attribute(
    client: Client, settings: SettingsWrapper, user: object, browser: BrowserFactory, samesite: str
) -> None:
    settings.SUPERTOKENS = {
        "COOKIE_SECURE": True,
        "COOKIE_DOMAIN": DOMAIN,
        "COOKIE_SAMESITE": samesite,
        "BLACKLISTING": True,
    }
    kinds: set[tuple[str, bool]] = set()
    for what, response in token_responses(client, browser):
        morsels: list[tuple[str, Morsel[str]]] = [
            (name, m) for name, m in response.cookies.items() if name in PATHS
        ]
        assert morsels, f"{what}: no token cookie"
        for name, morsel in morsels:
            attributes = (
                morsel["httponly"],
                morsel["secure"],
                morsel["samesite"],
                morsel["domain"],
                morsel["path"],
            )
            assert attributes == (True, True, samesite, DOMAIN, PATHS[name]), (what, name)
            cleared = morsel.value == ""
            if cleared:
                assert str(morsel["max-age"]) == "0", (what, name)
            kinds.add((name, cleared))
        for value, line in raw_set_cookie_lines(response):
            # One of each attribute, and token values that need no quoting (a cleared cookie
            # is rendered ``name=""`` by the standard library, as Django's delete_cookie is).
            lowered = line.lower()
            for attribute in ("httponly", "secure", "samesite=", "domain=", "path="):
                assert lowered.count(attribute) == 1, (what, line)
            assert '"' not in line or value == "", (what, line)
        assert "no-store" in response["Cache-Control"], what
        assert "Cookie" in response.get("Vary", ""), what
    assert kinds >= {
        ("sAccessToken", False),
        ("sAccessToken", True),
        ("sRefreshToken", False),
        ("sRefreshToken", True),
        ("sIdRefreshToken", True),
    }


# =========================================================================== duplicates


@pytest.fixture
def two(user: object, other_user: object, browser: BrowserFactory) -> tuple[Browser, Browser]:
    return browser("cookie", sign_in="alice"), browser("cookie", sign_in="bob")


def test_duplicated_access_cookies_use_the_last_value_and_change_nothing(
    client: Client, two: tuple[Browser, Browser]
) -> None:
    """Django reads the last of duplicated cookies; whichever is read, the answer is about that
    token's own session and nothing else (a rogue subdomain can toss a cookie, not steal one)."""
    alice, bob = two
    a, b = alice.access or "", bob.access or ""
    cases = [
        (f"sAccessToken={a}; sAccessToken={a}", "alice"),
        (f"sAccessToken=garbage; sAccessToken={a}", "alice"),
        (f"sAccessToken={a}; sAccessToken=garbage", None),
        (f"sAccessToken={b}; sAccessToken={a}", "alice"),
        (f"sAccessToken={a}; sAccessToken={b}", "bob"),
        # Split Cookie headers of HTTP/2 joined with "," by Django's ASGI handler.
        (f"sAccessToken={b},sAccessToken={a}", "alice"),
    ]
    owners = {"alice": alice.claims["sub"], "bob": bob.claims["sub"]}
    with unchanged_db():
        for jar, owner in cases:
            response = send(client, "GET", "/api/me", HTTP_COOKIE=jar)
            assert_no_new_tokens(response)
            if owner is None:
                expect(response, REFUSED_ACCESS)
            else:
                assert (response.status_code, json_body(response)["user_id"]) == (
                    200,
                    owners[owner],
                ), jar


def test_duplicated_refresh_cookies_rotate_only_the_session_that_is_read(
    client: Client, two: tuple[Browser, Browser]
) -> None:
    alice, bob = two
    jar = f"sRefreshToken={bob.refresh_token}; sRefreshToken={alice.refresh_token}"
    rows = {str(h): v for h, v in SessionRow.objects.values_list("handle", "refresh_token_hash_2")}
    response = send(client, "POST", REFRESH, HTTP_COOKIE=jar, HTTP_RID="session")
    assert response.status_code == 200
    assert decode_jwt_payload(response.cookies["sAccessToken"].value)["sub"] == alice.claims["sub"]
    after = {str(h): v for h, v in SessionRow.objects.values_list("handle", "refresh_token_hash_2")}
    assert after == rows  # a refresh with the current token changes no row (§8 step 2)
    assert live_handles() == {alice.handle, bob.handle}


# =========================================================================== oversized


def test_oversized_cookies_and_headers_are_refused_without_harm(
    client: Client, two: tuple[Browser, Browser]
) -> None:
    alice, _ = two
    many = "; ".join(f"c{i}={'v' * 40}" for i in range(2_000))  # ~100 KB of cookies
    with unchanged_db():
        expect(
            send(client, "GET", "/api/me", HTTP_COOKIE="sAccessToken=" + "a" * 9_000),
            REFUSED_ACCESS,
        )
        expect(
            send(client, "GET", "/api/me", HTTP_COOKIE=f"sAccessToken={alice.access}{'A' * 9_000}"),
            REFUSED_ACCESS,
        )
        expect(
            send(client, "POST", REFRESH, HTTP_COOKIE="sRefreshToken=" + "r" * 5_000, HTTP_RID="s"),
            REFUSED_REFRESH,
        )
        expect(
            send(client, "GET", "/api/me", HTTP_AUTHORIZATION="Bearer " + "b." * 50_000),
            MISSING,
        )
        response = send(
            client, "GET", "/api/me", HTTP_COOKIE=f"{many}; sAccessToken={alice.access}"
        )
        assert response.status_code == 200


# =========================================================================== CR/LF, bytes


HOSTILE = {
    "crlf": "x\r\nSet-Cookie: injected=1",
    "lf": "x\nX-Injected: 1",
    "nul": "x\x00y",
    "non-utf8": b"\xff\xfe\x80\xc3(".decode("latin-1"),
    "utf8-as-latin1": "é✓".encode().decode("latin-1"),
    "control": "".join(chr(c) for c in range(1, 32)),
}


@pytest.mark.parametrize("value", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_bytes_in_request_headers_are_harmless(
    client: Client,
    settings: SettingsWrapper,
    user: object,
    browser: BrowserFactory,
    mode: str,
    value: str,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    hostile = HOSTILE[value]
    alice = browser(mode)
    extra = {
        "HTTP_USER_AGENT": hostile,
        "HTTP_FDI_VERSION": hostile,
        "HTTP_X_FORWARDED_FOR": hostile,
        "HTTP_ORIGIN": hostile,
    }
    login = alice.post("/api/login", {"username": "alice", "password": "alice-password"}, **extra)
    assert login.status_code == 200
    stored = SessionRow.objects.get(handle=alice.handle).user_agent
    assert "\x00" not in stored
    responses = [
        login,
        alice.get("/api/me", **extra),
        alice.post("/api/me", **extra, HTTP_RID=hostile),
        alice.refresh(**extra),
    ]
    if mode == "cookie":
        # A hostile anti-CSRF value is a wrong one: refused, nothing cleared.
        with unchanged_db():
            refused = alice.post("/api/me", anti_csrf=False, HTTP_ANTI_CSRF=hostile)
        expect(refused, REFUSED_ACCESS)
        with unchanged_db():
            refused = alice.refresh(anti_csrf=False, HTTP_ANTI_CSRF=hostile)
        assert (refused.status_code, json_body(refused)) == (401, {"message": "unauthorised"})
        assert_no_new_tokens(refused)
        responses.append(refused)
    for response in responses:
        assert response.status_code < 500
        assert "injected" not in response.cookies
        for name, header in response.items():
            assert "\r" not in header and "\n" not in header, name
            assert "injected" not in header.lower(), name


# =========================================================================== reflection


MARKER = "zq7reflected"


def _decoded_token_texts(response: HttpResponse) -> list[str]:
    """The tokens a response hands out, decoded: what the headers carry, in plain text."""
    texts = []
    front = response.get("front-token")
    if front and front != "remove":
        texts.append(base64.b64decode(front).decode())
    for value in (
        response.get("st-access-token"),
        response.cookies["sAccessToken"].value if "sAccessToken" in response.cookies else None,
    ):
        if value:
            texts.append(json.dumps(decode_jwt_payload(value)))
    return texts


def test_nothing_from_the_request_is_reflected_into_a_response_header(
    client: Client, settings: SettingsWrapper, user: object, browser: BrowserFactory
) -> None:
    """Every request header and the query string carry a marker; no response header, cookie,
    or token handed out in one contains it. (``Host`` is left alone: Django validates it against
    ``ALLOWED_HOSTS``, and with ``API_DOMAIN`` unset it becomes the tokens' ``iss``.)"""
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    marked = {
        "HTTP_USER_AGENT": MARKER,
        "HTTP_ORIGIN": f"https://{MARKER}.example",
        "HTTP_REFERER": f"https://{MARKER}.example/",
        "HTTP_X_FORWARDED_HOST": f"{MARKER}.example",
        "HTTP_X_FORWARDED_FOR": "203.0.113.9",
        "HTTP_X_FORWARDED_PROTO": MARKER,
        "HTTP_FDI_VERSION": MARKER,
        "HTTP_ACCEPT": f"application/{MARKER}",
        "HTTP_X_REQUEST_ID": MARKER,
    }
    responses: list[HttpResponse] = []
    for mode in ("cookie", "header"):
        agent = browser(mode)
        responses.append(
            agent.post(
                f"/api/login?next={MARKER}",
                {"username": "alice", "password": "alice-password"},
                **marked,
            )
        )
        responses.append(agent.get(f"/api/me?{MARKER}=1", **marked))
        responses.append(agent.post("/api/me", **marked, HTTP_RID=MARKER))
        responses.append(agent.refresh(**marked))
        responses.append(agent.get(f"/api/optional?{MARKER}", **marked))
        if HAS_DRF:
            responses.append(agent.get("/api/drf/me", **marked))
        responses.append(agent.post(SIGNOUT, **marked))
    for extra in (
        {"HTTP_COOKIE": f"sAccessToken={MARKER}; {MARKER}={MARKER}"},
        {"HTTP_COOKIE": f"sRefreshToken={MARKER}.{MARKER}", "HTTP_RID": MARKER},
        {"HTTP_AUTHORIZATION": f"Bearer {MARKER}.{MARKER}.{MARKER}"},
        {"HTTP_AUTHORIZATION": f"{MARKER} {MARKER}"},
        {"HTTP_ANTI_CSRF": MARKER, "HTTP_ST_AUTH_MODE": MARKER},
    ):
        for method, path in (
            ("GET", "/api/me"),
            ("POST", REFRESH),
            ("POST", SIGNOUT),
            ("GET", JWKS),
        ):
            responses.append(send(client, method, path, **marked, **extra))
        responses.append(send(client, "OPTIONS", REFRESH, **marked, **extra))
    for response in responses:
        assert response.status_code < 500
        for name, value in response.items():
            assert MARKER not in name.lower() and MARKER not in value.lower(), (name, value)
        for name, morsel in response.cookies.items():
            assert MARKER not in name and MARKER not in morsel.OutputString()
        for text in _decoded_token_texts(response):
            assert MARKER not in text


def test_a_refused_token_is_not_echoed_in_the_try_refresh_body(
    client: Client, two: tuple[Browser, Browser]
) -> None:
    alice, _ = two
    token = (alice.access or "")[:-3] + "AAA"
    response = send(client, "GET", "/api/me", **carry(token, "cookie"))
    assert json_body(response) == TRY_REFRESH
    assert token.encode() not in response.content
