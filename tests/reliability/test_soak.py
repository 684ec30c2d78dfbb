"""A bounded soak (issue 8): mixed traffic against two servers sharing the database and Redis.

Load threads (one Django user each, so that each thread knows exactly which of its sessions
should exist) log in, call protected views (reads and session-data writes), refresh, lose a
refresh response and retry it, refresh from several "tabs" at once, sign out, revoke all their
sessions, and now and then replay a superseded refresh token on purpose (an expected theft).
Access tokens live 4 seconds, so expiry and "try refresh token" are part of the traffic.

At the end: zero 5xx, zero unexpected answers (in particular zero false theft detections and
zero access tokens refused before their time), the database holds exactly the sessions the
clients hold and a revocation record for every one they ended, and the servers' memory after
warm-up grew by less than half (a leak detector, not a timing assertion; the numbers are
printed). ``SUPERTOKENS_RELIABILITY_SOAK_SECONDS`` sets the length (default 20; the issue asks
for 60).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User

from supertokens_django.models import RevocationReason, RevokedSession
from supertokens_django.models import Session as SessionRow
from tests.reliability.client import (
    REFRESH,
    SIGNOUT,
    THEFT,
    TRY_REFRESH,
    UNAUTHORISED,
    Agent,
    Http,
    Tokens,
    message,
)
from tests.reliability.conftest import PASSWORD, mirror, new_user, thefts_logged
from tests.reliability.options import SOAK_SECONDS
from tests.reliability.servers import Deployment, GunicornServer, ServerConfig
from tests.server_process import RawResponse
from tests.services import require_service

pytestmark = pytest.mark.slow

CONFIG = ServerConfig(access_token_seconds=4, blacklisting=True, redis=True, workers=1, threads=8)
LOAD_THREADS = 6
#: Memory may grow by less than this fraction between the end of warm-up and the end.
RSS_GROWTH_BOUND = 0.5


@pytest.fixture(scope="module")
def pair(
    servers: Callable[[ServerConfig], GunicornServer],
) -> tuple[GunicornServer, GunicornServer]:
    require_service("redis")
    return servers(CONFIG), servers(CONFIG)


@pytest.fixture(autouse=True)
def _mirror(settings: Any, deployment: Deployment) -> None:
    mirror(settings, CONFIG, deployment)


@dataclass
class Report:
    """What every load thread saw, merged at the end."""

    actions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    expected_thefts: int = 0
    try_refresh: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def merge(self, other: Report) -> None:
        with self.lock:
            self.actions.update(other.actions)
            self.statuses.update(other.statuses)
            self.unexpected += other.unexpected
            self.expected_thefts += other.expected_thefts
            self.try_refresh += other.try_refresh


class Client:
    """One load thread: one user, the sessions it holds, and what it expects of each answer."""

    def __init__(self, index: int, user: User, pair: tuple[GunicornServer, ...]) -> None:
        self.user = user
        self.pair = pair
        self.random = random.Random(index)  # noqa: S311 - reproducible traffic
        self.agent = Agent(Http(timeout=60))
        self.sessions: list[Tokens] = []
        #: A session left idle past its access token's expiry, then used again.
        self.parked: tuple[Tokens, float] | None = None
        self.ended: dict[str, str] = {}  # handle -> revocation reason
        self.report = Report()

    # -- plumbing

    def server(self) -> str:
        return self.random.choice(self.pair).url

    def seen(self, action: str, response: RawResponse) -> RawResponse:
        self.report.actions[action] += 1
        self.report.statuses[response.status] += 1
        return response

    def unexpected(self, action: str, response: RawResponse, expected: str) -> None:
        self.report.unexpected.append(
            f"{action}: {response.status} {response.body[:120]!r} (expected {expected})"
        )

    def expect(
        self, action: str, response: RawResponse, status: int, text: str | None = None
    ) -> bool:
        if response.status != status or (text is not None and message(response) != text):
            self.unexpected(action, response, f"{status} {text or ''}")
            return False
        return True

    # -- actions

    def login(self) -> None:
        response = self.seen(
            "login",
            self.agent.send(
                self.server(),
                "POST",
                "/api/login",
                body={"username": self.user.username, "password": PASSWORD},
            ),
        )
        if self.expect("login", response, 200):
            self.sessions.append(Tokens("", "").absorb(response))

    def refreshed(self, tokens: Tokens, action: str = "refresh") -> Tokens | None:
        response, new = self.agent.refresh(self.server(), tokens)
        self.seen(action, response)
        return new if self.expect(action, response, 200) else None

    def call(self, index: int) -> None:
        new = self.used(self.sessions[index])
        if new is not None:
            self.sessions[index] = new

    def used(self, tokens: Tokens) -> Tokens | None:
        """A protected call; an expired access token is refreshed and the call retried."""
        method = self.random.choice(["GET", "GET", "POST"])
        response, tokens = self.agent.call(self.server(), method, "/api/me", tokens)
        self.seen("call", response)
        if response.status == 401 and message(response) == TRY_REFRESH:
            self.report.try_refresh += 1
            if time.time() < tokens.expires_at:
                self.unexpected("call", response, "200: the access token had not expired")
                return None
            new = self.refreshed(tokens)
            if new is None:
                return None
            response, tokens = self.agent.call(self.server(), method, "/api/me", new)
            self.seen("call", response)
        return tokens if self.expect("call", response, 200) else None

    def refresh(self, index: int) -> None:
        new = self.refreshed(self.sessions[index])
        if new is not None:
            self.sessions[index] = new

    def lost_response(self, index: int) -> None:
        """The response of a refresh never arrives; the client refreshes again with its token."""
        old = self.sessions[index]
        if self.refreshed(old, "lost-response") is not None:
            new = self.refreshed(old, "lost-response")
            if new is not None:
                self.sessions[index] = new

    def tabs(self, index: int) -> None:
        """Three tabs refresh the same token at once; the client keeps one answer."""
        old = self.sessions[index]
        results: list[Tokens | None] = [None] * 3

        def tab(i: int) -> None:
            agent = Agent()
            response, results[i] = agent.refresh(self.server(), old)
            self.seen("tabs", response)
            if not self.expect("tabs", response, 200):
                results[i] = None
            agent.http.close()

        threads = [threading.Thread(target=tab, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = next((r for r in results if r is not None), None)
        if kept is not None:
            self.sessions[index] = kept

    def signout(self, index: int) -> None:
        tokens = self.sessions.pop(index)
        response = self.seen("signout", self.agent.send(self.server(), "POST", SIGNOUT, tokens))
        if self.expect("signout", response, 200):
            self.ended[tokens.handle] = RevocationReason.LOGOUT
            self.refused(tokens)

    def revoke_all(self, index: int) -> None:
        tokens = self.sessions[index]
        response = self.seen(
            "revoke-all", self.agent.send(self.server(), "POST", "/api/revoke-all", tokens)
        )
        if self.expect("revoke-all", response, 200):
            # Every session of the user, the idle one included.
            ended = [*self.sessions, *([self.parked[0]] if self.parked else [])]
            for tokens in ended:
                self.ended[tokens.handle] = RevocationReason.ALL_FOR_USER
            for tokens in ended:
                self.refused(tokens)
            self.sessions, self.parked = [], None

    def theft(self, index: int) -> None:
        """Use a child, then replay its superseded parent: an expected theft detection."""
        parent = self.sessions[index]
        child = self.refreshed(parent, "theft")
        if child is None:
            return
        response, child = self.agent.call(self.server(), "GET", "/api/me", child)
        self.seen("theft", response)
        if not self.expect("theft", response, 200):
            return
        response = self.seen("theft", self.agent.send(self.server(), "POST", REFRESH, parent))
        if self.expect("theft", response, 401, THEFT):
            self.report.expected_thefts += 1
            self.sessions.pop(index)
            self.ended[parent.handle] = RevocationReason.THEFT
            self.refused(child)

    def refused(self, tokens: Tokens) -> None:
        """An ended session is refused at once, on whichever server (blacklisting on); an
        access token that has expired meanwhile is "try refresh token", and then the refresh
        is refused."""
        response, _ = self.agent.call(self.server(), "GET", "/api/me", tokens)
        self.seen("refused", response)
        if message(response) == TRY_REFRESH and time.time() >= tokens.expires_at:
            response, _ = self.agent.refresh(self.server(), tokens)
            self.seen("refused", response)
        self.expect("refused", response, 401, UNAUTHORISED)

    # -- the loop

    def run(self, until: float) -> None:
        actions: list[tuple[str, float]] = [
            ("call", 0.45),
            ("refresh", 0.16),
            ("lost_response", 0.06),
            ("tabs", 0.05),
            ("signout", 0.07),
            ("revoke_all", 0.02),
            ("theft", 0.03),
            ("login", 0.16),
        ]
        names, weights = zip(*actions, strict=True)
        idle = CONFIG.access_token_seconds + 1.5
        try:
            while time.monotonic() < until:
                if self.parked is None and self.sessions:
                    self.parked = (self.sessions.pop(), time.monotonic())
                elif self.parked is not None and time.monotonic() - self.parked[1] > idle:
                    woken = self.used(self.parked[0])
                    self.parked = (woken, time.monotonic()) if woken is not None else None
                    continue
                if not self.sessions or (len(self.sessions) < 4 and self.random.random() < 0.1):
                    self.login()
                    continue
                name = self.random.choices(names, weights)[0]
                if name == "login":
                    if len(self.sessions) < 4:
                        self.login()
                    continue
                getattr(self, name)(self.random.randrange(len(self.sessions)))
        except Exception as exc:  # noqa: BLE001 - reported with the rest
            self.report.unexpected.append(f"load thread crashed: {exc!r}")
        finally:
            self.agent.http.close()


@pytest.fixture
def users() -> Iterator[list[User]]:
    yield [new_user(f"soak{i}") for i in range(LOAD_THREADS)]


def test_soak(pair: tuple[GunicornServer, GunicornServer], users: list[User]) -> None:
    errors_before = [s.server_errors() for s in pair]
    thefts_before = sum(thefts_logged(s) for s in pair)
    pids = [s.worker_pids() for s in pair]
    clients = [Client(i, user, pair) for i, user in enumerate(users)]
    started = time.monotonic()
    until = started + SOAK_SECONDS
    threads = [threading.Thread(target=c.run, args=(until,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()

    threading.Event().wait(SOAK_SECONDS / 4)  # warm-up: imports, key ring, caches, pools
    warm = [s.workers_rss_kib() for s in pair]
    for thread in threads:
        thread.join(SOAK_SECONDS + 120)
        assert not thread.is_alive(), "a load thread is stuck"
    end = [s.workers_rss_kib() for s in pair]
    elapsed = time.monotonic() - started

    report = Report()
    for c in clients:
        report.merge(c.report)
    total = sum(report.statuses.values())
    growth = [(e - w) / w for w, e in zip(warm, end, strict=True)]
    print(
        f"\nsoak: {elapsed:.1f} s, {total} requests ({total / elapsed:.0f}/s) by {LOAD_THREADS}"
        f" clients on 2 servers; statuses {dict(report.statuses)}; actions"
        f" {dict(report.actions)}; expected thefts {report.expected_thefts}; 'try refresh"
        f" token' on expiry {report.try_refresh}; workers' RSS after warm-up {warm} KiB, at the"
        f" end {end} KiB (growth {', '.join(f'{g:+.1%}' for g in growth)})"
    )

    assert report.unexpected == [], report.unexpected[:20]
    assert not [status for status in report.statuses if status >= 500]
    assert [s.server_errors() for s in pair] == errors_before
    assert sum(thefts_logged(s) for s in pair) - thefts_before == report.expected_thefts
    assert report.actions["call"] > 0 and report.actions["refresh"] > 0

    # The database holds exactly the sessions the clients hold, and a record of every end.
    for c in clients:
        live = set(SessionRow.objects.filter(user=c.user).values_list("handle", flat=True))
        held = {t.handle for t in c.sessions} | ({c.parked[0].handle} if c.parked else set())
        assert {str(h) for h in live} == held, c.user.username
        records = dict(
            RevokedSession.objects.filter(handle__in=list(c.ended)).values_list("handle", "reason")
        )
        assert {str(h): r for h, r in records.items()} == c.ended, c.user.username

    # Same worker processes (none crashed and was replaced), memory flat-ish.
    assert [s.worker_pids() for s in pair] == pids
    for value in growth:
        assert value < RSS_GROWTH_BOUND, (warm, end)
