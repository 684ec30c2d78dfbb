"""``manage.py supertokens_cleanup``: delete expired sessions, revocation records and keys.

Run it from cron (hourly or daily); it is safe next to live traffic. Each table is emptied of its
stale rows in batches: one ``DELETE`` statement per batch removes up to ``--batch-size`` rows in
the order of the indexed expiry column, in a transaction of its own. No row travels to Python, so
memory stays flat and lock time stays bounded by the batch size, however many rows there are.

The statement re-checks the expiry on the row it deletes, not only on the row it picked: a row
that a refresh slid forward in the meantime (a server whose clock runs slightly behind ours) is
left alone. Per database (see :func:`delete_statement`):

- **PostgreSQL**: ``DELETE ... WHERE <expired> AND ctid = ANY(ARRAY(SELECT ctid ... ORDER BY
  <expiry> LIMIT n))``. The ``ARRAY(...)`` keeps the planner on the expiry index (a plain
  ``pk IN (SELECT ... LIMIT n)`` becomes a hash semi-join over a scan of the whole table), and the
  ``ctid`` (the row's physical address) spares a primary-key lookup per row. A row updated after
  the statement's snapshot is re-read in its newest version and the expiry condition evaluated
  again on it (EvalPlanQual), so a slid row stays.
- **MariaDB/MySQL**: ``DELETE ... WHERE <expired> ORDER BY <expiry> LIMIT n``. The rows are read
  with locks, in their latest committed version, so the condition is evaluated on what is there
  when the row is deleted. (They forbid a ``LIMIT`` in a subquery of the table being deleted.)
- **SQLite and others**: ``DELETE ... WHERE <expired> AND pk IN (SELECT pk ... ORDER BY <expiry>
  LIMIT n)``; SQLite has one writer at a time, so nothing changes a row during the statement.

The statement is raw SQL, so Django's deletion collector never runs. It has nothing to do here:
no foreign key points at these tables and no signal receiver listens to their deletion, so
``QuerySet.delete()`` would not collect anything either. (Were a project to point a foreign key
at sessions, the database's constraint would refuse the ``DELETE``: nothing is left dangling.)

What goes, and why deleting it changes no verification outcome:

- **Sessions past** ``expires_at``. Nothing is written to the blacklist for them. Every code
  path that consults the database (refresh, promotion of a child token, ``check_database``)
  already treats an expired row exactly like a missing one, and the blacklist check looks only
  at ``RevokedSession``, which this command does not add to. An access token minted just before
  its session expired may outlive the row by up to ``ACCESS_TOKEN_LIFETIME``; it does so whether
  or not the row is still there, so a record would not restore any guarantee, it would only make
  the outcome depend on when cron last ran. (To end a session *before* it expires, revoke it.)
- **Revocation records past** ``expires_at``: a record lives for the access-token lifetime plus
  the leeway after the revocation, by which time every access token of that session has expired.
- **Signing keys past** ``verifies_until``: the key ring neither loads nor trusts them any more.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, models, router

from supertokens_django import db, engine
from supertokens_django.exceptions import ServiceUnavailable
from supertokens_django.models import RevokedSession, Session, SigningKey

DEFAULT_BATCH_SIZE = 10_000
# Bounds how long one statement holds its row locks (tens of milliseconds at this size).
MAX_BATCH_SIZE = 30_000

#: (what the summary calls the rows, model, indexed expiry column)
TARGETS: tuple[tuple[str, type[models.Model], str], ...] = (
    ("expired sessions", Session, "expires_at"),
    ("revocation records", RevokedSession, "expires_at"),
    ("signing keys", SigningKey, "verifies_until"),
)


def batch_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH_SIZE}")
    return size


def delete_statement(vendor: str, table: str, pk: str, column: str) -> str:
    """One batch's ``DELETE``, for names already quoted; parameters ``(now, size)``.

    Every form re-checks ``column <= now`` on the row it deletes (see the module docstring).
    """
    if vendor == "postgresql":
        return (
            f"DELETE FROM {table} WHERE {column} <= %(now)s AND ctid = ANY(ARRAY("  # noqa: S608
            f"SELECT ctid FROM {table} WHERE {column} <= %(now)s "
            f"ORDER BY {column} LIMIT %(size)s))"
        )
    if vendor == "mysql":
        return (
            f"DELETE FROM {table} WHERE {column} <= %(now)s "  # noqa: S608
            f"ORDER BY {column} LIMIT %(size)s"
        )
    return (
        f"DELETE FROM {table} WHERE {column} <= %(now)s AND {pk} IN ("  # noqa: S608
        f"SELECT {pk} FROM {table} WHERE {column} <= %(now)s "
        f"ORDER BY {column} LIMIT %(size)s)"
    )


def delete_in_batches(
    model: type[models.Model], column: str, now: datetime, *, size: int
) -> Iterator[int]:
    """Delete the rows of ``model`` whose ``column`` is at or before ``now``, ``size`` at a time.

    Yields the number of rows each batch deleted, if any (one statement, so one transaction, per
    batch). A batch that deletes fewer than ``size`` rows is the last: the rows it did not find
    were not expired, or were slid forward or deleted by someone else meanwhile; a row that
    expires during the run is left for the next one.
    """
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    expiry = cast("models.Field[Any, Any]", meta.get_field(column))
    # Concrete fields of our own models: each has a column.
    pk_column, expiry_column = cast("str", meta.pk.column), cast("str", expiry.column)
    sql = delete_statement(
        connection.vendor, quote(meta.db_table), quote(pk_column), quote(expiry_column)
    )
    # As a QuerySet filter would bind it (a naive UTC string on SQLite and MariaDB, for one).
    params = {"now": expiry.get_db_prep_value(now, connection), "size": size}

    def delete() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            deleted: int = cursor.rowcount
        return deleted

    while True:
        # Autocommit: the one statement is its own transaction, no BEGIN/COMMIT round trips.
        deleted = db.run(delete, atomic=False)
        if deleted:
            yield deleted
        if deleted < size:
            return


class Command(BaseCommand):
    help = (
        "Delete expired sessions, revocation records that outlived every access token they "
        "guard, and signing keys that no longer verify. Safe to run next to live traffic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows per DELETE statement and transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted; delete nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = engine._now()
        size: int = options["batch_size"]
        verbose = options["verbosity"] >= 2
        counts: list[int] = []
        try:
            for label, model, column in TARGETS:
                if options["dry_run"]:
                    stale = model._base_manager.filter(**{f"{column}__lte": now})
                    counts.append(db.run(stale.count, atomic=False))
                    continue
                total = 0
                for number, deleted in enumerate(
                    delete_in_batches(model, column, now, size=size), start=1
                ):
                    total += deleted
                    if verbose:
                        self.stdout.write(f"Batch {number}: deleted {deleted} {label}.")
                counts.append(total)
        except ServiceUnavailable as exc:
            raise CommandError(f"The database is unavailable: {exc.__cause__ or exc}") from exc
        sessions, records, keys = counts
        if options["verbosity"] < 1:  # silent for cron; errors still reach stderr
            return
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} {sessions} expired sessions, {records} revocation records, "
            f"{keys} signing keys."
        )
