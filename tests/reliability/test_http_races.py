"""Races over real HTTP (PROTOCOL.md §8–§9): gunicorn with two worker processes of eight threads
each, on the test database (SQLite file, PostgreSQL or MariaDB), and client threads released
together by a barrier. Every round asserts the whole outcome: statuses, messages, rows.

tests/test_concurrency.py races the engine in threads; these go through the whole stack (the
middleware, the views, one connection per request thread, several processes) and add the
revocations a deployment really has, the clean-up command, key rotation and fixed interleavings
under a held row lock.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from supertokens_django import engine
from supertokens_django.keys import KeyRing, keyring
from supertokens_django.models import RevocationReason, SigningKey
from supertokens_django.models import Session as SessionRow
from supertokens_django.tokens import sha256_hex
from tests.races import race
from tests.reliability.client import (
    SIGNOUT,
    THEFT,
    UNAUTHORISED,
    Agent,
    Tokens,
    clears_tokens,
    in_thread,
    message,
    sleep_until,
)
from tests.reliability.conftest import (
    PASSWORD,
    lock_waiters,
    mirror,
    new_user,
    revoked_reason,
    row_locked,
    rows_for,
)
from tests.reliability.options import ITERATIONS
from tests.reliability.servers import Deployment, GunicornServer, ServerConfig

pytestmark = pytest.mark.slow

CONFIG = ServerConfig(access_token_seconds=120, blacklisting=True, workers=2, threads=8)
#: Simultaneous refreshes of one token (the issue's N).
N = 50
#: On SQLite, which cannot show its lock waiters: a request still running after this long,
#: with the lock held, is taken to be waiting for it.
WAIT = 0.5


@pytest.fixture(scope="module")
def server(servers: Callable[[ServerConfig], GunicornServer]) -> GunicornServer:
    return servers(CONFIG)


@pytest.fixture(autouse=True)
def _mirror(settings: Any, deployment: Deployment) -> None:
    mirror(settings, CONFIG, deployment)


@pytest.fixture(autouse=True)
def _no_server_errors(server: GunicornServer) -> Any:
    before = server.server_errors()
    yield
    assert server.server_errors() == before, server.log_tail()


def h2(refresh_token: str) -> str:
    return sha256_hex(sha256_hex(refresh_token))


def stored_hash(handle: str) -> str | None:
    return (
        SessionRow.objects.filter(handle=handle)
        .values_list("refresh_token_hash_2", flat=True)
        .first()
    )


def ok(outcome: Any) -> Any:
    """A racer's result, which must not be an exception."""
    assert not isinstance(outcome, BaseException), repr(outcome)
    return outcome


def assert_dead(server: GunicornServer, minted: list[Tokens]) -> None:
    """Nothing minted for a revoked session works: refresh and access token are both refused,
    as "unauthorised" (never theft: the session is gone, nothing was reused)."""
    agent = Agent()
    for tokens in minted:
        response, _ = agent.refresh(server.url, tokens)
        assert (response.status, message(response)) == (401, UNAUTHORISED), response.body
        response, _ = agent.call(server.url, "GET", "/api/me", tokens)
        assert response.status == 401, response.body
        assert message(response) == UNAUTHORISED


# --------------------------------------------------------------------------- same token


def test_simultaneous_refreshes_of_one_token_all_succeed(server: GunicornServer) -> None:
    """N parallel refreshes of the current token: all 200, none a theft, one row unchanged;
    then the first use of one child supersedes the others, and refreshing with one is theft."""
    agent = Agent()
    for round_ in range(ITERATIONS):
        tokens = agent.login(server.url, f"same-token-{round_}")
        handle, before = tokens.handle, stored_hash(tokens.handle)

        outcomes = race(N, lambda _i, tokens=tokens: Agent().refresh(server.url, tokens))

        statuses = [ok(o)[0].status for o in outcomes]
        assert statuses == [200] * N, [ok(o)[0].body for o in outcomes if ok(o)[0].status != 200]
        children = [ok(o)[1] for o in outcomes]
        assert len({c.refresh for c in children if c}) == N
        assert rows_for(handle) == 1 and stored_hash(handle) == before
        assert revoked_reason(handle) is None

        first, second = children[0], children[1]
        assert first is not None and second is not None
        response, _ = agent.call(server.url, "GET", "/api/me", first)
        assert response.status == 200 and "st-access-token" in response.headers
        assert stored_hash(handle) == h2(first.refresh)
        response, _ = agent.refresh(server.url, second)
        assert (response.status, message(response)) == (401, THEFT)
        assert clears_tokens(response)
        assert rows_for(handle) == 0 and revoked_reason(handle) == RevocationReason.THEFT


