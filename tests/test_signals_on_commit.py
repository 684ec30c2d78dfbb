"""Inside a caller's transaction, signals and the blacklist cache wait for the commit.

``signals.py`` promises signals "after the change has committed", and the cache's ``"1"`` is
written "after the revocation commits". Under ``ATOMIC_REQUESTS`` (or an admin form, or any
``transaction.atomic`` around our calls) the change commits with the caller's transaction, or
not at all: a rolled-back revocation must leave no signal behind and no ``"1"`` refusing a live
session for an hour. Theft stays as it was (at once; the middleware confirms it after the view).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.db import transaction
from django.dispatch import Signal
from pytest_django import Settings

from supertokens_django import blacklist, engine
from supertokens_django.exceptions import TokenTheftDetected, Unauthorised
from supertokens_django.models import RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.signals import (
    session_created,
    session_refreshed,
    session_revoked,
    token_theft_detected,
)
from tests.conftest import MonotonicClock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("warm_keyring")]


class Boom(Exception):
    pass


@pytest.fixture
def received() -> Iterator[list[tuple[Signal, dict[str, Any]]]]:
    """Every engine signal sent during the test, in order."""
    got: list[tuple[Signal, dict[str, Any]]] = []
    signals = (session_created, session_refreshed, session_revoked, token_theft_detected)

    def receiver(sender: Any, signal: Signal, **kwargs: Any) -> None:
        got.append((signal, kwargs))

    for signal in signals:
        signal.connect(receiver, weak=False, dispatch_uid="test_signals_on_commit")
    yield got
    for signal in signals:
        signal.disconnect(dispatch_uid="test_signals_on_commit")


@pytest.fixture
def cached(settings: Settings) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"}
    caches["blacklist"].clear()


def sent(received: list[tuple[Signal, dict[str, Any]]], signal: Signal) -> list[str]:
    return [kwargs["handle"] for s, kwargs in received if s is signal]


@pytest.mark.usefixtures("cached")
def test_a_revocation_that_rolls_back_sends_nothing_and_caches_nothing(
    received: list[tuple[Signal, dict[str, Any]]],
) -> None:
    tokens = engine.create_session("user-1")
    handle = tokens.session.get_handle()
    with pytest.raises(Boom), transaction.atomic():  # ATOMIC_REQUESTS, an admin form...
        assert engine.revoke_session(handle)
        raise Boom
    assert SessionRow.objects.filter(handle=handle).exists()  # the session is live
    assert sent(received, session_revoked) == []
    assert caches["blacklist"].get(blacklist.cache_key(handle)) != blacklist.REVOKED
    assert engine.verify_access_token(tokens.access_token.token).get_handle() == handle


@pytest.mark.usefixtures("cached")
def test_a_revocation_that_commits_is_announced_once_after_the_commit(
    received: list[tuple[Signal, dict[str, Any]]],
) -> None:
    tokens = engine.create_session("user-1")
    handle = tokens.session.get_handle()
    with transaction.atomic():
        assert engine.revoke_all_sessions_for_user("user-1") == [handle]
        assert sent(received, session_revoked) == []  # not yet committed
        assert caches["blacklist"].get(blacklist.cache_key(handle)) is None
    assert sent(received, session_revoked) == [handle]
    assert caches["blacklist"].get(blacklist.cache_key(handle)) == blacklist.REVOKED
    with pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)


def test_outside_a_transaction_signals_go_out_before_the_call_returns(
    received: list[tuple[Signal, dict[str, Any]]],
) -> None:
    handle = engine.create_session("user-1").session.get_handle()
    assert sent(received, session_created) == [handle]
    assert engine.revoke_session(handle)
    assert sent(received, session_revoked) == [handle]


def test_a_login_that_rolls_back_sends_nothing(
    received: list[tuple[Signal, dict[str, Any]]],
) -> None:
    with pytest.raises(Boom), transaction.atomic():
        engine.create_session("user-1")
        raise Boom
    assert received == []
    with transaction.atomic():
        handle = engine.create_session("user-1").session.get_handle()
        assert received == []
    assert sent(received, session_created) == [handle]


def test_a_refresh_that_rolls_back_sends_nothing(
    received: list[tuple[Signal, dict[str, Any]]],
) -> None:
    tokens = engine.create_session("user-1")
    child = engine.refresh_session(tokens.refresh_token.token)
    received.clear()
    with pytest.raises(Boom), transaction.atomic():
        engine.refresh_session(child.refresh_token.token)  # promotes the child
        raise Boom
    assert received == []
    with transaction.atomic():
        engine.refresh_session(child.refresh_token.token)
        assert received == []
    assert [(s, kw["promoted"]) for s, kw in received] == [(session_refreshed, True)]


def test_theft_is_announced_at_once(received: list[tuple[Signal, dict[str, Any]]]) -> None:
    """As before: the middleware revokes again after a view whose transaction rolled back
    (``engine.confirm_theft``), so the signals need not wait for a commit."""
    tokens = engine.create_session("user-1")
    handle = tokens.session.get_handle()
    child = engine.refresh_session(tokens.refresh_token.token)
    engine.refresh_session(child.refresh_token.token)  # the child is promoted: parent stale
    received.clear()
    with pytest.raises(TokenTheftDetected), transaction.atomic():
        try:
            engine.refresh_session(tokens.refresh_token.token)
        finally:
            assert sent(received, token_theft_detected) == [handle]
            assert sent(received, session_revoked) == [handle]
    assert not RevokedSession.objects.filter(handle=handle).exists()  # rolled back...
    engine.confirm_theft(handle)  # ...and made again after the view
    assert RevokedSession.objects.filter(handle=handle).exists()


def test_bounded_the_revoking_process_refuses_from_inside_the_transaction(
    bounded: MonotonicClock,
) -> None:
    handle = engine.create_session("user-1").session.get_handle()
    with transaction.atomic():
        assert engine.revoke_session(handle)
        assert blacklist.local_verdicts.get(handle, bounded.now, 1.0) is True
        # Another thread of this process checks before the commit, and reads "live".
        bounded.now += 0.5
        blacklist.local_verdicts.put(handle, bounded.now, False)
    # The commit marks the handle again: refused at once here, not a bound later.
    assert blacklist.local_verdicts.get(handle, bounded.now, 1.0) is True


def test_bounded_a_rolled_back_revocation_fails_closed_for_at_most_the_bound(
    bounded: MonotonicClock,
) -> None:
    tokens = engine.create_session("user-1")
    handle = tokens.session.get_handle()
    with pytest.raises(Boom), transaction.atomic():
        assert engine.revoke_session(handle)
        raise Boom
    with pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)
    bounded.now += 1.0
    assert engine.verify_access_token(tokens.access_token.token).get_handle() == handle
