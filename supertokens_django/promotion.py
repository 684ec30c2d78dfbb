"""A promotion in one statement: compare-and-set of a session's refresh-token hash.

Most refreshes present a child whose parent is the stored token (a refresh's response was
received, and the next refresh uses what it returned); the first request with a refreshed access
token is the same case. The engine's general path decides it under a row lock: BEGIN,
``SELECT … FOR UPDATE``, UPDATE, COMMIT, four round trips with the lock held across two of them.
The decision fits in one conditional UPDATE, which autocommit makes its own transaction::

    UPDATE session SET refresh_token_hash_2 = H(child), last_active_at = now,
                       expires_at = CASE WHEN expires_at <= slide_from THEN now + lifetime
                                         ELSE expires_at END
     WHERE handle = h AND refresh_token_hash_2 = H(parent) AND expires_at > now
    RETURNING subject, jwt_payload

Why it decides exactly what the locked path would:

- It writes only when the row holds the parent's hash at the moment of the write, which is the
  locked path's step 3; every other outcome (current token, promoted already, gone, theft) matches
  no row, and the caller then runs the locked path, which classifies the row as before. The fast
  path can therefore never revoke anything nor promote what the locked path would not.
- Two concurrent promotions of one child: one UPDATE waits for the other's row lock, then
  re-evaluates its WHERE against the committed row (PostgreSQL's READ COMMITTED, InnoDB's
  locking reads; SQLite serialises writers), no longer finds the parent's hash and matches
  nothing. Exactly one of them promotes; the other finds the child current under the lock.
- Inside a caller's transaction (``ATOMIC_REQUESTS``) the statement joins it and its row lock
  lasts until that transaction ends, as the locked path's would.

PostgreSQL and SQLite (3.35+) return the columns from the UPDATE itself. MariaDB and MySQL have
no ``UPDATE … RETURNING``: there a SELECT by primary key follows, outside any lock. It reads the
row as it is after the promotion or later; if a revocation deleted the row in between, it finds
nothing and the refresh is refused, which is what the revocation asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Case, F, Value, When

from . import db
from .models import Session as SessionRow


@dataclass(frozen=True)
class Promoted:
    """The columns of a promoted row that the new tokens need."""

    subject: str
    jwt_payload: dict[str, Any]


def expiry_slide(now: datetime, lifetime: timedelta, step: float) -> tuple[datetime, datetime]:
    """``(slide_from, new_expiry)``: a row whose expiry is at or before ``slide_from`` gets
    ``new_expiry``; the expiry moves only in steps of ``step`` of the lifetime (see
    ``engine._promotion`` for why)."""
    new_expiry = now + lifetime
    return new_expiry - lifetime * step, new_expiry


def _field(name: str) -> Any:
    return SessionRow._meta.get_field(name)


def _returning_supported(connection: Any) -> bool:
    # Django has no feature flag for UPDATE … RETURNING; INSERT … RETURNING came to SQLite in the
    # same release (3.35) as UPDATE … RETURNING, and PostgreSQL has always had both.
    return connection.vendor in ("postgresql", "sqlite") and bool(
        connection.features.can_return_columns_from_insert
    )


def promote(
    handle: str,
    *,
    parent_hash2: str,
    child_hash2: str,
    now: datetime,
    lifetime: timedelta,
    step: float,
) -> Promoted | None:
    """Replace ``parent_hash2`` by ``child_hash2`` on the live row ``handle``, in one statement.

    ``None`` when the row did not hold ``parent_hash2`` (or is gone or expired): the caller then
    decides under the row lock. Database errors become ``ServiceUnavailable`` (``db.run``).
    """
    slide_from, new_expiry = expiry_slide(now, lifetime, step)
    return db.run(
        lambda: _promote(handle, parent_hash2, child_hash2, now, slide_from, new_expiry),
        atomic=False,
    )


def _promote(
    handle: str,
    parent_hash2: str,
    child_hash2: str,
    now: datetime,
    slide_from: datetime,
    new_expiry: datetime,
) -> Promoted | None:
    connection = connections[db.write_alias()]
    if not _returning_supported(connection):
        return _promote_then_select(handle, parent_hash2, child_hash2, now, slide_from, new_expiry)
    qn = connection.ops.quote_name
    moment = _field("expires_at")

    def at(value: datetime) -> Any:
        return moment.get_db_prep_value(value, connection)

    # Only quoted identifiers of our own model are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {qn(SessionRow._meta.db_table)}"  # noqa: S608
        f" SET {qn('refresh_token_hash_2')} = %s, {qn('last_active_at')} = %s,"
        f" {qn('expires_at')} = CASE WHEN {qn('expires_at')} <= %s THEN %s"
        f" ELSE {qn('expires_at')} END"
        f" WHERE {qn('handle')} = %s AND {qn('refresh_token_hash_2')} = %s"
        f" AND {qn('expires_at')} > %s"
        f" RETURNING {qn('subject')}, {qn('jwt_payload')}"
    )
    params = [
        child_hash2,
        at(now),
        at(slide_from),
        at(new_expiry),
        _field("handle").get_db_prep_value(handle, connection),
        parent_hash2,
        at(now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    payload = _field("jwt_payload").from_db_value(row[1], None, connection)
    return Promoted(subject=row[0], jwt_payload=dict(payload or {}))


def _promote_then_select(
    handle: str,
    parent_hash2: str,
    child_hash2: str,
    now: datetime,
    slide_from: datetime,
    new_expiry: datetime,
) -> Promoted | None:
    """The same statement without RETURNING, and a SELECT of the two columns after it."""
    updated = SessionRow.objects.filter(
        handle=handle, refresh_token_hash_2=parent_hash2, expires_at__gt=now
    ).update(
        refresh_token_hash_2=child_hash2,
        last_active_at=now,
        expires_at=Case(
            When(expires_at__lte=slide_from, then=Value(new_expiry)), default=F("expires_at")
        ),
    )
    if not updated:
        return None
    rows = SessionRow.objects.filter(handle=handle)
    if connections[db.write_alias()].in_atomic_block:
        # A caller's transaction may read from an older snapshot (REPEATABLE READ): a locking
        # read sees the latest row, and the UPDATE holds its lock already.
        rows = rows.select_for_update()
    row = rows.values_list("subject", "jwt_payload").first()
    if row is None:
        return None
    return Promoted(subject=row[0], jwt_payload=dict(row[1] or {}))
