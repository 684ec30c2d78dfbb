"""The unmodified SuperTokens browser SDK (supertokens-website 20.1.6) in headless Chromium,
against the example project: PROTOCOL.md as the SDK sees it, in cookie and in header mode.

Each test opens a fresh browser profile on the demo page; the example servers run with
3-second access tokens so that expiry and refresh happen within a test.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import time
import uuid
from collections.abc import Callable

import pytest

from tests.e2e.browser import FRONT_TOKEN_COOKIE, LAST_UPDATE_COOKIE, DemoPage, refresh_with
from tests.e2e.server import ExampleServer, OtherOrigin, ServerConfig

pytestmark = pytest.mark.e2e

MODES = pytest.mark.parametrize("mode", ["cookie", "header"])
REFRESH = "/auth/session/refresh"
#: PROTOCOL.md §7: the claims of every access token (the two nullable ones present as null).
PROTOCOL_CLAIMS = {
    "sub",
    "iat",
    "exp",
    "sessionHandle",
    "refreshTokenHash1",
    "parentRefreshTokenHash1",
    "antiCsrfToken",
    "tId",
    "rsub",
    "iss",
}
TOKEN_COOKIES = {"sAccessToken", "sRefreshToken"}
HEADER_MODE_COOKIES = {"st-access-token", "st-refresh-token"}  # kept by the SDK itself

OpenDemo = Callable[..., DemoPage]


def new_events(demo: DemoPage, before: int) -> list[dict[str, object]]:
    return demo.events()[before:]


def test_page_loads_the_sdk(server: ExampleServer, open_demo: OpenDemo) -> None:
    """The infrastructure: the bundle is served and exposes the SDK's API on window."""
    demo = open_demo(server.url)
    for name in (
        "init",
        "doesSessionExist",
        "signOut",
        "attemptRefreshingSession",
        "getUserId",
        "getAccessTokenPayloadSecurely",
    ):
        assert demo.page.evaluate(f"typeof supertokens.{name}") == "function", name


# 1 ------------------------------------------------------------------------------------------


@MODES
def test_fresh_browser_probes_refresh_once(
    server: ExampleServer, open_demo: OpenDemo, mode: str
) -> None:
    demo = open_demo(server.url, mode)

    # The page's first doesSessionExist() made the SDK probe the refresh endpoint.
    [probe] = demo.log.exchanges
    assert (probe.method, probe.path, probe.status) == ("POST", REFRESH, 401)
    assert probe.response_header("front-token") == "remove"
    assert demo.events() == []
    # The SDK now knows there is no session: asking again costs no request.
    assert demo.sdk("supertokens.doesSessionExist()") is False
    assert len(demo.log.exchanges) == 1
    assert demo.page.text_content("#status") == "Signed out."


# 2 ------------------------------------------------------------------------------------------


