"""tokens.py: access-token claims and verification, the front-token, refresh-token MACs.

Pure functions: no database, keys generated in memory, time passed in as ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest

from supertokens_django.exceptions import TryRefreshToken, Unauthorised
from supertokens_django.keys import generate_private_key, public_pem, verification_key
from supertokens_django.tokens import (
    PROTECTED_CLAIMS,
    AccessToken,
    SigningMaterial,
    decode_access_token,
    encode_access_token,
    front_token,
    mint_refresh_token,
    parse_refresh_token,
    sha256_hex,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
LIFETIME = timedelta(hours=1)
LEEWAY = timedelta(seconds=1)
HANDLE = "0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a"
RTH1 = sha256_hex("refresh-token")
PARENT = sha256_hex("parent-token")
SECRET = "a-secret-key-for-refresh-tokens"
ALGORITHMS = ["RS256", "ES256", "EdDSA", "HS256"]
URL_SAFE = re.compile(r"[A-Za-z0-9_.-]+\Z")
_REMOVE = object()  # a claim to delete, in test_wrong_claim_types_are_refused


@pytest.fixture(scope="module")
def private_keys() -> dict[str, Any]:
    return {alg: generate_private_key(alg) for alg in ALGORITHMS}


def mint(
    private: Any,
    algorithm: str = "RS256",
    *,
    kid: str = "kid-1",
    now: datetime = NOW,
    parent: str | None = None,
    anti_csrf: str | None = None,
    custom: dict[str, Any] | None = None,
) -> AccessToken:
    return encode_access_token(
        key=SigningMaterial(kid, algorithm, private),
        user_id="user-1",
        handle=HANDLE,
        refresh_token_hash1=RTH1,
        parent_refresh_token_hash1=parent,
        anti_csrf_token=anti_csrf,
        custom_payload=custom or {},
        issuer="https://api.example.com/auth",
        now=now,
        lifetime=LIFETIME,
    )


def resolver(keys: dict[str, Any]) -> Callable[[str], Any | None]:
    return keys.get


def verify(
    token: str,
    private: Any,
    algorithm: str = "RS256",
    *,
    now: datetime = NOW,
    kid: str = "kid-1",
) -> AccessToken:
    return decode_access_token(
        token,
        algorithm=algorithm,
        resolve_key=resolver({kid: verification_key(private)}),
        now=now,
        leeway=LEEWAY,
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def craft(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A JWT assembled by hand, so that it can be anything an attacker can send."""
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    ).encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


# --------------------------------------------------------------------------- claims


