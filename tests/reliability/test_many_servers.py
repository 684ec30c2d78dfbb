"""Many servers, one store (issue 8): two gunicorn processes on their own ports sharing the test
database and one Redis (``BLACKLIST_CACHE`` on Redis, ``BLACKLISTING`` on), plus the management
commands and the test process as further processes of the same deployment.

Each server runs one worker process (with threads), so that "server A" and "server B" are
exactly two key rings and two connection pools, and what one knows the other does not.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from supertokens_django import engine
from supertokens_django.keys import UNKNOWN_KID_RELOAD_SECONDS
from supertokens_django.models import RevocationReason, SigningKey
from supertokens_django.models import Session as SessionRow
from tests.races import race
from tests.reliability.client import (
    REFRESH,
    SIGNOUT,
    THEFT,
    TRY_REFRESH,
    UNAUTHORISED,
    Agent,
    Tokens,
    clears_tokens,
    message,
    sleep_until,
)
from tests.reliability.conftest import mirror, revoked_reason, rows_for, thefts_logged
from tests.reliability.options import ITERATIONS
from tests.reliability.servers import Deployment, GunicornServer, ServerConfig
from tests.server_process import MANAGE_PY
from tests.services import require_service

pytestmark = pytest.mark.slow

CONFIG = ServerConfig(access_token_seconds=120, blacklisting=True, redis=True, workers=1, threads=8)


@pytest.fixture(scope="module")
def pair(
    servers: Callable[[ServerConfig], GunicornServer],
) -> tuple[GunicornServer, GunicornServer]:
    require_service("redis")
    return servers(CONFIG), servers(CONFIG)


@pytest.fixture(autouse=True)
def _mirror(settings: Any, deployment: Deployment) -> None:
    mirror(settings, CONFIG, deployment)


@pytest.fixture(autouse=True)
def _no_server_errors(pair: tuple[GunicornServer, GunicornServer]) -> Iterator[None]:
    before = [s.server_errors() for s in pair]
    yield
    for server, count in zip(pair, before, strict=True):
        assert server.server_errors() == count, server.log_tail()


def wait_out_the_reload_interval() -> None:
    """A server reloads its keys for an unknown ``kid`` at most once per
    ``UNKNOWN_KID_RELOAD_SECONDS``; after that long, its next unknown ``kid`` reloads."""
    threading.Event().wait(UNKNOWN_KID_RELOAD_SECONDS + 0.05)


@pytest.mark.parametrize("mode", ["header", "cookie"])
def test_a_session_moves_between_servers(
    pair: tuple[GunicornServer, GunicornServer], mode: str
) -> None:
    """Created on A, then used, refreshed and written on A and B in turn: every call answers
    200, the session data counts every write, one row, no theft."""
    agent = Agent()
    tokens = agent.login(pair[0].url, "roaming", mode="cookie" if mode == "cookie" else "header")
    writes = 0
    for step in range(12):
        server = pair[step % 2]
        response, tokens = agent.call(server.url, "GET", "/api/me", tokens)
        assert response.status == 200, (step, response.body)
        if step % 3 == 0:
            response, tokens = agent.call(pair[(step + 1) % 2].url, "POST", "/api/me", tokens)
            writes += 1
            assert response.status == 200 and response.json()["counter"] == writes
        response, new = agent.refresh(pair[(step + 1) % 2].url, tokens)
        assert response.status == 200 and new is not None, (step, response.body)
        tokens = new
    assert rows_for(tokens.handle) == 1 and revoked_reason(tokens.handle) is None


def _signout(a: GunicornServer, tokens: Tokens) -> None:
    response = Agent().send(a.url, "POST", SIGNOUT, tokens)
    assert response.status == 200 and clears_tokens(response)


def _revoke_all(a: GunicornServer, tokens: Tokens) -> None:
    assert Agent().send(a.url, "POST", "/api/revoke-all", tokens).status == 200


def _revoke_by_handle(a: GunicornServer, tokens: Tokens) -> None:
    response = Agent().send(a.url, "POST", "/t/revoke", body={"handle": tokens.handle})
    assert response.status == 200 and response.json() == {"revoked": True}


def _management_command(a: GunicornServer, tokens: Tokens) -> None:
    done = a.manage("supertokens_revoke", "--handle", tokens.handle)
    assert done.returncode == 0, done.stderr


def _test_process(a: GunicornServer, tokens: Tokens) -> None:
    assert engine.revoke_session(tokens.handle, reason=RevocationReason.ADMIN)


REVOCATIONS = {
    "signout": (_signout, RevocationReason.LOGOUT),
    "revoke-all": (_revoke_all, RevocationReason.ALL_FOR_USER),
    "revoke-by-handle": (_revoke_by_handle, RevocationReason.API),
    "manage.py": (_management_command, RevocationReason.ADMIN),
    "another-process": (_test_process, RevocationReason.ADMIN),
}


@pytest.mark.parametrize("kind", REVOCATIONS)
def test_a_revocation_anywhere_is_refused_everywhere_on_the_next_request(
    pair: tuple[GunicornServer, GunicornServer], kind: str
) -> None:
    """B has just answered "live" for the session (and cached that in Redis); the session is
    revoked elsewhere; B's very next request with it is refused, and so is A's."""
    a, b = pair
    revoke, reason = REVOCATIONS[kind]
    agent = Agent()
    tokens = agent.login(a.url, f"revoked-{kind}")
    for server in (b, a, b):
        assert agent.call(server.url, "GET", "/api/me", tokens)[0].status == 200

    revoke(a, tokens)

    for server in (b, a):
        response, _ = agent.call(server.url, "GET", "/api/me", tokens)
        assert (response.status, message(response)) == (401, UNAUTHORISED), server.url
        assert clears_tokens(response)
    response, _ = agent.refresh(b.url, tokens)
    assert (response.status, message(response)) == (401, UNAUTHORISED)
    assert rows_for(tokens.handle) == 0 and revoked_reason(tokens.handle) == reason


def test_a_key_rotated_by_one_server_is_accepted_by_the_other(
    pair: tuple[GunicornServer, GunicornServer],
) -> None:
    """A rotates in its own key ring and signs with the new key once it may; B, which never saw
    the rotation, reloads on the unknown ``kid`` and accepts; B's JWKS lists the key."""
    a, b = pair
    agent = Agent()
    wait_out_the_reload_interval()
    rotated = agent.send(a.url, "POST", "/t/rotate-keys").json()
    tokens = agent.login(a.url, "rotated-on-a")
    assert tokens.kid == rotated["kid"]

    response, tokens = agent.call(b.url, "GET", "/api/me", tokens)
    assert response.status == 200, response.body
    response, tokens_b = agent.refresh(b.url, tokens)
    assert response.status == 200 and tokens_b is not None
    assert tokens_b.kid == rotated["kid"]  # B reloaded: it signs with the newest key too
    jwks = agent.send(b.url, "GET", "/auth/jwt/jwks.json").json()
    assert rotated["kid"] in {key["kid"] for key in jwks["keys"]}


