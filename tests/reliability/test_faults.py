"""Faults (issue 8): the library fails closed and loses nothing.

A database that errors in the middle of a request (Django's ``connection.execute_wrapper``), one
that cannot be reached (the connection pointed at a closed port, or a real server cut off from
its database by a TCP proxy), transient errors that outlive the retries, request transactions
(``ATOMIC_REQUESTS``) that roll back after the library did its work, blacklist caches that are
down, erroring or dummies, and clocks that disagree. The rule in every case: a fault is a 503
with a JSON body that leaves the client's tokens alone, never a 401, a theft or a 500, and the
tokens the client kept work again once the fault is gone.

Most tests run in-process (Django's test client on the real database, in autocommit as in
production); the cut-off test runs gunicorn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import user_logged_out
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from supertokens_django import engine
from supertokens_django.models import RevocationReason, RevokedSession
from supertokens_django.models import Session as SessionRow
from tests.http_helpers import REFRESH, SIGNOUT, assert_untouched, json_body
from tests.http_helpers import Agent as ClientAgent
from tests.reliability import client as http
from tests.reliability.conftest import new_user
from tests.reliability.servers import Deployment, GunicornServer, ServerConfig, TcpProxy
from tests.server_process import free_port

pytestmark = [pytest.mark.urls("tests.reliability.fault_urls"), pytest.mark.slow]

UNAVAILABLE = {"message": "service unavailable"}
SESSION_TABLE = "supertokens_django_session"
REVOKED_TABLE = "supertokens_django_revokedsession"


@pytest.fixture
def agent(client: Client, mode: str) -> ClientAgent:
    return ClientAgent(client, mode)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _defaults(settings: Any) -> None:
    settings.SUPERTOKENS = {}


def rows() -> list[tuple[Any, ...]]:
    """Everything the database knows about sessions, to compare before and after a fault."""
    sessions = SessionRow.objects.order_by("handle").values_list(
        "handle", "refresh_token_hash_2", "expires_at", "session_data"
    )
    return [*sessions, ("revoked", RevokedSession.objects.count())]


def tokens_of(agent: ClientAgent) -> tuple[str | None, str | None]:
    return agent.access, agent.refresh_token


def assert_503(response: HttpResponse) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert json_body(response) == UNAVAILABLE
    assert_untouched(response)


@contextmanager
def failing(
    when: Callable[[str], bool],
    error: Callable[[], Exception] | None = None,
    *,
    times: int | None = None,
) -> Iterator[list[str]]:
    """Statements of this thread's connection for which ``when(sql)`` holds raise (the first
    ``times`` of them, or all)."""
    failed: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if when(sql) and (times is None or len(failed) < times):
            failed.append(sql)
            raise (error or (lambda: OperationalError("server closed the connection")))()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield failed


def touches(table: str, verb: str = "") -> Callable[[str], bool]:
    return lambda sql: table in sql and sql.lstrip().upper().startswith(verb)


# --------------------------------------------------------------------------- errors mid-request


@dataclass(frozen=True)
class Operation:
    """A request the client makes, what it needs first, and which statements fail under it."""

    act: Callable[[ClientAgent], HttpResponse]
    when: Callable[[str], bool]
    prepare: Callable[[ClientAgent], Any] = lambda agent: agent.login()
    supertokens: dict[str, Any] | None = None


def _refreshed(agent: ClientAgent) -> None:
    """Logged in and refreshed once: the client holds an unused child."""
    agent.login()
    assert agent.refresh().status_code == 200


OPERATIONS = {
    # Verification that needs the database: the first use of a child, the revocation check,
    # a view that asks for the row.
    "verify-first-use": Operation(
        lambda a: a.get("/me"), touches(SESSION_TABLE), prepare=_refreshed
    ),
    "verify-revocation-check": Operation(
        lambda a: a.get("/me"), touches(REVOKED_TABLE), supertokens={"BLACKLISTING": True}
    ),
    "verify-check-database": Operation(lambda a: a.get("/strict"), touches(SESSION_TABLE)),
    "refresh": Operation(lambda a: a.refresh(), touches(SESSION_TABLE)),
    # The row was read and locked; the promotion's UPDATE fails: the transaction rolls back.
    "refresh-write": Operation(
        lambda a: a.refresh(), touches(SESSION_TABLE, "UPDATE"), prepare=_refreshed
    ),
    "signout": Operation(lambda a: a.post(SIGNOUT), touches(SESSION_TABLE)),
    "signout-write": Operation(lambda a: a.post(SIGNOUT), touches(SESSION_TABLE, "DELETE")),
    "create": Operation(
        lambda a: a.post("/login", {"user_id": "user-1"}),
        touches(SESSION_TABLE, "INSERT"),
        prepare=lambda a: None,
    ),
    "session-data": Operation(
        lambda a: a.post("/session-data", {"k": 1}), touches(SESSION_TABLE, "UPDATE")
    ),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_database_error_mid_request_is_a_503_that_keeps_the_tokens(
    agent: ClientAgent, settings: Any, thefts: list[str], name: str
) -> None:
    operation = OPERATIONS[name]
    if operation.supertokens:
        settings.SUPERTOKENS = operation.supertokens
    operation.prepare(agent)
    held, before = tokens_of(agent), rows()

    with failing(operation.when) as failed:
        response = operation.act(agent)

    assert failed, "the fault was never hit"
    assert_503(response)
    assert tokens_of(agent) == held
    assert rows() == before
    assert thefts == []
    # The fault is gone: the very tokens the client kept work, and so does the request.
    if agent.refresh_token is not None:
        assert agent.refresh().status_code == 200
    assert operation.act(agent).status_code == 200
    assert thefts == []


TRANSIENT: dict[str, Callable[[], Exception]] = {
    "mariadb-deadlock": lambda: OperationalError(1213, "Deadlock found when trying to get lock"),
    "mariadb-lock-wait-timeout": lambda: OperationalError(1205, "Lock wait timeout exceeded"),
    "sqlite-locked": lambda: OperationalError("database is locked"),
    "postgres-serialization-failure": lambda: _pg_error("40001"),
    "postgres-deadlock": lambda: _pg_error("40P01"),
}


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _pg_error(sqlstate: str) -> Exception:
    error = OperationalError(f"SQLSTATE {sqlstate}")
    error.__cause__ = _DriverError(sqlstate)
    return error


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_errors_are_retried_then_answered_503(
    client: Client, settings: Any, thefts: list[str], kind: str
) -> None:
    """Serialization failures, deadlocks, lock timeouts and "database is locked" under a
    promotion are retried; one that outlives ``DATABASE_RETRIES`` is a 503, never a 401, a
    theft or a 500, and the token the client kept still works."""
    settings.SUPERTOKENS = {"DATABASE_RETRIES": 2}
    agent = ClientAgent(client, "header")
    _refreshed(agent)
    promoting = touches(SESSION_TABLE, "UPDATE")  # the promotion's one statement

    with failing(promoting, TRANSIENT[kind], times=1) as failed:
        response = agent.refresh()
    assert response.status_code == 200 and len(failed) == 1

    held, before = tokens_of(agent), rows()
    with failing(promoting, TRANSIENT[kind]) as failed:
        response = agent.refresh()
    assert_503(response)
    assert len(failed) == 3  # the first attempt and two retries
    assert (tokens_of(agent), rows(), thefts) == (held, before, [])
    assert agent.refresh().status_code == 200


# --------------------------------------------------------------------------- unreachable


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Close this thread's connection and point it where no database answers."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-directory/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_an_unreachable_database_is_a_503_and_the_tokens_survive(
    agent: ClientAgent, settings: Any, thefts: list[str]
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    _refreshed(agent)
    child = tokens_of(agent)
    steady = ClientAgent(agent.client, agent.mode)
    steady.login(user_id="user-2")
    before = rows()

    with database_unreachable():
        responses = {
            "first use": agent.get("/me"),
            "revocation check": steady.get("/me"),
            "check database": steady.get("/strict"),
            "refresh": agent.refresh(),
            "signout": steady.post(SIGNOUT),
            "create": ClientAgent(agent.client, agent.mode).post("/login", {"user_id": "user-3"}),
        }

    for what, response in responses.items():
        assert response.status_code == 503, (what, response.content)
        assert json_body(response) == UNAVAILABLE, what
        assert_untouched(response)
    assert tokens_of(agent) == child and rows() == before and thefts == []
    assert agent.refresh().status_code == 200
    assert agent.get("/me").status_code == 200
    assert steady.post(SIGNOUT).status_code == 200


def test_signout_with_a_user_logged_out_receiver_and_no_database_is_a_503(
    client: Client, thefts: list[str]
) -> None:
    user = new_user("signout")
    agent = ClientAgent(client, "header")
    agent.login(username=user.username)
    client.raise_request_exception = False
    seen: list[Any] = []

    def receiver(sender: Any, user: Any, **kwargs: Any) -> None:
        seen.append(user)

    user_logged_out.connect(receiver)
    try:
        with database_unreachable():
            response = agent.post(SIGNOUT)
    finally:
        user_logged_out.disconnect(receiver)
    assert_503(response)


class _Cut:
    """A gunicorn server whose database connections go through a TCP proxy."""

    def __init__(self, server: GunicornServer, proxy: TcpProxy) -> None:
        self.server, self.proxy = server, proxy


@pytest.fixture(scope="module")
def cut_off_server(
    servers: Callable[..., GunicornServer], deployment: Deployment
) -> Iterator[_Cut]:
    database = deployment.database
    proxy = TcpProxy(str(database.get("HOST") or "127.0.0.1"), int(database.get("PORT") or 0))
    proxy.start()
    through_proxy = replace(
        deployment, database={**database, "HOST": "127.0.0.1", "PORT": str(proxy.port)}
    )
    config = ServerConfig(access_token_seconds=120, blacklisting=True, workers=1, threads=4)
    yield _Cut(servers(config, through_proxy), proxy)
    proxy.stop()


@pytest.mark.server_database  # a TCP proxy cuts the database off
@pytest.mark.parametrize("token_mode", ["cookie", "header"])
def test_a_server_cut_off_from_its_database_answers_503_and_recovers(
    cut_off_server: _Cut, token_mode: str
) -> None:
    """A real server process loses its database (new connections refused, open ones cut):
    verification that needs it, refresh, sign-out, session data and create answer 503 with a
    JSON body and no token change; once the database is back the same tokens work."""
    server, proxy = cut_off_server.server, cut_off_server.proxy
    agent = http.Agent()
    mode: http.Mode = "cookie" if token_mode == "cookie" else "header"
    steady = agent.login(server.url, "cut-steady", mode=mode)
    _, child = agent.refresh(server.url, agent.login(server.url, "cut-child", mode=mode))
    assert child is not None
    errors = server.server_errors()

    proxy.stop()
    try:
        responses = {
            "revocation check": agent.send(server.url, "GET", "/api/me", steady),
            "first use": agent.send(server.url, "GET", "/api/me", child),
            "session data": agent.send(server.url, "POST", "/api/me", steady),
            "refresh": agent.send(server.url, "POST", http.REFRESH, steady),
            "refresh of a child": agent.send(server.url, "POST", http.REFRESH, child),
            "signout": agent.send(server.url, "POST", http.SIGNOUT, steady),
            "create": agent.send(server.url, "POST", "/t/login", body={"user_id": "x"}, mode=mode),
        }
    finally:
        proxy.start()

    for what, response in responses.items():
        assert response.status == 503, (what, response.status, response.body)
        assert json.loads(response.body) == UNAVAILABLE, what
        assert http.token_changes(response) == set(), (what, response.headers)
    assert server.server_errors() == errors, server.log_tail()
    assert agent.refresh(server.url, child)[0].status == 200
    assert agent.send(server.url, "GET", "/api/me", steady).status == 200
    assert agent.send(server.url, "POST", http.SIGNOUT, steady).status == 200


# --------------------------------------------------------------------------- ATOMIC_REQUESTS


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch, client: Client) -> None:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    client.raise_request_exception = False


def bearer(token: str | None) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_a_server_error_after_a_refresh_sends_no_token(
    client: Client, thefts: list[str]
) -> None:
    agent = ClientAgent(client, "header")
    _refreshed(agent)
    before = rows()

    response = agent.post("/refresh-then-explode", **bearer(agent.refresh_token))

    assert response.status_code == 500
    assert_untouched(response)
    assert rows() == before  # the promotion was rolled back with the request
    assert agent.refresh().status_code == 200 and thefts == []


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_a_server_error_after_a_promotion_sends_no_token(
    client: Client, thefts: list[str]
) -> None:
    agent = ClientAgent(client, "header")
    _refreshed(agent)
    child, before = tokens_of(agent), rows()

    response = agent.get("/explode")

    assert response.status_code == 500
    assert_untouched(response)
    assert tokens_of(agent) == child and rows() == before
    retry = agent.get("/me")
    assert retry.status_code == 200 and retry.has_header("st-access-token")
    assert agent.refresh().status_code == 200 and thefts == []


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_a_failed_commit_sends_no_token(
    client: Client, monkeypatch: pytest.MonkeyPatch, thefts: list[str]
) -> None:
    """The request's transaction fails at COMMIT, after the refresh view returned its 200: the
    answer is a 500 without tokens, and the token the client kept still works."""
    agent = ClientAgent(client, "header")
    _refreshed(agent)
    before = rows()

    def commit_fails() -> None:
        raise OperationalError("could not commit: connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "commit", commit_fails)
        response = agent.refresh()

    assert response.status_code == 500
    assert_untouched(response)
    assert rows() == before
    assert agent.refresh().status_code == 200 and thefts == []


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_theft_and_signout_on_the_package_endpoints_commit(
    client: Client, thefts: list[str]
) -> None:
    """The package's endpoints answer errors themselves (the view returns), so what they did
    (a theft's revocation, a sign-out) commits with the request."""
    agent = ClientAgent(client, "header")
    agent.login()
    first = agent.refresh_token
    agent.refresh()
    assert agent.get("/me").status_code == 200  # the child is used: ``first`` is superseded
    handle = agent.front["up"]["sessionHandle"] if agent.front else None

    response = client.post(REFRESH, **bearer(first), HTTP_RID="session")

    assert (response.status_code, json_body(response)) == (401, {"message": "token theft detected"})
    assert thefts == [handle]
    assert not SessionRow.objects.filter(handle=handle).exists()
    assert RevokedSession.objects.get(handle=handle).reason == RevocationReason.THEFT

    other = ClientAgent(client, "header")
    other.login(user_id="user-2")
    assert other.post(SIGNOUT).status_code == 200
    assert not SessionRow.objects.filter(subject="user-2").exists()


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_a_theft_in_an_application_refresh_view_stays_revoked(
    client: Client, thefts: list[str]
) -> None:
    """The view lets ``TokenTheftDetected`` propagate, so Django rolls its transaction back, the
    theft's revocation with it; the middleware revokes the session again after the view."""
    agent = ClientAgent(client, "header")
    agent.login()
    first = agent.refresh_token
    agent.refresh()
    assert agent.get("/me").status_code == 200
    handle = agent.front["up"]["sessionHandle"] if agent.front else None

    response = client.post("/refresh-propagating", **bearer(first))

    assert (response.status_code, json_body(response)) == (401, {"message": "token theft detected"})
    assert thefts == [handle]  # one signal, not two
    assert not SessionRow.objects.filter(handle=handle).exists()
    assert RevokedSession.objects.get(handle=handle).reason == RevocationReason.THEFT
    assert agent.refresh().status_code == 401  # the other holder's refresh token is dead too


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_a_rolled_back_refresh_hands_out_no_token_the_database_lacks(
    client: Client, thefts: list[str]
) -> None:
    agent = ClientAgent(client, "header")
    _refreshed(agent)

    response = agent.post("/refresh-then-404", **bearer(agent.refresh_token))

    assert response.status_code == 404
    # Whatever the client holds now must be accepted by the database.
    retry = agent.refresh()
    assert retry.status_code == 200, retry.content
    assert thefts == []


@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_a_rolled_back_promotion_leaves_working_tokens(
    client: Client, thefts: list[str]
) -> None:
    """The same with the first use of a child: the promotion is rolled back and the 404 carries
    a replacement access token, which is harmless (it needs no row, and the child refresh token
    the client kept promotes on its next refresh)."""
    agent = ClientAgent(client, "header")
    _refreshed(agent)

    response = agent.get("/promote-then-404")

    assert response.status_code == 404
    assert agent.get("/me").status_code == 200
    assert agent.refresh().status_code == 200 and thefts == []


# --------------------------------------------------------------------------- caches


class BrokenCache(BaseCache):
    """A cache backend whose every call fails (a misconfigured or crashing backend)."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache backend down")

    get = set = add = delete = get_many = set_many = delete_many = clear = touch = _fail
    has_key = incr = decr = _fail


CACHES: dict[str, dict[str, Any]] = {
    "unreachable": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
    "erroring": {"BACKEND": "tests.reliability.test_faults.BrokenCache"},
    "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
}


@pytest.fixture(params=list(CACHES))
def faulty_cache(request: pytest.FixtureRequest, settings: Any) -> str:
    if request.param == "unreachable":
        pytest.importorskip("redis")
    settings.CACHES = {**settings.CACHES, "faulty": CACHES[request.param]}
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "faulty"}
    return str(request.param)


def test_a_faulty_blacklist_cache_falls_back_to_the_database(
    client: Client, faulty_cache: str
) -> None:
    """Unreachable, erroring or dummy: the revocation check asks the database (never "allow"),
    and with the database down too, the answer is a 503."""
    live, revoked = ClientAgent(client, "header"), ClientAgent(client, "header")
    live.login(user_id="user-live")
    revoked.login(user_id="user-revoked")
    assert revoked.front is not None
    engine.revoke_session(revoked.front["up"]["sessionHandle"])  # the cache cannot record it

    with CaptureQueriesContext(connection) as queries:
        assert live.get("/me").status_code == 200
    assert any(REVOKED_TABLE in q["sql"] for q in queries.captured_queries)
    response = revoked.get("/me")
    assert (response.status_code, json_body(response)) == (401, {"message": "unauthorised"})

    with failing(touches(REVOKED_TABLE)):
        response = live.get("/me")
    assert_503(response)
    assert live.get("/me").status_code == 200


def test_a_revocation_during_a_cache_outage_is_stale_for_at_most_the_cache_timeout(
    client: Client, settings: Any, require_service: Callable[[str], None]
) -> None:
    """Redis answers "live" for a handle, goes away, the session is revoked (the cache cannot
    be told), and comes back with its old answer. While it is away the database refuses the
    session; afterwards the stale "live" is served, for no longer than
    ``BLACKLIST_CACHE_TIMEOUT``: the bound docs/RELIABILITY.md states."""
    require_service("redis")
    from tests.reliability.options import redis_cache
    from tests.settings import REDIS_URL

    timeout = timedelta(seconds=30)
    up = redis_cache(REDIS_URL)
    settings.CACHES = {**settings.CACHES, "shared": up}
    settings.SUPERTOKENS = {
        "BLACKLISTING": True,
        "BLACKLIST_CACHE": "shared",
        "BLACKLIST_CACHE_TIMEOUT": timeout,
    }
    agent = ClientAgent(client, "header")
    agent.login(user_id="user-outage")
    assert agent.front is not None
    handle, token = agent.front["up"]["sessionHandle"], agent.access

    def me() -> int:
        return client.get("/me", **bearer(token)).status_code

    assert me() == 200  # "live" is now cached

    settings.CACHES = {**settings.CACHES, "shared": CACHES["unreachable"]}
    engine.revoke_session(handle)
    assert me() == 401

    settings.CACHES = {**settings.CACHES, "shared": up}
    from supertokens_django.blacklist import cache_key

    cache: Any = caches["shared"]
    ttl = cache._cache.get_client(cache.make_and_validate_key(cache_key(handle))).ttl(
        cache.make_and_validate_key(cache_key(handle))
    )
    assert 0 < ttl <= timeout.total_seconds()
    assert me() == 200  # stale, within the stated bound
    cache.delete(cache_key(handle))  # what the timeout does
    assert me() == 401


# --------------------------------------------------------------------------- clocks


def test_clock_skew_within_the_leeway_is_accepted_beyond_it_try_refresh_never_theft(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch, thefts: list[str]
) -> None:
    """Server A issues at ``t``; server B's clock reads otherwise. Within ``LEEWAY`` B accepts
    (an ``iat`` slightly ahead, an ``exp`` slightly behind); beyond it B answers "try refresh
    token", its refresh succeeds, and nothing is ever a theft. (JWT times are whole seconds:
    the margins below keep clear of the rounding.)"""
    leeway, lifetime = 10, 60
    settings.SUPERTOKENS = {
        "LEEWAY": timedelta(seconds=leeway),
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=lifetime),
    }
    t = timezone.now()

    def at(offset: float) -> None:
        monkeypatch.setattr(engine, "_now", lambda: t + timedelta(seconds=offset))

    cases = {
        # B behind A: the token's iat is in B's future.
        "behind, within": (-(leeway - 2), 200),
        "behind, beyond": (-(leeway + 2), 401),
        # B ahead of A at the end of the token's life: exp is in B's past.
        "ahead, within": (lifetime + leeway - 2, 200),
        "ahead, beyond": (lifetime + leeway + 2, 401),
    }
    for what, (offset, status) in cases.items():
        agent = ClientAgent(client, "header")
        at(0)
        agent.login(user_id=f"skew-{what}")
        at(offset)
        response = agent.get("/me")
        assert response.status_code == status, (what, response.content)
        if status == 401:
            assert json_body(response) == {"message": "try refresh token"}, what
            assert_untouched(response)
        # B's refresh works either way, and so does the token it issues, on B.
        assert agent.refresh().status_code == 200, what
        assert agent.get("/me").status_code == 200, what
    assert thefts == []


# --------------------------------------------------------------------------- a user's session


def test_a_real_user_logs_in_and_out_with_faults_in_between(client: Client) -> None:
    """A Django user's session through a fault and back: nothing is lost or left behind."""
    user = new_user("faults")
    agent = ClientAgent(client, "cookie")
    agent.login(username=user.username)
    with failing(touches(SESSION_TABLE)):
        assert_503(agent.refresh())
    assert agent.refresh().status_code == 200
    assert agent.post(SIGNOUT).status_code == 200
    assert not SessionRow.objects.filter(user=user).exists()
