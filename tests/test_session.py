"""session.py: the ``Session`` object (``request.supertokens``) and its database-call column.

| method                 | database call | here                                   |
|------------------------|---------------|----------------------------------------|
| get_user_id()          | never         | 0 queries                              |
| get_jwt_payload()      | never         | 0 queries                              |
| update_jwt_payload(new)| every call    | 1 UPDATE, and a new access token queued|
| get_session_data()     | every call    | 1 SELECT                               |
| update_session_data()  | every call    | 1 UPDATE                               |
| revoke_session()       | yes           | 1 transaction                          |
| get_handle()           | never         | 0 queries                              |
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoAssertNumQueries
from pytest_django import Settings as SettingsWrapper

from supertokens_django import engine
from supertokens_django.exceptions import InvalidSessionData, Unauthorised
from supertokens_django.models import RevocationReason, RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.session import Session
from tests.conftest import Clock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("warm_keyring")]


def verified(user: Any = "user-1", **kwargs: Any) -> Session:
    """A session as a view sees it: verified from its access token, nothing resolved yet."""
    tokens = engine.create_session(user, **kwargs)
    return engine.verify_access_token(tokens.access_token.token)


def get_user_by_username(user_id: str) -> User | None:
    """A ``USER_GETTER`` for the tests: user ids are usernames."""
    return User.objects.filter(username=user_id).first()


def test_methods_that_never_touch_the_database(
    django_assert_num_queries: DjangoAssertNumQueries, clock: Clock
) -> None:
    session = verified("user-1", jwt_payload={"role": "admin"})
    with django_assert_num_queries(0):
        for _ in range(3):
            assert session.get_user_id() == "user-1"
            assert session.get_jwt_payload() == {"role": "admin"}
            assert len(session.get_handle()) == 36
            assert session.get_expiry() == clock.now + timedelta(hours=1)
            assert session.get_time_created() == clock.now
            payload = session.get_access_token_payload()
    assert payload["sub"] == "user-1" and payload["role"] == "admin"
    assert payload["sessionHandle"] == session.get_handle()
    assert repr(session) == f"<Session {session.get_handle()} of user 'user-1'>"


def test_get_jwt_payload_is_a_copy() -> None:
    session = verified(jwt_payload={"a": 1})
    session.get_jwt_payload()["a"] = 2
    assert session.get_jwt_payload() == {"a": 1}


def test_session_data_every_call_hits_the_database(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    session = verified(session_data={"cart": []})
    for _ in range(2):
        with django_assert_num_queries(1):
            assert session.get_session_data() == {"cart": []}
    for n in range(2):
        with django_assert_num_queries(1):
            session.update_session_data({"cart": [n]})
    assert session.get_session_data() == {"cart": [1]}
    assert session.new_access_token is None  # session data never changes the token


def test_update_jwt_payload_stores_and_queues_a_new_access_token(
    django_assert_num_queries: DjangoAssertNumQueries, clock: Clock
) -> None:
    session = verified(jwt_payload={"role": "user"})
    original = session.access_token
    clock.advance(timedelta(minutes=10))
    # The UPDATE, and (the clock has moved on ten minutes) the key ring reading the keys again
    # before it signs (keys.SIGNER_RELOAD_INTERVAL); the call below, a moment later, only writes.
    with django_assert_num_queries(2):
        session.update_jwt_payload({"role": "admin", "org": 7})
    new = session.new_access_token
    assert new is not None and session.access_token == new
    assert new.custom_payload == {"role": "admin", "org": 7}
    assert new.refresh_token_hash1 == original.refresh_token_hash1
    assert new.parent_refresh_token_hash1 is None
    assert (new.user_id, new.handle) == (original.user_id, original.handle)
    assert new.issued_at == clock.now
    assert session.get_jwt_payload() == {"role": "admin", "org": 7}
    assert engine.get_jwt_payload(session.get_handle()) == {"role": "admin", "org": 7}
    # Replaced, not merged; and every call writes again.
    with django_assert_num_queries(1):
        session.update_jwt_payload({})
    assert session.get_jwt_payload() == {}
    assert engine.verify_access_token(session.new_access_token.token).get_jwt_payload() == {}


def test_update_jwt_payload_refuses_protected_claims_without_writing() -> None:
    session = verified(jwt_payload={"a": 1})
    with pytest.raises(InvalidSessionData, match="sessionHandle"):
        session.update_jwt_payload({"sessionHandle": "other"})
    assert session.new_access_token is None
    assert engine.get_jwt_payload(session.get_handle()) == {"a": 1}


def test_revoke_session(
    django_assert_num_queries: DjangoAssertNumQueries, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    tokens = engine.create_session("user-1")
    session = engine.verify_access_token(tokens.access_token.token)
    # SAVEPOINT, SELECT ... FOR UPDATE, DELETE, INSERT (the blacklist), RELEASE
    with django_assert_num_queries(5):
        session.revoke_session()
    assert session.revoked is True
    assert not SessionRow.objects.exists()
    assert RevokedSession.objects.get().reason == RevocationReason.LOGOUT
    # With blacklisting, the access token is refused on its very next use.
    with pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)


@pytest.mark.parametrize(
    "method",
    [
        lambda s: s.get_session_data(),
        lambda s: s.update_session_data({"x": 1}),
        lambda s: s.update_jwt_payload({"x": 1}),
    ],
    ids=["get_session_data", "update_session_data", "update_jwt_payload"],
)
def test_data_methods_on_a_session_revoked_meanwhile_are_unauthorised(method: Any) -> None:
    session = verified()
    engine.revoke_session(session.get_handle())  # e.g. by an admin, in another request
    with pytest.raises(Unauthorised) as caught:
        method(session)
    assert caught.value.clear_tokens
    assert session.new_access_token is None
    assert not SessionRow.objects.exists()  # the update did not bring it back


def test_revoke_twice_is_harmless() -> None:
    session = verified()
    session.revoke_session()
    session.revoke_session()
    assert RevokedSession.objects.count() == 1


def test_get_user_from_creation_needs_no_query(
    user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    session = engine.create_session(user).session
    with django_assert_num_queries(0):
        assert session.get_user() == user


def test_get_user_is_resolved_lazily_once(
    user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    session = verified(user)
    with django_assert_num_queries(1):
        assert session.get_user() == user
        assert session.get_user() == user


def test_get_user_of_an_external_id_is_none(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    session = verified("auth0|abc")
    with django_assert_num_queries(0):  # not a primary key of User: not even a query
        assert session.get_user() is None


def test_get_user_of_a_deleted_user_is_none(user: User) -> None:
    session = engine.verify_access_token(engine.create_session(user).access_token.token)
    User.objects.filter(pk=user.pk).delete()
    assert session.get_user() is None


def test_user_getter_setting(settings: SettingsWrapper, user: User) -> None:
    settings.SUPERTOKENS = {"USER_GETTER": "tests.test_session.get_user_by_username"}
    assert verified("alice").get_user() == user
    assert verified("nobody").get_user() is None
