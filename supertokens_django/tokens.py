"""Access tokens, refresh tokens and the front-token: pure functions of their inputs (no ORM).

The security argument, in the order a request meets it:

* An **access token** is a JWT signed by one of our keys. The verifier takes the algorithm from
  its own configuration, never from the token header, finds the key by ``kid`` only among keys it
  already trusts, and checks every claim's presence and type itself, so a token that parses is a
  token we minted (CVE-2022-29217-style algorithm confusion has nothing to confuse).
* A **refresh token** is ``base64url(body) "." base64url(mac)``: the body carries the session
  handle, 256 random bits, the hash of its parent token and (``VIA_TOKEN``) the anti-CSRF token;
  the MAC is an HMAC-SHA256 under a key derived from ``SECRET_KEY``. Without the MAC anyone who
  read ``refreshTokenHash1`` from a front-token could forge a child of the current token and be
  promoted (PROTOCOL.md §8). The database stores only ``sha256_hex(sha256_hex(token))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import jwt

from .exceptions import TryRefreshToken, Unauthorised

#: Claims the library owns. ``iss`` is set by us too, but the protocol leaves it writable.
PROTECTED_CLAIMS = frozenset(
    {
        "sub",
        "iat",
        "exp",
        "nbf",
        "sessionHandle",
        "refreshTokenHash1",
        "parentRefreshTokenHash1",
        "antiCsrfToken",
        "tId",
        "rsub",
    }
)
TOKEN_VERSION = "5"
TENANT_ID = "public"

# Bounds on what we are willing to parse at all: far above anything we mint, far below abuse.
MAX_ACCESS_TOKEN_LENGTH = 8192
MAX_REFRESH_TOKEN_LENGTH = 1024
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_B64URL = re.compile(r"[A-Za-z0-9_-]+\Z")
# Exactly three unpadded base64url segments: pyjwt also accepts '=' padding, which would give
# one token several spellings (and several cache keys, and an odd thing to accept at all).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z")
# datetime cannot represent seconds past the end of year 9999: such a claim is malformed.
_MAX_EPOCH = 253_402_300_799
_REFRESH_SALT = "supertokens_django.tokens.refresh"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_anti_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(seconds: int) -> datetime:
    if not 0 <= seconds <= _MAX_EPOCH:
        raise TryRefreshToken("time claim out of range")
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


# --------------------------------------------------------------------------- access tokens


@dataclass(frozen=True)
class AccessToken:
    """A verified (or freshly minted) access token."""

    token: str
    user_id: str
    handle: str
    refresh_token_hash1: str
    parent_refresh_token_hash1: str | None
    anti_csrf_token: str | None
    issued_at: datetime
    expires_at: datetime
    #: Every claim, as the SDK sees it in the front-token's ``up``: a read-only view of a copy
    #: of the mapping it was built with (its nested values are the caller's own).
    payload: Mapping[str, Any] = field(repr=False)

    def __post_init__(self) -> None:
        # A token's claims never change after it was signed or verified: the verified-token
        # cache hands a token with scalar claims to every request that presents it (fastpath.py).
        object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))

    @property
    def custom_payload(self) -> dict[str, Any]:
        """The application's claims: the payload minus the protected ones (and ``iss``)."""
        return {k: v for k, v in self.payload.items() if k not in PROTECTED_CLAIMS and k != "iss"}


@dataclass(frozen=True)
class SigningMaterial:
    """What signs a token: a key id, its algorithm and a key object pyjwt accepts."""

    kid: str
    algorithm: str
    private_key: Any


