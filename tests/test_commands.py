"""The management commands: supertokens_cleanup, supertokens_rotate_keys, supertokens_revoke."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from io import StringIO
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from supertokens_django import engine
from supertokens_django.exceptions import TryRefreshToken, Unauthorised
from supertokens_django.keys import FORCED_KEY_NOTICE, keyring
from supertokens_django.models import RevocationReason, RevokedSession, Session, SigningKey
from supertokens_django.signals import session_revoked

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import Settings

# The key ring is per process; each test's database starts without keys.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keyring")]

HS256_SECRET = "a-static-hs256-secret-of-at-least-32-bytes"


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Freeze the engine's clock (which the commands read too) at one instant."""
    frozen = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(engine, "_now", lambda: frozen)
    return frozen


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def statements(ctx: CaptureQueriesContext, verb: str, table: str) -> int:
    """How many ``verb`` statements touched ``table`` (savepoints of the test transaction aside)."""
    return sum(1 for q in ctx.captured_queries if q["sql"].startswith(verb) and table in q["sql"])


def make_sessions(count: int, expires_at: datetime, subject: str = "u") -> set[uuid.UUID]:
    rows = [
        Session(
            handle=uuid.uuid4(),
            subject=subject,
            refresh_token_hash_2="0" * 64,
            expires_at=expires_at - timedelta(seconds=i),
        )
        for i in range(count)
    ]
    Session.objects.bulk_create(rows, batch_size=500)
    return {row.handle for row in rows}


def make_revocations(count: int, expires_at: datetime) -> set[uuid.UUID]:
    rows = [
        RevokedSession(
            handle=uuid.uuid4(),
            subject="u",
            reason=RevocationReason.LOGOUT,
            revoked_at=expires_at - timedelta(hours=1),
            expires_at=expires_at,
        )
        for _ in range(count)
    ]
    RevokedSession.objects.bulk_create(rows)
    return {row.handle for row in rows}


# --------------------------------------------------------------------------- supertokens_cleanup


def test_cleanup_deletes_exactly_the_stale_rows_in_batches(now: datetime) -> None:
    expired = make_sessions(2_500, now)  # the newest expires at exactly `now`: expired
    live = make_sessions(7, now + timedelta(days=1))
    stale_records = make_revocations(3, now - timedelta(seconds=1))
    live_records = make_revocations(2, now + timedelta(minutes=5))
    assert len(expired) == 2_500

    with CaptureQueriesContext(connection) as ctx:
        out = run("supertokens_cleanup", "--batch-size", "1000", "--verbosity", "2")

    assert set(Session.objects.values_list("handle", flat=True)) == live
    assert set(RevokedSession.objects.values_list("handle", flat=True)) == live_records
    assert not RevokedSession.objects.filter(handle__in=stale_records).exists()
    assert out.splitlines() == [
        "Batch 1: deleted 1000 expired sessions.",
        "Batch 2: deleted 1000 expired sessions.",
        "Batch 3: deleted 500 expired sessions.",
        "Batch 1: deleted 3 revocation records.",
        "Deleted 2500 expired sessions, 3 revocation records, 0 signing keys.",
    ]
    # Three DELETEs of at most 1,000 rows each, each choosing its rows itself (no SELECT, no
    # row in Python); the last, partial batch ends the loop without a statement that would
    # find nothing.
    assert statements(ctx, "DELETE", "supertokens_django_session") == 3
    assert statements(ctx, "SELECT", "supertokens_django_session") == 0


def test_cleanup_with_an_exact_multiple_of_the_batch_size_stops_on_an_empty_batch(
    now: datetime,
) -> None:
    make_sessions(4, now - timedelta(days=1))

    with CaptureQueriesContext(connection) as ctx:
        out = run("supertokens_cleanup", "--batch-size", "2")

    assert not Session.objects.exists()
    assert out == "Deleted 4 expired sessions, 0 revocation records, 0 signing keys.\n"
    assert statements(ctx, "DELETE", "supertokens_django_session") == 3  # the last finds none
    assert statements(ctx, "SELECT", "supertokens_django_session") == 0


