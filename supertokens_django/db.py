"""Running the engine's statements: bounded retries of transient failures, and fail-closed errors.

Serialization failures (PostgreSQL ``40001``), deadlocks (``40P01``, MariaDB 1213), lock wait
timeouts (MariaDB 1205) and SQLite's "database is locked" are retried a few times with a short,
jittered back-off. Anything else the database raises, and a transient failure that outlives the
retries, becomes :class:`ServiceUnavailable` (a 503): never "unauthorised", never "theft".
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.db import DatabaseError, OperationalError, connections, models, router, transaction

from .conf import st_settings
from .exceptions import ServiceUnavailable

T = TypeVar("T")
logger = logging.getLogger("supertokens_django.db")
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}
_TRANSIENT_MYSQL_CODES = {1205, 1213}


def write_alias(model: type[models.Model] | None = None) -> str:
    """The database the engine reads and writes ``model`` (default: ``Session``) on.

    Reads that a decision rests on (is this session revoked, does its row still exist, which
    signing keys exist) go here too, not to ``router.db_for_read``: with a primary/replica
    router a replica that lags would answer "live" for a session revoked a moment ago, or not
    know a signing key another process has just stored.
    """
    if model is None:
        from .models import Session

        model = Session
    return router.db_for_write(model)


def in_transaction(alias: str) -> bool:
    """Whether ``alias`` has a transaction open that may still roll back: a caller's atomic
    block (``ATOMIC_REQUESTS``, an admin action, ``transaction.atomic`` around our calls).

    The atomic blocks Django's ``TestCase`` wraps each test in do not count: they stand for
    the database as the test sees it, as they do for ``atomic(durable=True)``. So inside a test
    what waits for a commit elsewhere happens at once, as it does in autocommit.
    """
    connection = connections[alias]
    return connection.in_atomic_block and not all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


def on_commit(func: Callable[[], object], alias: str) -> None:
    """Run ``func`` once the caller's transaction on ``alias`` commits (never if it rolls
    back), or at once outside one (see :func:`in_transaction`)."""
    if in_transaction(alias):
        transaction.on_commit(func, using=alias)
    else:
        func()


def is_transient(exc: BaseException) -> bool:
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    if getattr(cause, "pgcode", None) in _TRANSIENT_SQLSTATES:
        return True
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int) and args[0] in _TRANSIENT_MYSQL_CODES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def run(fn: Callable[[], T], *, atomic: bool = True) -> T:
    """Run ``fn`` (in a transaction when ``atomic``), retrying transient failures."""
    alias = write_alias()
    # Inside a caller's transaction (ATOMIC_REQUESTS) a failed statement poisons the whole
    # transaction, so retrying here would only fail again: answer 503 at once instead.
    retries = 0 if connections[alias].in_atomic_block else st_settings.database_retries
    for attempt in range(retries + 1):
        try:
            if atomic:
                with transaction.atomic(using=alias):
                    return fn()
            return fn()
        except DatabaseError as exc:
            if attempt < retries and is_transient(exc):
                logger.info("transient database error, retrying (%s)", type(exc).__name__)
                time.sleep(0.01 * (2**attempt) * (1 + random.random()))  # noqa: S311
                continue
            logger.warning("database unavailable for a session operation", exc_info=True)
            raise ServiceUnavailable("database unavailable") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def insert(model: type[models.Model], values: dict[str, Any]) -> None:
    """One ``INSERT`` of ``values`` (field name → value) into ``model``'s table.

    What ``Model.objects.create`` sends, without its per-instance work (the instance, its
    defaults, the save signals, returning the primary key), which costs about as much as the
    statement itself on a local database. Every value is prepared by its field, as a save
    prepares it, so each backend gets what it expects (UUIDs, JSON, datetimes, addresses).
    """
    connection = connections[write_alias(model)]
    qn = connection.ops.quote_name
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in values]
    columns = ", ".join(qn(cast(str, field.column)) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        # Quoted identifiers of the model; every value is a parameter.
        cursor.execute(
            f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({placeholders})",  # noqa: S608
            params,
        )
