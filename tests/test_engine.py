"""engine.py: create, refresh (rotation with theft detection, PROTOCOL.md §8), verify, revoke,
data by handle, DB faults.

Query counts: inside pytest-django's ``db`` fixture every test runs in a transaction, so each
``atomic()`` of the engine shows up as ``SAVEPOINT`` + ``RELEASE SAVEPOINT`` around its
statements (in production it is ``BEGIN`` + ``COMMIT``, which Django does not log except SQLite's
``BEGIN IMMEDIATE``). The counts below are exact for the ``db`` fixture on every backend; where
it matters, the statements themselves are checked too. The engine reads without a lock only
outside a transaction (production without ``ATOMIC_REQUESTS``): the tests of that path are marked
``django_db(transaction=True)``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries
from pytest_django import Settings as SettingsWrapper

from supertokens_django import engine
from supertokens_django.engine import RequestMeta, SessionTokens
from supertokens_django.exceptions import (
    InvalidSessionData,
    ServiceUnavailable,
    TokenTheftDetected,
    TryRefreshToken,
    Unauthorised,
)
from supertokens_django.models import RevocationReason, RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.signals import token_theft_detected
from supertokens_django.tokens import mint_refresh_token, parse_refresh_token, sha256_hex
from tests.conftest import Clock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("warm_keyring")]

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DATA_STATEMENTS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def new(user: Any = "user-1", **kwargs: Any) -> SessionTokens:
    return engine.create_session(user, **kwargs)


def rt(tokens: SessionTokens) -> str:
    return tokens.refresh_token.token


def row(tokens: SessionTokens) -> SessionRow:
    return SessionRow.objects.get(handle=tokens.session.get_handle())


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


def h2(token: str) -> str:
    return sha256_hex(sha256_hex(token))


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The data statements among ``queries``, as their first keyword (SELECT, UPDATE...)."""
    verbs = [q["sql"].lstrip().split(None, 1)[0].upper() for q in queries.captured_queries]
    return [v for v in verbs if v in DATA_STATEMENTS]


def savepoints(queries: CaptureQueriesContext) -> int:
    return sum(q["sql"].lstrip().upper().startswith("SAVEPOINT") for q in queries.captured_queries)


