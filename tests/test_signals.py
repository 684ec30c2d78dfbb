"""signals.py: what the engine announces, with which arguments, once the database has changed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.dispatch import Signal

from supertokens_django import engine
from supertokens_django.engine import RequestMeta
from supertokens_django.exceptions import TokenTheftDetected, Unauthorised
from supertokens_django.models import RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.signals import (
    session_created,
    session_refreshed,
    session_revoked,
    token_theft_detected,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("warm_keyring")]


class Recorder:
    """Every call of one signal, with what the database looked like at that moment."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, signal: Signal, **kwargs: Any) -> None:
        handle = kwargs["handle"]
        kwargs["sender"] = sender
        kwargs["row_exists"] = SessionRow.objects.filter(handle=handle).exists()
        kwargs["revoked_record"] = RevokedSession.objects.filter(handle=handle).exists()
        self.calls.append(kwargs)


@pytest.fixture
def record() -> Iterator[Any]:
    connected: list[tuple[Signal, Recorder]] = []

    def attach(signal: Signal) -> Recorder:
        recorder = Recorder()
        signal.connect(recorder, weak=False)
        connected.append((signal, recorder))
        return recorder

    yield attach
    for signal, recorder in connected:
        signal.disconnect(recorder)


def test_session_created(record: Any) -> None:
    created = record(session_created)
    marker = object()
    tokens = engine.create_session("user-1", request=marker)
    (call,) = created.calls
    assert call["sender"] is SessionRow
    assert call["handle"] == tokens.session.get_handle()
    assert call["user_id"] == "user-1"
    assert call["request"] is marker
    assert call["row_exists"]


def test_session_refreshed_says_whether_it_promoted(record: Any) -> None:
    refreshed = record(session_refreshed)
    tokens = engine.create_session("user-1")
    child = engine.refresh_session(tokens.refresh_token.token)
    engine.refresh_session(child.refresh_token.token)
    assert [c["promoted"] for c in refreshed.calls] == [False, True]
    assert {c["handle"] for c in refreshed.calls} == {tokens.session.get_handle()}
    assert {c["user_id"] for c in refreshed.calls} == {"user-1"}
    assert all(c["sender"] is SessionRow and c["request"] is None for c in refreshed.calls)


def test_session_revoked_after_the_row_is_gone(record: Any) -> None:
    revoked = record(session_revoked)
    handle = engine.create_session("user-1").session.get_handle()
    engine.revoke_session(handle, reason="admin", revoked_by="staff:3")
    (call,) = revoked.calls
    assert (call["handle"], call["user_id"], call["reason"], call["revoked_by"]) == (
        handle,
        "user-1",
        "admin",
        "staff:3",
    )
    assert not call["row_exists"] and call["revoked_record"]


def test_session_revoked_once_per_session_and_never_for_nothing(record: Any) -> None:
    revoked = record(session_revoked)
    handles = {engine.create_session("user-1").session.get_handle() for _ in range(3)}
    engine.revoke_all_sessions_for_user("user-1")
    assert {c["handle"] for c in revoked.calls} == handles and len(revoked.calls) == 3
    assert {c["reason"] for c in revoked.calls} == {"all-for-user"}
    engine.revoke_all_sessions_for_user("user-1")
    engine.revoke_session(next(iter(handles)))
    assert len(revoked.calls) == 3


def test_token_theft_detected(record: Any) -> None:
    revoked = record(session_revoked)
    thefts = record(token_theft_detected)
    tokens = engine.create_session("user-9")
    child = engine.refresh_session(tokens.refresh_token.token)
    engine.refresh_session(child.refresh_token.token)
    meta = RequestMeta(ip_address="198.51.100.4", user_agent="attacker")
    marker = object()
    with pytest.raises(TokenTheftDetected):
        engine.refresh_session(tokens.refresh_token.token, meta=meta, request=marker)
    (call,) = thefts.calls
    assert call["sender"] is SessionRow
    assert (call["handle"], call["user_id"]) == (tokens.session.get_handle(), "user-9")
    assert call["request_meta"] == meta
    assert call["request"] is marker
    assert not call["row_exists"] and call["revoked_record"]
    assert [c["reason"] for c in revoked.calls] == ["theft"]


def test_forged_token_sends_nothing(record: Any) -> None:
    signals = [record(s) for s in (session_refreshed, session_revoked, token_theft_detected)]
    tokens = engine.create_session("user-1")
    with pytest.raises(Unauthorised):
        engine.refresh_session(tokens.refresh_token.token[:-2] + "xx")
    assert all(recorder.calls == [] for recorder in signals)