def encode_access_token(
    *,
    key: SigningMaterial,
    user_id: str,
    handle: str,
    refresh_token_hash1: str,
    parent_refresh_token_hash1: str | None,
    anti_csrf_token: str | None,
    custom_payload: Mapping[str, Any],
    issuer: str,
    now: datetime,
    lifetime: timedelta,
) -> AccessToken:
    iat = _epoch(now)
    exp = iat + int(lifetime.total_seconds())
    payload: dict[str, Any] = {"iss": issuer}
    payload.update(custom_payload)  # before the protected claims, so they always win
    payload.update(
        {
            "sub": user_id,
            "iat": iat,
            "exp": exp,
            "sessionHandle": handle,
            "refreshTokenHash1": refresh_token_hash1,
            "parentRefreshTokenHash1": parent_refresh_token_hash1,
            "antiCsrfToken": anti_csrf_token,
            "tId": TENANT_ID,
            "rsub": user_id,
        }
    )
    token = jwt.encode(
        payload,
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": "JWT", "version": TOKEN_VERSION},
    )
    return AccessToken(
        token=token,
        user_id=user_id,
        handle=handle,
        refresh_token_hash1=refresh_token_hash1,
        parent_refresh_token_hash1=parent_refresh_token_hash1,
        anti_csrf_token=anti_csrf_token,
        issued_at=_from_epoch(iat),
        expires_at=_from_epoch(exp),
        payload=payload,
    )