@contextmanager
def database_fault(*verbs: str) -> Iterator[list[str]]:
    """Every data statement (or those starting with ``verbs``) fails, as if the server went away.

    The block runs in a savepoint of its own: a failed statement marks the enclosing atomic block
    (here the test's transaction) for rollback, and the test wants to look at the data after.
    """
    failed: list[str] = []

    def fail(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb in (verbs or DATA_STATEMENTS):
            failed.append(verb)
            raise OperationalError("injected: server closed the connection unexpectedly")
        return execute(sql, params, many, ctx)

    with transaction.atomic(), connection.execute_wrapper(fail):
        yield failed


@pytest.fixture
def thefts() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    token_theft_detected.connect(receiver)
    yield received
    token_theft_detected.disconnect(receiver)


# --------------------------------------------------------------------------- create


def test_create_with_a_user_records_the_row(user: User, clock: Clock) -> None:
    meta = RequestMeta(ip_address="203.0.113.7", user_agent="Mozilla/5.0 (X11)")
    tokens = new(user, jwt_payload={"role": "x"}, session_data={"cart": [1]}, meta=meta)
    session_row = row(tokens)
    assert session_row.user == user
    assert session_row.subject == str(user.pk)
    assert session_row.refresh_token_hash_2 == h2(rt(tokens))
    assert session_row.session_data == {"cart": [1]}
    assert session_row.jwt_payload == {"role": "x"}
    assert session_row.created_at == session_row.last_active_at == clock.now
    assert session_row.expires_at == clock.now + timedelta(days=100)
    assert session_row.ip_address == "203.0.113.7"
    assert session_row.user_agent == "Mozilla/5.0 (X11)"
    # The result carries everything the response needs.
    access = tokens.access_token
    assert access.user_id == str(user.pk)
    assert access.handle == str(session_row.handle)
    assert access.refresh_token_hash1 == sha256_hex(rt(tokens))
    assert access.parent_refresh_token_hash1 is None
    assert access.custom_payload == {"role": "x"}
    assert access.expires_at == clock.now + HOUR
    assert tokens.refresh_token.expires_at == session_row.expires_at
    assert tokens.anti_csrf_token is None
    assert tokens.session.get_user() == user


def test_create_with_a_user_id_string(clock: Clock) -> None:
    tokens = new("external|42")
    session_row = row(tokens)
    assert session_row.user is None
    assert session_row.subject == "external|42"
    assert session_row.ip_address is None and session_row.user_agent == ""
    assert session_row.session_data == {} and session_row.jwt_payload == {}
    assert tokens.access_token.user_id == "external|42"


def test_create_records_an_ipv6_address_and_truncates_the_user_agent() -> None:
    tokens = new(meta=RequestMeta(ip_address="2001:db8::1", user_agent="A" * 600))
    assert row(tokens).ip_address == "2001:db8::1"
    assert row(tokens).user_agent == "A" * 512


@pytest.mark.parametrize(
    "ip", ["not-an-ip", "203.0.113.7, 10.0.0.1", "203.0.113.7:5678", "", "999.1.1.1"]
)
def test_an_address_that_does_not_parse_is_not_recorded(ip: str) -> None:
    """A proxy middleware gone wrong must not turn every login into an error."""
    assert row(new(meta=RequestMeta(ip_address=ip))).ip_address is None


def test_a_user_agent_the_database_cannot_store_is_cleaned() -> None:
    tokens = new(meta=RequestMeta(user_agent="curl\x00/8 \ud800 é"))
    assert row(tokens).user_agent == "curl/8 ? é"


BAD_USER_ID = re.escape(
    "a user id must be a non-empty string of at most 255 characters, an int or a UUID, or a user"
)
BAD_USER_IDS = {
    "empty": "",
    "256 chars": "x" * 256,
    "None": None,
    "bytes": b"bytes",
    "True": True,
    "False": False,
    "1.0": 1.0,
    "1.5": 1.5,
    "301 digits": 10**300,
    "list": ["1"],
    "object": object(),
}


@pytest.mark.parametrize("bad", BAD_USER_IDS.values(), ids=BAD_USER_IDS.keys())
def test_create_refuses_bad_user_ids(bad: Any) -> None:
    with pytest.raises(ValueError, match=BAD_USER_ID):
        new(bad)
    assert not SessionRow.objects.exists()


@pytest.mark.parametrize("bad", BAD_USER_IDS.values(), ids=BAD_USER_IDS.keys())
def test_listing_and_revoking_refuse_bad_user_ids(bad: Any) -> None:
    new("True")  # not what True means: True is refused, not turned into a string
    for call in (engine.get_all_session_handles_for_user, engine.revoke_all_sessions_for_user):
        with pytest.raises(ValueError, match=BAD_USER_ID):
            call(bad)
    assert SessionRow.objects.count() == 1


SOME_UUID = uuid.UUID("6f1c2a4e-4b8e-4a8e-9a57-3f0d2b1c9e11")


@pytest.mark.parametrize(
    ("user_id", "subject"),
    [(1, "1"), (0, "0"), (-7, "-7"), (2**63, str(2**63)), (SOME_UUID, str(SOME_UUID))],
)
def test_create_with_an_int_or_uuid_user_id(user_id: int | uuid.UUID, subject: str) -> None:
    """``user.pk`` as it is: its ``str()``, exactly as that string would be. Not looked up: the
    session links no user row, as for any id string."""
    tokens = new(user_id)

    session_row = row(tokens)
    assert session_row.subject == subject
    assert session_row.user is None
    assert tokens.access_token.user_id == tokens.session.get_user_id() == subject
    assert engine.get_all_session_handles_for_user(subject) == [tokens.session.get_handle()]


def test_a_primary_key_finds_the_sessions_of_its_user(user: User, other_user: User) -> None:
    mine = {new(user).session.get_handle() for _ in range(2)}
    mine.add(new(str(user.pk)).session.get_handle())
    mine.add(new(user.pk).session.get_handle())
    theirs = new(other_user).session.get_handle()

    assert isinstance(user.pk, int)
    assert set(engine.get_all_session_handles_for_user(user.pk)) == mine
    assert set(engine.revoke_all_sessions_for_user(user.pk)) == mine
    assert engine.get_all_session_handles_for_user(user) == []
    assert engine.get_all_session_handles_for_user(other_user.pk) == [theirs]


def test_user_ids_are_compared_exactly_on_every_database() -> None:
    """Ids that differ only by case, an accent or a trailing space are other users' (MySQL's and
    MariaDB's default collations would match them all: the migration makes the column binary)."""
    ids = ["alice", "Alice", "ALICE", "alicé", "alice ", " alice"]
    handles = {user_id: new(user_id).session.get_handle() for user_id in ids}

    for user_id in ids:
        assert engine.get_all_session_handles_for_user(user_id) == [handles[user_id]]
    assert engine.revoke_all_sessions_for_user("alice") == [handles["alice"]]
    assert sorted(SessionRow.objects.values_list("subject", flat=True)) == sorted(ids[1:])
    assert RevokedSession.objects.get().subject == "alice"
    assert RevokedSession.objects.filter(subject="Alice").count() == 0


def test_a_uuid_finds_the_sessions_of_its_id() -> None:
    handles = {new(str(SOME_UUID)).session.get_handle(), new(SOME_UUID).session.get_handle()}
    new(str(SOME_UUID).upper())  # another string: str(UUID) is the lowercase form

    assert set(engine.get_all_session_handles_for_user(SOME_UUID)) == handles
    assert set(engine.revoke_all_sessions_for_user(SOME_UUID)) == handles
    assert engine.get_all_session_handles_for_user(str(SOME_UUID)) == []


def test_create_refuses_an_unsaved_user() -> None:
    with pytest.raises(ValueError, match="saved"):
        new(User(username="ghost"))


def test_create_is_one_insert(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    with django_assert_num_queries(1) as queries:
        new(session_data={"a": 1})
    assert statements(queries) == ["INSERT"]


def test_issuer_defaults_to_api_domain_and_base_path(settings: SettingsWrapper) -> None:
    assert new().access_token.payload["iss"] == "/auth"
    settings.SUPERTOKENS = {"API_DOMAIN": "https://api.example.com/", "API_BASE_PATH": "/sso/"}
    assert new().access_token.payload["iss"] == "https://api.example.com/sso"
    assert new(issuer="https://given/auth").access_token.payload["iss"] == "https://given/auth"


def test_via_token_mode_puts_the_anti_csrf_token_in_both_tokens(
    settings: SettingsWrapper,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    tokens = new()
    assert tokens.anti_csrf_token
    assert tokens.access_token.anti_csrf_token == tokens.anti_csrf_token
    parsed = parse_refresh_token(rt(tokens), secrets_=[settings.SECRET_KEY])
    assert parsed.anti_csrf_token == tokens.anti_csrf_token


def test_a_signing_key_problem_leaves_no_row(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "short"}
    with pytest.raises(ValueError):
        new()
    assert not SessionRow.objects.exists()


# --------------------------------------------------------------------------- refresh


def test_refresh_with_the_current_token_mints_a_child_and_leaves_the_row(clock: Clock) -> None:
    tokens = new("user-1", jwt_payload={"role": "x"})
    before = row(tokens)
    clock.advance(HOUR)
    child = engine.refresh_session(rt(tokens))
    after = row(tokens)
    assert (after.refresh_token_hash_2, after.expires_at, after.last_active_at) == (
        before.refresh_token_hash_2,
        before.expires_at,
        before.last_active_at,
    )
    parsed = parse_refresh_token(rt(child), secrets_=engine.server_secrets())
    assert parsed.handle == tokens.session.get_handle()
    assert parsed.parent_hash1 == sha256_hex(rt(tokens))
    access = child.access_token
    assert access.parent_refresh_token_hash1 == sha256_hex(rt(tokens))
    assert access.refresh_token_hash1 == sha256_hex(rt(child))
    assert access.custom_payload == {"role": "x"}
    assert access.issued_at == clock.now
    assert child.refresh_token.expires_at == clock.now + timedelta(days=100)


def test_lost_response_is_harmless(clock: Clock) -> None:
    """Refreshing twice with the same token: both succeed; either child can carry on."""
    tokens = new()
    first = engine.refresh_session(rt(tokens))  # the response is lost
    second = engine.refresh_session(rt(tokens))
    assert rt(first) != rt(second)
    assert row(tokens).refresh_token_hash_2 == h2(rt(tokens))
    third = engine.refresh_session(rt(second))
    assert row(tokens).refresh_token_hash_2 == h2(rt(second))
    engine.refresh_session(rt(third))


def test_promotion_by_refreshing_with_the_child(clock: Clock) -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    clock.advance(DAY)
    grandchild = engine.refresh_session(rt(child))
    promoted = row(tokens)
    assert promoted.refresh_token_hash_2 == h2(rt(child))
    assert promoted.expires_at == clock.now + timedelta(days=100)
    assert promoted.last_active_at == clock.now
    assert grandchild.access_token.parent_refresh_token_hash1 == sha256_hex(rt(child))


def test_promotion_by_the_first_use_of_the_child_access_token(clock: Clock) -> None:
    tokens = new(jwt_payload={"v": 1})
    child = engine.refresh_session(rt(tokens))
    clock.advance(timedelta(minutes=5))
    session = engine.verify_access_token(child.access_token.token)
    promoted = row(tokens)
    assert promoted.refresh_token_hash_2 == h2(rt(child))
    assert promoted.last_active_at == clock.now
    # Five minutes is less than a step (1 % of the lifetime): the expiry stays where it was.
    assert promoted.expires_at == clock.now - timedelta(minutes=5) + timedelta(days=100)
    # The replacement has no parent hash, the same refresh-token hash and the same claims.
    replacement = session.new_access_token
    assert replacement is not None
    assert replacement.parent_refresh_token_hash1 is None
    assert replacement.refresh_token_hash1 == sha256_hex(rt(child))
    assert replacement.custom_payload == {"v": 1}
    assert session.access_token == replacement
    # The replacement is the steady state.
    steady = engine.verify_access_token(replacement.token)
    assert steady.new_access_token is None


def test_a_parallel_first_use_is_also_replaced() -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    first = engine.verify_access_token(child.access_token.token)
    second = engine.verify_access_token(child.access_token.token)
    assert first.new_access_token is not None
    assert second.new_access_token is not None


@pytest.mark.parametrize("use_child", ["access-token", "refresh"])
def test_deterministic_theft(use_child: str, clock: Clock, thefts: list[dict[str, Any]]) -> None:
    """PROTOCOL.md §8: log in → RT0; refresh → RT1; use RT1; present RT0 again → theft."""
    tokens = new("user-7")
    handle = tokens.session.get_handle()
    rt0 = rt(tokens)
    first = engine.refresh_session(rt0)
    if use_child == "access-token":
        engine.verify_access_token(first.access_token.token)  # promotes RT1
        newest = rt(first)
    else:
        newest = rt(engine.refresh_session(rt(first)))  # promotes RT1, mints RT2
    with pytest.raises(TokenTheftDetected) as caught:
        engine.refresh_session(rt0)
    assert (caught.value.handle, caught.value.user_id) == (handle, "user-7")
    assert caught.value.clear_tokens
    assert not SessionRow.objects.filter(handle=handle).exists()
    record = RevokedSession.objects.get(handle=handle)
    assert record.reason == RevocationReason.THEFT
    assert record.subject == "user-7"
    # Kept a week for the admin's overview, far longer than any access token could live.
    assert record.expires_at - record.revoked_at == engine.THEFT_RECORD_RETENTION
    assert [(t["handle"], t["user_id"]) for t in thefts] == [(handle, "user-7")]
    # Afterwards both the stolen token and the newest one are refused.
    for token in (rt0, newest):
        with pytest.raises(Unauthorised):
            engine.refresh_session(token)
    assert len(thefts) == 1


def test_theft_with_the_access_token_of_the_first_child(thefts: list[dict[str, Any]]) -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    engine.verify_access_token(child.access_token.token)
    with pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(tokens))
    with pytest.raises(Unauthorised):
        engine.refresh_session(rt(child))
    assert len(thefts) == 1


def test_theft_with_a_sibling_after_the_other_child_was_used() -> None:
    tokens = new()
    one = engine.refresh_session(rt(tokens))
    other = engine.refresh_session(rt(tokens))
    engine.refresh_session(rt(one))  # promotes `one`
    with pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(other))


def test_theft_records_the_user_link(user: User) -> None:
    tokens = new(user)
    engine.refresh_session(rt(engine.refresh_session(rt(tokens))))
    with pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(tokens))
    assert RevokedSession.objects.get().user == user