def test_claims_are_exactly_those_of_the_protocol(private_keys: dict[str, Any]) -> None:
    token = mint(private_keys["RS256"], custom={"role": "admin"})
    header, payload, _sig = segments(token.token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kid-1", "version": "5"}
    assert set(payload) == {
        "sub",
        "iat",
        "exp",
        "sessionHandle",
        "refreshTokenHash1",
        "parentRefreshTokenHash1",
        "antiCsrfToken",
        "tId",
        "rsub",
        "iss",
        "role",
    }
    # The two nullable claims are present as null (the SDK's tests count the keys).
    assert payload["parentRefreshTokenHash1"] is None
    assert payload["antiCsrfToken"] is None
    assert payload["sub"] == payload["rsub"] == "user-1"
    assert payload["iat"] == int(NOW.timestamp())
    assert payload["exp"] == payload["iat"] + 3600
    assert payload["sessionHandle"] == HANDLE
    assert payload["refreshTokenHash1"] == RTH1
    assert payload["tId"] == "public"
    assert payload["iss"] == "https://api.example.com/auth"
    assert payload["role"] == "admin"


def test_parent_hash_and_anti_csrf_claims_when_set(private_keys: dict[str, Any]) -> None:
    token = mint(private_keys["RS256"], parent=PARENT, anti_csrf="csrf-value")
    _h, payload, _s = segments(token.token)
    assert payload["parentRefreshTokenHash1"] == PARENT
    assert payload["antiCsrfToken"] == "csrf-value"
    assert token.parent_refresh_token_hash1 == PARENT


def test_protected_claims_win_over_the_custom_payload(private_keys: dict[str, Any]) -> None:
    # The engine refuses these at write time (validation.py); the encoder is a second line.
    token = mint(private_keys["RS256"], custom={"sub": "mallory", "exp": 2**40, "x": 1})
    _h, payload, _s = segments(token.token)
    assert payload["sub"] == "user-1"
    assert payload["exp"] == int(NOW.timestamp()) + 3600
    assert token.custom_payload == {"x": 1}


def test_custom_payload_excludes_protected_claims_and_iss(private_keys: dict[str, Any]) -> None:
    token = mint(private_keys["RS256"], custom={"a": [1, 2], "b": {"c": None}})
    assert token.custom_payload == {"a": [1, 2], "b": {"c": None}}
    assert PROTECTED_CLAIMS.isdisjoint(token.custom_payload)


def test_front_token_carries_expiry_in_milliseconds_user_and_payload(
    private_keys: dict[str, Any],
) -> None:
    token = mint(private_keys["RS256"], custom={"name": "Zoë"})
    decoded = json.loads(base64.b64decode(front_token(token), validate=True))
    assert set(decoded) == {"ate", "uid", "up"}
    assert decoded["ate"] == decoded["up"]["exp"] * 1000
    assert decoded["uid"] == "user-1"
    assert decoded["up"] == dict(token.payload)
    assert decoded["up"]["iat"] == int(NOW.timestamp())
    assert decoded["up"]["name"] == "Zoë"


# --------------------------------------------------------------------------- algorithms


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_round_trips(private_keys: dict[str, Any], algorithm: str) -> None:
    private = private_keys[algorithm]
    token = mint(private, algorithm, custom={"k": "v"}, parent=PARENT)
    verified = verify(token.token, private, algorithm)
    assert verified == AccessToken(
        token=token.token,
        user_id="user-1",
        handle=HANDLE,
        refresh_token_hash1=RTH1,
        parent_refresh_token_hash1=PARENT,
        anti_csrf_token=None,
        issued_at=NOW,
        expires_at=NOW + LIFETIME,
        payload=token.payload,
    )
    assert segments(token.token)[0]["alg"] == algorithm


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_algorithm_is_pinned_not_taken_from_the_header(
    private_keys: dict[str, Any], algorithm: str
) -> None:
    """A token signed (validly) with another algorithm is refused, whatever its header says."""
    others = [a for a in ALGORITHMS if a != algorithm]
    for other in others:
        token = mint(private_keys[other], other)
        with pytest.raises(TryRefreshToken):
            decode_access_token(
                token.token,
                algorithm=algorithm,
                resolve_key=lambda _kid: verification_key(private_keys[algorithm]),
                now=NOW,
                leeway=LEEWAY,
            )


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(private_keys: dict[str, Any], alg: str) -> None:
    _h, payload, _s = segments(mint(private_keys["RS256"]).token)
    token = craft(
        {"alg": alg, "typ": "JWT", "kid": "kid-1", "version": "5"}, payload, lambda _m: b""
    )
    with pytest.raises(TryRefreshToken):
        verify(token, private_keys["RS256"])
    # Also with the signature segment dropped altogether.
    with pytest.raises(TryRefreshToken):
        verify(token.rsplit(".", 1)[0] + ".", private_keys["RS256"])


def test_hs256_signed_with_the_rsa_public_key_is_refused(private_keys: dict[str, Any]) -> None:
    """CVE-2022-29217: HMAC keyed with the PEM a verifier would use for RS256."""
    private = private_keys["RS256"]
    pem = public_pem(private).encode()
    _h, payload, _s = segments(mint(private).token)
    token = craft(
        {"alg": "HS256", "typ": "JWT", "kid": "kid-1", "version": "5"},
        payload,
        lambda message: hmac.new(pem, message, hashlib.sha256).digest(),
    )
    with pytest.raises(TryRefreshToken):
        verify(token, private)
    # Even a resolver that hands out the PEM text cannot be tricked into HMAC.
    with pytest.raises(TryRefreshToken):
        decode_access_token(
            token, algorithm="RS256", resolve_key=lambda _k: pem, now=NOW, leeway=LEEWAY
        )


def test_header_crit_is_refused(private_keys: dict[str, Any]) -> None:
    private = private_keys["HS256"]
    _h, payload, _s = segments(mint(private, "HS256").token)
    token = jwt.encode(
        payload, private, algorithm="HS256", headers={"kid": "kid-1", "crit": ["exp"]}
    )
    with pytest.raises(TryRefreshToken):
        verify(token, private, "HS256")


def test_unknown_kid_is_refused(private_keys: dict[str, Any]) -> None:
    token = mint(private_keys["RS256"], kid="somebody-else")
    with pytest.raises(TryRefreshToken, match="unknown key id"):
        verify(token.token, private_keys["RS256"])


@pytest.mark.parametrize("kid", [None, 7, ["kid-1"]])
def test_missing_or_non_string_kid_is_refused(private_keys: dict[str, Any], kid: Any) -> None:
    private = private_keys["HS256"]
    _h, payload, _s = segments(mint(private, "HS256").token)
    header = {"alg": "HS256", "typ": "JWT"} | ({} if kid is None else {"kid": kid})
    token = craft(header, payload, lambda m: hmac.new(private, m, hashlib.sha256).digest())
    with pytest.raises(TryRefreshToken):
        verify(token, private, "HS256")


def test_key_of_another_deployment_is_refused(private_keys: dict[str, Any]) -> None:
    token = mint(generate_private_key("RS256"))  # same kid, different key
    with pytest.raises(TryRefreshToken):
        verify(token.token, private_keys["RS256"])


def test_tampered_payload_is_refused(private_keys: dict[str, Any]) -> None:
    private = private_keys["RS256"]
    token = mint(private, custom={"role": "user"})
    header, payload, signature = token.token.split(".")
    claims = segments(token.token)[1] | {"role": "admin"}
    forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(TryRefreshToken):
        verify(forged, private)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-4],
        lambda t: t + "AAAA",
        lambda t: t + ".extra",
        lambda t: t.replace(".", "..", 1),
        lambda t: t.upper(),
        lambda t: "",
        lambda t: "not-a-jwt",
        lambda t: "x" * 9000,
    ],
    ids=["cut", "padded", "extra-segment", "empty-segment", "case", "empty", "garbage", "huge"],
)
def test_mangled_tokens_are_refused(
    private_keys: dict[str, Any], mangle: Callable[[str], str]
) -> None:
    private = private_keys["RS256"]
    with pytest.raises(TryRefreshToken):
        verify(mangle(mint(private).token), private)