def _claim(payload: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    # bool is an int subclass: a token claiming "exp": true is malformed, not "expires at 1".
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TryRefreshToken(f"claim {name!r} missing or of the wrong type")
    return value


def decode_access_token(
    token: str,
    *,
    algorithm: str,
    resolve_key: Callable[[str], Any | None],
    now: datetime,
    leeway: timedelta,
) -> AccessToken:
    """Verify ``token`` in full, or raise :class:`TryRefreshToken`.

    ``algorithm`` is the one configured; ``resolve_key(kid)`` returns the verification key for a
    ``kid`` we trust, or ``None``. Time checks use ``now`` (a seam for tests and skew) and allow
    ``leeway`` on ``exp`` and ``iat``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_ACCESS_TOKEN_LENGTH:
        raise TryRefreshToken("access token absent or oversized")
    if not _COMPACT_JWS.match(token):
        raise TryRefreshToken("access token is not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TryRefreshToken("access token is not a JWT") from exc
    # The header is attacker-controlled: only ``kid`` is used, and only to pick among our keys.
    if header.get("alg") != algorithm:
        raise TryRefreshToken("unexpected algorithm")
    if "crit" in header:
        raise TryRefreshToken("critical header extensions are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TryRefreshToken("no key id")
    key = resolve_key(kid)
    if key is None:
        raise TryRefreshToken("unknown key id")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            # Time is checked below against ``now``; audience is not part of the protocol.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise TryRefreshToken("bad access token signature or encoding") from exc
    return claims_to_access_token(token, payload, now=now, leeway=leeway)


def claims_to_access_token(
    token: str, payload: Mapping[str, Any], *, now: datetime, leeway: timedelta
) -> AccessToken:
    """Check the claims of a token whose signature is already verified."""
    user_id = _claim(payload, "sub", str)
    handle = _claim(payload, "sessionHandle", str)
    rth1 = _claim(payload, "refreshTokenHash1", str)
    parent = payload.get("parentRefreshTokenHash1")
    anti_csrf = payload.get("antiCsrfToken")
    iat = _claim(payload, "iat", int)
    exp = _claim(payload, "exp", int)
    if not _UUID.match(handle) or not _HEX64.match(rth1):
        raise TryRefreshToken("malformed session claims")
    if parent is not None and not (isinstance(parent, str) and _HEX64.match(parent)):
        raise TryRefreshToken("malformed parent hash")
    if anti_csrf is not None and not isinstance(anti_csrf, str):
        raise TryRefreshToken("malformed anti-csrf claim")
    slack = leeway.total_seconds()
    current = now.timestamp()
    if exp <= current - slack:
        raise TryRefreshToken("access token expired")
    if iat > current + slack:
        raise TryRefreshToken("access token issued in the future")
    nbf = payload.get("nbf")
    if nbf is not None and (
        not isinstance(nbf, int) or isinstance(nbf, bool) or nbf > current + slack
    ):
        raise TryRefreshToken("access token not yet valid")
    return AccessToken(
        token=token,
        user_id=user_id,
        handle=handle,
        refresh_token_hash1=rth1,
        parent_refresh_token_hash1=parent,
        anti_csrf_token=anti_csrf,
        issued_at=_from_epoch(iat),
        expires_at=_from_epoch(exp),
        payload=dict(payload),
    )


def front_token(access_token: AccessToken) -> str:
    """The ``front-token`` header: base64 of ``{"ate", "uid", "up"}`` (PROTOCOL.md §4)."""
    body = {
        "ate": int(access_token.expires_at.timestamp()) * 1000,
        "uid": access_token.user_id,
        "up": dict(access_token.payload),
    }
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------- refresh tokens


@dataclass(frozen=True)
class RefreshToken:
    """The readable content of a refresh token whose MAC verified."""

    token: str
    handle: str
    parent_hash1: str | None
    anti_csrf_token: str | None

    @property
    def hash1(self) -> str:
        return sha256_hex(self.token)

    @property
    def hash2(self) -> str:
        return sha256_hex(self.hash1)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # The last character's unused low bits are ignored by the decoder: without this check one
    # MAC would have several spellings, and a respelled current token would look like theft.
    if _b64url(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def _refresh_mac(body: str, secret: str | bytes) -> bytes:
    key = hashlib.sha256(_REFRESH_SALT.encode() + b"\x00" + _as_bytes(secret)).digest()
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()


def _as_bytes(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode()


def mint_refresh_token(
    *, handle: str, parent_hash1: str | None, anti_csrf_token: str | None, secret: str | bytes
) -> RefreshToken:
    body_json = {
        "v": 1,
        "h": handle,
        "n": _b64url(secrets.token_bytes(32)),  # 256 random bits: what makes each token unique
        "p": parent_hash1,
        "a": anti_csrf_token,
    }
    body = _b64url(json.dumps(body_json, separators=(",", ":")).encode())
    token = f"{body}.{_b64url(_refresh_mac(body, secret))}"
    return RefreshToken(
        token=token, handle=handle, parent_hash1=parent_hash1, anti_csrf_token=anti_csrf_token
    )


def parse_refresh_token(token: str, *, secrets_: Iterable[str | bytes]) -> RefreshToken:
    """Return the content of ``token`` if one of ``secrets_`` authenticates it, else raise
    :class:`Unauthorised`. Nothing in an unauthenticated body is ever looked at."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_REFRESH_TOKEN_LENGTH:
        raise Unauthorised("refresh token absent or oversized")
    body, sep, mac_text = token.partition(".")
    try:
        mac = _unb64url(mac_text)
        if not sep or not _B64URL.match(body):
            raise ValueError("malformed")
    except (ValueError, binascii.Error) as exc:
        raise Unauthorised("malformed refresh token") from exc
    if not any(hmac.compare_digest(mac, _refresh_mac(body, s)) for s in secrets_):
        raise Unauthorised("refresh token signature mismatch")
    try:
        data = json.loads(_unb64url(body))
    except (ValueError, binascii.Error) as exc:  # pragma: no cover - only we can MAC a body
        raise Unauthorised("malformed refresh token body") from exc
    handle, parent, anti_csrf = data.get("h"), data.get("p"), data.get("a")
    if (
        data.get("v") != 1
        or not (isinstance(handle, str) and _UUID.match(handle))
        or not (parent is None or (isinstance(parent, str) and _HEX64.match(parent)))
        or not (anti_csrf is None or isinstance(anti_csrf, str))
    ):
        raise Unauthorised("unsupported refresh token body")
    return RefreshToken(token=token, handle=handle, parent_hash1=parent, anti_csrf_token=anti_csrf)