def test_promotion_racing_refreshes_of_the_same_child(server: GunicornServer) -> None:
    """The child's access token (which promotes it) and refreshes with the child's refresh token
    (which promote it too) at once: all succeed, no theft, and the row ends on the child."""
    agent = Agent()
    for round_ in range(ITERATIONS):
        tokens = agent.login(server.url, f"promotion-{round_}")
        _, child = agent.refresh(server.url, tokens)
        assert child is not None

        def act(index: int, child: Tokens = child) -> Any:
            if index % 2:
                return Agent().call(server.url, "GET", "/api/me", child)
            return Agent().refresh(server.url, child)

        outcomes = race(10, act)

        assert [ok(o)[0].status for o in outcomes] == [200] * 10
        assert stored_hash(child.handle) == h2(child.refresh)
        # The replacements handed out by the promotions are good tokens of the session...
        for index in range(1, 10, 2):
            response, _ = agent.call(server.url, "GET", "/api/me", ok(outcomes[index])[1])
            assert response.status == 200
        # ...and so is a grandchild from any of the refreshes.
        grandchild = ok(outcomes[0])[1]
        assert grandchild is not None
        response, _ = agent.refresh(server.url, grandchild)
        assert response.status == 200
        assert revoked_reason(child.handle) is None


# --------------------------------------------------------------------------- refresh vs revoke


def _signout(agent: Agent, server: GunicornServer, user: User, tokens: Tokens) -> Any:
    response = agent.send(server.url, "POST", SIGNOUT, tokens)
    assert response.status == 200 and clears_tokens(response), response.body
    return response


def _revoke_all(agent: Agent, server: GunicornServer, user: User, tokens: Tokens) -> Any:
    response = agent.send(server.url, "POST", "/api/revoke-all", tokens)
    assert response.status == 200, response.body
    assert response.json()["revoked"] == [tokens.handle]
    return response


def _admin(agent: Agent, server: GunicornServer, user: User, tokens: Tokens) -> Any:
    # Another process of the deployment (the admin, a management command) revokes by handle.
    assert engine.revoke_session(tokens.handle, reason=RevocationReason.ADMIN) is True


def _password_change(agent: Agent, server: GunicornServer, user: User, tokens: Tokens) -> Any:
    user.set_password("changed-" + PASSWORD)
    user.save()


REVOCATIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "signout": (_signout, RevocationReason.LOGOUT),
    "revoke-all": (_revoke_all, RevocationReason.ALL_FOR_USER),
    "admin": (_admin, RevocationReason.ADMIN),
    "password-change": (_password_change, RevocationReason.PASSWORD_CHANGE),
}


