"""models.py: the tables, their querysets, indexes, and the one initial migration."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from supertokens_django.models import RevokedSession, SigningKey
from supertokens_django.models import Session as SessionRow

NOW = timezone.now()


def make_session(subject: str = "u1", *, expires_in: timedelta = timedelta(days=1)) -> SessionRow:
    return SessionRow.objects.create(
        subject=subject, refresh_token_hash_2="0" * 64, expires_at=NOW + expires_in
    )


@pytest.mark.django_db
def test_no_migration_is_missing() -> None:
    out = StringIO()
    call_command(
        "makemigrations", "supertokens_django", "--check", "--dry-run", stdout=out, stderr=out
    )
    assert "No changes detected" in out.getvalue()


def test_there_is_one_initial_migration() -> None:
    import supertokens_django.migrations as migrations

    folder = Path(migrations.__file__).parent
    assert sorted(p.name for p in folder.glob("*.py")) == ["0001_initial.py", "__init__.py"]


@pytest.mark.django_db
def test_session_queryset_active_expired_for_user() -> None:
    live = make_session("u1")
    gone = make_session("u1", expires_in=-timedelta(seconds=1))
    other = make_session("u2")
    assert set(SessionRow.objects.active(NOW)) == {live, other}
    assert set(SessionRow.objects.expired(NOW)) == {gone}
    assert set(SessionRow.objects.for_user("u1")) == {live, gone}
    assert set(SessionRow.objects.active().for_user("u1")) == {live}
    assert live.is_active and not gone.is_active
    assert str(live) == f"u1 ({live.handle})"


@pytest.mark.django_db
def test_revoked_session_queryset_and_str() -> None:
    old = RevokedSession.objects.create(
        handle=uuid.uuid4(), subject="u", reason="logout", expires_at=NOW - timedelta(seconds=1)
    )
    new = RevokedSession.objects.create(
        handle=uuid.uuid4(), subject="u", reason="theft", expires_at=NOW + timedelta(hours=1)
    )
    assert list(RevokedSession.objects.expired(NOW)) == [old]
    assert str(new) == f"{new.handle} (theft)"


@pytest.mark.django_db
def test_signing_key_str_never_shows_the_key() -> None:
    key = SigningKey(kid="abc", generation=1, algorithm="RS256", private_key="v1:secret")
    assert str(key) == "abc (RS256)"


@pytest.mark.django_db
def test_every_lookup_has_an_index() -> None:
    """Lookups the app makes: handle (pk), subject + expires_at, expires_at (clean-up),
    revoked handle, record expiry, key validity."""
    with connection.cursor() as cursor:

        def indexed_columns(model: type) -> list[list[str]]:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
            return [
                c["columns"]
                for c in constraints.values()
                if c["index"] or c["unique"] or c["primary_key"]
            ]

        sessions = indexed_columns(SessionRow)
        revoked = indexed_columns(RevokedSession)
        keys = indexed_columns(SigningKey)
    assert ["handle"] in sessions
    assert ["subject", "expires_at"] in sessions
    assert ["expires_at"] in sessions
    assert ["user_id"] in sessions
    assert ["handle"] in revoked
    assert ["expires_at"] in revoked
    assert ["subject"] in revoked
    assert ["generation"] in keys
    assert ["verifies_until"] in keys


@pytest.mark.django_db
def test_deleting_a_user_deletes_their_sessions_and_keeps_the_blacklist(user: User) -> None:
    SessionRow.objects.create(
        user=user, subject=str(user.pk), refresh_token_hash_2="0" * 64, expires_at=NOW
    )
    record = RevokedSession.objects.create(
        handle=uuid.uuid4(), subject=str(user.pk), user=user, reason="admin", expires_at=NOW
    )
    user.delete()
    assert not SessionRow.objects.exists()
    record.refresh_from_db()
    assert record.user is None and record.subject