def test_forged_and_garbled_refresh_tokens_never_revoke(
    settings: SettingsWrapper, thefts: list[dict[str, Any]]
) -> None:
    tokens = new()
    handle = tokens.session.get_handle()
    engine.refresh_session(rt(engine.refresh_session(rt(tokens))))  # the lineage moved on
    forged = [
        # A token for this session from a deployment with another SECRET_KEY...
        mint_refresh_token(handle=handle, parent_hash1=None, anti_csrf_token=None, secret="x"),
        # ...claiming the current token as its parent, which would promote it if accepted.
        mint_refresh_token(
            handle=handle,
            parent_hash1=sha256_hex(rt(tokens)),
            anti_csrf_token=None,
            secret="another-deployment",
        ),
    ]
    garbled = [rt(tokens)[:-2], rt(tokens) + "x", "", "a.b", rt(tokens).replace(".", "")]
    for token in [f.token for f in forged] + garbled:
        with pytest.raises(Unauthorised):
            engine.refresh_session(token)
    assert SessionRow.objects.filter(handle=handle).exists()
    assert not RevokedSession.objects.exists()
    assert thefts == []


def test_genuine_token_of_an_unknown_session_is_unauthorised(settings: SettingsWrapper) -> None:
    token = mint_refresh_token(
        handle="0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a",
        parent_hash1=None,
        anti_csrf_token=None,
        secret=settings.SECRET_KEY,
    )
    with pytest.raises(Unauthorised) as caught:
        engine.refresh_session(token.token)
    assert caught.value.clear_tokens


