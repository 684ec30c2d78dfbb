"""Refresh-token attacks on ``POST /auth/session/refresh``, in both modes.

Two users are signed in. Forged, truncated, cross-wired and other deployments' refresh tokens
must all be "unauthorised" with the tokens cleared, and revoke nobody; a replay after rotation
is theft and revokes exactly the session the token belongs to, with the signal sent; a revoked
or expired session's token is "unauthorised". Whatever happens to alice, bob's session is
untouched.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils.crypto import salted_hmac

from supertokens_django import engine
from supertokens_django.models import RevokedSession
from supertokens_django.models import Session as SessionRow
from supertokens_django.signals import token_theft_detected
from supertokens_django.tokens import mint_refresh_token, sha256_hex
from tests.http_helpers import REFRESH
from tests.security.support import (
    REFUSED_REFRESH,
    THEFT_DETECTED,
    UNAUTHORISED,
    attack,
    b64url,
    carry,
    carry_refresh,
    db_state,
    edit_claims,
    expect,
    guard,
    json_body,
    send,
    unb64url,
    unchanged_db,
)

if TYPE_CHECKING:
    from pytest_django import Settings as SettingsWrapper

    from tests.conftest import Clock
    from tests.security.support import Browser

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def thefts() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    token_theft_detected.connect(receiver, dispatch_uid="security-suite")
    yield received
    token_theft_detected.disconnect(dispatch_uid="security-suite")


def rt(agent: Browser) -> str:
    assert agent.refresh_token is not None
    return agent.refresh_token


def body_and_mac(token: str) -> tuple[str, str]:
    body, _, mac = token.partition(".")
    return body, mac


def same_bytes_variant(token: str) -> str:
    """``token`` with the last character of its MAC changed in the two bits base64 leaves
    unused: a different string that decodes to the very same MAC bytes."""
    last = token[-1]
    variant = _ALPHABET[_ALPHABET.index(last) ^ 1]
    assert unb64url(token.split(".")[1]) == unb64url(token.split(".")[1][:-1] + variant)
    return token[:-1] + variant


def foreign_mac(body: str, key_salt: str) -> str:
    """A MAC of the body that Django itself would compute elsewhere with the same SECRET_KEY
    (``salted_hmac``, as ``django.core.signing`` does)."""
    digest = salted_hmac(key_salt, body, django_settings.SECRET_KEY, algorithm="sha256").digest()
    return f"{body}.{b64url(digest)}"


UNUSABLE: dict[str, Callable[[Browser, Browser], str]] = {
    "mac-replaced": lambda a, b: body_and_mac(rt(a))[0] + "." + b64url(secrets.token_bytes(32)),
    "mac-of-another-token": lambda a, b: body_and_mac(rt(a))[0] + "." + body_and_mac(rt(b))[1],
    "body-of-another-token": lambda a, b: body_and_mac(rt(b))[0] + "." + body_and_mac(rt(a))[1],
    "mac-cut-by-one": lambda a, b: rt(a)[:-1],
    "mac-cut-by-four": lambda a, b: rt(a)[:-4],
    "body-cut": lambda a, b: body_and_mac(rt(a))[0][:-4] + "." + body_and_mac(rt(a))[1],
    "body-only": lambda a, b: body_and_mac(rt(a))[0],
    "mac-only": lambda a, b: body_and_mac(rt(a))[1],
    "padded-mac": lambda a, b: rt(a) + "=",
    "extra-segment": lambda a, b: rt(a) + "." + body_and_mac(rt(a))[1],
    "upper-cased": lambda a, b: rt(a).upper(),
    "standard-base64": lambda a, b: rt(a).replace("-", "+").replace("_", "/") + "x+/",
    "other-deployment": lambda a, b: (
        mint_refresh_token(
            handle=a.handle, parent_hash1=None, anti_csrf_token=None, secret="another-deployment"
        ).token
    ),
    # refreshTokenHash1 is public (every access token and front-token carries it): a child
    # "minted" with it as parent hash would be promoted if the MAC did not stop it.
    "forged-child-of-current": lambda a, b: (
        mint_refresh_token(
            handle=a.handle,
            parent_hash1=a.claims["refreshTokenHash1"],
            anti_csrf_token=None,
            secret="guessed-secret",
        ).token
    ),
    "django-signer-mac": lambda a, b: foreign_mac(
        body_and_mac(rt(a))[0], "django.core.signing.Signer"
    ),
    "salted-hmac-with-our-salt": lambda a, b: foreign_mac(
        body_and_mac(rt(a))[0], "supertokens_django.tokens.refresh"
    ),
    "access-token": lambda a, b: a.access or "",
    "empty": lambda a, b: "",
    "same-bytes-different-string": lambda a, b: same_bytes_variant(rt(a)),
}


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_an_unusable_refresh_token_is_unauthorised_and_revokes_nobody(
    client: Client, alice: Browser, bob: Browser, mode: str, thefts: list[Any], name: str
) -> None:
    token = UNUSABLE[name](alice, bob)
    assert token not in (alice.refresh_token, bob.refresh_token)
    with unchanged_db():
        expect(send(client, "POST", REFRESH, **carry_refresh(token, mode)), REFUSED_REFRESH)
    assert thefts == []
    # Both genuine sessions carry on as if nothing happened.
    for agent in (alice, bob):
        assert agent.refresh().status_code == 200
        assert agent.get("/api/me").status_code == 200


def test_a_replay_after_rotation_is_theft_of_that_session_only(
    client: Client,
    settings: SettingsWrapper,
    alice: Browser,
    bob: Browser,
    mode: str,
    thefts: list[dict[str, Any]],
) -> None:
    """PROTOCOL.md §8: RT0 → RT1, RT1 used once, RT0 presented again."""
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    rt0, handle, who = rt(alice), alice.handle, alice.claims["sub"]
    assert alice.refresh().status_code == 200
    assert alice.get("/api/me").status_code == 200  # promotes RT1
    before = db_state()
    bob_row = next(r for r in before["sessions"] if str(r[0]) == bob.handle)

    theft = send(client, "POST", REFRESH, **carry_refresh(rt0, mode))

    expect(theft, THEFT_DETECTED)
    after = db_state()
    assert after["sessions"] == [bob_row]
    assert after["keys"] == before["keys"]
    assert [(str(r[0]), r[1], r[2]) for r in after["revoked"]] == [(handle, who, "theft")]
    assert [(t["handle"], t["user_id"]) for t in thefts] == [(handle, who)]
    warnings = [r for r in guard().records if r.name == "django.security.supertokens"]
    assert [r.levelname for r in warnings] == ["WARNING"]
    # Afterwards nothing of alice's works: neither the old nor the newest refresh token, nor the
    # newest access token (blacklisting is on); bob is untouched.
    for token in (rt0, rt(alice)):
        with unchanged_db():
            expect(send(client, "POST", REFRESH, **carry_refresh(token, mode)), REFUSED_REFRESH)
    refused = alice.get("/api/me")
    assert (refused.status_code, json_body(refused)) == (401, UNAUTHORISED)
    assert bob.get("/api/me").status_code == 200
    assert bob.refresh().status_code == 200
    assert len(thefts) == 1


def test_the_refresh_token_of_a_revoked_session_revokes_nobody_else(
    client: Client, alice: Browser, bob: Browser, mode: str, thefts: list[Any]
) -> None:
    assert engine.revoke_session(alice.handle)
    with unchanged_db():
        expect(send(client, "POST", REFRESH, **carry_refresh(rt(alice), mode)), REFUSED_REFRESH)
    assert thefts == []
    assert bob.refresh().status_code == 200


def test_the_refresh_token_of_an_expired_session_is_unauthorised(
    client: Client, alice: Browser, bob: Browser, mode: str, clock: Clock, thefts: list[Any]
) -> None:
    import datetime as dt

    clock.advance(dt.timedelta(days=100, seconds=1))
    with unchanged_db():
        for agent in (alice, bob):
            expect(send(client, "POST", REFRESH, **carry_refresh(rt(agent), mode)), REFUSED_REFRESH)
    assert thefts == []
    assert not RevokedSession.objects.exists()


def test_a_stale_token_replayed_by_another_user_revokes_the_owner_not_the_replayer(
    client: Client, alice: Browser, bob: Browser, mode: str, thefts: list[dict[str, Any]]
) -> None:
    """Bob got hold of alice's first refresh token and replays it from his own browser: the
    session it belongs to (alice's) ends, bob's own session does not."""
    rt0 = rt(alice)
    alice.refresh()
    alice.get("/api/me")
    bob_sub, bob_access, bob_rt = bob.claims["sub"], bob.access or "", rt(bob)
    bob.use_refresh_token(rt0)
    # The response clears the tokens of the browser that replayed (bob's, here)...
    expect(bob.refresh(), THEFT_DETECTED)
    assert [t["handle"] for t in thefts] == [alice.handle]
    # ...but the session that ends is alice's: bob's own tokens keep working.
    assert set(SessionRow.objects.values_list("subject", flat=True)) == {bob_sub}
    me = send(client, "GET", "/api/me", **carry(bob_access, mode))
    assert (me.status_code, json_body(me)["user_id"]) == (200, bob_sub)
    assert send(client, "POST", REFRESH, **carry_refresh(bob_rt, mode)).status_code == 200


def test_the_public_refresh_token_hash_promotes_nothing_through_an_access_token(
    client: Client, alice: Browser, bob: Browser, mode: str
) -> None:
    """An access token whose parentRefreshTokenHash1 is set to the (public) hash of the current
    refresh token would promote a child on first use, were its signature not checked."""
    hash1 = alice.claims["refreshTokenHash1"]
    assert SessionRow.objects.get(handle=alice.handle).refresh_token_hash_2 == sha256_hex(hash1)
    forged = edit_claims(alice.access or "", parentRefreshTokenHash1=hash1)
    with unchanged_db():
        attack(client, forged, mode)
