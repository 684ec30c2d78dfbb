"""The session row's hot statements: a promotion in one statement (a compare-and-set of the
refresh-token hash), and the read by primary key that a refresh's other outcomes start with.

After every refresh, the first request with the new access token (the browser SDK's next call)
promotes its child refresh token, and so does a refresh with an unused child (a client that
refreshes again before using what the last refresh returned). Under a row lock that is BEGIN,
``SELECT … FOR UPDATE``, UPDATE, COMMIT: four round trips with the lock held across two of them.
The decision fits in one conditional UPDATE, which autocommit makes its own transaction::

    UPDATE session SET refresh_token_hash_2 = H(child), last_active_at = now,
                       expires_at = CASE WHEN expires_at <= slide_from THEN now + lifetime
                                         ELSE expires_at END
     WHERE handle = h AND refresh_token_hash_2 = H(parent) AND expires_at > now
    RETURNING subject, jwt_payload

Why it decides exactly what the locked path would:

- It writes only when the row holds the parent's hash at the moment of the write, which is the
  locked path's step 3; every other outcome (current token, promoted already, gone, theft) matches
  no row, and the caller decides it as before (``engine._rotate``: a read, and the locked path
  for anything that is not "current" or "gone"). The statement can therefore never revoke
  anything nor promote what the locked path would not.
- Two concurrent promotions of one child: one UPDATE waits for the other's row lock, then
  re-evaluates its WHERE against the committed row (PostgreSQL's READ COMMITTED, InnoDB's
  locking reads; SQLite serialises writers), no longer finds the parent's hash and matches
  nothing. Exactly one of them promotes; the other then reads the child as current.
- Inside a caller's transaction (``ATOMIC_REQUESTS``) the statement joins it and its row lock
  lasts until that transaction ends, as the locked path's would.

PostgreSQL and SQLite (3.35+) return the columns from the UPDATE itself. MariaDB and MySQL have
no ``UPDATE … RETURNING``: there a read by primary key follows (:func:`read`). Outside a
transaction it reads the row as it is after the promotion or later; if a revocation deleted the
row in between, it finds nothing and the refresh is refused, which is what the revocation asked
for. Inside one, it is a locking read, which sees the latest row rather than the transaction's
snapshot (and the UPDATE holds the lock already).

Both are raw SQL built from the model's own table and column names, with every value prepared
and every result converted by the model's fields, exactly as the ORM would: the ORM's query
building costs more than the statement's round trip (about 350 µs against 250 µs for the read
on our benchmark machine), on the path every refresh takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections

from . import db
from .models import Session as SessionRow


@dataclass(frozen=True)
class Claims:
    """The columns of a session row that new tokens need."""

    subject: str
    jwt_payload: dict[str, Any]


@dataclass(frozen=True)
class Found(Claims):
    """What :func:`read` returns: the claims, and the columns a refresh decides with."""

    refresh_token_hash_2: str
    user_id: Any
    expires_at: datetime


def expiry_slide(now: datetime, lifetime: timedelta, step: float) -> tuple[datetime, datetime]:
    """``(slide_from, new_expiry)``: a row whose expiry is at or before ``slide_from`` gets
    ``new_expiry``, ``lifetime`` from now; the expiry moves only in steps of ``step`` of the
    lifetime.

    ``expires_at`` is indexed (clean-up, the active-session lookups), so an UPDATE that changes
    it writes a new entry into every index of the row; one that leaves it is a HOT update on
    PostgreSQL, which touches no index. A session's row thus expires at most one step earlier
    than a lifetime after its last refresh.
    """
    new_expiry = now + lifetime
    return new_expiry - lifetime * step, new_expiry


def _field(name: str) -> Any:
    return SessionRow._meta.get_field(name)


def _column(connection: Any, name: str) -> str:
    return str(connection.ops.quote_name(_field(name).column))


def _returning_supported(connection: Any) -> bool:
    # Django has no feature flag for UPDATE … RETURNING; INSERT … RETURNING came to SQLite in the
    # same release (3.35) as UPDATE … RETURNING, and PostgreSQL has always had both.
    return connection.vendor in ("postgresql", "sqlite") and bool(
        connection.features.can_return_columns_from_insert
    )


def _load(name: str, value: Any, connection: Any) -> Any:
    """A column's value as the ORM would return it: the backend's converters, then the field's
    (SQLite's text datetimes, MySQL's naive ones, JSON text)."""
    field = _field(name)
    expression = field.cached_col
    converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
    for convert in converters:
        value = convert(value, expression, connection)
    return value


def promote(
    handle: str,
    *,
    parent_hash2: str,
    child_hash2: str,
    now: datetime,
    lifetime: timedelta,
    step: float,
) -> Claims | None:
    """Replace ``parent_hash2`` by ``child_hash2`` on the live row ``handle``, in one statement.

    ``None`` when the row did not hold ``parent_hash2`` (or is gone or expired): the caller then
    decides otherwise. Database errors become ``ServiceUnavailable`` (``db.run``).
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
) -> Claims | None:
    connection = connections[db.write_alias()]
    returning = _returning_supported(connection)
    table = connection.ops.quote_name(SessionRow._meta.db_table)
    handle_, hash_, active, expiry = (
        _column(connection, name)
        for name in ("handle", "refresh_token_hash_2", "last_active_at", "expires_at")
    )
    moment = _field("expires_at")

    def at(value: datetime) -> Any:
        return moment.get_db_prep_value(value, connection)

    # Only quoted identifiers of our own model are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {hash_} = %s, {active} = %s,"  # noqa: S608
        f" {expiry} = CASE WHEN {expiry} <= %s THEN %s ELSE {expiry} END"
        f" WHERE {handle_} = %s AND {hash_} = %s AND {expiry} > %s"
    )
    if returning:
        sql += f" RETURNING {_column(connection, 'subject')}, {_column(connection, 'jwt_payload')}"
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
        if returning:
            row = cursor.fetchone()
            if row is None:
                return None
            payload = _load("jwt_payload", row[1], connection)
            return Claims(subject=row[0], jwt_payload=dict(payload or {}))
        if cursor.rowcount != 1:
            return None
    found = read(handle)
    return Claims(found.subject, found.jwt_payload) if found is not None else None


def read(handle: str) -> Found | None:
    """The row ``handle``'s claims, hash, user and expiry (expired or not), by primary key.

    Inside a transaction a locking read (``SELECT … FOR UPDATE`` where the database has it):
    a plain read there could answer from the transaction's snapshot, older than the row.
    """
    connection = connections[db.write_alias()]
    columns = ("subject", "jwt_payload", "refresh_token_hash_2", "user", "expires_at")
    sql = (
        f"SELECT {', '.join(_column(connection, c) for c in columns)}"  # noqa: S608
        f" FROM {connection.ops.quote_name(SessionRow._meta.db_table)}"
        f" WHERE {_column(connection, 'handle')} = %s"
    )
    if connection.in_atomic_block and connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [_field("handle").get_db_prep_value(handle, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = [_load(name, value, connection) for name, value in zip(columns, row, strict=True)]
    subject, payload, stored, user_id, expires_at = values
    return Found(subject, dict(payload or {}), stored, user_id, expires_at)