def test_non_string_token_is_refused(private_keys: dict[str, Any]) -> None:
    with pytest.raises(TryRefreshToken):
        verify(None, private_keys["RS256"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- time


def test_expired_beyond_leeway_is_refused(private_keys: dict[str, Any]) -> None:
    private = private_keys["ES256"]
    token = mint(private, "ES256")
    with pytest.raises(TryRefreshToken, match="expired"):
        verify(token.token, private, "ES256", now=NOW + LIFETIME + timedelta(seconds=1))


@pytest.mark.parametrize("after_exp", [timedelta(0), timedelta(milliseconds=999)])
def test_expired_within_leeway_is_accepted(
    private_keys: dict[str, Any], after_exp: timedelta
) -> None:
    private = private_keys["ES256"]
    token = mint(private, "ES256")
    assert verify(token.token, private, "ES256", now=NOW + LIFETIME + after_exp).handle == HANDLE


def test_issued_in_the_future_beyond_leeway_is_refused(private_keys: dict[str, Any]) -> None:
    private = private_keys["ES256"]
    token = mint(private, "ES256", now=NOW + timedelta(seconds=5))
    with pytest.raises(TryRefreshToken, match="future"):
        verify(token.token, private, "ES256")


def test_issued_slightly_in_the_future_within_leeway_is_accepted(
    private_keys: dict[str, Any],
) -> None:
    private = private_keys["ES256"]
    token = mint(private, "ES256", now=NOW + timedelta(seconds=1))
    assert verify(token.token, private, "ES256").user_id == "user-1"


def _resigned(private: bytes, **changes: Any) -> str:
    """An HS256 token with valid signature whose claims were changed (or removed with None)."""
    _h, payload, _s = segments(mint(private, "HS256").token)
    for name, value in changes.items():
        if value is _REMOVE:
            payload.pop(name)
        else:
            payload[name] = value
    return jwt.encode(payload, private, algorithm="HS256", headers={"kid": "kid-1", "version": "5"})


def test_not_before_in_the_future_is_refused(private_keys: dict[str, Any]) -> None:
    private = private_keys["HS256"]
    token = _resigned(private, nbf=int(NOW.timestamp()) + 60)
    with pytest.raises(TryRefreshToken, match="not yet valid"):
        verify(token, private, "HS256")


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": True},
        {"exp": 1.5e9 + 0.5},
        {"exp": str(int(NOW.timestamp()) + 60)},
        {"exp": _REMOVE},
        {"iat": False},
        {"iat": None},
        {"iat": _REMOVE},
        {"nbf": True},
        {"nbf": "0"},
        {"sub": 42},
        {"sub": _REMOVE},
        {"sessionHandle": "not-a-uuid"},
        {"sessionHandle": 1},
        {"sessionHandle": _REMOVE},
        {"refreshTokenHash1": "abc"},
        {"refreshTokenHash1": RTH1.upper()},
        {"refreshTokenHash1": _REMOVE},
        {"parentRefreshTokenHash1": "abc"},
        {"parentRefreshTokenHash1": 7},
        {"antiCsrfToken": 7},
    ],
    ids=repr,
)
def test_wrong_claim_types_are_refused(
    private_keys: dict[str, Any], changes: dict[str, Any]
) -> None:
    private = private_keys["HS256"]
    with pytest.raises(TryRefreshToken):
        verify(_resigned(private, **changes), private, "HS256")


