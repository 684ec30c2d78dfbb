"""Per-request state: concurrent requests of different users never see each other's session.

SuperTokens' own Python SDK once handed one user's tokens to another through per-request state
kept on a global. Here several users (and anonymous clients) hammer the example project at the
same time, through a real threaded WSGI server (pytest-django's ``live_server``) and through
Django's ASGI handler driven concurrently with ``asyncio.gather``. Every answer, every token a
response hands out and every ``front-token`` must belong to the user whose token the request
carried; an anonymous request must never find a session.

Each user runs its own script (calls, refreshes, first calls after a refresh) one request at a
time, as one browser tab does; the users and the anonymous clients run concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from tests.http_helpers import REFRESH
from tests.security.support import HAS_DRF, LOGIN, decode_jwt_payload, guard

if TYPE_CHECKING:
    from django.contrib.auth.models import User

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.slow]

USERS = 6
STEPS_PER_USER = 48
ANONYMOUS_CLIENTS = 2
SCRIPT = ["me", "drf", "async", "optional", "strict", "post", "me", "refresh"]

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Tab:
    """One user's browser tab in header mode: its tokens, and what it has seen."""

    username: str
    sub: str = ""
    handle: str = ""
    access: str = ""
    refresh: str = ""
    steps: int = 0
    #: Replacement access tokens received on first calls after a refresh (§8 promotion).
    reissued: int = 0
    errors: list[str] = field(default_factory=list)

    def request(self, step: str) -> tuple[str, str, dict[str, str], bytes]:
        """``(method, path, headers, body)`` of ``step``."""
        bearer = {"authorization": f"Bearer {self.access}"}
        if step == "refresh":
            return "POST", REFRESH, {"authorization": f"Bearer {self.refresh}", "rid": "s"}, b""
        if step == "post":
            return "POST", "/api/me", {**bearer, "rid": "anti-csrf"}, b""
        path = {
            "me": "/api/me",
            "drf": "/api/drf/me",
            "async": "/api/async/me",
            "optional": "/api/optional",
            "strict": "/api/strict",
        }[step]
        return "GET", path, bearer, b""

    def absorb(self, step: str, reply: Reply) -> None:
        """Check that ``reply`` is about this tab's session, then keep its new tokens."""
        status, headers, body = reply
        where = f"{self.username} step {self.steps} ({step})"
        self.steps += 1
        if status != 200:
            self.errors.append(f"{where}: {status} {body[:200]!r}")
            return
        if step != "refresh":
            answer = json.loads(body)
            if answer.get("user_id") != self.sub:
                self.errors.append(f"{where}: answered for user {answer.get('user_id')!r}")
            if "session_handle" in answer and answer["session_handle"] != self.handle:
                self.errors.append(f"{where}: answered for session {answer['session_handle']}")
        front = headers.get("front-token")
        if front and front != "remove":
            uid = json.loads(base64.b64decode(front))["uid"]
            if uid != self.sub:
                self.errors.append(f"{where}: front-token of user {uid!r}")
        guard().note(headers.get("st-access-token"))
        guard().note_refresh_token(headers.get("st-refresh-token"))
        if headers.get("st-access-token"):
            claims = decode_jwt_payload(headers["st-access-token"])
            if (claims["sub"], claims["sessionHandle"]) != (self.sub, self.handle):
                self.errors.append(f"{where}: was handed the access token of {claims['sub']!r}")
            self.access = headers["st-access-token"]
            self.reissued += step != "refresh"
        if headers.get("st-refresh-token"):
            self.refresh = headers["st-refresh-token"]

    def signed_in(self, reply: Reply) -> None:
        status, headers, body = reply
        assert status == 200, body
        self.sub = json.loads(body)["user_id"]
        self.access, self.refresh = headers["st-access-token"], headers["st-refresh-token"]
        guard().note(self.access)
        guard().note_refresh_token(self.refresh)
        self.handle = decode_jwt_payload(self.access)["sessionHandle"]


def script() -> list[str]:
    steps = [s for s in SCRIPT if HAS_DRF or s != "drf"]
    return [steps[i % len(steps)] for i in range(STEPS_PER_USER)]


