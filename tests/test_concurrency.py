"""Races with real threads on a real database (PROTOCOL.md §8): SQLite file, PostgreSQL, MariaDB.

Every worker thread waits at a barrier, then calls the engine on a connection of its own, and
closes it at the end. The rounds are few (CI has two cores); the reliability suite repeats them.
On SQLite the test settings use ``transaction_mode: "IMMEDIATE"``: a refresh takes the write lock
at ``BEGIN``, so concurrent refreshes queue instead of failing to upgrade a read lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from supertokens_django import engine
from supertokens_django.engine import SessionTokens
from supertokens_django.exceptions import TokenTheftDetected, Unauthorised
from supertokens_django.models import RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.session import Session
from tests.races import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("warm_keyring"),
    pytest.mark.slow,
]

ROUNDS = 5
WORKERS = 20


def test_many_refreshes_of_one_token_all_succeed(thefts: list[str]) -> None:
    for _ in range(ROUNDS):
        tokens = engine.create_session("user-1")
        handle = tokens.session.get_handle()
        stored = SessionRow.objects.get(handle=handle).refresh_token_hash_2
        token = tokens.refresh_token.token
        outcomes = race(WORKERS, lambda _i, token=token: engine.refresh_session(token))
        assert all(isinstance(o, SessionTokens) for o in outcomes), outcomes
        assert len({o.refresh_token.token for o in outcomes}) == WORKERS
        assert SessionRow.objects.filter(handle=handle).count() == 1
        assert SessionRow.objects.get(handle=handle).refresh_token_hash_2 == stored
        assert thefts == [] and not RevokedSession.objects.exists()
        # Using one child supersedes its siblings: refreshing with another is theft.
        engine.verify_access_token(outcomes[0].access_token.token)
        with pytest.raises(TokenTheftDetected):
            engine.refresh_session(outcomes[1].refresh_token.token)
        assert thefts == [handle]
        thefts.clear()
        RevokedSession.objects.all().delete()


def test_many_first_uses_of_one_access_token_promote_once(thefts: list[str]) -> None:
    for _ in range(ROUNDS):
        tokens = engine.create_session("user-1")
        child = engine.refresh_session(tokens.refresh_token.token)
        access = child.access_token.token
        outcomes = race(WORKERS // 2, lambda _i, access=access: engine.verify_access_token(access))
        assert all(isinstance(o, Session) for o in outcomes), outcomes
        assert all(o.new_access_token is not None for o in outcomes)
        handle = tokens.session.get_handle()
        promoted = engine.sha256_hex(engine.sha256_hex(child.refresh_token.token))
        assert SessionRow.objects.get(handle=handle).refresh_token_hash_2 == promoted
        engine.refresh_session(child.refresh_token.token)  # the promoted token is current
        assert thefts == []


def test_many_refreshes_of_an_unused_child_promote_once(thefts: list[str]) -> None:
    for _ in range(ROUNDS):
        tokens = engine.create_session("user-1")
        child = engine.refresh_session(tokens.refresh_token.token)
        token = child.refresh_token.token
        outcomes = race(WORKERS // 2, lambda _i, token=token: engine.refresh_session(token))
        assert all(isinstance(o, SessionTokens) for o in outcomes), outcomes
        assert thefts == []
        with pytest.raises(TokenTheftDetected):
            engine.refresh_session(tokens.refresh_token.token)
        thefts.clear()


def _revoke_one(tokens: SessionTokens) -> Any:
    return engine.revoke_session(tokens.session.get_handle())


def _revoke_all(tokens: SessionTokens) -> Any:
    return engine.revoke_all_sessions_for_user(tokens.session.get_user_id())


def _password_change(tokens: SessionTokens) -> Any:
    user = User.objects.get(pk=tokens.session.get_user_id())
    user.set_password("changed")
    user.save()


@pytest.mark.parametrize(
    "revoke", [_revoke_one, _revoke_all, _password_change], ids=["revoke", "all", "password"]
)
def test_refresh_racing_revoke_never_brings_the_session_back(
    revoke: Callable[[SessionTokens], Any], user: User, thefts: list[str]
) -> None:
    for _ in range(ROUNDS):
        tokens = engine.create_session(user)
        handle = tokens.session.get_handle()
        # Refresh with an unused child, so that the racing refresh writes (promotes).
        child = engine.refresh_session(tokens.refresh_token.token)

        def act(index: int, tokens: SessionTokens = tokens, child: SessionTokens = child) -> Any:
            if index == 0:
                return revoke(tokens)
            return engine.refresh_session(child.refresh_token.token)

        outcomes = race(4, act)
        assert not isinstance(outcomes[0], BaseException), outcomes[0]
        for outcome in outcomes[1:]:
            assert isinstance(outcome, (SessionTokens, Unauthorised)), outcome
        assert not SessionRow.objects.filter(handle=handle).exists()
        assert RevokedSession.objects.filter(handle=handle).exists()
        # Whatever the losing refreshes minted is dead.
        for outcome in outcomes[1:]:
            if isinstance(outcome, SessionTokens):
                with pytest.raises(Unauthorised):
                    engine.refresh_session(outcome.refresh_token.token)
                with pytest.raises(Unauthorised):
                    engine.verify_access_token(outcome.access_token.token)
        assert thefts == []


def test_first_use_racing_revoke_never_brings_the_session_back() -> None:
    for _ in range(ROUNDS):
        tokens = engine.create_session("user-1")
        handle = tokens.session.get_handle()
        child = engine.refresh_session(tokens.refresh_token.token)

        def act(index: int, handle: str = handle, child: SessionTokens = child) -> Any:
            if index == 0:
                return engine.revoke_session(handle)
            return engine.verify_access_token(child.access_token.token)

        outcomes = race(3, act)
        assert outcomes[0] is True
        for outcome in outcomes[1:]:
            assert isinstance(outcome, (Session, Unauthorised)), outcome
        assert not SessionRow.objects.filter(handle=handle).exists()


def test_create_burst_for_one_user(user: User) -> None:
    outcomes = race(WORKERS // 2, lambda _i: engine.create_session(user))
    assert all(isinstance(o, SessionTokens) for o in outcomes), outcomes
    handles = {o.session.get_handle() for o in outcomes}
    assert len(handles) == WORKERS // 2
    assert set(engine.get_all_session_handles_for_user(user)) == handles