@pytest.mark.parametrize("kind", REVOCATIONS)
def test_refresh_racing_revocation_never_brings_the_session_back(
    server: GunicornServer, kind: str
) -> None:
    """A revocation, a promotion and refreshes of an unused child at once. Refreshes answer 200
    or "unauthorised" (never theft, never 5xx); once the revocation has answered, the row is
    gone for good and nothing any racer was handed works (blacklisting is on)."""
    revoke, reason = REVOCATIONS[kind]
    agent = Agent()
    for _round in range(ITERATIONS):
        user = new_user(kind)
        tokens = agent.login(server.url, username=user.username, password=PASSWORD)
        _, child = agent.refresh(server.url, tokens)
        assert child is not None

        def act(
            index: int, user: User = user, tokens: Tokens = tokens, child: Tokens = child
        ) -> Any:
            if index == 0:
                return revoke(Agent(), server, user, tokens)
            if index == 1:
                return Agent().call(server.url, "GET", "/api/me", child)
            return Agent().refresh(server.url, child)

        outcomes = race(6, act)

        assert not isinstance(outcomes[0], BaseException), repr(outcomes[0])
        minted: list[Tokens] = []
        for outcome in outcomes[1:]:
            response, new = ok(outcome)
            assert response.status in (200, 401), (response.status, response.body)
            if response.status == 401:
                assert message(response) == UNAUTHORISED and clears_tokens(response)
            elif new is not None and new != child:
                minted.append(new)
        assert rows_for(tokens.handle) == 0
        assert revoked_reason(tokens.handle) == reason
        assert_dead(server, [child, *minted])
        assert rows_for(tokens.handle) == 0


# --------------------------------------------------------------------------- clean-up


