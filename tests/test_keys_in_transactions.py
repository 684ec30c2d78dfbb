"""A signing key stored inside a caller's transaction is the process's only once it commits.

Under ``ATOMIC_REQUESTS`` the first signature of a deployment (or one in the announce window)
stores its key inside the view's transaction. Until that commits no other process can load the
key, and if it rolls back nobody ever can: the process must not share it with its other threads,
nor keep it after a rollback.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.db import transaction
from pytest_django import Settings

from supertokens_django import engine
from supertokens_django.keys import KeyRing, announce_period
from supertokens_django.models import SigningKey


class Boom(Exception):
    pass


def kid_of(tokens: engine.SessionTokens) -> str:
    return str(jwt.get_unverified_header(tokens.access_token.token)["kid"])


def shared_kids(ring: KeyRing) -> set[str]:
    """The keys the process shares between its threads and requests."""
    state = ring._state
    return set() if state is None else set(state.by_kid)


@pytest.mark.django_db
def test_a_first_key_rolled_back_with_the_request_is_not_used(keyring: KeyRing, clock: Any) -> None:
    with pytest.raises(Boom), transaction.atomic():  # ATOMIC_REQUESTS, and the view fails
        tokens = engine.create_session("user-1")
        kid = kid_of(tokens)
        assert kid not in shared_kids(keyring)  # its own call signs with it, nobody else yet
        assert kid_of(engine.create_session("user-1")) == kid  # nor a second one needs another
        raise Boom
    assert not SigningKey.objects.exists()

    later = engine.create_session("user-2")  # a later, successful request
    assert kid_of(later) != kid
    assert SigningKey.objects.filter(kid=kid_of(later)).exists()
    assert KeyRing().resolve(kid_of(later), clock.now) is not None  # another process has it


@pytest.mark.django_db
def test_a_successor_rolled_back_with_the_request_is_announced_again(
    settings: Settings, keyring: KeyRing, clock: Any
) -> None:
    settings.SUPERTOKENS = {"SIGNING_KEY_ROTATION_INTERVAL": timedelta(days=1)}
    signer = keyring.signing_material(clock.now)
    clock.advance(timedelta(days=1) - announce_period(timedelta(days=1)) + timedelta(seconds=1))
    with pytest.raises(Boom), transaction.atomic():
        assert engine.create_session("user-1").access_token.token  # announces a successor
        assert SigningKey.objects.count() == 2
        assert shared_kids(keyring) == {signer.kid}
        raise Boom
    assert SigningKey.objects.count() == 1
    assert shared_kids(keyring) == {signer.kid}  # no successor believed to exist

    engine.create_session("user-2")
    successor = SigningKey.objects.get(generation=2)  # announced again, and committed
    assert shared_kids(keyring) == {signer.kid, successor.kid}


@pytest.mark.django_db(transaction=True)
def test_a_key_is_shared_once_its_transaction_commits(keyring: KeyRing, clock: Any) -> None:
    with transaction.atomic():
        tokens = engine.create_session("user-1")
        kid = kid_of(tokens)
        assert kid not in shared_kids(keyring)
    assert kid not in keyring._uncommitted
    # The token signed inside the transaction verifies here at once (no reload interval to
    # wait for), and in every other process.
    assert engine.verify_access_token(tokens.access_token.token).get_handle()
    assert kid in shared_kids(keyring)
    assert KeyRing().resolve(kid, clock.now) is not None
    assert kid_of(engine.create_session("user-2")) == kid
    assert SigningKey.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_key_is_shared_at_once(keyring: KeyRing, clock: Any) -> None:
    kid = kid_of(engine.create_session("user-1"))
    assert shared_kids(keyring) == {kid}
