"""The wire protocol, end to end over Django's test client: PROTOCOL.md §2–§9, every row of §5.

Each test speaks to the views of ``tests.http_urls`` the way the browser SDK does (``Agent``),
in cookie mode and in header mode wherever the protocol has both.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from django.test import Client

from supertokens_django.models import RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.tokens import sha256_hex
from tests.http_helpers import (
    HTTP_TEST_MARKS,
    JWKS,
    REFRESH,
    SIGNOUT,
    Agent,
    Mode,
    advance_clock,
    assert_cleared_both_modes,
    assert_untouched,
    cookie,
    cookie_expiry,
    decode_front_token,
    decode_jwt_payload,
    exposed,
    is_cleared,
    json_body,
)

if TYPE_CHECKING:
    from pytest_django import DjangoAssertNumQueries
    from pytest_django import Settings as SettingsWrapper

pytestmark = HTTP_TEST_MARKS

TRY_REFRESH = {"message": "try refresh token"}
UNAUTHORISED = {"message": "unauthorised"}
THEFT = {"message": "token theft detected"}
URL_SAFE = re.compile(r"[A-Za-z0-9_.-]+\Z")
PAST_ACCESS_EXPIRY = timedelta(hours=1, seconds=5)  # default lifetime 1 h, leeway 1 s


@pytest.fixture
def agent(client: Client, mode: Mode) -> Agent:
    return Agent(client, mode)


def new_access_token(response: Any, mode: Mode) -> str | None:
    if mode == "cookie":
        morsel = cookie(response, "sAccessToken")
        return morsel.value if morsel is not None and morsel.value else None
    return response.get("st-access-token") or None


def new_refresh_token(response: Any, mode: Mode) -> str | None:
    if mode == "cookie":
        morsel = cookie(response, "sRefreshToken")
        return morsel.value if morsel is not None and morsel.value else None
    return response.get("st-refresh-token") or None


def expected_exposed(mode: Mode, *, refresh: bool) -> set[str]:
    if mode == "cookie":
        return {"front-token"}
    return {"front-token", "st-access-token", *(["st-refresh-token"] if refresh else [])}


# =========================================================================== §2–§4: creating


def test_cookie_mode_login_sets_both_cookies_with_their_attributes(client: Client) -> None:
    response = Agent(client, "cookie").login()

    access, refresh = cookie(response, "sAccessToken"), cookie(response, "sRefreshToken")
    assert access is not None and refresh is not None
    front = decode_front_token(response["front-token"])
    assert access["path"] == "/"
    assert refresh["path"] == REFRESH
    for morsel in (access, refresh):
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Lax"
        assert morsel["secure"] is True
        assert morsel["domain"] == ""
        assert URL_SAFE.match(morsel.value)
    # The access cookie outlives its JWT by far (a year); the JWT's own exp is what counts.
    issued = front["up"]["iat"]
    assert abs(cookie_expiry(access).timestamp() - issued - 365 * 86400) <= 2
    row = SessionRow.objects.get()
    assert abs((cookie_expiry(refresh) - row.expires_at).total_seconds()) <= 2
    assert "st-access-token" not in response and "st-refresh-token" not in response
    assert "anti-csrf" not in response
    assert exposed(response) == {"front-token"}
    # No quoting needed: the raw Set-Cookie lines carry the values as they are.
    assert '"' not in str(response.cookies)


def test_header_mode_login_sends_tokens_as_headers(client: Client) -> None:
    response = Agent(client, "header").login()

    assert "sAccessToken" not in response.cookies and "sRefreshToken" not in response.cookies
    access, refresh = response["st-access-token"], response["st-refresh-token"]
    assert URL_SAFE.match(access) and URL_SAFE.match(refresh)
    assert decode_jwt_payload(access)["sessionHandle"] == SessionRow.objects.get().pk.__str__()
    assert exposed(response) == {"front-token", "st-access-token", "st-refresh-token"}


def test_a_login_that_names_no_mode_gets_header_mode(client: Client) -> None:
    response = client.post("/login", {}, content_type="application/json")

    assert response.status_code == 200
    assert response["st-access-token"] and response["st-refresh-token"]
    assert not response.cookies


def test_an_unknown_auth_mode_gets_header_mode(client: Client) -> None:
    response = client.post(
        "/login", {}, content_type="application/json", HTTP_ST_AUTH_MODE="carrier-pigeon"
    )

    assert response["st-access-token"] and not response.cookies


@pytest.mark.parametrize(
    ("overrides", "secure", "samesite", "domain", "refresh_path"),
    [
        ({"COOKIE_SECURE": False}, "", "Lax", "", REFRESH),
        ({"COOKIE_SAMESITE": "Strict"}, True, "Strict", "", REFRESH),
        ({"COOKIE_SAMESITE": "None"}, True, "None", "", REFRESH),
        ({"COOKIE_DOMAIN": ".example.com"}, True, "Lax", ".example.com", REFRESH),
        ({"API_BASE_PATH": "/api/auth/"}, True, "Lax", "", "/api/auth/session/refresh"),
    ],
)
def test_cookie_attributes_follow_settings_when_set_and_when_cleared(
    client: Client,
    settings: SettingsWrapper,
    overrides: dict[str, Any],
    secure: Any,
    samesite: str,
    domain: str,
    refresh_path: str,
) -> None:
    settings.SUPERTOKENS = overrides
    agent = Agent(client, "cookie")
    set_response = agent.login()
    clear_response = agent.post("/revoke")

    for response in (set_response, clear_response):
        for name, path in (("sAccessToken", "/"), ("sRefreshToken", refresh_path)):
            morsel = cookie(response, name)
            assert morsel is not None
            assert (morsel["path"], morsel["secure"], morsel["samesite"], morsel["domain"]) == (
                path,
                secure,
                samesite,
                domain,
            )
            assert morsel["httponly"] is True
    assert is_cleared(cookie(clear_response, "sAccessToken"))


def test_the_front_token_describes_the_new_access_token(agent: Agent, mode: Mode) -> None:
    response = agent.login(user_id="u-42", jwt_payload={"role": "admin", "name": "Zoë ✓"})

    front = decode_front_token(response["front-token"])
    claims = decode_jwt_payload(new_access_token(response, mode) or "")
    assert set(front) == {"ate", "uid", "up"}
    assert front["uid"] == "u-42"
    assert front["up"] == claims
    assert front["ate"] == claims["exp"] * 1000
    assert isinstance(front["up"]["iat"], int)
    assert front["up"]["exp"] - front["up"]["iat"] == 3600
    # PROTOCOL.md §7: every claim present, the nullable ones as null.
    assert {k: front["up"][k] for k in ("sub", "rsub", "tId", "iss")} == {
        "sub": "u-42",
        "rsub": "u-42",
        "tId": "public",
        "iss": "http://testserver/auth",
    }
    assert front["up"]["parentRefreshTokenHash1"] is None
    assert front["up"]["antiCsrfToken"] is None
    assert front["up"]["sessionHandle"] == str(SessionRow.objects.get().pk)
    assert front["up"]["refreshTokenHash1"] == sha256_hex(new_refresh_token(response, mode) or "")
    assert front["up"]["role"] == "admin" and front["up"]["name"] == "Zoë ✓"


def test_the_issuer_follows_api_domain(client: Client, settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"API_DOMAIN": "https://api.example.com/"}
    response = Agent(client, "header").login()

    assert decode_front_token(response["front-token"])["up"]["iss"] == (
        "https://api.example.com/auth"
    )


def test_via_token_hands_out_the_anti_csrf_token_in_cookie_mode_only(
    client: Client, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    cookie_login = Agent(client, "cookie").login()
    header_login = Agent(client, "header").login()

    front = decode_front_token(cookie_login["front-token"])
    assert cookie_login["anti-csrf"] == front["up"]["antiCsrfToken"]
    assert exposed(cookie_login) == {"front-token", "anti-csrf"}
    assert "anti-csrf" not in header_login
    assert exposed(header_login) == {"front-token", "st-access-token", "st-refresh-token"}


def test_token_responses_are_not_cacheable(agent: Agent) -> None:
    response = agent.login()

    assert "no-store" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]


def test_a_login_clears_tokens_of_the_other_mode(client: Client) -> None:
    old = Agent(client, "header")
    old.login()
    agent = Agent(client, "cookie")
    response = agent.post("/login", {}, HTTP_AUTHORIZATION=f"Bearer {old.access}")

    assert response["st-access-token"] == "" and response["st-refresh-token"] == ""
    assert cookie(response, "sAccessToken") is not None
    assert response["front-token"] != "remove"


def test_another_schemes_credentials_are_left_alone(client: Client) -> None:
    agent = Agent(client, "cookie")
    login = agent.post("/login", {}, HTTP_AUTHORIZATION="Bearer some-api.key")
    refreshed = agent.refresh(HTTP_AUTHORIZATION="Bearer some-api.key")

    for response in (login, refreshed):
        assert response.status_code == 200
        assert "st-access-token" not in response and "st-refresh-token" not in response
        assert exposed(response) == {"front-token"}


# =========================================================================== verification


def test_a_valid_access_token_is_accepted_without_a_refresh(agent: Agent) -> None:
    login = agent.login(user_id="u-1")
    response = agent.get("/protected")

    assert response.status_code == 200
    assert json_body(response)["user_id"] == "u-1"
    assert json_body(response)["handle"] == json_body(login)["handle"]
    assert_untouched(response)
    assert "Cookie" in response["Vary"]


def test_the_steady_state_costs_no_query(
    agent: Agent, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    agent.login()
    with django_assert_num_queries(0):
        response = agent.get("/csrf-never")
    assert response.status_code == 200


def test_an_expired_access_token_is_try_refresh_and_tokens_stay(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent.login()
    advance_clock(monkeypatch, PAST_ACCESS_EXPIRY)
    response = agent.get("/protected")

    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH
    assert_untouched(response)
    assert "no-store" in response["Cache-Control"]


def test_a_missing_access_token_is_unauthorised_and_tokens_stay(agent: Agent) -> None:
    response = agent.get("/protected")

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED
    assert_untouched(response)


def test_a_bad_signature_is_try_refresh(client: Client) -> None:
    agent = Agent(client, "cookie")
    agent.login()
    head, body, signature = (agent.access or "").split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    response = client.get("/protected", HTTP_COOKIE=f"sAccessToken={tampered}")

    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH


def test_a_token_of_ours_with_an_unknown_key_is_try_refresh(agent: Agent, mode: Mode) -> None:
    agent.login()
    claims = decode_jwt_payload(agent.access or "")
    forged = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "nope"})
    extra = (
        {"HTTP_COOKIE": f"sAccessToken={forged}"}
        if mode == "cookie"
        else {"HTTP_AUTHORIZATION": f"Bearer {forged}"}
    )
    response = agent.client.get("/protected", **extra)

    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer an-opaque-api-key",
        "Bearer a.b",
        "Basic dXNlcjpwYXNz",
        "Token 0123456789abcdef",
        "Bearer " + jwt.encode({"sub": "x", "scope": "read"}, "k" * 32, algorithm="HS256"),
        "Bearer",
        "",
    ],
)
def test_an_authorization_header_that_is_not_ours_is_ignored(
    client: Client, authorization: str
) -> None:
    agent = Agent(client, "cookie")
    agent.login(user_id="cookie-user")

    with_cookie = agent.get("/protected", HTTP_AUTHORIZATION=authorization)
    without_cookie = client.get("/protected", HTTP_AUTHORIZATION=authorization)

    assert with_cookie.status_code == 200
    assert json_body(with_cookie)["user_id"] == "cookie-user"
    # Without our cookie it is a request with no session at all, not a bad token.
    assert without_cookie.status_code == 401
    assert json_body(without_cookie) == UNAUTHORISED


def test_our_bearer_token_wins_over_the_cookie(client: Client) -> None:
    cookie_agent, header_agent = Agent(client, "cookie"), Agent(client, "header")
    cookie_agent.login(user_id="by-cookie")
    header_agent.login(user_id="by-header")

    response = cookie_agent.get("/protected", HTTP_AUTHORIZATION=f"Bearer {header_agent.access}")

    assert json_body(response)["user_id"] == "by-header"


def test_the_legacy_cookie_gets_try_refresh_even_with_a_valid_token(agent: Agent) -> None:
    agent.login()
    agent.cookies["sIdRefreshToken"] = ("legacy", "/")
    response = agent.get("/protected")

    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH
    assert_untouched(response)


@pytest.mark.parametrize("with_session", [True, False])
def test_the_refresh_endpoint_expires_the_legacy_cookie(agent: Agent, with_session: bool) -> None:
    if with_session:
        agent.login()
    agent.cookies["sIdRefreshToken"] = ("legacy", "/")
    response = agent.refresh()

    assert response.status_code == (200 if with_session else 401)
    legacy = cookie(response, "sIdRefreshToken")
    assert is_cleared(legacy) and legacy is not None and legacy["path"] == "/"
    assert "sIdRefreshToken" not in agent.cookies
    if with_session:
        assert agent.get("/protected").status_code == 200


# =========================================================================== §6 anti-CSRF


@pytest.mark.parametrize(
    ("setting", "method", "path", "rid", "anti_csrf", "status"),
    [
        ("VIA_CUSTOM_HEADER", "post", "/protected", False, False, 401),
        ("VIA_CUSTOM_HEADER", "post", "/protected", True, False, 200),
        ("VIA_CUSTOM_HEADER", "put", "/protected", False, False, 401),
        ("VIA_CUSTOM_HEADER", "delete", "/protected", False, False, 401),
        ("VIA_CUSTOM_HEADER", "get", "/protected", False, False, 200),
        ("VIA_CUSTOM_HEADER", "options", "/protected", False, False, 200),
        ("VIA_CUSTOM_HEADER", "trace", "/protected", False, False, 200),
        ("VIA_CUSTOM_HEADER", "head", "/protected", False, False, 401),
        ("VIA_CUSTOM_HEADER", "get", "/csrf-always", False, False, 401),
        ("VIA_CUSTOM_HEADER", "get", "/csrf-always", True, False, 200),
        ("VIA_CUSTOM_HEADER", "post", "/csrf-never", False, False, 200),
        ("VIA_TOKEN", "post", "/protected", True, False, 401),
        ("VIA_TOKEN", "post", "/protected", False, True, 200),
        ("VIA_TOKEN", "get", "/protected", False, False, 200),
        ("VIA_TOKEN", "get", "/csrf-always", False, False, 401),
        ("VIA_TOKEN", "post", "/csrf-never", False, False, 200),
        ("NONE", "post", "/protected", False, False, 200),
        ("NONE", "get", "/csrf-always", False, False, 200),
    ],
)
def test_anti_csrf_on_cookie_authenticated_calls(
    client: Client,
    settings: SettingsWrapper,
    setting: str,
    method: str,
    path: str,
    rid: bool,
    anti_csrf: bool,
    status: int,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    agent = Agent(client, "cookie")
    agent.login()
    response = agent.call(method, path, rid=rid, anti_csrf=anti_csrf)

    assert response.status_code == status
    if status == 401:
        if method != "head":
            assert json_body(response) == TRY_REFRESH
        assert_untouched(response)


def test_via_token_refuses_a_wrong_anti_csrf_token(
    client: Client, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    agent = Agent(client, "cookie")
    agent.login()
    response = agent.post("/protected", anti_csrf=False, HTTP_ANTI_CSRF="x" * 43)

    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH


@pytest.mark.parametrize("setting", ["VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"])
def test_header_mode_is_never_anti_csrf_checked(
    client: Client, settings: SettingsWrapper, setting: str
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    agent = Agent(client, "header")
    agent.login()

    assert agent.post("/protected", rid=False, anti_csrf=False).status_code == 200
    assert agent.get("/csrf-always", rid=False, anti_csrf=False).status_code == 200
    assert agent.refresh(rid=False, anti_csrf=False).status_code == 200


@pytest.mark.parametrize(
    ("setting", "rid", "anti_csrf", "status"),
    [
        ("VIA_CUSTOM_HEADER", False, True, 401),
        ("VIA_CUSTOM_HEADER", True, False, 200),
        ("VIA_TOKEN", True, False, 401),
        ("VIA_TOKEN", False, True, 200),
        ("NONE", False, False, 200),
    ],
)
def test_anti_csrf_on_a_cookie_refresh(
    client: Client,
    settings: SettingsWrapper,
    setting: str,
    rid: bool,
    anti_csrf: bool,
    status: int,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    agent = Agent(client, "cookie")
    agent.login()
    before = agent.refresh_token
    response = agent.refresh(rid=rid, anti_csrf=anti_csrf)

    assert response.status_code == status
    if status == 401:
        # "unauthorised" on the refresh call, but nothing is cleared: clearing on a failed
        # anti-CSRF check would let any site sign the user out.
        assert json_body(response) == UNAUTHORISED
        assert_untouched(response)
        assert SessionRow.objects.count() == 1
        assert agent.refresh_token == before


def test_via_token_renews_the_anti_csrf_token_on_every_refresh(
    client: Client, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    agent = Agent(client, "cookie")
    first = agent.login()["anti-csrf"]
    response = agent.refresh()

    assert response["anti-csrf"] != first
    assert (
        decode_front_token(response["front-token"])["up"]["antiCsrfToken"] == response["anti-csrf"]
    )
    assert exposed(response) == {"front-token", "anti-csrf"}
    # The old token is refused, the new one accepted (and re-sent with the replacement token).
    assert agent.post("/protected", anti_csrf=False, HTTP_ANTI_CSRF=first).status_code == 401
    promoted = agent.post("/protected")
    assert promoted.status_code == 200
    assert promoted["anti-csrf"] == response["anti-csrf"]


def test_via_token_refuses_a_refresh_with_the_wrong_token(
    client: Client, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    agent = Agent(client, "cookie")
    agent.login()
    response = agent.refresh(anti_csrf=False, HTTP_ANTI_CSRF="not-the-token")

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED


# =========================================================================== refresh endpoint


@pytest.mark.parametrize("auth_mode", ["cookie", "header", None])
def test_the_refresh_probe_of_a_fresh_browser(client: Client, auth_mode: str | None) -> None:
    extra = {"HTTP_RID": "session", "HTTP_FDI_VERSION": "4.1"}
    if auth_mode:
        extra["HTTP_ST_AUTH_MODE"] = auth_mode
    response = client.post(REFRESH, **extra)  # type: ignore[arg-type]

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED
    assert_cleared_both_modes(response)
    assert "no-store" in response["Cache-Control"]


def test_a_refresh_issues_new_tokens_in_the_mode_the_refresh_token_came_in(
    agent: Agent, mode: Mode
) -> None:
    agent.login()
    old_refresh, old_access = agent.refresh_token, agent.access
    response = agent.refresh()

    assert response.status_code == 200
    assert json_body(response) == {}
    access, refresh = new_access_token(response, mode), new_refresh_token(response, mode)
    assert access and refresh and access != old_access and refresh != old_refresh
    front = decode_front_token(response["front-token"])
    assert front["up"] == decode_jwt_payload(access)
    assert front["up"]["parentRefreshTokenHash1"] == sha256_hex(old_refresh or "")
    assert front["up"]["refreshTokenHash1"] == sha256_hex(refresh)
    assert exposed(response) == expected_exposed(mode, refresh=True)
    assert "no-store" in response["Cache-Control"]
    if mode == "cookie":
        assert "st-access-token" not in response
        refresh_cookie = cookie(response, "sRefreshToken")
        assert refresh_cookie is not None and refresh_cookie["path"] == REFRESH
    else:
        assert not response.cookies


@pytest.mark.parametrize("refresh_mode", ["cookie", "header"])
def test_a_refresh_clears_the_other_modes_tokens_first_and_keeps_the_session(
    client: Client, refresh_mode: Mode
) -> None:
    stale = Agent(client, "header" if refresh_mode == "cookie" else "cookie")
    stale.login(user_id="stale")
    agent = Agent(client, refresh_mode)
    agent.login(user_id="current")
    if refresh_mode == "cookie":
        extra = {"HTTP_AUTHORIZATION": f"Bearer {stale.access}"}
    else:
        extra = {"HTTP_COOKIE": f"sAccessToken={stale.access}; sRefreshToken={stale.refresh_token}"}
    response = agent.refresh(**extra)

    assert response.status_code == 200
    front = decode_front_token(response["front-token"])
    assert front["uid"] == "current"
    if refresh_mode == "cookie":
        assert response["st-access-token"] == "" and response["st-refresh-token"] == ""
        assert cookie(response, "sAccessToken").value  # type: ignore[union-attr]
        assert exposed(response) == {"front-token", "st-access-token", "st-refresh-token"}
    else:
        assert is_cleared(cookie(response, "sAccessToken"))
        assert is_cleared(cookie(response, "sRefreshToken"))
        assert response["st-access-token"] and response["st-refresh-token"]
    assert agent.get("/protected").status_code == 200


def test_refresh_token_theft_revokes_the_session(
    agent: Agent, mode: Mode, settings: SettingsWrapper
) -> None:
    """PROTOCOL.md §8, deterministic theft: RT0 -> RT1, RT1's access token used, RT0 again."""
    agent.login()
    rt0 = agent.refresh_token
    agent.refresh()
    assert agent.get("/protected").status_code == 200  # promotes RT1
    newest = agent.refresh_token

    agent.use_refresh_token(rt0 or "")
    theft = agent.refresh()

    assert theft.status_code == 401
    assert json_body(theft) == THEFT
    assert_cleared_both_modes(theft)
    assert not SessionRow.objects.exists()
    assert RevokedSession.objects.get().reason == "theft"
    for token in (rt0, newest):
        replay = agent.client.post(
            REFRESH,
            HTTP_RID="session",
            **(
                {"HTTP_COOKIE": f"sRefreshToken={token}"}
                if mode == "cookie"
                else {"HTTP_AUTHORIZATION": f"Bearer {token}"}
            ),
        )
        assert replay.status_code == 401
        assert json_body(replay) == UNAUTHORISED