def test_refresh_racing_cleanup(server: GunicornServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``supertokens_cleanup`` (small batches) runs while unused children are refreshed.

    The command's clock runs a day ahead, so every one of these sessions is expired for it and
    live for the server. Each refresh either won (200: the promotion slid the expiry, and the
    command's re-checking DELETE left the row) or lost (401 "unauthorised": the row was gone).
    A session that nobody touches and that expires later than the command's clock stays.
    """
    agent = Agent()
    ahead = timedelta(days=1)
    for round_ in range(max(1, ITERATIONS // 2)):
        children: list[Tokens] = []
        for index in range(8):
            tokens = agent.login(server.url, f"cleanup-{round_}-{index}")
            _, child = agent.refresh(server.url, tokens)
            assert child is not None
            children.append(child)
        bystander = agent.login(server.url, f"bystander-{round_}")
        now = timezone.now()
        SessionRow.objects.filter(handle__in=[c.handle for c in children]).update(
            expires_at=now + timedelta(hours=1)
        )

        def act(index: int, children: list[Tokens] = children) -> Any:
            if index == 0:
                call_command("supertokens_cleanup", batch_size=3, stdout=io.StringIO())
                return None
            return Agent().refresh(server.url, children[index - 1])

        with monkeypatch.context() as patch:
            patch.setattr(engine, "_now", lambda: timezone.now() + ahead)
            outcomes = race(1 + len(children), act)

        assert outcomes[0] is None, repr(outcomes[0])
        for child, outcome in zip(children, outcomes[1:], strict=True):
            response, new = ok(outcome)
            if response.status == 200:
                row = SessionRow.objects.get(handle=child.handle)
                assert row.expires_at > timezone.now() + ahead
                assert new is not None and agent.refresh(server.url, new)[0].status == 200
            else:
                assert (response.status, message(response)) == (401, UNAUTHORISED)
                assert rows_for(child.handle) == 0
            assert revoked_reason(child.handle) is None
        assert rows_for(bystander.handle) == 1


# --------------------------------------------------------------------------- signing keys


def test_two_workers_rotating_the_key_at_once_make_one_new_key(server: GunicornServer) -> None:
    """Two key rings (two workers) force a rotation at the same moment, both having read the
    same highest generation first: exactly one new key, and both workers sign with it.
    The server, which never saw the rotation, accepts a token signed with it (it reloads its
    keys on an unknown ``kid``, at most once per ``UNKNOWN_KID_RELOAD_SECONDS``)."""
    rounds = max(1, ITERATIONS // 2)
    for round_ in range(rounds):
        before = set(SigningKey.objects.values_list("kid", flat=True))
        gate = threading.Barrier(2)
        now = timezone.now()

        def rotate(index: int, gate: threading.Barrier = gate, now: Any = now) -> Any:
            waited: list[bool] = []

            def after_reading_the_top(
                execute: Any, sql: str, params: Any, many: bool, ctx: Any
            ) -> Any:
                result = execute(sql, params, many, ctx)
                if not waited and "generation" in sql and "ORDER BY" in sql.upper():
                    waited.append(True)
                    gate.wait(timeout=30)  # both have read the same top generation
                return result

            with connection.execute_wrapper(after_reading_the_top):
                return KeyRing().ensure_keys(now, force=True)

        signers = race(2, rotate)

        created = set(SigningKey.objects.values_list("kid", flat=True)) - before
        assert len(created) == 1, (created, signers)
        assert {s.kid for s in signers} == created, signers
        if round_ < rounds - 1:
            # Every key ring loads every key: keep the table as small as a deployment's.
            SigningKey.objects.filter(kid__in=created).delete()

    newest = SigningKey.objects.order_by("-generation").first()
    assert newest is not None
    # No waiting out the server's reload interval: the key was published FORCED_KEY_NOTICE
    # before it signs, so any reload the server did before it was stored is old enough.
    sleep_until(newest.signs_from)
    keyring.reset()
    tokens = engine.create_session("rotation-user")
    assert tokens.access_token.token
    mine = Tokens(tokens.access_token.token, tokens.refresh_token.token)
    assert mine.kid == newest.kid
    for _ in range(4):  # both workers
        response, _ = Agent().call(server.url, "GET", "/api/me", mine)
        assert response.status == 200, response.body


def test_a_worker_that_loses_a_rotation_race_adopts_the_winners_key() -> None:
    """Both workers read the same highest generation; the one whose clock reads a second later
    inserts first. The other collides and, as ``ensure_keys`` documents ("if another worker
    rotates at the same moment, its key is the rotation"), must return the winner's key."""
    before = set(SigningKey.objects.values_list("kid", flat=True))
    gate, winner_inserted = threading.Barrier(2), threading.Event()
    t = timezone.now()

    def rotate(index: int) -> Any:
        loser = index == 0
        read: list[bool] = []
        held: list[bool] = []

        def wrapper(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
            upper = sql.lstrip().upper()
            writes_key = upper.startswith("INSERT") and "signingkey" in sql.lower()
            if loser and read and not held and (upper.startswith("BEGIN") or writes_key):
                held.append(True)
                winner_inserted.wait(30)
            result = execute(sql, params, many, ctx)
            if not read and "generation" in sql and "ORDER BY" in upper:
                read.append(True)
                gate.wait(timeout=30)
            if not loser and writes_key:
                winner_inserted.set()
            return result

        with connection.execute_wrapper(wrapper):
            return KeyRing().ensure_keys(t + timedelta(seconds=index), force=True)

    loser, winner = race(2, rotate)

    created = set(SigningKey.objects.values_list("kid", flat=True)) - before
    assert created == {winner.kid}, (created, winner)
    assert loser.kid == winner.kid


# --------------------------------------------------------------------------- create


@pytest.fixture(scope="module")
def atomic_server(servers: Callable[[ServerConfig], GunicornServer]) -> GunicornServer:
    return servers(ServerConfig(access_token_seconds=120, blacklisting=True, atomic_requests=True))


@pytest.mark.parametrize(
    "atomic_requests",
    [
        pytest.param(False, id="autocommit"),
        pytest.param(True, id="atomic-requests"),
    ],
)
def test_create_session_burst_for_one_user(
    request: pytest.FixtureRequest, server: GunicornServer, atomic_requests: bool
) -> None:
    """Logins of one user at once, through the example's ``/api/login`` (password check,
    ``user_logged_in``, which updates ``last_login``): all 200, unique handles, one row each,
    and no deadlock (MariaDB locks the user row for the session's foreign key)."""
    target = request.getfixturevalue("atomic_server") if atomic_requests else server
    user = new_user("burst")
    body = {"username": user.username, "password": PASSWORD}
    handles: set[str] = set()
    burst = 20
    for _round in range(max(1, ITERATIONS // 2)):
        outcomes = race(burst, lambda _i: Agent().send(target.url, "POST", "/api/login", body=body))
        responses = [ok(o) for o in outcomes]
        assert [r.status for r in responses] == [200] * burst, [
            r.body for r in responses if r.status != 200
        ]
        handles |= {Tokens("", "").absorb(r).handle for r in responses}
    assert len(handles) == burst * max(1, ITERATIONS // 2)
    assert set(engine.get_all_session_handles_for_user(user)) == handles


# --------------------------------------------------------------------------- fixed interleavings


def assert_waiting(thread: threading.Thread) -> None:
    """The request in ``thread`` is blocked on the lock this thread holds: PostgreSQL and
    MariaDB show it among their lock waiters; on SQLite it has not answered after ``WAIT``."""
    deadline = time.monotonic() + 30
    while (waiters := lock_waiters()) == 0 and time.monotonic() < deadline:
        assert thread.is_alive(), "the request answered while the row was locked"
        # InnoDB refreshes its lock tables only when they were not read for 0.1 s.
        time.sleep(0.2)
    if waiters is None:
        thread.join(WAIT)
    else:
        assert waiters == 1, "no request is waiting for the row lock"
    assert thread.is_alive(), "the request did not wait for the row lock"


def _siblings(server: GunicornServer, user_id: str) -> tuple[Tokens, Tokens, Tokens]:
    """A session and two unused children of its first refresh token."""
    agent = Agent()
    tokens = agent.login(server.url, user_id)
    first, second = agent.refresh(server.url, tokens)[1], agent.refresh(server.url, tokens)[1]
    assert first is not None and second is not None
    return tokens, first, second


@pytest.mark.parametrize("then", ["commit", "revoke", "promote-sibling"])
def test_a_refresh_waits_for_the_row_lock(server: GunicornServer, then: str) -> None:
    """Another connection holds the session row; a refresh arrives and waits for it. What the
    holder did decides the answer: nothing → 200; revoked the session → "unauthorised" (not
    theft); promoted a sibling child → the waiting child is superseded → theft."""
    tokens, first, second = _siblings(server, f"lock-{then}")
    handle = tokens.handle
    with row_locked(handle):
        thread, box = in_thread(lambda: Agent().refresh(server.url, second))
        assert_waiting(thread)
        if then == "revoke":
            assert engine.revoke_session(handle, reason=RevocationReason.ADMIN)
        elif then == "promote-sibling":
            # What the first use of the other child does.
            SessionRow.objects.filter(handle=handle).update(refresh_token_hash_2=h2(first.refresh))
    thread.join(60)
    response, new = ok(box[0])
    if then == "commit":
        assert response.status == 200 and new is not None
        assert stored_hash(handle) == h2(second.refresh)
    elif then == "revoke":
        assert (response.status, message(response)) == (401, UNAUTHORISED)
        assert revoked_reason(handle) == RevocationReason.ADMIN
    else:
        assert (response.status, message(response)) == (401, THEFT)
        assert revoked_reason(handle) == RevocationReason.THEFT
    assert rows_for(handle) == (1 if then == "commit" else 0)


def test_a_first_use_waits_for_the_row_lock(server: GunicornServer) -> None:
    """The first use of a child's access token promotes it under the row lock: it waits for a
    holder, then answers 200 with a replacement access token."""
    tokens, first, _second = _siblings(server, "lock-promotion")
    with row_locked(tokens.handle):
        thread, box = in_thread(lambda: Agent().call(server.url, "GET", "/api/me", first))
        assert_waiting(thread)
    thread.join(60)
    response, replaced = ok(box[0])
    assert response.status == 200 and replaced.access != first.access
    assert stored_hash(tokens.handle) == h2(first.refresh)


def test_a_steady_state_verification_does_not_wait_for_the_row_lock(
    server: GunicornServer,
) -> None:
    """An access token without a parent hash needs no session row (only the revocation list,
    with blacklisting on): it answers while the row is locked."""
    agent = Agent()
    tokens = agent.login(server.url, "lock-steady")
    with row_locked(tokens.handle):
        thread, box = in_thread(lambda: Agent().call(server.url, "GET", "/api/me", tokens))
        thread.join(60)
        assert not thread.is_alive(), "the verification waited for the row lock"
        assert lock_waiters() in (0, None)
        response, _ = ok(box[0])
        assert response.status == 200
