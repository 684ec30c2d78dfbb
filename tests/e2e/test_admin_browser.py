"""The sessions admin in the real browser: an admin revokes a signed-in browser's session in two
clicks, and that browser's next API call fails with the SDK reporting ``UNAUTHORISED``; and a
screenshot of the sessions list, left in artifacts/e2e/ for people to look at.

Two browser profiles on one example server (blacklisting on, the example project's default):
the demo page signed in as ``demo``, and ``/admin/`` signed in as ``admin`` (both users come
from ``manage.py example_setup``, which ``ExampleServer.start()`` runs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import DemoPage
from tests.e2e.server import ExampleServer, ServerConfig
from tests.server_process import REPO, raw_request

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

OpenDemo = Callable[..., DemoPage]
OpenAdmin = Callable[[ExampleServer], "Page"]

ARTIFACTS = REPO / "artifacts" / "e2e"
SCREENSHOT = ARTIFACTS / "admin-sessions-changelist.png"
ADMIN_USER = ("admin", "admin-password")
SESSIONS = "/admin/supertokens_django/session/"
# Blacklisting on, and access tokens that outlive the test: the revoked browser must be refused
# because of the blacklist, not because its token happened to expire meanwhile.
CONFIG = ServerConfig(blacklisting=True, access_token_seconds=60)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A common laptop screen, the admin's navigation sidebar open (its default): the list has about
# 630 pixels between the sidebars, and every column must fit in them.
WIDTH, HEIGHT = 1280, 800
#: User agents of sessions started outside the browser, so the device column has some variety.
OTHER_DEVICES = {
    "Firefox 121 on Windows 10": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
    ),
    "Mobile Safari 17 on iOS 17.2": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
    ),
}


@pytest.fixture
def server(example_servers: Callable[[ServerConfig], ExampleServer]) -> ExampleServer:
    return example_servers(CONFIG)


@pytest.fixture
def open_admin(request: pytest.FixtureRequest, browser: Browser) -> Iterator[OpenAdmin]:
    """``open_admin(server)``: a fresh browser profile signed in to the admin as ``admin``.

    Like ``open_demo``: the page's screenshot is left in artifacts/e2e/ when the test fails.
    """
    pages: list[Page] = []

    def open_(server: ExampleServer) -> Page:
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        context.set_default_timeout(15_000)
        page = context.new_page()
        pages.append(page)
        page.goto(f"{server.url}/admin/login/?next={SESSIONS}")
        page.fill("#id_username", ADMIN_USER[0])
        page.fill("#id_password", ADMIN_USER[1])
        with page.expect_navigation():
            page.click("#login-form [type=submit]")
        assert page.url == f"{server.url}{SESSIONS}", page.url
        return page

    yield open_
    failed = getattr(request.node, "report_call", None)
    for index, page in enumerate(pages):
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            stem = f"{request.node.name}-admin-{index}".replace("/", "_")
            try:
                page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
            except Exception:  # noqa: BLE001, S110 - a broken page must not hide the failure
                pass
        page.context.close()


def revoked_record(server: ExampleServer, handle: str) -> dict[str, Any]:
    """The blacklist row of ``handle`` (orm_probe.py's ``revoked`` leaves out ``revoked_by``)."""
    code = (
        "import json; from supertokens_django.models import RevokedSession as R; "
        f"print(json.dumps(list(R.objects.filter(handle={handle!r})"
        ".values('reason', 'revoked_by', 'subject'))))"
    )
    # The last line: Django 5.2's shell first reports the objects it imported.
    output = server.manage_output("shell", "-c", code).strip().splitlines()[-1]
    rows: list[dict[str, Any]] = json.loads(output)
    assert len(rows) == 1, rows
    return rows[0]


def login_outside_the_browser(server: ExampleServer, user_agent: str) -> None:
    """A session as another device would start it (a header-mode login with its user agent)."""
    answer = raw_request(
        f"{server.url}/api/login",
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": user_agent,
            "st-auth-mode": "header",
            "rid": "session",
        },
        body=json.dumps({"username": "demo", "password": "demo-password"}).encode(),
    )
    assert answer.status == 200, answer


# ------------------------------------------------------------------------------------------


