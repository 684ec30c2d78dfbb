"""Forgery and tampering, over HTTP against the example project and the DRF view.

A victim (alice) and another user (bob) are signed in; the attacker holds their access tokens
(whoever sees the traffic has them, and in header mode so has script on the page) and edits
them: claims changed under the old signature, signatures swapped or made with
another deployment's key, tokens cut, padded, re-encoded in other base64 alphabets, with extra
segments, in another case. Each variant goes to every protected URL in both carriers (the
``sAccessToken`` cookie and ``Authorization: Bearer``) and must get the exact answer of
PROTOCOL.md §5, no token, and leave the database untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from django.test import Client

from supertokens_django.keys import generate_private_key
from tests.security.support import (
    TARGETS,
    attack,
    carry,
    craft,
    edit_claims,
    expect,
    expected_access_refusal,
    parts,
    send,
    signer,
    unchanged_db,
)

if TYPE_CHECKING:
    from pytest_django import Settings as SettingsWrapper

    from tests.security.conftest import BrowserFactory

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]


@dataclass(frozen=True)
class Stolen:
    """What the attacker has: the victim's access token, and another user's."""

    alice: str
    bob: str


@pytest.fixture
def stolen(user: object, other_user: object, browser: BrowserFactory) -> Stolen:
    alice = browser("header", sign_in="alice")
    bob = browser("header", sign_in="bob")
    assert alice.access is not None and bob.access is not None
    return Stolen(alice.access, bob.access)


def other_deployment(token: str, *, keep_kid: bool) -> str:
    """Same header and claims, signed by another deployment's RS256 key."""
    header, payload, _ = parts(token)
    if not keep_kid:
        header = {**header, "kid": "0123456789abcdef"}
    return craft(header, payload, signer("RS256", generate_private_key("RS256")))


def pad(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


def std_alphabet(token: str) -> str:
    return token.replace("-", "+").replace("_", "/")


def _split(token: str) -> list[str]:
    return token.split(".")


CASES: dict[str, Callable[[Stolen], str]] = {
    # claims changed, old signature
    "sub-of-another-user": lambda s: edit_claims(
        s.alice, sub=parts(s.bob)[1]["sub"], rsub=parts(s.bob)[1]["sub"]
    ),
    "handle-of-another-session": lambda s: edit_claims(
        s.alice, sessionHandle=parts(s.bob)[1]["sessionHandle"]
    ),
    "exp-extended": lambda s: edit_claims(s.alice, exp=parts(s.alice)[1]["exp"] + 86_400),
    "claim-added": lambda s: edit_claims(s.alice, role="admin"),
    "parent-hash-forged": lambda s: edit_claims(s.alice, parentRefreshTokenHash1="a" * 64),
    # parts of two genuine tokens
    "payload-of-another-token": lambda s: ".".join(
        [_split(s.alice)[0], _split(s.bob)[1], _split(s.alice)[2]]
    ),
    "signature-of-another-token": lambda s: ".".join([*_split(s.alice)[:2], _split(s.bob)[2]]),
    # another deployment
    "other-deployment-key-same-kid": lambda s: other_deployment(s.alice, keep_kid=True),
    "other-deployment-key-own-kid": lambda s: other_deployment(s.alice, keep_kid=False),
    # cut
    "signature-removed": lambda s: s.alice.rsplit(".", 1)[0] + ".",
    "signature-cut-by-one": lambda s: s.alice[:-1],
    "signature-cut-by-four": lambda s: s.alice[:-4],
    "signature-halved": lambda s: s.alice[: len(s.alice) - len(_split(s.alice)[2]) // 2],
    "two-segments": lambda s: s.alice.rsplit(".", 1)[0],
    "payload-cut": lambda s: ".".join(
        [_split(s.alice)[0], _split(s.alice)[1][:-6], _split(s.alice)[2]]
    ),
    "empty": lambda s: "",
    # padded and re-encoded
    "padded-signature": lambda s: ".".join([*_split(s.alice)[:2], pad(_split(s.alice)[2])]),
    "one-trailing-equals": lambda s: s.alice + "=",
    "padded-header": lambda s: ".".join([_split(s.alice)[0] + "=", *_split(s.alice)[1:]]),
    "padded-payload": lambda s: ".".join(
        [_split(s.alice)[0], _split(s.alice)[1] + "=", _split(s.alice)[2]]
    ),
    "standard-base64-alphabet": lambda s: std_alphabet(s.alice),
    "standard-base64-padded": lambda s: ".".join(pad(std_alphabet(p)) for p in _split(s.alice)),
    # extra segments
    "extra-segment": lambda s: s.alice + "." + _split(s.alice)[2],
    "trailing-dot": lambda s: s.alice + ".",
    "leading-dot": lambda s: "." + s.alice,
    "token-twice": lambda s: s.alice + s.alice,
    "dots-percent-encoded": lambda s: s.alice.replace(".", "%2E"),
    # other case, other characters
    "upper-cased": lambda s: s.alice.upper(),
    "lower-cased": lambda s: s.alice.lower(),
    "header-upper-cased": lambda s: ".".join([_split(s.alice)[0].upper(), *_split(s.alice)[1:]]),
    "space-inside": lambda s: s.alice[:30] + " " + s.alice[30:],
    # WSGI hands header bytes over as latin-1 text: this is the UTF-8 of a fullwidth "A".
    "fullwidth-character": lambda s: (
        s.alice[:30] + "\uff21".encode().decode("latin-1") + s.alice[31:]
    ),
}


def case_params() -> list[object]:
    params = []
    for name in CASES:
        for carrier in ("cookie", "header"):
            params.append(pytest.param(name, carrier, id=f"{name}-{carrier}"))
    return params


@pytest.mark.parametrize(("name", "carrier"), case_params())
def test_a_tampered_access_token_is_refused_everywhere(
    client: Client, stolen: Stolen, name: str, carrier: str
) -> None:
    token = CASES[name](stolen)
    assert token not in (stolen.alice, stolen.bob)
    with unchanged_db():
        attack(client, token, carrier)


@pytest.mark.parametrize(
    "algorithm",
    ["RS256", "ES256", "EdDSA", "HS256"],
)
def test_a_padded_copy_of_a_genuine_token_is_refused_for_every_algorithm(
    client: Client,
    settings: SettingsWrapper,
    user: object,
    browser: BrowserFactory,
    algorithm: str,
) -> None:
    """Every signature length leaves a remainder modulo 4, so every algorithm can be padded."""
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": algorithm}
    alice = browser("header", sign_in="alice")
    assert alice.access is not None
    header, payload, signature = alice.access.split(".")
    padded = f"{header}.{payload}.{pad(signature)}"
    assert padded != alice.access
    with unchanged_db():
        response = send(client, "GET", "/api/me", **carry(padded, "cookie"))
        expect(response, expected_access_refusal(TARGETS[0], padded, "cookie"))


def test_the_genuine_tokens_work(client: Client, stolen: Stolen) -> None:
    """The control experiment: what the attacks start from is accepted as it is."""
    for token in (stolen.alice, stolen.bob):
        for carrier in ("cookie", "header"):
            response = send(client, "GET", "/api/me", **carry(token, carrier))
            assert response.status_code == 200
            assert json.loads(response.content)["user_id"] == parts(token)[1]["sub"]
