"""Reads the engine decides with go to the primary, not to a replica behind it.

With Django's documented primary/replica router, ``router.db_for_read`` names a replica that may
lag. Here the "replica" alias is a second SQLite database that never catches up by itself: what
the engine finds only there, or misses only there, it read from the wrong place.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from pytest_django import Settings

from supertokens_django import engine
from supertokens_django.exceptions import ServiceUnavailable, Unauthorised
from supertokens_django.keys import KeyRing
from supertokens_django.models import Session as SessionRow
from supertokens_django.models import SigningKey

pytestmark = [
    pytest.mark.django_db(databases=["default", "replica"]),
]


class PrimaryReplicaRouter:
    """Django's documented pattern: reads from the replica, writes to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "replica"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True


@pytest.fixture
def replica_router(settings: Settings) -> None:
    settings.DATABASE_ROUTERS = [f"{__name__}.PrimaryReplicaRouter"]


@pytest.fixture
def signed_in(warm_keyring: KeyRing, replica_router: None) -> engine.SessionTokens:
    """A session whose row the replica already has (it caught up with the login)."""
    tokens = engine.create_session("user-1", session_data={"a": 1}, jwt_payload={"b": 2})
    SessionRow.objects.using("default").get(handle=tokens.session.get_handle()).save(
        using="replica", force_insert=True
    )
    return tokens


def test_blacklisting_refuses_a_revoked_session(
    settings: Settings, signed_in: engine.SessionTokens
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}  # no cache: one query on RevokedSession
    assert engine.revoke_session(signed_in.session.get_handle())  # committed on the primary
    with pytest.raises(Unauthorised):
        engine.verify_access_token(signed_in.access_token.token)


def test_check_database_refuses_a_revoked_session(signed_in: engine.SessionTokens) -> None:
    assert engine.revoke_session(signed_in.session.get_handle())
    with pytest.raises(Unauthorised):
        engine.verify_access_token(signed_in.access_token.token, check_database=True)


def test_data_by_handle_of_a_revoked_session_is_refused(signed_in: engine.SessionTokens) -> None:
    handle = signed_in.session.get_handle()
    assert engine.revoke_session(handle)
    for read in (engine.get_session_data, engine.get_jwt_payload):
        with pytest.raises(Unauthorised):
            read(handle)
    for aread in (engine.aget_session_data, engine.aget_jwt_payload):
        with pytest.raises(Unauthorised):
            async_to_sync(aread)(handle)
    assert engine.get_all_session_handles_for_user("user-1") == []
    assert async_to_sync(engine.aget_all_session_handles_for_user)("user-1") == []


def test_data_by_handle_of_a_new_session_is_found(
    warm_keyring: KeyRing, replica_router: None
) -> None:
    handle = engine.create_session("user-1", session_data={"a": 1}).session.get_handle()
    assert engine.get_session_data(handle) == {"a": 1}
    assert async_to_sync(engine.aget_session_data)(handle) == {"a": 1}
    assert engine.get_all_session_handles_for_user("user-1") == [handle]


def test_a_key_stored_by_another_process_is_loaded_from_the_primary(
    keyring: KeyRing, clock: Any, replica_router: None
) -> None:
    material = keyring.signing_material(clock.now)  # "another process" stores the key
    assert SigningKey.objects.using("default").filter(kid=material.kid).exists()
    assert KeyRing().resolve(material.kid, clock.now) is not None


def test_a_rotation_reads_the_generations_on_the_primary(
    keyring: KeyRing, clock: Any, replica_router: None
) -> None:
    first = keyring.signing_material(clock.now)
    # A fresh process must see generation 1 on the primary, or it collides with it three times.
    try:
        rotated = KeyRing().ensure_keys(clock.now, force=True)
    except ServiceUnavailable:  # pragma: no cover - the failure this test guards against
        pytest.fail("the rotation read the generations from the replica")
    assert rotated.kid != first.kid
    assert rotated.generation == 2