def test_admin_revokes_a_signed_in_browser(
    server: ExampleServer, open_demo: OpenDemo, open_admin: OpenAdmin
) -> None:
    demo = open_demo(server.url)
    user_id = demo.login()
    handle = demo.payload()["sessionHandle"]
    assert demo.call("GET", "/api/me")["status"] == 200

    admin = open_admin(server)
    admin.goto(f"{server.url}{SESSIONS}?q=demo")
    # The server may hold other sessions of demo (other tests): open this browser's one. The
    # column shows the handle's first eight characters, never a token or a hash.
    link = admin.locator("#result_list th.field-session a", has_text=handle[:8])
    assert link.count() == 1
    with admin.expect_navigation():
        link.click()
    assert handle in admin.locator("#content").inner_text()
    with admin.expect_navigation():
        admin.click("#st-revoke-session")
    # The confirmation page lists exactly this session.
    assert admin.locator("#st-revoke-form").is_visible()
    assert handle in admin.locator("table.st-revoke-list").inner_text()
    with admin.expect_navigation():
        admin.click("#st-revoke-confirm")

    assert admin.locator(".messagelist .success").inner_text().strip() == "Revoked 1 session."
    assert admin.url.startswith(f"{server.url}{SESSIONS}")
    assert server.orm("session", handle)["exists"] is False
    assert revoked_record(server, handle) == {
        "reason": "admin",
        "revoked_by": "admin",
        "subject": user_id,
    }

    # The revoked browser, whose access token has not expired, is refused on its next call.
    demo.log.clear()
    seen = len(demo.events())
    assert demo.call("GET", "/api/me")["status"] == 401

    events = demo.events()[seen:]
    assert {"action": "UNAUTHORISED", "sessionExpiredOrRevoked": True} in events
    assert all(event["action"] == "UNAUTHORISED" for event in events), events
    # One call, no retry, at most one refresh attempt (refused): no loop.
    assert [(x.path, x.status) for x in demo.log.calls("/api/me")] == [("/api/me", 401)]
    assert [x.status for x in demo.log.refreshes()] in ([], [401])
    assert demo.sdk("supertokens.doesSessionExist()") is False


def test_sessions_changelist_screenshot(
    server: ExampleServer, open_demo: OpenDemo, open_admin: OpenAdmin
) -> None:
    # A few sessions: demo in both modes and admin through the page, two other devices.
    handles = []
    for mode, username, password in [
        ("cookie", "demo", "demo-password"),
        ("header", "demo", "demo-password"),
        ("cookie", *ADMIN_USER),
    ]:
        demo = open_demo(server.url, mode)
        demo.login(username, password)
        handles.append(demo.payload()["sessionHandle"])
    for user_agent in OTHER_DEVICES.values():
        login_outside_the_browser(server, user_agent)

    admin = open_admin(server)
    admin.goto(f"{server.url}{SESSIONS}")
    overview, result_list = admin.locator("#st-overview"), admin.locator("#result_list")
    assert overview.is_visible()
    assert result_list.is_visible()
    assert int(admin.inner_text("#st-overview-active").replace(",", "")) >= len(handles) + 2
    assert int(admin.inner_text("#st-overview-users").replace(",", "")) >= 2

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    admin.screenshot(path=str(SCREENSHOT), full_page=True)

    data = Path(SCREENSHOT).read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert 10_000 < len(data) < 10_000_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == WIDTH and height >= HEIGHT, (width, height)

    # What the screenshot shows: the sessions by their short handle, readable devices, and
    # nothing that looks like a token hash.
    table = result_list.inner_text()
    for handle in handles:
        assert handle[:8] in table
        assert handle not in table
    assert not re.search(r"\b[0-9a-f]{40,}\b", table)
    # Every column is on screen, none scrolled out of the list's box: it does not scroll.
    frame = admin.locator("#changelist .results").bounding_box()
    assert frame is not None
    for column in ("session", "user_link", "client", "activity", "state"):
        box = result_list.locator(f"th.column-{column}").bounding_box()
        assert box is not None, column
        assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, column
    scroll = admin.eval_on_selector(
        "#changelist .results", "e => [e.scrollWidth, e.clientWidth, document.body.scrollWidth]"
    )
    assert scroll[0] <= scroll[1] and scroll[2] <= WIDTH, scroll
    devices = result_list.locator("td.field-client .st-device").all_inner_texts()
    assert all(" on " in device for device in devices), devices
    assert any("Linux" in device for device in devices), devices  # headless Chromium's
    for label in OTHER_DEVICES:
        assert label in devices, devices