def test_a_key_rotated_by_the_command_is_picked_up_by_every_server(
    pair: tuple[GunicornServer, GunicornServer],
) -> None:
    """``supertokens_rotate_keys --force`` in a separate process: a server signs with the new
    key once it reloads (here: serving the JWKS), and the other accepts tokens signed with it."""
    a, b = pair
    agent = Agent()
    wait_out_the_reload_interval()
    done = a.manage("supertokens_rotate_keys", "--force")
    assert done.returncode == 0, done.stderr
    kid = re.search(r"New signing key (\w+) .* signs from (\S+) until", done.stdout)
    assert kid is not None, done.stdout
    assert kid.group(1) in {
        k["kid"] for k in agent.send(a.url, "GET", "/auth/jwt/jwks.json").json()["keys"]
    }
    sleep_until(SigningKey.objects.get(kid=kid.group(1)).signs_from)
    tokens = agent.login(a.url, "rotated-by-command")
    assert tokens.kid == kid.group(1)
    response, _ = agent.call(b.url, "GET", "/api/me", tokens)
    assert response.status == 200, response.body


def test_two_servers_rotating_at_once_refuse_no_request(
    pair: tuple[GunicornServer, GunicornServer],
) -> None:
    """Both servers force a rotation at the same moment while each serves its own clients.

    Every rotation answers 200, and so does every protected call and refresh. Rotations that
    overlap collide on the unique generation and make one key, which both servers then sign
    with; one that comes strictly after the other makes a second key. Afterwards (past the
    reload interval) each server accepts the other's tokens.
    """
    agent = Agent()
    thefts = sum(thefts_logged(s) for s in pair)
    clients = {
        server.url: agent.login(server.url, f"rotation-{i}") for i, server in enumerate(pair)
    }
    overlapped = 0
    for _round in range(max(1, ITERATIONS // 2)):
        before = set(SigningKey.objects.values_list("kid", flat=True))

        def act(index: int) -> Any:
            server = pair[index % 2]
            if index < 2:
                return Agent().send(server.url, "POST", "/t/rotate-keys")
            mine = clients[server.url]
            response, mine = Agent().call(server.url, "GET", "/api/me", mine)
            assert response.status == 200, response.body
            return Agent().refresh(server.url, mine)[0]

        outcomes = race(8, act)

        for outcome in outcomes:
            assert not isinstance(outcome, BaseException), repr(outcome)
            assert outcome.status == 200, outcome.body
        created = set(SigningKey.objects.values_list("kid", flat=True)) - before
        assert 1 <= len(created) <= 2, created
        if len(created) == 1:
            overlapped += 1
            signing = {Agent().send(s.url, "GET", "/t/signing-key").json()["kid"] for s in pair}
            assert signing == created, (signing, created)
    print(
        f"\nrotations that overlapped (one key for both): {overlapped} of {max(1, ITERATIONS // 2)}"
    )

    wait_out_the_reload_interval()
    for index, server in enumerate(pair):
        tokens = agent.login(server.url, f"after-rotation-{index}")
        other = pair[1 - index]
        assert agent.call(other.url, "GET", "/api/me", tokens)[0].status == 200
    assert sum(thefts_logged(s) for s in pair) == thefts


def test_a_key_created_just_after_another_servers_reload_is_accepted(
    pair: tuple[GunicornServer, GunicornServer],
) -> None:
    """B reloads its keys (on an unknown ``kid``), and A rotates while B may not reload again.
    The new key is published ``FORCED_KEY_NOTICE`` before it signs, so by the time a token
    signed with it reaches B, B's reload interval has passed: B accepts it."""
    a, b = pair
    agent = Agent()
    within = False
    for attempt in range(3):
        wait_out_the_reload_interval()
        agent.send(a.url, "POST", "/t/rotate-keys")
        first = agent.login(a.url, f"reload-{attempt}-1")
        assert agent.call(b.url, "GET", "/api/me", first)[0].status == 200  # B reloads now
        reloaded = time.monotonic()
        rotated = agent.send(a.url, "POST", "/t/rotate-keys?wait=0").json()
        within = time.monotonic() - reloaded < UNKNOWN_KID_RELOAD_SECONDS * 0.8
        sleep_until(datetime.fromisoformat(rotated["signs_from"]))
        second = agent.login(a.url, f"reload-{attempt}-2")
        assert second.kid == rotated["kid"] != first.kid

        response, _ = agent.call(b.url, "GET", "/api/me", second)

        assert (response.status, message(response)) != (401, TRY_REFRESH)
        assert response.status == 200, response.body
        if within:
            break
    assert within, "no attempt rotated within B's reload interval: the case was not exercised"


def test_two_rotate_commands_at_once(pair: tuple[GunicornServer, GunicornServer]) -> None:
    """Two ``supertokens_rotate_keys --force`` processes started together: both succeed and
    make one or two keys. (Which key a command that lost the race reports is
    test_http_races.py::test_a_worker_that_loses_a_rotation_race_adopts_the_winners_key.)"""
    a, _b = pair
    before = set(SigningKey.objects.values_list("kid", flat=True))
    commands = [
        subprocess.Popen(
            [sys.executable, str(MANAGE_PY), "supertokens_rotate_keys", "--force"],
            env=a.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = [command.communicate(timeout=120) for command in commands]
    assert [c.returncode for c in commands] == [0, 0], reports
    kids = {re.search(r"New signing key (\w+)", out).group(1) for out, _ in reports}  # type: ignore[union-attr]
    created = set(SigningKey.objects.values_list("kid", flat=True)) - before
    assert 1 <= len(created) <= 2 and kids <= created | before, (created, kids)


def test_a_refresh_race_across_servers(pair: tuple[GunicornServer, GunicornServer]) -> None:
    """N refreshes of one token split over A and B: all 200, no theft, the row unchanged; then
    a child used on A supersedes its siblings, and one refreshed on B is theft, after which
    the session is refused on A at once."""
    agent = Agent()
    n = 50
    for round_ in range(max(1, ITERATIONS // 2)):
        tokens = agent.login(pair[round_ % 2].url, f"across-{round_}")
        stored = SessionRow.objects.get(handle=tokens.handle).refresh_token_hash_2

        outcomes = race(n, lambda i, tokens=tokens: Agent().refresh(pair[i % 2].url, tokens))

        for outcome in outcomes:
            assert not isinstance(outcome, BaseException), repr(outcome)
            assert outcome[0].status == 200, outcome[0].body
        assert SessionRow.objects.get(handle=tokens.handle).refresh_token_hash_2 == stored
        first, second = outcomes[0][1], outcomes[1][1]
        response, used = agent.call(pair[0].url, "GET", "/api/me", first)
        assert response.status == 200
        response = agent.send(pair[1].url, "POST", REFRESH, second)
        assert (response.status, message(response)) == (401, THEFT)
        response, _ = agent.call(pair[0].url, "GET", "/api/me", used)
        assert (response.status, message(response)) == (401, UNAUTHORISED)
        assert revoked_reason(tokens.handle) == RevocationReason.THEFT