@MODES
def test_login_creates_a_session(server: ExampleServer, open_demo: OpenDemo, mode: str) -> None:
    demo = open_demo(server.url, mode)
    demo.log.clear()

    demo.page.fill("#username", "demo")
    demo.page.fill("#password", "demo-password")
    demo.page.click("#login-button")
    demo.page.wait_for_function("document.body.classList.contains('signed-in')")

    user_id = server.orm("user", "demo")["id"]
    [login] = demo.log.exchanges
    demo.log.wait_finished(demo.page, login)
    assert (login.path, login.status) == ("/api/login", 200)
    assert login.request.headers["st-auth-mode"] == mode
    assert login.json() == {"user_id": user_id}
    assert demo.actions() == ["SESSION_CREATED"]
    assert demo.sdk("supertokens.doesSessionExist()") is True
    assert demo.sdk("supertokens.getUserId()") == user_id
    assert demo.page.text_content("#user-id") == user_id

    # The claims as the login issued them (with 3-second tokens, the SDK may have refreshed
    # since, and its current payload would then carry a parent hash).
    issued = json.loads(base64.b64decode(login.response_header("front-token") or ""))
    payload = issued["up"]
    assert PROTOCOL_CLAIMS <= payload.keys()
    assert PROTOCOL_CLAIMS <= demo.payload().keys()
    assert payload["sub"] == payload["rsub"] == user_id
    assert payload["exp"] - payload["iat"] == 3
    assert payload["parentRefreshTokenHash1"] is None
    assert payload["antiCsrfToken"] is None
    assert payload["tId"] == "public"
    assert payload["iss"].endswith("/auth")
    assert re.fullmatch(r"[0-9a-f]{64}", payload["refreshTokenHash1"])
    assert str(uuid.UUID(payload["sessionHandle"])) == payload["sessionHandle"]
    assert payload["username"] == "demo"  # the example's custom claim
    assert issued["uid"] == user_id
    assert issued["ate"] == payload["exp"] * 1000
    front = demo.front_token()  # what the SDK stored: the latest front-token
    assert front["uid"] == user_id
    assert front["ate"] == front["up"]["exp"] * 1000

    cookies = demo.cookies()
    assert not cookies[FRONT_TOKEN_COOKIE]["httpOnly"]
    assert LAST_UPDATE_COOKIE in cookies
    if mode == "cookie":
        access, refresh = cookies["sAccessToken"], cookies["sRefreshToken"]
        assert (access["path"], access["httpOnly"], access["sameSite"]) == ("/", True, "Lax")
        assert (refresh["path"], refresh["httpOnly"], refresh["sameSite"]) == (REFRESH, True, "Lax")
        assert not access["secure"] and not refresh["secure"]  # the example's plain-http setting
        assert access["expires"] > time.time() + 300 * 86400  # a year: the JWT's exp is what counts
        assert refresh["expires"] > time.time() + 86400
        assert not HEADER_MODE_COOKIES & cookies.keys()
    else:
        assert not TOKEN_COOKIES & cookies.keys()
        assert all(not cookies[name]["httpOnly"] for name in HEADER_MODE_COOKIES)

    row = server.orm("session", payload["sessionHandle"])
    assert row == {"exists": True, "user": "demo", "subject": user_id}


# 3 ------------------------------------------------------------------------------------------


@MODES
def test_expired_access_token_is_refreshed_once(
    server: ExampleServer, open_demo: OpenDemo, mode: str
) -> None:
    demo = open_demo(server.url, mode)
    demo.login()
    demo.log.clear()

    # A valid token: no refresh.
    assert demo.call("GET", "/api/me")["status"] == 200
    assert [(x.path, x.status) for x in demo.log.exchanges] == [("/api/me", 200)]
    before_refresh = demo.payload()

    refusal = demo.wait_until_access_token_expired()
    assert refusal.json() == {"message": "try refresh token"}
    demo.log.clear()
    seen = len(demo.events())
    answer = demo.call("GET", "/api/me")

    assert answer["status"] == 200
    assert answer["body"]["session_handle"] == before_refresh["sessionHandle"]
    assert [(x.path, x.status) for x in demo.log.exchanges] == [
        ("/api/me", 401),
        (REFRESH, 200),
        ("/api/me", 200),
    ]
    refresh = demo.log.exchanges[1]
    assert refresh.response_header("front-token") not in (None, "remove")
    # The refresh's new front-token, the SDK's refresh event, then the re-issued token that the
    # first call after a refresh gets (PROTOCOL.md §8: the child token is promoted).
    assert [e["action"] for e in new_events(demo, seen)] == [
        "ACCESS_TOKEN_PAYLOAD_UPDATED",
        "REFRESH_SESSION",
        "ACCESS_TOKEN_PAYLOAD_UPDATED",
    ]
    assert demo.log.exchanges[2].response_header("front-token") not in (None, "remove")
    after = demo.payload()
    assert after["sessionHandle"] == before_refresh["sessionHandle"]
    assert after["exp"] > before_refresh["exp"]
    assert after["refreshTokenHash1"] != before_refresh["refreshTokenHash1"]
    assert after["parentRefreshTokenHash1"] is None


@MODES
def test_parallel_calls_after_expiry_share_one_refresh(
    server: ExampleServer, open_demo: OpenDemo, mode: str
) -> None:
    calls = 5
    demo = open_demo(server.url, mode)
    demo.login()
    demo.wait_until_access_token_expired()
    demo.log.clear()
    seen = len(demo.events())

    statuses = demo.page.evaluate(
        "async (n) => (await Promise.all("
        "  Array.from({length: n}, () => demo.call('GET', '/api/me'))"
        ")).map((answer) => answer.status)",
        calls,
    )

    assert statuses == [200] * calls
    assert len(demo.log.refreshes()) == 1
    # Every call went out with the expired token, got a 401, and was retried once.
    assert len(demo.log.calls("/api/me")) == 2 * calls
    assert [e["action"] for e in new_events(demo, seen)].count("REFRESH_SESSION") == 1


