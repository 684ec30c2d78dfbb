"""``manage.py supertokens_cleanup``: delete expired sessions, revocation records and keys.

Run it from cron (hourly or daily); it is safe next to live traffic. Each table is emptied of its
stale rows in batches: select up to ``--batch-size`` primary keys in the order of the indexed
expiry column, then ``DELETE ... WHERE pk IN (batch) AND <still expired>`` in its own short
transaction. Memory and lock time stay bounded by the batch size, however many rows there are,
and re-checking the expiry in the ``DELETE`` means a row that a refresh slid forward between the
two statements (a server whose clock runs slightly behind ours) is left alone.

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
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from supertokens_django import db, engine
from supertokens_django.exceptions import ServiceUnavailable
from supertokens_django.models import RevokedSession, Session, SigningKey

DEFAULT_BATCH_SIZE = 10_000
# Every primary key of a batch is one bound parameter; SQLite allows 32,766 per statement.
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


def delete_in_batches(
    model: type[models.Model], column: str, now: datetime, *, size: int
) -> Iterator[int]:
    """Delete the rows of ``model`` whose ``column`` is at or before ``now``, ``size`` at a time.

    Yields the number of rows each batch deleted (one transaction per batch).
    """
    stale = model._base_manager.filter(**{f"{column}__lte": now})

    def next_batch() -> list[Any]:
        return list(stale.order_by(column).values_list("pk", flat=True)[:size])

    def delete(pks: list[Any]) -> int:
        # The expiry is re-checked: a row slid forward since ``next_batch`` stays.
        deleted: int = stale.filter(pk__in=pks).delete()[0]
        return deleted

    while True:
        pks = db.run(next_batch, atomic=False)
        if not pks:
            return
        yield db.run(partial(delete, pks))
        if len(pks) < size:
            return  # that was the last, partial batch: spare the query that would find nothing


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
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} {sessions} expired sessions, {records} revocation records, "
            f"{keys} signing keys."
        )