def test_exp_one_is_not_true(private_keys: dict[str, Any]) -> None:
    """``True == 1`` in Python; a boolean ``exp`` must not pass as the epoch's first second."""
    private = private_keys["HS256"]
    with pytest.raises(TryRefreshToken, match="'exp'"):
        verify(_resigned(private, exp=True), private, "HS256")


# --------------------------------------------------------------------------- refresh tokens


def _fresh(parent: str | None = None, anti_csrf: str | None = None, secret: str = SECRET) -> str:
    return mint_refresh_token(
        handle=HANDLE, parent_hash1=parent, anti_csrf_token=anti_csrf, secret=secret
    ).token


def test_refresh_token_round_trips_its_content() -> None:
    minted = mint_refresh_token(
        handle=HANDLE, parent_hash1=PARENT, anti_csrf_token="csrf", secret=SECRET
    )
    parsed = parse_refresh_token(minted.token, secrets_=[SECRET])
    assert parsed == minted
    assert parsed.handle == HANDLE
    assert parsed.parent_hash1 == PARENT
    assert parsed.anti_csrf_token == "csrf"
    assert parsed.hash1 == sha256_hex(minted.token)
    assert parsed.hash2 == sha256_hex(sha256_hex(minted.token))


def test_refresh_token_uses_a_url_safe_alphabet() -> None:
    for _ in range(50):
        assert URL_SAFE.match(_fresh(PARENT, "csrf"))


def test_refresh_token_carries_256_random_bits() -> None:
    tokens = [_fresh() for _ in range(200)]
    assert len(set(tokens)) == len(tokens)
    bodies = [
        json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=" * (-len(t.split(".")[0]) % 4)))
        for t in tokens[:5]
    ]
    for body in bodies:
        nonce = base64.urlsafe_b64decode(body["n"] + "=" * (-len(body["n"]) % 4))
        assert len(nonce) == 32


def test_forged_refresh_token_is_refused() -> None:
    """A body naming any parent hash, MACed with a key we don't hold."""
    body = b64url(json.dumps({"v": 1, "h": HANDLE, "n": "x", "p": PARENT, "a": None}).encode())
    for mac in (b64url(b"\x00" * 32), b64url(hmac.new(b"guess", body.encode(), "sha256").digest())):
        with pytest.raises(Unauthorised):
            parse_refresh_token(f"{body}.{mac}", secrets_=[SECRET])


def test_refresh_token_with_a_swapped_body_is_refused() -> None:
    genuine = _fresh()
    other_body = _fresh(PARENT).split(".")[0]
    with pytest.raises(Unauthorised):
        parse_refresh_token(f"{other_body}.{genuine.split('.')[1]}", secrets_=[SECRET])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:-10],
        lambda t: t.split(".")[0],
        lambda t: t.split(".")[0] + ".",
        lambda t: "." + t.split(".")[1],
        lambda t: t + "=",
        lambda t: t + ".x",
        lambda t: t.replace("-", "+").replace("_", "/") + "+/",
        lambda t: "é" + t,
        lambda t: "",
        lambda t: "a" * 2000,
    ],
    ids=[
        "one-char-short",
        "truncated",
        "no-mac",
        "empty-mac",
        "empty-body",
        "padded",
        "extra",
        "std-base64",
        "non-ascii",
        "empty",
        "oversized",
    ],
)
def test_garbled_refresh_tokens_are_refused(mangle: Callable[[str], str]) -> None:
    with pytest.raises(Unauthorised):
        parse_refresh_token(mangle(_fresh(PARENT)), secrets_=[SECRET])


def test_non_string_refresh_token_is_refused() -> None:
    with pytest.raises(Unauthorised):
        parse_refresh_token(None, secrets_=[SECRET])  # type: ignore[arg-type]


def test_refresh_token_of_another_secret_key_is_refused() -> None:
    with pytest.raises(Unauthorised):
        parse_refresh_token(_fresh(secret="another-deployment"), secrets_=[SECRET])


def test_refresh_token_from_a_fallback_secret_key_is_accepted() -> None:
    old = _fresh(PARENT, secret="the-old-secret-key")
    parsed = parse_refresh_token(old, secrets_=["the-new-secret-key", "the-old-secret-key"])
    assert parsed.parent_hash1 == PARENT


def test_refresh_token_secret_may_be_bytes() -> None:
    token = _fresh(secret=SECRET)
    assert parse_refresh_token(token, secrets_=[SECRET.encode()]).handle == HANDLE