# 4 ------------------------------------------------------------------------------------------


@MODES
def test_update_jwt_payload_reaches_the_sdk(
    server: ExampleServer, open_demo: OpenDemo, mode: str
) -> None:
    demo = open_demo(server.url, mode)
    demo.login()
    demo.log.clear()
    seen = len(demo.events())

    answer = demo.call("POST", "/api/jwt-payload", {"theme": "dark"})

    assert answer == {"status": 200, "body": {"jwt_payload": {"theme": "dark"}}}
    [update] = demo.log.exchanges
    assert update.response_header("front-token") not in (None, "remove")
    assert new_events(demo, seen) == [{"action": "ACCESS_TOKEN_PAYLOAD_UPDATED"}]
    payload = demo.payload()
    assert payload["theme"] == "dark"
    assert "username" not in payload  # update_jwt_payload replaces the custom claims
    assert demo.call("GET", "/api/me")["body"]["jwt_payload"] == {"theme": "dark"}
    assert demo.log.refreshes() == []


@MODES
def test_update_session_data_leaves_the_tokens_alone(
    server: ExampleServer, open_demo: OpenDemo, mode: str
) -> None:
    demo = open_demo(server.url, mode)
    demo.login()
    assert demo.call("POST", "/api/me")["body"]["counter"] == 1
    demo.log.clear()
    seen = len(demo.events())

    answer = demo.call("POST", "/api/session-data", {"cart": ["apple"]})

    assert answer == {"status": 200, "body": {"session_data": {"cart": ["apple"]}}}
    assert demo.log.exchanges[0].response_header("front-token") is None
    assert new_events(demo, seen) == []
    # The data was replaced, counter and all: counting starts again.
    assert demo.call("POST", "/api/me")["body"]["counter"] == 1
    assert demo.call("POST", "/api/me")["body"]["counter"] == 2


# 5 ------------------------------------------------------------------------------------------


@MODES
def test_sign_out(server: ExampleServer, open_demo: OpenDemo, mode: str) -> None:
    demo = open_demo(server.url, mode)
    demo.login()
    handle = demo.payload()["sessionHandle"]
    demo.log.clear()
    seen = len(demo.events())

    demo.sdk("supertokens.signOut()")

    [signout] = demo.log.exchanges
    assert (signout.method, signout.path, signout.status) == ("POST", "/auth/signout", 200)
    assert signout.json() == {"status": "OK"}
    assert signout.response_header("front-token") == "remove"
    assert new_events(demo, seen) == [{"action": "SIGN_OUT"}]
    left = demo.cookies().keys()
    assert not (TOKEN_COOKIES | HEADER_MODE_COOKIES | {FRONT_TOKEN_COOKIE}) & left
    assert server.orm("session", handle)["exists"] is False
    assert demo.sdk("supertokens.doesSessionExist()") is False

    # The next call fails once, without a refresh loop.
    demo.log.clear()
    seen = len(demo.events())
    assert demo.call("GET", "/api/me")["status"] == 401
    assert [(x.path, x.status) for x in demo.log.exchanges] == [("/api/me", 401)]
    assert new_events(demo, seen) == [{"action": "UNAUTHORISED", "sessionExpiredOrRevoked": False}]