def test_refresh_token_signed_with_a_fallback_secret_key_still_refreshes(
    settings: SettingsWrapper,
) -> None:
    tokens = new()
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "the-rotated-secret-key"
    settings.SECRET_KEY_FALLBACKS = [old]
    child = engine.refresh_session(rt(tokens))
    # New tokens are MACed with the new key only.
    parse_refresh_token(rt(child), secrets_=["the-rotated-secret-key"])


def test_expired_session_is_unauthorised(clock: Clock, thefts: list[dict[str, Any]]) -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    clock.advance(timedelta(days=100))
    for token in (rt(tokens), rt(child)):
        with pytest.raises(Unauthorised):
            engine.refresh_session(token)
    with pytest.raises(TryRefreshToken):
        engine.verify_access_token(child.access_token.token)
    assert thefts == []


@pytest.mark.parametrize("promote", ["refresh", "access token"])
def test_a_promotion_slides_the_expiry_in_steps_of_one_percent_of_the_lifetime(
    clock: Clock, promote: str, settings: SettingsWrapper
) -> None:
    """Leaving ``expires_at`` (indexed) alone makes the promotion's UPDATE a HOT update on
    PostgreSQL; the row expires at most one step (1 % of the lifetime) early."""
    # A step (30 minutes) shorter than the access token's hour, for the access-token promotion.
    lifetime = timedelta(hours=50)
    settings.SUPERTOKENS = {"REFRESH_TOKEN_LIFETIME": lifetime}
    step = lifetime * engine.EXPIRY_SLIDE_STEP
    tokens = new()
    current = rt(tokens)
    for advance, slid in ((step - timedelta(seconds=1), False), (step, True)):
        before = row(tokens).expires_at
        child = engine.refresh_session(current)
        clock.advance(advance)
        if promote == "refresh":
            current = rt(engine.refresh_session(rt(child)))
        else:
            engine.verify_access_token(child.access_token.token)
            current = rt(child)
        after = row(tokens)
        assert after.refresh_token_hash_2 == h2(rt(child))
        assert after.expires_at == (clock.now + lifetime if slid else before)
        assert after.expires_at >= clock.now + lifetime - step


def test_sliding_expiry_keeps_an_active_session_alive(clock: Clock) -> None:
    tokens = new()
    current = rt(tokens)
    for _ in range(3):
        clock.advance(timedelta(days=60))
        child = engine.refresh_session(current)
        current = rt(engine.refresh_session(rt(child)))  # promote the child
    assert row(tokens).expires_at == clock.now + timedelta(days=100)


def test_revoked_session_refresh_is_unauthorised_not_theft(
    thefts: list[dict[str, Any]],
) -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    engine.revoke_session(tokens.session.get_handle())
    for token in (rt(tokens), rt(child)):
        with pytest.raises(Unauthorised):
            engine.refresh_session(token)
    assert thefts == []