def test_a_lost_refresh_response_is_harmless(agent: Agent, mode: Mode) -> None:
    agent.login()
    rt0 = agent.refresh_token
    agent.refresh()  # its response never reached the browser:
    agent.use_refresh_token(rt0 or "")
    again = agent.refresh()

    assert again.status_code == 200
    assert agent.get("/protected").status_code == 200


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # forged MAC
        lambda t: t.split(".")[0],  # truncated
        lambda t: "garbage",
        lambda t: "a.b",
    ],
    ids=["forged", "truncated", "garbage", "two-parts"],
)
def test_an_unusable_refresh_token_is_unauthorised_and_cleared(
    agent: Agent, mode: Mode, damage: Any
) -> None:
    agent.login()
    agent.use_refresh_token(damage(agent.refresh_token))
    response = agent.refresh()

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED
    assert_cleared_both_modes(response)
    assert SessionRow.objects.count() == 1  # forgery can revoke nobody


def test_an_expired_refresh_token_is_unauthorised_and_cleared(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent.login()
    advance_clock(monkeypatch, timedelta(days=100, seconds=1))
    response = agent.refresh()

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED
    assert_cleared_both_modes(response)


def test_the_refresh_token_of_a_revoked_session_is_unauthorised_and_cleared(
    agent: Agent,
) -> None:
    from supertokens_django import revoke_session

    login = agent.login()
    revoke_session(json_body(login)["handle"])
    response = agent.refresh()

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED
    assert_cleared_both_modes(response)


# =========================================================================== after a refresh


def test_the_first_call_after_a_refresh_gets_a_replacement_token(agent: Agent, mode: Mode) -> None:
    agent.login()
    agent.refresh()
    child = agent.access
    row_before = SessionRow.objects.get().refresh_token_hash_2

    first = agent.get("/protected")

    assert first.status_code == 200
    replacement = new_access_token(first, mode)
    assert replacement and replacement != child
    front = decode_front_token(first["front-token"])
    assert front["up"] == decode_jwt_payload(replacement)
    assert front["up"]["parentRefreshTokenHash1"] is None
    assert exposed(first) == expected_exposed(mode, refresh=False)
    assert "no-store" in first["Cache-Control"]
    # The child was promoted: the row now holds H(H(child refresh token)).
    assert SessionRow.objects.get().refresh_token_hash_2 != row_before
    assert SessionRow.objects.get().refresh_token_hash_2 == sha256_hex(
        sha256_hex(agent.refresh_token or "")
    )
    # And from then on, the steady state.
    assert_untouched(agent.get("/protected"))


def test_update_jwt_payload_in_a_view_sends_the_new_token_at_once(agent: Agent, mode: Mode) -> None:
    agent.login(jwt_payload={"role": "user"})
    response = agent.post("/payload", {"role": "admin", "n": 1})

    assert response.status_code == 200
    assert json_body(response)["jwt_payload"] == {"role": "admin", "n": 1}
    token = new_access_token(response, mode)
    assert token is not None
    front = decode_front_token(response["front-token"])
    assert front["up"]["role"] == "admin" and front["up"] == decode_jwt_payload(token)
    assert front["ate"] == front["up"]["exp"] * 1000
    assert exposed(response) == expected_exposed(mode, refresh=False)
    assert SessionRow.objects.get().jwt_payload == {"role": "admin", "n": 1}
    # The new token is what the client uses from now on, and refreshes keep the payload.
    assert json_body(agent.get("/protected"))["jwt_payload"] == {"role": "admin", "n": 1}
    agent.refresh()
    assert agent.front is not None and agent.front["up"]["role"] == "admin"


def test_revoke_session_in_a_view_signs_the_client_out(agent: Agent) -> None:
    agent.login()
    response = agent.post("/revoke")

    assert response.status_code == 200
    assert_cleared_both_modes(response)
    assert "no-store" in response["Cache-Control"]
    assert not SessionRow.objects.exists()
    assert not agent.session_exists


def test_a_session_revoked_elsewhere_is_refused_with_blacklisting(
    agent: Agent, settings: SettingsWrapper
) -> None:
    from supertokens_django import revoke_session

    settings.SUPERTOKENS = {"BLACKLISTING": True}
    login = agent.login()
    revoke_session(json_body(login)["handle"])
    response = agent.get("/protected")

    assert response.status_code == 401
    assert json_body(response) == UNAUTHORISED
    assert_cleared_both_modes(response)


def test_without_blacklisting_a_revoked_access_token_lives_until_it_expires(
    agent: Agent,
) -> None:
    from supertokens_django import revoke_session

    login = agent.login()
    revoke_session(json_body(login)["handle"])

    assert agent.get("/protected").status_code == 200
    strict = agent.get("/strict")  # check_database=True on this view
    assert strict.status_code == 401
    assert json_body(strict) == UNAUTHORISED
    assert_cleared_both_modes(strict)


# =========================================================================== sign-out


def test_signout_revokes_the_session_and_clears_the_tokens(agent: Agent, user: Any) -> None:
    from django.contrib.auth.signals import user_logged_out

    seen: list[Any] = []

    def receiver(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        seen.append(user)

    user_logged_out.connect(receiver)
    try:
        agent.login(username=user.username)
        response = agent.post(SIGNOUT)
    finally:
        user_logged_out.disconnect(receiver)

    assert response.status_code == 200
    assert json_body(response) == {"status": "OK"}
    assert_cleared_both_modes(response)
    assert "no-store" in response["Cache-Control"]
    assert not SessionRow.objects.exists()
    assert RevokedSession.objects.get().reason == "logout"
    assert seen == [user]
    # The next call is a plain 401 with nothing left to refresh.
    assert json_body(agent.get("/protected")) == UNAUTHORISED
    assert agent.refresh().status_code == 401


def test_signout_without_a_session_is_ok_and_clears(client: Client) -> None:
    response = client.post(SIGNOUT, HTTP_RID="session")

    assert response.status_code == 200
    assert json_body(response) == {"status": "OK"}
    assert_cleared_both_modes(response)


def test_signout_with_an_expired_token_asks_for_a_refresh_first(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent.login()
    advance_clock(monkeypatch, PAST_ACCESS_EXPIRY)
    response = agent.post(SIGNOUT)
    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH

    # What the SDK then does: refresh, and sign out again.
    assert agent.refresh().status_code == 200
    again = agent.post(SIGNOUT)
    assert again.status_code == 200
    assert not SessionRow.objects.exists()


def test_signout_of_a_session_that_is_already_gone_is_ok(
    agent: Agent, settings: SettingsWrapper
) -> None:
    from supertokens_django import revoke_session

    settings.SUPERTOKENS = {"BLACKLISTING": True}
    login = agent.login()
    revoke_session(json_body(login)["handle"])
    response = agent.post(SIGNOUT)

    assert response.status_code == 200
    assert_cleared_both_modes(response)


def test_signout_is_anti_csrf_checked_in_cookie_mode(client: Client) -> None:
    agent = Agent(client, "cookie")
    agent.login()
    response = agent.post(SIGNOUT, rid=False)

    assert response.status_code == 401
    assert json_body(response) == TRY_REFRESH
    assert SessionRow.objects.count() == 1


# =========================================================================== §5 settings, 5xx


def test_the_session_expired_status_code_is_configurable(
    agent: Agent, settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SUPERTOKENS = {"SESSION_EXPIRED_STATUS_CODE": 440}
    assert agent.get("/protected").status_code == 440
    assert agent.refresh().status_code == 440
    agent.login()
    advance_clock(monkeypatch, PAST_ACCESS_EXPIRY)
    response = agent.get("/protected")
    assert response.status_code == 440
    assert json_body(response) == TRY_REFRESH


def test_a_server_error_after_a_promotion_writes_no_token(agent: Agent, mode: Mode) -> None:
    agent.login()
    agent.refresh()
    child = agent.access
    agent.client.raise_request_exception = False

    response = agent.get("/explode")

    assert response.status_code == 500
    assert_untouched(response)
    assert agent.access == child
    # The client kept its tokens, which still work: the retry gets the replacement.
    retry = agent.get("/protected")
    assert retry.status_code == 200
    assert new_access_token(retry, mode) is not None


def test_a_server_error_after_a_payload_update_writes_no_token(agent: Agent) -> None:
    agent.login()
    agent.client.raise_request_exception = False
    response = agent.post("/explode-after-payload-update")

    assert response.status_code == 500
    assert_untouched(response)


def test_a_server_error_after_a_refresh_writes_no_token(agent: Agent, mode: Mode) -> None:
    agent.login()
    agent.client.raise_request_exception = False
    # An application view that refreshes (the refresh cookie's Path would have to match it).
    carrier = (
        {"HTTP_COOKIE": f"sRefreshToken={agent.refresh_token}"}
        if mode == "cookie"
        else {"HTTP_AUTHORIZATION": f"Bearer {agent.refresh_token}"}
    )
    response = agent.post("/refresh-then-explode", **carrier)

    assert response.status_code == 500
    assert_untouched(response)
    # The refresh token the client kept is still current: a refresh never invalidates its parent.
    assert agent.refresh().status_code == 200


def test_the_jwks_publishes_the_key_that_signs(client: Client) -> None:
    login = Agent(client, "header").login()
    kid = jwt.get_unverified_header(login["st-access-token"])["kid"]
    keys = json_body(client.get(JWKS))["keys"]

    assert kid in {k["kid"] for k in keys}
    key = next(k for k in keys if k["kid"] == kid)
    public = jwt.PyJWK(key).key
    claims = jwt.decode(login["st-access-token"], public, algorithms=["RS256"])
    assert claims["sub"] == "user-1"