def anonymous_requests() -> list[tuple[str, dict[str, str], int, dict[str, Any]]]:
    """Requests without a usable token of ours, and what each must get."""
    anonymous = {"user_id": None}
    return [
        ("/api/optional", {}, 200, anonymous),
        ("/api/optional", {"authorization": "Bearer not-ours"}, 200, anonymous),
        ("/api/me", {}, 401, {"message": "unauthorised"}),
        ("/api/async/me", {}, 401, {"message": "unauthorised"}),
        (
            "/api/me",
            {"cookie": "sAccessToken=forged.token.value"},
            401,
            {"message": "try refresh token"},
        ),
    ]


def check_anonymous(reply: Reply, status: int, body: dict[str, Any], errors: list[str]) -> None:
    got_status, headers, got_body = reply
    if (got_status, json.loads(got_body)) != (status, body):
        errors.append(f"anonymous request answered {got_status} {got_body[:200]!r}")
    if headers.get("st-access-token") or (headers.get("front-token") not in (None, "remove")):
        errors.append("an anonymous request was handed a token")


@pytest.fixture
def users(django_user_model: type[User]) -> list[Tab]:
    tabs = []
    for i in range(USERS):
        name = f"user{i}"
        django_user_model.objects.create_user(username=name, password=f"{name}-password")
        tabs.append(Tab(name))
    return tabs


def login_request(tab: Tab) -> tuple[str, str, dict[str, str], bytes]:
    body = json.dumps({"username": tab.username, "password": f"{tab.username}-password"})
    headers = {"content-type": "application/json", "st-auth-mode": "header"}
    return "POST", LOGIN, headers, body.encode()


# =========================================================================== threaded WSGI


@pytest.mark.django_db(transaction=True)
def test_threaded_wsgi_server_keeps_sessions_apart(live_server: Any, users: list[Tab]) -> None:
    address = urlsplit(live_server.url)

    def fetch(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    barrier = threading.Barrier(USERS + ANONYMOUS_CLIENTS)
    anonymous_errors: list[str] = []

    def browse(tab: Tab) -> None:
        try:
            tab.signed_in(fetch(*login_request(tab)))
            barrier.wait(timeout=60)
            for step in script():
                tab.absorb(step, fetch(*tab.request(step)))
        except Exception as exc:  # noqa: BLE001 - reported below
            tab.errors.append(repr(exc))

    def lurk() -> None:
        barrier.wait(timeout=60)
        for i in range(STEPS_PER_USER):
            path, headers, status, body = anonymous_requests()[i % len(anonymous_requests())]
            check_anonymous(fetch("GET", path, headers, b""), status, body, anonymous_errors)

    threads = [threading.Thread(target=browse, args=(tab,)) for tab in users]
    threads += [threading.Thread(target=lurk) for _ in range(ANONYMOUS_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=170)
        assert not thread.is_alive(), "a client is stuck"
    connections.close_all()

    assert [e for tab in users for e in tab.errors] + anonymous_errors == []
    assert all(tab.steps == STEPS_PER_USER and tab.reissued > 0 for tab in users)
    assert len({tab.sub for tab in users}) == USERS


# =========================================================================== ASGI


@pytest.mark.django_db(transaction=True)
def test_concurrent_asgi_requests_keep_sessions_apart(users: list[Tab]) -> None:
    application = ASGIHandler()

    async def fetch(method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")]
            + [(k.encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 40000),
            "server": ("testserver", 80),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # the client never disconnects mid-request
            return {"type": "http.disconnect"}

        status, reply_headers, chunks = 0, {}, []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                reply_headers.update(
                    {k.decode().lower(): v.decode("latin-1") for k, v in message["headers"]}
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await application(scope, receive, send)
        return status, reply_headers, b"".join(chunks)

    async def browse(tab: Tab) -> None:
        tab.signed_in(await fetch(*login_request(tab)))
        for step in script():
            tab.absorb(step, await fetch(*tab.request(step)))

    anonymous_errors: list[str] = []

    async def lurk() -> None:
        for i in range(STEPS_PER_USER):
            path, headers, status, body = anonymous_requests()[i % len(anonymous_requests())]
            check_anonymous(await fetch("GET", path, headers, b""), status, body, anonymous_errors)

    async def everybody() -> None:
        jobs: list[Awaitable[None]] = [browse(tab) for tab in users]
        jobs += [lurk() for _ in range(ANONYMOUS_CLIENTS)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=170)

    asyncio.run(everybody())

    assert [e for tab in users for e in tab.errors] + anonymous_errors == []
    assert all(tab.steps == STEPS_PER_USER and tab.reissued > 0 for tab in users)
    assert len({tab.sub for tab in users}) == USERS
