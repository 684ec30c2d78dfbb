"""Claims, over HTTP: tokens signed with *our* key (what no attacker can do) whose claims are
missing, of the wrong type or out of time must still be refused, because the verifier checks
every claim itself; and the custom-payload API refuses protected claims when they are written.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client

from supertokens_django import engine
from supertokens_django.exceptions import InvalidSessionData
from supertokens_django.models import Session as SessionRow
from supertokens_django.tokens import PROTECTED_CLAIMS
from tests.http_helpers import decode_front_token, decode_jwt_payload
from tests.security.support import (
    assert_no_new_tokens,
    attack,
    carry,
    db_state,
    json_body,
    parts,
    resign,
    send,
    unchanged_db,
)

if TYPE_CHECKING:
    from tests.conftest import Clock
    from tests.security.conftest import BrowserFactory
    from tests.security.support import Browser

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]

CARRIERS = ["cookie", "header"]
REQUIRED = ["sub", "sessionHandle", "refreshTokenHash1", "iat", "exp"]


@pytest.fixture
def victim(user: object, browser: BrowserFactory, clock: Clock) -> Browser:
    return browser("header", sign_in="alice")


def token_of(agent: Browser) -> str:
    assert agent.access is not None
    return agent.access


# =========================================================================== presence and types


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("claim", REQUIRED)
def test_a_missing_required_claim_is_refused(
    client: Client, victim: Browser, claim: str, carrier: str
) -> None:
    with unchanged_db():
        attack(client, resign(token_of(victim), drop=[claim]), carrier)


def _uuid_upper(claims: dict[str, Any]) -> str:
    return str(claims["sessionHandle"]).upper()


WRONG: dict[str, tuple[str, Any]] = {
    "sub-integer": ("sub", 1),
    "sub-null": ("sub", None),
    "sub-list": ("sub", ["1"]),
    "sub-object": ("sub", {"id": "1"}),
    "handle-not-a-uuid": ("sessionHandle", "not-a-uuid"),
    "handle-upper-case": ("sessionHandle", _uuid_upper),
    "handle-with-newline": ("sessionHandle", lambda c: c["sessionHandle"] + "\n"),
    "handle-sql": ("sessionHandle", "' OR '1'='1"),
    "handle-integer": ("sessionHandle", 7),
    "rth1-short": ("refreshTokenHash1", "a" * 63),
    "rth1-upper-case": ("refreshTokenHash1", lambda c: c["refreshTokenHash1"].upper()),
    "rth1-not-hex": ("refreshTokenHash1", "z" * 64),
    "rth1-null": ("refreshTokenHash1", None),
    "parent-not-hex": ("parentRefreshTokenHash1", "z" * 64),
    "parent-integer": ("parentRefreshTokenHash1", 1),
    "parent-empty": ("parentRefreshTokenHash1", ""),
    "anti-csrf-integer": ("antiCsrfToken", 1),
    "anti-csrf-object": ("antiCsrfToken", {}),
    "iat-string": ("iat", lambda c: str(c["iat"])),
    "iat-float": ("iat", lambda c: c["iat"] + 0.5),
    "iat-true": ("iat", True),
    "iat-null": ("iat", None),
    "exp-string": ("exp", lambda c: str(c["exp"])),
    "exp-float": ("exp", lambda c: float(c["exp"])),
    "exp-true": ("exp", True),
    "exp-null": ("exp", None),
    "exp-list": ("exp", lambda c: [c["exp"]]),
    "nbf-string": ("nbf", "0"),
    "nbf-true": ("nbf", True),
    "nbf-float": ("nbf", 0.5),
}


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("case", list(WRONG), ids=list(WRONG))
def test_a_claim_of_the_wrong_type_or_shape_is_refused(
    client: Client, victim: Browser, case: str, carrier: str
) -> None:
    claim, value = WRONG[case]
    claims = parts(token_of(victim))[1]
    token = resign(token_of(victim), payload={claim: value(claims) if callable(value) else value})
    with unchanged_db():
        attack(client, token, carrier)


# =========================================================================== time


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("expired-beyond-leeway", lambda now: {"iat": now - 3600, "exp": now - 2}),
        ("expired-long-ago", lambda now: {"iat": 0, "exp": 1}),
        ("issued-in-the-future", lambda now: {"iat": now + 5, "exp": now + 3605}),
        ("not-yet-valid", lambda now: {"nbf": now + 5}),
        ("exp-before-iat", lambda now: {"iat": now, "exp": now - 10}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_token_out_of_its_time_is_refused(
    client: Client, victim: Browser, clock: Clock, case: str, claims: Any, carrier: str
) -> None:
    now = int(clock.now.timestamp())
    with unchanged_db():
        attack(client, resign(token_of(victim), payload=claims(now)), carrier)


def test_the_leeway_is_the_only_slack(client: Client, victim: Browser, clock: Clock) -> None:
    """Control: inside the one-second leeway a token is still accepted, a second later not."""
    now = int(clock.now.timestamp())
    inside = resign(token_of(victim), payload={"exp": now})
    assert send(client, "GET", "/api/me", **carry(inside, "cookie")).status_code == 200
    clock.advance(dt.timedelta(seconds=1))
    attack(client, inside, "cookie")


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize(
    "claims",
    [{"exp": 10**20}, {"exp": 2**63}, {"iat": -(10**20)}, {"iat": -(2**63)}],
    ids=["exp-huge", "exp-2-63", "iat-very-negative", "iat-minus-2-63"],
)
def test_out_of_range_times_are_refused_not_a_server_error(
    client: Client, victim: Browser, claims: dict[str, int], carrier: str
) -> None:
    with unchanged_db():
        attack(client, resign(token_of(victim), payload=claims), carrier)


# =========================================================================== the payload API


def test_every_protected_claim_is_refused_when_written_over_http(
    client: Client, user: object, browser: BrowserFactory, mode: str
) -> None:
    alice = browser(mode, sign_in="alice")
    before_token = alice.access
    for claim in sorted(PROTECTED_CLAIMS):
        for body in ({claim: "forged"}, {"role": "admin", claim: 1}):
            with unchanged_db():
                response = alice.post("/api/jwt-payload", body)
            assert response.status_code == 400
            assert json_body(response) == {
                "message": f"JWT payload may not set protected claims: {claim}"
            }
            assert_no_new_tokens(response)
    assert alice.access == before_token
    me = alice.get("/api/me")
    assert json_body(me)["jwt_payload"] == {"username": "alice"}


def test_protected_claims_are_refused_by_every_write_api(user: object) -> None:
    tokens = engine.create_session("alice-id", jwt_payload={"role": "user"})
    handle = tokens.session.get_handle()
    for claim in sorted(PROTECTED_CLAIMS):
        before = db_state()
        with pytest.raises(InvalidSessionData, match=claim):
            engine.create_session("mallory", jwt_payload={claim: "x"})
        with pytest.raises(InvalidSessionData, match=claim):
            engine.update_jwt_payload(handle, {claim: "x"})
        with pytest.raises(InvalidSessionData, match=claim):
            tokens.session.update_jwt_payload({claim: "x"})
        assert db_state() == before
    assert tokens.session.new_access_token is None


def test_a_protected_claim_smuggled_into_the_database_never_reaches_a_token(
    user: object, browser: BrowserFactory, mode: str
) -> None:
    """Defence in depth: a payload written around the API (raw SQL, a careless admin form)
    cannot change who a token is for; the protected claims of the session always win."""
    alice = browser(mode, sign_in="alice")
    who, handle = alice.claims["sub"], alice.handle
    SessionRow.objects.filter(handle=handle).update(
        jwt_payload={"sub": "bob", "rsub": "bob", "sessionHandle": "x", "role": "admin"}
    )
    for response in (alice.refresh(), alice.get("/api/me"), alice.get("/api/strict")):
        assert response.status_code == 200
        if response.has_header("front-token"):
            front = decode_front_token(response["front-token"])
            assert (front["uid"], front["up"]["sub"], front["up"]["rsub"]) == (who, who, who)
            assert front["up"]["sessionHandle"] == handle
        assert decode_jwt_payload(alice.access or "")["sub"] == who
    assert json.loads(alice.get("/api/me").content)["user_id"] == who