# 6 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blacklisting", "path"),
    [(True, "/api/me"), (False, "/api/strict")],
    ids=["blacklisting", "check_database"],
)
@MODES
def test_server_side_revocation(
    example_servers: Callable[[ServerConfig], ExampleServer],
    open_demo: OpenDemo,
    mode: str,
    blacklisting: bool,
    path: str,
) -> None:
    server = example_servers(ServerConfig(blacklisting=blacklisting))
    demo = open_demo(server.url, mode)
    demo.login()
    handle = demo.payload()["sessionHandle"]

    answer = demo.call("POST", "/api/revoke-all")

    assert answer["status"] == 200
    assert handle in answer["body"]["revoked"]
    if not blacklisting:
        # Documented: without blacklisting an access token lives until its exp (PROTOCOL.md §9);
        # only views with check_database=True notice at once.
        assert demo.call("GET", "/api/me")["status"] == 200
    demo.log.clear()
    seen = len(demo.events())

    assert demo.call("GET", path)["status"] == 401

    events = new_events(demo, seen)
    assert {"action": "UNAUTHORISED", "sessionExpiredOrRevoked": True} in events
    assert all(e["action"] == "UNAUTHORISED" for e in events), events
    # No retry and no refresh loop: at most one refresh attempt, refused.
    assert len(demo.log.calls(path)) == 1
    assert [x.status for x in demo.log.refreshes()] in ([], [401])
    assert demo.sdk("supertokens.doesSessionExist()") is False
    assert FRONT_TOKEN_COOKIE not in demo.cookies()
    assert server.orm("session", handle)["exists"] is False


# 7 ------------------------------------------------------------------------------------------


@MODES
def test_refresh_token_theft(server: ExampleServer, open_demo: OpenDemo, mode: str) -> None:
    demo = open_demo(server.url, mode)
    demo.login()
    handle = demo.payload()["sessionHandle"]
    stolen = demo.refresh_token()

    # Two rotations, each child promoted by using its access token (PROTOCOL.md §8).
    rotated = [stolen]
    for _ in range(2):
        assert demo.sdk("supertokens.attemptRefreshingSession()") is True
        assert demo.call("GET", "/api/me")["status"] == 200
        rotated.append(demo.refresh_token())
    assert len(set(rotated)) == 3

    # The thief replays the old refresh token from somewhere else.
    replay = refresh_with(server.url, mode, stolen)
    assert replay.status == 401
    assert replay.json() == {"message": "token theft detected"}
    assert replay.headers["front-token"] == "remove"
    assert server.orm("session", handle)["exists"] is False
    assert server.orm("revoked", handle) == {"revoked": True, "reason": "theft"}
    # The newest token died with the session.
    newest = refresh_with(server.url, mode, rotated[-1])
    assert (newest.status, newest.json()) == (401, {"message": "unauthorised"})

    # The victim's browser finds out on its next refresh, and can log in again.
    seen = len(demo.events())
    assert demo.sdk("supertokens.attemptRefreshingSession()") is False
    assert new_events(demo, seen) == [{"action": "UNAUTHORISED", "sessionExpiredOrRevoked": True}]
    assert demo.sdk("supertokens.doesSessionExist()") is False
    demo.login()
    assert demo.actions()[-1] == "SESSION_CREATED"
    again = demo.call("GET", "/api/me")
    assert again["status"] == 200
    assert again["body"]["session_handle"] != handle


# 8 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("anti_csrf", ["VIA_CUSTOM_HEADER", "VIA_TOKEN"])
def test_anti_csrf_in_cookie_mode(
    example_servers: Callable[[ServerConfig], ExampleServer], open_demo: OpenDemo, anti_csrf: str
) -> None:
    # Long-lived tokens: the plain fetches below must not meet an expired one by chance.
    server = example_servers(ServerConfig(anti_csrf=anti_csrf, access_token_seconds=60))
    demo = open_demo(server.url, "cookie")
    demo.login()
    payload = demo.payload()
    if anti_csrf == "VIA_TOKEN":
        assert payload["antiCsrfToken"]
        assert demo.cookies()["sAntiCsrf"]["value"] == payload["antiCsrfToken"]
    else:
        assert payload["antiCsrfToken"] is None

    # A cross-site form or script would send the cookie but not the SDK's headers: the fetch
    # that the SDK wrapped is bypassed here, so no rid and no anti-csrf header go out.
    forged = demo.page.evaluate(
        """async ([url, headers]) => {
            const response = await window.__supertokensOriginalFetch(url, {
                method: "POST", credentials: "include", headers });
            return {status: response.status, body: await response.json()};
        }""",
        [f"{server.url}/api/me", {"rid": "anti-csrf"} if anti_csrf == "VIA_TOKEN" else {}],
    )
    assert forged == {"status": 401, "body": {"message": "try refresh token"}}
    # Reading is not checked.
    plain_get = demo.page.evaluate(
        "async (url) => (await __supertokensOriginalFetch(url, {credentials: 'include'})).status",
        f"{server.url}/api/me",
    )
    assert plain_get == 200
    # The same for a refresh with the cookie alone (PROTOCOL.md §6: "unauthorised" there).
    if anti_csrf == "VIA_CUSTOM_HEADER":
        refused = refresh_with(server.url, "cookie", demo.refresh_token(), rid=None)
    else:
        refused = refresh_with(server.url, "cookie", demo.refresh_token(), anti_csrf=None)
    assert (refused.status, refused.json()) == (401, {"message": "unauthorised"})

    # The SDK's own calls pass, and the refused POST changed nothing.
    assert demo.call("POST", "/api/me")["body"]["counter"] == 1
    assert demo.sdk("supertokens.attemptRefreshingSession()") is True
    assert demo.call("POST", "/api/me")["body"]["counter"] == 2