def test_cleanup_dry_run_counts_and_deletes_nothing(now: datetime) -> None:
    make_sessions(5, now - timedelta(minutes=1))
    make_sessions(2, now + timedelta(minutes=1))
    make_revocations(1, now - timedelta(minutes=1))

    with CaptureQueriesContext(connection) as ctx:
        out = run("supertokens_cleanup", "--dry-run")

    assert out == "Would delete 5 expired sessions, 1 revocation records, 0 signing keys.\n"
    assert Session.objects.count() == 7
    assert RevokedSession.objects.count() == 1
    assert not any(q["sql"].startswith("DELETE") for q in ctx.captured_queries)


def test_cleanup_on_an_empty_database(now: datetime) -> None:
    assert run("supertokens_cleanup") == (
        "Deleted 0 expired sessions, 0 revocation records, 0 signing keys.\n"
    )


def test_cleanup_spares_a_session_refreshed_just_before_the_delete(now: datetime) -> None:
    """A refresh that slides the expiry right before the batch's DELETE keeps its session.

    The refresh is simulated by an UPDATE issued on the same database right before the
    cleanup's DELETE reaches it, as a concurrent request on a server whose clock runs a little
    behind could do.
    """
    (slid,) = make_sessions(1, now)
    others = make_sessions(3, now - timedelta(hours=1))
    fired = False

    def refresh_first(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        nonlocal fired
        if sql.startswith("DELETE") and "supertokens_django_session" in sql and not fired:
            fired = True
            Session.objects.filter(handle=slid).update(expires_at=now + timedelta(days=100))
        return execute(sql, *args)

    with connection.execute_wrapper(refresh_first):
        out = run("supertokens_cleanup")

    assert fired
    assert list(Session.objects.values_list("handle", flat=True)) == [slid]
    assert not Session.objects.filter(handle__in=others).exists()
    assert out.startswith("Deleted 3 expired sessions,")


#: How many transactions wait for a lock this connection's transaction holds.
WAITING_FOR_ME = {
    "postgresql": (
        "SELECT count(*) FROM pg_locks WHERE NOT granted"
        " AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
    ),
    "mysql": (
        "SELECT count(*) FROM information_schema.innodb_lock_waits AS w"
        " JOIN information_schema.innodb_trx AS t ON t.trx_id = w.blocking_trx_id"
        " WHERE t.trx_mysql_thread_id = CONNECTION_ID()"
    ),
}


def waiting_for_my_row_lock() -> bool:
    sql = WAITING_FOR_ME[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(sql)
        (count,) = cursor.fetchone()
    return bool(count)


@pytest.mark.server_database  # SQLite has one writer at a time
@pytest.mark.django_db(transaction=True)
def test_cleanup_spares_a_session_refreshed_while_the_delete_waits_for_it(now: datetime) -> None:
    """The expiry is re-checked on the version of the row the DELETE removes.

    A refresh (in a thread, on its own connection) has slid the expiry and still holds the row
    when the cleanup's DELETE, which picked the row by its old expiry, reaches it; the refresh
    commits only once the DELETE waits for the row. The DELETE must then leave it. SQLite has one
    writer at a time: no refresh can hold a row while a DELETE runs.
    """
    (slid,) = make_sessions(1, now)
    others = make_sessions(3, now - timedelta(hours=1))
    holding = threading.Event()
    problems: list[BaseException] = []

    def refresh() -> None:
        try:
            with transaction.atomic():
                Session.objects.filter(handle=slid).update(expires_at=now + timedelta(days=100))
                holding.set()
                deadline = time.monotonic() + 30
                while not waiting_for_my_row_lock():
                    if time.monotonic() > deadline:
                        raise TimeoutError("the cleanup never waited for the refreshed row")
                    # MariaDB refreshes its lock tables only after 0.1 s without a read of them.
                    time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            problems.append(exc)
        finally:
            holding.set()
            connections.close_all()  # this thread's connection only

    thread = threading.Thread(target=refresh, daemon=True)
    thread.start()
    assert holding.wait(30)
    out = run("supertokens_cleanup")
    thread.join(30)

    assert not problems, problems
    assert list(Session.objects.values_list("handle", flat=True)) == [slid]
    assert not Session.objects.filter(handle__in=others).exists()
    assert out.startswith("Deleted 3 expired sessions,")


def test_cleanup_deletes_signing_keys_that_no_longer_verify(now: datetime) -> None:
    old = keyring.ensure_keys(now - timedelta(days=30))
    keyring.reset()
    current = keyring.ensure_keys(now)
    assert old.verifies_until < now

    out = run("supertokens_cleanup")

    assert out == "Deleted 0 expired sessions, 0 revocation records, 1 signing keys.\n"
    assert list(SigningKey.objects.values_list("kid", flat=True)) == [current.kid]
    keyring.reset()
    assert keyring.signing_material(now).kid == current.kid


def test_cleanup_leaves_tokens_of_live_sessions_working(now: datetime, user: User) -> None:
    tokens = engine.create_session(user)

    run("supertokens_cleanup")

    assert engine.verify_access_token(tokens.access_token.token, check_database=True)
    assert engine.refresh_session(tokens.refresh_token.token).session.get_user_id() == str(user.pk)


@pytest.mark.parametrize("size", ["0", "-5", "many", "30001"])
def test_cleanup_rejects_a_bad_batch_size(size: str) -> None:
    with pytest.raises(CommandError, match="batch-size"):
        call_command("supertokens_cleanup", "--batch-size", size)


# ------------------------------------------------------------------------- supertokens_rotate_keys


def test_rotate_keys_creates_the_first_key_and_prints_it(now: datetime) -> None:
    out = run("supertokens_rotate_keys")

    (key,) = SigningKey.objects.all()
    assert out.splitlines()[0] == (
        f"Current signing key {key.kid} (RS256), signs until "
        f"{key.signs_until.isoformat(timespec='seconds')}."
    )
    assert key.signs_from <= now < key.signs_until
    # A week away from rotation: the successor is not published yet.
    announce = key.signs_until - timedelta(hours=1)
    assert out.splitlines()[1] == (
        f"The next key will be published from {announce.isoformat(timespec='seconds')}."
    )


def test_rotate_keys_is_idempotent(now: datetime) -> None:
    first = run("supertokens_rotate_keys")
    keyring.reset()  # as if it ran in another process
    second = run("supertokens_rotate_keys")

    assert first == second
    assert SigningKey.objects.count() == 1


def test_rotate_keys_announces_the_successor_in_time(
    now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = keyring.ensure_keys(now)
    later = current.signs_until - timedelta(minutes=30)  # inside the one-hour announce period
    monkeypatch.setattr(engine, "_now", lambda: later)

    out = run("supertokens_rotate_keys")

    successor = SigningKey.objects.get(generation=current.generation + 1)
    assert successor.signs_from == current.signs_until
    assert out.splitlines() == [
        f"Current signing key {current.kid} (RS256), signs until "
        f"{current.signs_until.isoformat(timespec='seconds')}.",
        f"Next key {successor.kid} is published and signs from "
        f"{successor.signs_from.isoformat(timespec='seconds')}.",
    ]
    assert {k["kid"] for k in keyring.jwks(later)["keys"]} == {current.kid, successor.kid}


def test_rotate_keys_force_publishes_a_key_that_signs_shortly_and_the_old_key_keeps_verifying(
    now: datetime, user: User
) -> None:
    tokens = engine.create_session(user)
    (old,) = SigningKey.objects.all()
    assert jwt.get_unverified_header(tokens.access_token.token)["kid"] == old.kid

    out = run("supertokens_rotate_keys", "--force")

    new = SigningKey.objects.exclude(kid=old.kid).get()
    assert new.generation == old.generation + 1
    assert new.signs_from == now + FORCED_KEY_NOTICE  # published before it signs
    assert out == (
        f"New signing key {new.kid} (RS256) is published and signs from "
        f"{new.signs_from.isoformat(timespec='seconds')} until "
        f"{new.signs_until.isoformat(timespec='seconds')}.\n"
    )
    # Tokens signed with the previous key stay valid; new ones are signed with the new key.
    keyring.reset()
    assert engine.verify_access_token(tokens.access_token.token).get_user_id() == str(user.pk)
    assert keyring.signing_material(now).kid == old.kid
    assert keyring.signing_material(new.signs_from).kid == new.kid


def test_rotate_keys_force_retire_old_refuses_the_old_keys_tokens_once_the_new_key_signs(
    now: datetime, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a key that may have leaked: what it signed is refused from the switch on, and the
    session goes on with a refresh (the refresh token does not depend on the signing keys)."""
    tokens = engine.create_session(user)
    (old,) = SigningKey.objects.all()

    out = run("supertokens_rotate_keys", "--force", "--retire-old")

    new = SigningKey.objects.exclude(kid=old.kid).get()
    switch = now + FORCED_KEY_NOTICE
    assert new.signs_from == switch
    old.refresh_from_db()
    assert (old.signs_until, old.verifies_until) == (switch, switch)
    assert out == (
        f"New signing key {new.kid} (RS256) signs from "
        f"{switch.isoformat(timespec='seconds')}; every other key stops verifying then.\n"
    )
    # Until the switch the old key still signs and verifies: no request fails in between.
    assert engine.verify_access_token(tokens.access_token.token).get_user_id() == str(user.pk)
    assert keyring.signing_material(switch - timedelta(microseconds=1)).kid == old.kid
    # From the switch on its tokens are refused, in a process that had verified one (its
    # verified-token cache included) as in a fresh one...
    monkeypatch.setattr(engine, "_now", lambda: switch)
    with pytest.raises(TryRefreshToken):
        engine.verify_access_token(tokens.access_token.token)
    keyring.reset()
    with pytest.raises(TryRefreshToken):
        engine.verify_access_token(tokens.access_token.token)
    # ...and the refresh brings the session back, signed with the new key.
    refreshed = engine.refresh_session(tokens.refresh_token.token)
    assert jwt.get_unverified_header(refreshed.access_token.token)["kid"] == new.kid
    assert engine.verify_access_token(refreshed.access_token.token).get_user_id() == str(user.pk)


def test_rotate_keys_retire_old_without_force_is_refused(now: datetime) -> None:
    with pytest.raises(CommandError, match="--retire-old goes with --force"):
        call_command("supertokens_rotate_keys", "--retire-old")
    assert not SigningKey.objects.exists()


def test_rotate_keys_uses_the_configured_algorithm(now: datetime, settings: Settings) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "EdDSA"}

    out = run("supertokens_rotate_keys")

    (key,) = SigningKey.objects.all()
    assert key.algorithm == "EdDSA"
    assert out.startswith(f"Current signing key {key.kid} (EdDSA),")


def test_rotate_keys_with_a_static_key_creates_nothing(now: datetime, settings: Settings) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": HS256_SECRET}

    out = run("supertokens_rotate_keys", "--force")

    kid = keyring.signing_material(now).kid
    assert out == f"STATIC_SIGNING_KEY is set: nothing to rotate. Current key {kid} (HS256).\n"
    assert not SigningKey.objects.exists()


def test_rotate_keys_reports_a_static_key_that_does_not_load(settings: Settings) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "short"}

    with pytest.raises(CommandError, match="at least 32 bytes"):
        call_command("supertokens_rotate_keys")


# --------------------------------------------------------------------------- supertokens_revoke


@pytest.fixture
def revocations() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    session_revoked.connect(receiver)
    yield received
    session_revoked.disconnect(receiver)


def test_revoke_user_revokes_all_their_sessions_as_admin(
    now: datetime, user: User, other_user: User, revocations: list[dict[str, Any]]
) -> None:
    mine = {engine.create_session(user).session.get_handle() for _ in range(3)}
    theirs = engine.create_session(other_user).session.get_handle()

    out = run("supertokens_revoke", "--user", str(user.pk))

    assert out == "Revoked 3 sessions.\n"
    assert list(Session.objects.values_list("handle", flat=True)) == [uuid.UUID(theirs)]
    records = RevokedSession.objects.all()
    assert {str(r.handle) for r in records} == mine
    assert {(r.reason, r.revoked_by, r.subject) for r in records} == {
        (RevocationReason.ADMIN, "manage.py", str(user.pk))
    }
    assert {r["handle"] for r in revocations} == mine
    assert {r["reason"] for r in revocations} == {RevocationReason.ADMIN}


def test_revoke_handles(now: datetime, user: User, other_user: User) -> None:
    first = engine.create_session(user).session.get_handle()
    second = engine.create_session(other_user).session.get_handle()
    kept = engine.create_session(user).session.get_handle()

    out = run("supertokens_revoke", "--handle", first, "--handle", second, "--verbosity", "2")

    lines = out.splitlines()
    assert lines[0] == "Revoked 2 sessions."
    assert set(lines[1:]) == {first, second}
    assert list(Session.objects.values_list("handle", flat=True)) == [uuid.UUID(kept)]


def test_revoke_one_handle(now: datetime, user: User) -> None:
    handle = engine.create_session(user).session.get_handle()

    assert run("supertokens_revoke", "--handle", handle.upper()) == "Revoked 1 session.\n"
    assert not Session.objects.exists()


def test_revoke_unknown_handle_or_user_revokes_nothing(now: datetime, user: User) -> None:
    engine.create_session(user)

    assert run("supertokens_revoke", "--handle", str(uuid.uuid4())) == "Revoked 0 sessions.\n"
    assert run("supertokens_revoke", "--user", "nobody") == "Revoked 0 sessions.\n"
    assert Session.objects.count() == 1
    assert not RevokedSession.objects.exists()


def test_revoked_access_token_is_refused_at_once_with_blacklisting(
    now: datetime, user: User, settings: Settings
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    tokens = engine.create_session(user)
    engine.verify_access_token(tokens.access_token.token)

    run("supertokens_revoke", "--handle", tokens.session.get_handle())

    with pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)
    with pytest.raises(Unauthorised):
        engine.refresh_session(tokens.refresh_token.token)


def test_revoke_several_handles_after_one_option(now: datetime, user: User) -> None:
    first, second = (engine.create_session(user).session.get_handle() for _ in range(2))

    assert run("supertokens_revoke", "--handle", first, second) == "Revoked 2 sessions.\n"
    assert not Session.objects.exists()


def test_revoke_from_code_with_call_commands_keyword_arguments(
    now: datetime, user: User, other_user: User
) -> None:
    """``call_command`` hands keyword options over as they are: a handle as one string, several
    as a list, a user id as the primary key (an int)."""
    one, two, three = (engine.create_session(other_user).session.get_handle() for _ in range(3))
    engine.create_session(user)
    out = StringIO()

    call_command("supertokens_revoke", handle=one, stdout=out)
    call_command("supertokens_revoke", handle=[two, three], stdout=out)
    call_command("supertokens_revoke", user=user.pk, stdout=out)

    assert out.getvalue().splitlines() == [
        "Revoked 1 session.",
        "Revoked 2 sessions.",
        "Revoked 1 session.",
    ]
    assert not Session.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("supertokens_cleanup",),
        ("supertokens_cleanup", "--dry-run"),
        ("supertokens_rotate_keys",),
        ("supertokens_rotate_keys", "--force"),
        ("supertokens_rotate_keys", "--force", "--retire-old"),
        ("supertokens_revoke", "--user", "nobody"),
    ],
)
def test_commands_are_silent_at_verbosity_0(now: datetime, args: tuple[str, ...]) -> None:
    # What cron runs: anything on stdout would be mailed after every run.
    assert run(*args, "--verbosity", "0") == ""


def test_revoke_from_code_refuses_a_bool_for_a_user(now: datetime, user: User) -> None:
    engine.create_session(user)
    with pytest.raises(CommandError, match="user id"):
        call_command("supertokens_revoke", user=True)
    assert Session.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of the arguments --user --handle is required"),
        (("--user", "1", "--handle", str(uuid.uuid4())), "not allowed with argument"),
        (("--handle", "not-a-handle"), re.escape("'not-a-handle' is not a session handle")),
        (("--user", ""), "non-empty string"),
    ],
)
def test_revoke_rejects_bad_arguments(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("supertokens_revoke", *args)
