"""Fixtures of the reliability suite: a live test database shared with real server processes.

pytest-django's ``transactional_db`` flushes every table after each test, signing keys included,
while the servers of a module keep the keys they loaded: a server would go on signing with a key
the other processes can no longer find. So each module here opens the test database for the
whole module instead (``live_db``), deletes the session and revocation rows after each test, and
flushes everything once at the end, leaving the database as clean as a transactional test does.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction

from tests.reliability.options import CACHE_ALIAS, redis_cache, supertokens_options
from tests.reliability.servers import Deployment, GunicornServer, ServerConfig
from tests.services import services_required, unavailable

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import DjangoDbBlocker
    from pytest_django import Settings as SettingsWrapper

PASSWORD = "reliability-password"


def require_gunicorn() -> None:
    """Skip when gunicorn is missing, or fail under SUPERTOKENS_REQUIRE_SERVICES=1."""
    if importlib.util.find_spec("gunicorn") is not None:
        return
    reason = "the Python package gunicorn is not installed (pip install -e '.[dev]')"
    if services_required():
        pytest.fail(f"gunicorn is required (SUPERTOKENS_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _test_databases(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """The test database, even when no test of the run carries pytest-django's mark.

    pytest-django creates only the databases that marked tests ask for; run on their own, the
    tests here (which open the database themselves) would find the development database.
    """
    from django.test.utils import setup_databases, teardown_databases

    test_name = connection.creation._get_test_db_name()  # type: ignore[attr-defined]
    if str(connection.settings_dict["NAME"]) == str(test_name):
        yield  # created for the other tests of this run
        return
    with django_db_blocker.unblock():
        created = setup_databases(verbosity=0, interactive=False, aliases={"default"})  # type: ignore[arg-type]
    yield
    with django_db_blocker.unblock():
        teardown_databases(created, verbosity=0)


@pytest.fixture(scope="module")
def live_db(_test_databases: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """The test database, open (autocommit, no wrapping transaction) for the whole module."""
    from supertokens_django.keys import keyring

    with django_db_blocker.unblock():
        keyring.reset()  # keys cached by an earlier module were rolled back or flushed
        try:
            yield
        finally:
            keyring.reset()
            call_command("flush", verbosity=0, interactive=False, database="default")


@pytest.fixture(autouse=True)
def _clean_rows(live_db: None) -> Iterator[None]:
    yield
    from supertokens_django.models import RevokedSession, Session

    Session.objects.all().delete()
    RevokedSession.objects.all().delete()


@pytest.fixture(scope="module")
def deployment(live_db: None) -> Deployment:
    """The test database as the servers must see it (pytest-django has renamed it by now)."""
    keys = ("ENGINE", "NAME", "HOST", "PORT", "USER", "PASSWORD", "OPTIONS")
    database = {
        key: connection.settings_dict[key] for key in keys if key in connection.settings_dict
    }
    database["NAME"] = str(database["NAME"])
    from tests.settings import REDIS_URL

    return Deployment(
        database=database,
        secret_key=django_settings.SECRET_KEY,
        redis_url=None if unavailable("redis") else REDIS_URL,
    )


@pytest.fixture(scope="module")
def servers(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., GunicornServer]]:
    """``start(config[, deployment])``: a new gunicorn server, stopped with the module.

    The first signing key is created before any server starts (as ``supertokens_rotate_keys``
    would at deployment time), so that the servers' first requests do not race to create it.
    """
    from django.utils import timezone

    from supertokens_django.keys import keyring

    keyring.signing_material(timezone.now())
    started: list[GunicornServer] = []
    workdir = tmp_path_factory.mktemp("reliability-servers")

    def start(config: ServerConfig, override: Deployment | None = None) -> GunicornServer:
        require_gunicorn()
        server = GunicornServer(config, override or deployment, Path(workdir))
        started.append(server)  # registered first, so that a failed start is still stopped
        return server.start()

    yield start
    for server in started:
        server.stop()


def mirror(settings: SettingsWrapper, config: ServerConfig, deployment: Deployment) -> None:
    """Give the test process the servers' ``SUPERTOKENS`` (and their Redis), so that what it
    does next to them (revoke, rotate, clean up) is what another server would do."""
    redis = config.redis and deployment.redis_url is not None
    if redis:
        assert deployment.redis_url is not None
        settings.CACHES = {**settings.CACHES, CACHE_ALIAS: redis_cache(deployment.redis_url)}
    settings.SUPERTOKENS = supertokens_options(
        access_token_seconds=config.access_token_seconds,
        blacklisting=config.blacklisting,
        redis=redis,
    )


def new_user(prefix: str = "user") -> User:
    from django.contrib.auth.models import User

    return User.objects.create_user(username=f"{prefix}-{uuid.uuid4().hex[:12]}", password=PASSWORD)


@contextmanager
def row_locked(handle: str) -> Iterator[None]:
    """Hold the session row's lock from this thread's connection until the block ends.

    PostgreSQL and MariaDB lock the row (``SELECT ... FOR UPDATE``); on SQLite the transaction
    itself takes the database's write lock (``BEGIN IMMEDIATE`` in the test settings), which is
    what a refresh waits for there.
    """
    from supertokens_django.models import Session

    with transaction.atomic():
        rows = list(Session.objects.select_for_update().filter(handle=handle))
        assert rows, f"no session {handle}"
        yield


def lock_waiters() -> int | None:
    """How many other transactions of this database wait for a row lock right now (asked from
    inside the transaction that holds it); ``None`` where the database cannot tell (SQLite)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Inside a transaction the activity view is a snapshot: take a fresh one.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'"
                " AND trx_mysql_thread_id IN"
                " (SELECT id FROM information_schema.processlist WHERE db = DATABASE())"
            )
        else:
            return None
        return int(cursor.fetchone()[0])


def vendor() -> str:
    return str(connection.vendor)


def thefts_logged(server: GunicornServer) -> int:
    try:
        return server.log_path.read_text(errors="replace").count("refresh token reuse")
    except OSError:
        return 0


def rows_for(handle: str) -> int:
    from supertokens_django.models import Session

    return Session.objects.filter(handle=handle).count()


def revoked_reason(handle: str) -> Any:
    from supertokens_django.models import RevokedSession

    return RevokedSession.objects.filter(handle=handle).values_list("reason", flat=True).first()