def test_refresh_checks_the_anti_csrf_token_in_via_token_mode(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    tokens = new()
    for wrong in (None, "", "wrong"):
        with pytest.raises(Unauthorised) as caught:
            engine.refresh_session(rt(tokens), anti_csrf_token=wrong, check_anti_csrf=True)
        assert not caught.value.clear_tokens
    child = engine.refresh_session(
        rt(tokens), anti_csrf_token=tokens.anti_csrf_token, check_anti_csrf=True
    )
    assert child.anti_csrf_token and child.anti_csrf_token != tokens.anti_csrf_token
    assert child.access_token.anti_csrf_token == child.anti_csrf_token


def test_refresh_sees_the_payload_stored_by_handle() -> None:
    tokens = new(jwt_payload={"plan": "free"})
    engine.update_jwt_payload(tokens.session.get_handle(), {"plan": "pro"})
    assert engine.refresh_session(rt(tokens)).access_token.custom_payload == {"plan": "pro"}


# --------------------------------------------------------------------------- verify


def test_steady_state_verification_needs_no_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    token = new(jwt_payload={"a": 1}).access_token.token
    with django_assert_num_queries(0):
        session = engine.verify_access_token(token)
    assert session.get_jwt_payload() == {"a": 1}
    assert session.new_access_token is None


def test_access_token_expiry_and_leeway(clock: Clock) -> None:
    token = new().access_token.token
    clock.advance(HOUR)
    engine.verify_access_token(token)  # exp == now: within the 1 s leeway
    clock.advance(timedelta(seconds=1))
    with pytest.raises(TryRefreshToken):
        engine.verify_access_token(token)


def test_verify_checks_the_anti_csrf_token_in_via_token_mode(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    tokens = new()
    token = tokens.access_token.token
    with pytest.raises(TryRefreshToken):
        engine.verify_access_token(token, anti_csrf_token="wrong", check_anti_csrf=True)
    engine.verify_access_token(token, anti_csrf_token=tokens.anti_csrf_token, check_anti_csrf=True)
    engine.verify_access_token(token)  # not asked for (GET)


def test_revoked_session_token_lives_until_exp_without_blacklisting() -> None:
    tokens = new()
    engine.revoke_session(tokens.session.get_handle())
    assert engine.verify_access_token(tokens.access_token.token).get_user_id() == "user-1"


def test_check_database_reissues_when_the_payload_changed(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    tokens = new(jwt_payload={"plan": "free"})
    handle = tokens.session.get_handle()
    with django_assert_num_queries(1):
        unchanged = engine.verify_access_token(tokens.access_token.token, check_database=True)
    assert unchanged.new_access_token is None
    engine.update_jwt_payload(handle, {"plan": "pro"})
    with django_assert_num_queries(1):
        session = engine.verify_access_token(tokens.access_token.token, check_database=True)
    assert session.new_access_token is not None
    assert session.get_jwt_payload() == {"plan": "pro"}
    assert session.new_access_token.refresh_token_hash1 == tokens.access_token.refresh_token_hash1
    assert session.new_access_token.parent_refresh_token_hash1 is None


def test_check_database_refuses_a_revoked_session() -> None:
    tokens = new()
    engine.revoke_session(tokens.session.get_handle())
    with pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token, check_database=True)


def test_check_database_with_a_custom_iss_claim_is_stable() -> None:
    """``iss`` may be set by the application; a token carrying it is not re-issued forever."""
    tokens = new(jwt_payload={"iss": "https://issuer.example"})
    assert tokens.access_token.payload["iss"] == "https://issuer.example"
    session = engine.verify_access_token(tokens.access_token.token, check_database=True)
    assert session.new_access_token is None


def test_first_use_after_refresh_of_a_revoked_session_is_unauthorised() -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    engine.revoke_session(tokens.session.get_handle())
    with pytest.raises(Unauthorised):
        engine.verify_access_token(child.access_token.token)


# --------------------------------------------------------------------------- blacklisting


def test_blacklisting_without_cache_costs_one_query(
    settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    tokens = new()
    with django_assert_num_queries(1) as queries:
        engine.verify_access_token(tokens.access_token.token)
    assert statements(queries) == ["SELECT"]
    engine.revoke_session(tokens.session.get_handle())
    with django_assert_num_queries(1), pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)


def test_blacklisting_with_cache_costs_no_query_once_the_cache_answers(
    settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    from django.core.cache import caches

    caches["blacklist"].clear()
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"}
    tokens = new()
    token = tokens.access_token.token
    with django_assert_num_queries(1):
        engine.verify_access_token(token)  # first look: the database, then cached
    with django_assert_num_queries(0):
        engine.verify_access_token(token)
    engine.revoke_session(tokens.session.get_handle())
    with django_assert_num_queries(0), pytest.raises(Unauthorised):
        engine.verify_access_token(token)
    caches["blacklist"].clear()


@pytest.mark.usefixtures("dead_cache")
def test_blacklisting_cache_fault_falls_back_to_the_database(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    tokens = new()
    with django_assert_num_queries(1):
        engine.verify_access_token(tokens.access_token.token)
    assert engine.revoke_session(tokens.session.get_handle())  # the cache write fails quietly
    with django_assert_num_queries(1), pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)


def test_blacklisting_database_fault_is_service_unavailable(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    token = new().access_token.token
    with database_fault(), pytest.raises(ServiceUnavailable):
        engine.verify_access_token(token)


def test_blacklist_records_live_as_long_as_an_access_token(clock: Clock) -> None:
    tokens = new()
    engine.revoke_session(tokens.session.get_handle())
    record = RevokedSession.objects.get()
    assert record.revoked_at == clock.now
    assert record.expires_at == clock.now + HOUR + timedelta(seconds=1)


# --------------------------------------------------------------------------- faults


def test_refresh_database_fault_is_service_unavailable_and_harmless(
    thefts: list[dict[str, Any]],
) -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    before = row(tokens).refresh_token_hash_2
    for verbs in [(), ("UPDATE",)]:
        with database_fault(*verbs), pytest.raises(ServiceUnavailable):
            engine.refresh_session(rt(child))  # would promote
    assert row(tokens).refresh_token_hash_2 == before
    assert thefts == []
    engine.refresh_session(rt(child))  # after recovery, the same token works


def test_theft_write_fault_is_service_unavailable_and_keeps_the_session() -> None:
    tokens = new()
    engine.refresh_session(rt(engine.refresh_session(rt(tokens))))
    with database_fault("DELETE"), pytest.raises(ServiceUnavailable):
        engine.refresh_session(rt(tokens))
    assert row(tokens)
    with pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(tokens))


def test_create_database_fault_is_service_unavailable() -> None:
    with database_fault(), pytest.raises(ServiceUnavailable):
        new()
    assert not SessionRow.objects.exists()


def test_promotion_database_fault_is_service_unavailable() -> None:
    tokens = new()
    child = engine.refresh_session(rt(tokens))
    with database_fault(), pytest.raises(ServiceUnavailable):
        engine.verify_access_token(child.access_token.token)
    assert engine.verify_access_token(child.access_token.token).new_access_token is not None


@pytest.mark.parametrize(
    "call",
    [
        lambda h: engine.revoke_session(h),
        lambda h: engine.revoke_multiple_sessions([h]),
        lambda h: engine.revoke_all_sessions_for_user("user-1"),
        lambda h: engine.get_all_session_handles_for_user("user-1"),
        lambda h: engine.get_session_data(h),
        lambda h: engine.update_session_data(h, {}),
        lambda h: engine.get_jwt_payload(h),
        lambda h: engine.update_jwt_payload(h, {}),
    ],
    ids=[
        "revoke",
        "revoke-many",
        "revoke-all",
        "list",
        "get-data",
        "update-data",
        "get-payload",
        "update-payload",
    ],
)
def test_handle_functions_fail_closed_on_database_faults(call: Callable[[str], Any]) -> None:
    handle = new().session.get_handle()
    with database_fault(), pytest.raises(ServiceUnavailable):
        call(handle)
    assert SessionRow.objects.filter(handle=handle).exists()


# --------------------------------------------------------------------------- revoke


def test_revoke_session(clock: Clock) -> None:
    tokens = new()
    handle = tokens.session.get_handle()
    assert engine.revoke_session(handle, revoked_by="admin:7") is True
    assert not SessionRow.objects.exists()
    record = RevokedSession.objects.get()
    assert (str(record.handle), record.subject, record.reason, record.revoked_by) == (
        handle,
        "user-1",
        RevocationReason.API,
        "admin:7",
    )
    assert engine.revoke_session(handle) is False
    assert RevokedSession.objects.count() == 1


@pytest.mark.parametrize("handle", ["", "nope", "0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a", None])
def test_revoke_unknown_or_malformed_handle(handle: Any) -> None:
    new()
    assert engine.revoke_session(handle) is False
    assert SessionRow.objects.count() == 1


def test_revoke_multiple_sessions_returns_what_it_revoked() -> None:
    a, b, c = new(), new(), new("user-2")
    handles = [a.session.get_handle(), b.session.get_handle()]
    revoked = engine.revoke_multiple_sessions([*handles, "garbage", handles[0].upper()])
    assert sorted(revoked) == sorted(handles)
    assert list(SessionRow.objects.values_list("subject", flat=True)) == ["user-2"]
    assert engine.revoke_multiple_sessions([]) == []
    assert engine.revoke_multiple_sessions(handles) == []
    assert c


def test_revoke_all_sessions_for_user(user: User, other_user: User) -> None:
    mine = {new(user).session.get_handle() for _ in range(3)}
    theirs = new(other_user).session.get_handle()
    assert set(engine.revoke_all_sessions_for_user(user)) == mine
    assert list(SessionRow.objects.values_list("handle", flat=True)) == [
        SessionRow.objects.get(handle=theirs).handle
    ]
    assert set(RevokedSession.objects.values_list("reason", flat=True)) == {"all-for-user"}
    assert RevokedSession.objects.filter(user=user).count() == 3
    assert engine.revoke_all_sessions_for_user(str(user.pk)) == []


def _count(call: Callable[[], Any]) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries), statements(queries)


def test_revoke_all_costs_the_same_for_3_or_30_sessions() -> None:
    for _ in range(3):
        new("few")
    for _ in range(30):
        new("many")
    few = _count(lambda: engine.revoke_all_sessions_for_user("few"))
    many = _count(lambda: engine.revoke_all_sessions_for_user("many"))
    assert few == many
    assert few[1] == ["SELECT", "DELETE", "INSERT"]
    assert RevokedSession.objects.count() == 33


def test_revoke_multiple_costs_the_same_for_3_or_30_sessions() -> None:
    few = [new().session.get_handle() for _ in range(3)]
    many = [new().session.get_handle() for _ in range(30)]
    assert _count(lambda: engine.revoke_multiple_sessions(few)) == _count(
        lambda: engine.revoke_multiple_sessions(many)
    )


def test_get_all_session_handles_for_user_lists_every_live_session(
    user: User, clock: Clock, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """The 2020 reference returned only the first handle (a ``return`` inside the loop)."""
    old = new(user).session.get_handle()
    clock.advance(timedelta(days=99))
    live = {new(user).session.get_handle() for _ in range(4)}
    new("someone-else")
    clock.advance(timedelta(days=2))  # `old` has expired meanwhile
    with django_assert_num_queries(1):
        handles = engine.get_all_session_handles_for_user(user)
    assert set(handles) == live and len(handles) == 4
    assert old not in handles
    assert set(engine.get_all_session_handles_for_user(str(user.pk))) == live
    assert engine.get_all_session_handles_for_user("nobody") == []


def test_listing_costs_one_query_for_30_sessions(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    for _ in range(30):
        new("busy")
    with django_assert_num_queries(1):
        assert len(engine.get_all_session_handles_for_user("busy")) == 30


# --------------------------------------------------------------------------- data by handle


def test_session_data_by_handle(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    handle = new(session_data={"a": 1}).session.get_handle()
    with django_assert_num_queries(1):
        assert engine.get_session_data(handle) == {"a": 1}
    with django_assert_num_queries(1):
        engine.update_session_data(handle, {"b": [2]})
    assert engine.get_session_data(handle) == {"b": [2]}


def test_jwt_payload_by_handle_changes_the_database_only() -> None:
    tokens = new(jwt_payload={"a": 1})
    handle = tokens.session.get_handle()
    assert engine.get_jwt_payload(handle) == {"a": 1}
    engine.update_jwt_payload(handle, {"a": 2})
    assert engine.get_jwt_payload(handle) == {"a": 2}
    # The token the client holds is unchanged until its next refresh or promotion.
    assert engine.verify_access_token(tokens.access_token.token).get_jwt_payload() == {"a": 1}


@pytest.mark.parametrize(
    "call",
    [
        lambda h: engine.get_session_data(h),
        lambda h: engine.update_session_data(h, {"x": 1}),
        lambda h: engine.get_jwt_payload(h),
        lambda h: engine.update_jwt_payload(h, {"x": 1}),
    ],
    ids=["get-data", "update-data", "get-payload", "update-payload"],
)
def test_data_of_a_revoked_expired_or_unknown_session_is_unauthorised(
    call: Callable[[str], Any], clock: Clock
) -> None:
    revoked = new().session.get_handle()
    engine.revoke_session(revoked)
    expired = new().session.get_handle()
    clock.advance(timedelta(days=100))
    for handle in (revoked, expired, "not-a-handle", "0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a"):
        with pytest.raises(Unauthorised):
            call(handle)
    assert not SessionRow.objects.filter(handle=revoked).exists()  # never brought back


@pytest.mark.parametrize(
    "value",
    [
        {"unicode": "Zoë ✓ 𝄞 中文", "emoji": "🙂"},
        # Not 1e308: PostgreSQL's jsonb gives it back as a 309-digit integer literal.
        {"big": 2**64, "neg": -(2**63), "float": 1.7976931348623157, "tiny": 5e-324},
        {"nested": {"list": [None, True, False, 0, "", {}, []]}},
        {'quote"and\\backslash': "\t\n\r"},
    ],
    ids=["unicode", "numbers", "nested", "escapes"],
)
def test_session_data_round_trips_through_the_database(value: dict[str, Any]) -> None:
    handle = new(session_data=value, jwt_payload=value).session.get_handle()
    assert engine.get_session_data(handle) == value
    assert engine.get_jwt_payload(handle) == value
    engine.update_session_data(handle, value)
    assert engine.get_session_data(handle) == value


@pytest.mark.parametrize(
    "value",
    [
        {"x": float("nan")},
        {"x": "a\x00b"},
        {"x": "\ud83d"},
        {"x": nested(40)},
        ["not", "an", "object"],
    ],
    ids=["nan", "nul", "lone-surrogate", "deep", "not-object"],
)
def test_invalid_json_is_refused_before_any_write(value: Any) -> None:
    for kwargs in ({"session_data": value}, {"jwt_payload": value}):
        with pytest.raises(InvalidSessionData):
            new(**kwargs)
    assert not SessionRow.objects.exists()
    handle = new(session_data={"keep": 1}, jwt_payload={"keep": 1}).session.get_handle()
    with pytest.raises(InvalidSessionData):
        engine.update_session_data(handle, value)
    with pytest.raises(InvalidSessionData):
        engine.update_jwt_payload(handle, value)
    assert engine.get_session_data(handle) == engine.get_jwt_payload(handle) == {"keep": 1}


@pytest.mark.parametrize("claim", ["sub", "exp", "sessionHandle", "antiCsrfToken", "tId", "rsub"])
def test_protected_claims_are_refused_with_a_value_error(claim: str) -> None:
    with pytest.raises(ValueError, match="protected claims") as caught:
        new(jwt_payload={claim: "mine"})
    assert isinstance(caught.value, InvalidSessionData)
    handle = new().session.get_handle()
    with pytest.raises(InvalidSessionData, match=claim):
        engine.update_jwt_payload(handle, {claim: "mine"})


def test_size_caps(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"MAX_SESSION_DATA_BYTES": 100, "MAX_JWT_PAYLOAD_BYTES": 50}
    with pytest.raises(InvalidSessionData, match="limit is 100"):
        new(session_data={"x": "y" * 100})
    with pytest.raises(InvalidSessionData, match="limit is 50"):
        new(jwt_payload={"x": "y" * 50})
    handle = new(session_data={"x": "y" * 90}, jwt_payload={"x": "y" * 40}).session.get_handle()
    with pytest.raises(InvalidSessionData):
        engine.update_session_data(handle, {"x": "y" * 100})
    with pytest.raises(InvalidSessionData):
        engine.update_jwt_payload(handle, {"x": "y" * 50})


@pytest.mark.parametrize("text", ["a", "é", "✓", "\u2028"])
def test_default_payload_cap_keeps_the_access_token_cookie_under_4kb(
    settings: SettingsWrapper, text: str
) -> None:
    """Worst case of the defaults: RS256, ``VIA_TOKEN``, a parent hash, a 64-char user id."""
    from supertokens_django.conf import DEFAULTS

    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN", "API_DOMAIN": "https://api.example.com"}
    cap = DEFAULTS["MAX_JWT_PAYLOAD_BYTES"]
    # The largest payload of this text the cap admits.
    size = 1
    while True:
        try:
            engine.validate_jwt_payload({"p": text * (size + 1)}, max_bytes=cap)
        except InvalidSessionData:
            break
        size += 1
    tokens = new("u" * 64, jwt_payload={"p": text * size})
    child = engine.refresh_session(rt(tokens))
    for token in (tokens.access_token.token, child.access_token.token):
        assert len("sAccessToken=" + token) < 4096


# --------------------------------------------------------------------------- query counts


def promotion_statements() -> list[str]:
    """What a promotion costs: one ``UPDATE … RETURNING``, or where the database has none
    (MariaDB) the UPDATE and a SELECT of the columns it would have returned."""
    return ["UPDATE"] if connection.vendor in ("postgresql", "sqlite") else ["UPDATE", "SELECT"]


def test_refresh_that_promotes_is_one_statement(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    child = engine.refresh_session(rt(new()))
    expected = promotion_statements()
    with django_assert_num_queries(len(expected)) as queries:
        engine.refresh_session(rt(child))
    assert statements(queries) == expected and savepoints(queries) == 0


def test_first_call_after_a_refresh_is_one_statement(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    child = engine.refresh_session(rt(new()))
    expected = promotion_statements()
    with django_assert_num_queries(len(expected)) as queries:
        session = engine.verify_access_token(child.access_token.token)
    assert statements(queries) == expected and savepoints(queries) == 0
    assert session.new_access_token is not None
    with django_assert_num_queries(0):
        engine.verify_access_token(session.new_access_token.token)


def test_in_a_transaction_the_current_token_is_one_locked_select(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """The ``db`` fixture's transaction stands for a caller's (``ATOMIC_REQUESTS``): a plain read
    there may answer from an older snapshot, so the row is read under its lock."""
    tokens = new()
    with django_assert_num_queries(3) as queries:  # SAVEPOINT, SELECT ... FOR UPDATE, RELEASE
        engine.refresh_session(rt(tokens))
    assert statements(queries) == ["SELECT"] and savepoints(queries) == 1
    # (SQLite has no row locks: its transaction holds the database's write lock.)
    locked = connection.features.has_select_for_update
    assert ("FOR UPDATE" in queries.captured_queries[1]["sql"]) == locked


def test_in_a_transaction_a_parallel_first_call_reads_the_row_locked(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """The child was promoted by another request: the UPDATE matches nothing, and the read
    that follows must see the latest row, not the transaction's snapshot."""
    child = engine.refresh_session(rt(new()))
    engine.verify_access_token(child.access_token.token)
    with django_assert_num_queries(2) as queries:
        again = engine.verify_access_token(child.access_token.token)
    assert statements(queries) == ["UPDATE", "SELECT"]
    locked = connection.features.has_select_for_update
    assert ("FOR UPDATE" in queries.captured_queries[1]["sql"]) == locked
    assert again.new_access_token is not None


def test_theft_is_one_transaction(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    tokens = new()
    engine.refresh_session(rt(engine.refresh_session(rt(tokens))))
    with django_assert_num_queries(5) as queries, pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(tokens))
    assert statements(queries) == ["SELECT", "DELETE", "INSERT"] and savepoints(queries) == 1


def test_theft_of_a_child_tries_the_promotion_first(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    tokens = new()
    first, second = engine.refresh_session(rt(tokens)), engine.refresh_session(rt(tokens))
    engine.refresh_session(rt(first))  # promotes the first child: the second is superseded
    with django_assert_num_queries(6) as queries, pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(second))
    assert statements(queries) == ["UPDATE", "SELECT", "DELETE", "INSERT"]
    assert savepoints(queries) == 1


# Outside a caller's transaction (production without ATOMIC_REQUESTS): each statement commits on
# its own and reads the latest committed row, so "current" and "gone" need no lock.


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_current_token_is_one_plain_select(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    tokens = new()
    with django_assert_num_queries(1) as queries:
        child = engine.refresh_session(rt(tokens))
    assert statements(queries) == ["SELECT"]
    assert "FOR UPDATE" not in queries.captured_queries[0]["sql"]
    assert row(tokens).refresh_token_hash_2 == h2(rt(tokens))  # unchanged: nothing to write
    engine.verify_access_token(child.access_token.token)  # promotes the child
    with django_assert_num_queries(2) as queries:  # the promotion finds nothing, then the read
        engine.refresh_session(rt(child))
    assert statements(queries) == ["UPDATE", "SELECT"]
    assert row(tokens).refresh_token_hash_2 == h2(rt(child))


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_revoked_or_expired_session_is_unauthorised_without_a_lock(
    clock: Clock, thefts: list[dict[str, Any]], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    revoked, expired = new(), new()
    engine.revoke_session(revoked.session.get_handle())
    expired_child = engine.refresh_session(rt(expired))
    clock.advance(timedelta(days=100))
    for token, expected in ((rt(revoked), ["SELECT"]), (rt(expired_child), ["UPDATE", "SELECT"])):
        with django_assert_num_queries(len(expected)) as queries, pytest.raises(Unauthorised):
            engine.refresh_session(token)
        assert statements(queries) == expected
    assert thefts == []


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_theft_is_decided_under_the_lock(
    thefts: list[dict[str, Any]],
) -> None:
    tokens = new()
    first, second = engine.refresh_session(rt(tokens)), engine.refresh_session(rt(tokens))
    engine.refresh_session(rt(first))
    with CaptureQueriesContext(connection) as queries, pytest.raises(TokenTheftDetected):
        engine.refresh_session(rt(second))
    assert statements(queries) == ["UPDATE", "SELECT", "SELECT", "DELETE", "INSERT"]
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    locked = connection.features.has_select_for_update
    assert ["FOR UPDATE" in sql for sql in selects] == [False, locked]
    assert not SessionRow.objects.filter(handle=tokens.session.get_handle()).exists()
    assert [t["handle"] for t in thefts] == [tokens.session.get_handle()]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_parallel_first_call_reads_without_a_lock(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """Two requests with the same fresh access token: the second finds the child promoted
    already, reads the row and still gets a replacement; a sibling's gets none."""
    tokens = new()
    child, sibling = engine.refresh_session(rt(tokens)), engine.refresh_session(rt(tokens))
    engine.verify_access_token(child.access_token.token)
    with django_assert_num_queries(2) as queries:
        again = engine.verify_access_token(child.access_token.token)
    assert statements(queries) == ["UPDATE", "SELECT"]
    assert again.new_access_token is not None
    with django_assert_num_queries(2):
        kept = engine.verify_access_token(sibling.access_token.token)
    assert kept.new_access_token is None


def test_forged_refresh_token_costs_no_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    tokens = new()
    with django_assert_num_queries(0), pytest.raises(Unauthorised):
        engine.refresh_session(rt(tokens)[:-3] + "AAA")


# --------------------------------------------------------------------------- retries (db.py)


def _flaky(failures: int, message: str) -> tuple[list[str], Callable[..., Any]]:
    attempts: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if sql.lstrip().upper().startswith("SELECT") and len(attempts) < failures:
            attempts.append(sql)
            raise OperationalError(message)
        return execute(sql, params, many, ctx)

    return attempts, wrapper


@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried() -> None:
    tokens = new()
    attempts, flaky = _flaky(2, "database is locked")
    with connection.execute_wrapper(flaky):
        engine.refresh_session(rt(tokens))
    assert len(attempts) == 2


@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried_a_bounded_number_of_times(
    settings: SettingsWrapper, thefts: list[dict[str, Any]]
) -> None:
    settings.SUPERTOKENS = {"DATABASE_RETRIES": 2}
    tokens = new()
    attempts, flaky = _flaky(100, "database is locked")
    with connection.execute_wrapper(flaky), pytest.raises(ServiceUnavailable):
        engine.refresh_session(rt(tokens))
    assert len(attempts) == 3
    assert thefts == []
    engine.refresh_session(rt(tokens))


@pytest.mark.django_db(transaction=True)
def test_other_errors_are_not_retried() -> None:
    tokens = new()
    attempts, flaky = _flaky(100, "no such table")
    with connection.execute_wrapper(flaky), pytest.raises(ServiceUnavailable):
        engine.refresh_session(rt(tokens))
    assert len(attempts) == 1


def test_inside_an_atomic_block_nothing_is_retried() -> None:
    """A failed statement poisons the caller's transaction (ATOMIC_REQUESTS): answer at once."""
    tokens = new()
    attempts, flaky = _flaky(100, "database is locked")
    with (
        transaction.atomic(),
        connection.execute_wrapper(flaky),
        pytest.raises(ServiceUnavailable),
    ):
        engine.refresh_session(rt(tokens))
    assert len(attempts) == 1


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OperationalError(1213, "Deadlock found when trying to get lock"), True),
        (OperationalError(1205, "Lock wait timeout exceeded"), True),
        (OperationalError("database is locked"), True),
        (OperationalError(2006, "MySQL server has gone away"), False),
        (OperationalError("connection refused"), False),
    ],
    ids=repr,
)
def test_transient_error_classification(error: OperationalError, transient: bool) -> None:
    from supertokens_django.db import is_transient

    assert is_transient(error) is transient


@pytest.mark.parametrize(
    ("sqlstate", "transient"), [("40001", True), ("40P01", True), ("23505", False)]
)
def test_postgres_sqlstates_are_classified(sqlstate: str, transient: bool) -> None:
    from supertokens_django.db import is_transient

    class DriverError(Exception):
        pass

    cause = DriverError()
    cause.sqlstate = sqlstate  # type: ignore[attr-defined]
    error = OperationalError("could not serialize access")
    error.__cause__ = cause
    assert is_transient(error) is transient