def test_header_mode_needs_no_anti_csrf(server: ExampleServer, open_demo: OpenDemo) -> None:
    demo = open_demo(server.url, "header")
    demo.login()

    # A bearer token cannot be sent by a cross-site page, so nothing else is asked for.
    status = demo.page.evaluate(
        """async ([url, token]) => (await window.__supertokensOriginalFetch(url, {
            method: "POST", headers: {Authorization: "Bearer " + token}})).status""",
        [f"{server.url}/api/me", demo.access_token()],
    )
    assert status == 200


# 9 ------------------------------------------------------------------------------------------


@MODES
def test_cross_origin_page(
    example_servers: Callable[[ServerConfig], ExampleServer],
    other_origin: OtherOrigin,
    open_demo: OpenDemo,
    mode: str,
) -> None:
    server = example_servers(ServerConfig(cors_origins=(other_origin.url,)))
    other_origin.serve_page_for(server.url)
    page_url = other_origin.url + ("/?mode=header" if mode == "header" else "/")
    demo = open_demo(server.url, mode, url=page_url)
    assert demo.page.evaluate("location.origin") == other_origin.url

    [probe] = demo.log.exchanges
    assert (probe.path, probe.status, probe.response_header("front-token")) == (
        REFRESH,
        401,
        "remove",
    )
    demo.log.clear()

    user_id = demo.login()
    [login] = demo.log.exchanges
    assert login.response_header("access-control-allow-origin") == other_origin.url
    assert login.response_header("access-control-allow-credentials") == "true"
    assert demo.actions() == ["SESSION_CREATED"]
    assert demo.sdk("supertokens.getUserId()") == user_id
    assert demo.call("POST", "/api/me")["body"]["counter"] == 1  # rid passes the preflight

    demo.wait_until_access_token_expired()
    demo.log.clear()
    assert demo.call("GET", "/api/me")["body"]["user_id"] == user_id
    assert [(x.path, x.status) for x in demo.log.exchanges] == [
        ("/api/me", 401),
        (REFRESH, 200),
        ("/api/me", 200),
    ]

    handle = demo.payload()["sessionHandle"]
    demo.sdk("supertokens.signOut()")
    assert demo.actions()[-1] == "SIGN_OUT"
    assert server.orm("session", handle)["exists"] is False


# DRF (issue «Django REST framework») ------------------------------------------------------------


@MODES
def test_drf_endpoint_refreshes_like_a_django_view(
    server: ExampleServer, open_demo: OpenDemo, mode: str
) -> None:
    if not (
        importlib.util.find_spec("rest_framework")
        and importlib.util.find_spec("supertokens_django.drf")
    ):
        pytest.skip("djangorestframework is not installed")
    demo = open_demo(server.url, mode)
    user_id = demo.login()
    assert demo.call("GET", "/api/drf/me")["body"]["user_id"] == user_id

    demo.wait_until_access_token_expired()
    demo.log.clear()
    seen = len(demo.events())
    answer = demo.call("GET", "/api/drf/me")

    assert answer["status"] == 200
    assert answer["body"]["jwt_payload"] == {"username": "demo"}
    assert [(x.path, x.status) for x in demo.log.exchanges] == [
        ("/api/drf/me", 401),
        (REFRESH, 200),
        ("/api/drf/me", 200),
    ]
    assert [e["action"] for e in new_events(demo, seen)] == [
        "ACCESS_TOKEN_PAYLOAD_UPDATED",
        "REFRESH_SESSION",
        "ACCESS_TOKEN_PAYLOAD_UPDATED",
    ]
