"""Signing keys: creation, rotation, encryption at rest, the per-process key ring and the JWKS.

Timeline of a dynamic key (``interval`` = ``SIGNING_KEY_ROTATION_INTERVAL``)::

    created ── signs_from ────────── signs_until ───── verifies_until
               |<──── interval ────>|<─ 2 × access-token lifetime ─>|

The successor of the signing key is created (and so published in the JWKS) ``announce`` before
it starts signing, whenever a process signs during that window or ``supertokens_rotate_keys``
runs. Each key has a unique ``generation``; rotating inserts ``max + 1`` with ``max`` read before
the keys the decision rests on, so concurrent rotations collide on the constraint and exactly one
new key wins.

A forced rotation ("rotate now") keeps the same rule in small: its key is published
``FORCED_KEY_NOTICE`` before it signs, because a process that reloaded its keys just before the
new key was stored reloads again on an unknown ``kid`` only after ``UNKNOWN_KID_RELOAD_SECONDS``.
No process can see a token signed with a key it may not reload yet. And every process signs with
it from then on: a process reads the keys again before a signature when the ones it holds were
read ``SIGNER_RELOAD_INTERVAL`` (one second, less than the notice) or longer ago, so the keys it
signs with at ``signs_from`` were read after the new key was stored. That is one query per
process and second at the most, and only while it signs (creates and refreshes sessions, which
query anyway); verification still reads the keys only for an unknown ``kid``.

A key stored inside a caller's transaction (``ATOMIC_REQUESTS``: the first signature of a
deployment, or one in the announce window, happens in the view's transaction) exists for that
transaction only until it commits, and never if it rolls back. The call that stored it may sign
with it (as may later calls in the same transaction): the token leaves with the response, after
the commit (``transport`` holds tokens issued inside a transaction back from an error response,
which is when Django rolls the view's transaction back). The process shares the key with its
other threads and requests only once the transaction has committed (``transaction.on_commit``);
until then they go on as if it did not exist, exactly as other processes do, and a rollback
leaves nothing behind: no key that only this process knows, no successor believed announced.
Reads and writes of keys go to the primary (``router.db_for_write``). A forced rotation counts
``FORCED_KEY_NOTICE`` from when its key is stored, so run it outside a transaction
(``supertokens_rotate_keys --force`` does).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, transaction
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from . import db
from .conf import Resolved, st_settings
from .exceptions import ServiceUnavailable
from .tokens import SigningMaterial

logger = logging.getLogger("supertokens_django.keys")

#: How often an unknown ``kid`` may trigger a reload, per process.
UNKNOWN_KID_RELOAD_SECONDS = 1.0
#: How old (by the engine's clock) the keys a process signs with may be: a signature after that
#: reloads them first, so a key that another process rotated in signs here too on time.
SIGNER_RELOAD_INTERVAL = timedelta(seconds=1)
#: How far in the past a key created because none was signing starts (see ``ensure_keys``).
NEW_KEY_BACKDATE = timedelta(minutes=1)
#: How long a forced rotation's key is published before it signs: the unknown-kid (and signer)
#: reload interval, plus as much again for generating and storing the key and for clock skew
#: between the servers that sign.
FORCED_KEY_NOTICE = timedelta(seconds=2 * UNKNOWN_KID_RELOAD_SECONDS)
_ENCRYPTION_SALT = b"supertokens_django.keys.encryption"


def announce_period(interval: timedelta) -> timedelta:
    """How long a successor key is published before it signs."""
    return min(interval / 2, timedelta(hours=1))


# --------------------------------------------------------------------------- key material


def generate_private_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "HS256":
        return secrets.token_bytes(32)
    raise ImproperlyConfigured(f"SUPERTOKENS['SIGNING_ALGORITHM'] {algorithm!r} is not supported")


def private_to_bytes(key: Any) -> bytes:
    if isinstance(key, bytes):
        return key
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Any) -> str:
    if isinstance(key, bytes):
        return ""  # symmetric: nothing public
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def load_private(algorithm: str, raw: bytes) -> Any:
    if algorithm == "HS256":
        return raw
    return serialization.load_pem_private_key(raw, password=None)


def load_static_key(algorithm: str, value: str) -> Any:
    """Parse ``STATIC_SIGNING_KEY`` for ``algorithm``; ``ValueError`` when they don't match."""
    if algorithm == "HS256":
        if len(value.encode()) < 32:
            raise ValueError("an HS256 key must be at least 32 bytes long")
        return value.encode()
    key = serialization.load_pem_private_key(value.encode(), password=None)
    expected = {
        "RS256": rsa.RSAPrivateKey,
        "ES256": ec.EllipticCurvePrivateKey,
        "EdDSA": ed25519.Ed25519PrivateKey,
    }[algorithm]
    if not isinstance(key, expected):
        raise ValueError(f"the PEM key is not a {algorithm} private key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise ValueError("RSA keys must have at least 2048 bits")
    if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("ES256 needs a P-256 key")
    return key


def verification_key(private: Any) -> Any:
    return private if isinstance(private, bytes) else private.public_key()


def public_jwk(kid: str, algorithm: str, private: Any) -> dict[str, Any] | None:
    """The JWK of the public half, or ``None`` for a symmetric key (never published)."""
    if isinstance(private, bytes):
        return None
    public = private.public_key()
    converters: dict[str, Any] = {
        "RS256": RSAAlgorithm,
        "ES256": ECAlgorithm,
        "EdDSA": OKPAlgorithm,
    }
    converter = converters[algorithm]
    jwk: dict[str, Any] = json.loads(converter.to_jwk(public))
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    return jwk


# --------------------------------------------------------------------------- encryption at rest


def _aes_key(secret: str | bytes) -> bytes:
    raw = secret if isinstance(secret, bytes) else secret.encode()
    return hashlib.sha256(_ENCRYPTION_SALT + b"\x00" + raw).digest()


def server_secrets() -> list[str | bytes]:
    """``SECRET_KEY`` first, then ``SECRET_KEY_FALLBACKS``: new material uses the first."""
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def encrypt_private_key(kid: str, raw: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_aes_key(server_secrets()[0])).encrypt(nonce, raw, kid.encode())
    return "v1:" + base64.b64encode(nonce + sealed).decode()


def decrypt_private_key(kid: str, stored: str) -> bytes:
    if not stored.startswith("v1:"):
        raise ImproperlyConfigured(f"signing key {kid} has an unknown storage format")
    blob = base64.b64decode(stored[3:])
    for secret in server_secrets():
        try:
            return AESGCM(_aes_key(secret)).decrypt(blob[:12], blob[12:], kid.encode())
        except Exception:  # InvalidTag: try the next fallback  # noqa: BLE001, S112
            continue
    raise ImproperlyConfigured(
        f"signing key {kid} cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS"
    )


# --------------------------------------------------------------------------- the key ring


@dataclass(frozen=True)
class _Loaded:
    kid: str
    generation: int
    algorithm: str
    signs_from: datetime
    signs_until: datetime
    verifies_until: datetime
    private: Any = field(repr=False)


@dataclass(frozen=True)
class _State:
    algorithm: str
    keys: tuple[_Loaded, ...]
    #: When the keys were read: ``time.monotonic()`` for the unknown-kid reload, and the
    #: engine's ``now`` for the signer's (``None``: reload before the next signature).
    loaded_at: float
    loaded_for: datetime | None
    #: ``keys`` by kid: every verification looks one up.
    by_kid: dict[str, _Loaded] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_kid", {k.kid: k for k in self.keys})

    def signer(self, now: datetime) -> _Loaded | None:
        candidates = [k for k in self.keys if k.signs_from <= now < k.signs_until]
        return max(candidates, key=lambda k: k.generation, default=None)

    def has_successor(self, key: _Loaded) -> bool:
        return any(k.generation > key.generation for k in self.keys)


def _rotation_since(state: _State, generation: int, now: datetime) -> _Loaded | None:
    """The newest key above ``generation`` that takes over early from the key signing at ``now``
    among those up to ``generation`` (any newer key, if none was signing)."""
    previous = max(
        (
            k
            for k in state.keys
            if k.generation <= generation and k.signs_from <= now < k.signs_until
        ),
        key=lambda k: k.generation,
        default=None,
    )
    newer = (
        k
        for k in state.keys
        if k.generation > generation and (previous is None or k.signs_from < previous.signs_until)
    )
    return max(newer, key=lambda k: k.generation, default=None)


def _stale_for_signing(state: _State, now: datetime) -> bool:
    """Whether a signature at ``now`` must read the keys again first: another process may have
    rotated since (``supertokens_rotate_keys --force``), or announced the successor.

    Measured with the engine's clock, which the signing times are in; a clock that went back
    reloads nothing."""
    return state.loaded_for is None or now - state.loaded_for >= SIGNER_RELOAD_INTERVAL


@functools.lru_cache(maxsize=8)
def _static_key(algorithm: str, value: str) -> _Loaded:
    """``STATIC_SIGNING_KEY`` parsed once per process (per value, so settings may change).

    Parsing is not free: loading an RSA private key validates it, which takes many milliseconds,
    and this runs on every signature and every verification.
    """
    private = load_static_key(algorithm, value)
    digest = hashlib.sha256(b"kid\x00" + private_to_bytes(private)).hexdigest()[:16]
    forever = datetime.max.replace(tzinfo=None)
    return _Loaded(f"s-{digest}", 0, algorithm, datetime.min, forever, forever, private)


class KeyRing:
    """The keys this process signs and verifies with, loaded from the database on demand.

    Verification never touches the database for a known ``kid``; an unknown one reloads at most
    once per :data:`UNKNOWN_KID_RELOAD_SECONDS` (another worker may just have rotated).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._undecryptable: set[str] = set()
        #: Keys this process stored inside a caller's transaction that has not committed yet:
        #: left out of ``_state`` until it commits (see the module docstring).
        self._uncommitted: set[str] = set()

    def reset(self) -> None:
        """Forget everything loaded (tests, and after ``SECRET_KEY`` changes)."""
        with self._lock:
            self._state = None

    # -- static key

    def _static(self) -> _Loaded | None:
        value = st_settings.static_signing_key
        if not value:
            return None
        return _static_key(st_settings.signing_algorithm, value)

    # -- signing

    def signing_material(self, now: datetime) -> SigningMaterial:
        static = self._static()
        if static is not None:
            return SigningMaterial(static.kid, static.algorithm, static.private)
        algorithm = st_settings.signing_algorithm
        state = self._state
        if state is not None and state.algorithm == algorithm and _stale_for_signing(state, now):
            state = self._reload_for_signing(now, algorithm)
        key = state.signer(now) if state and state.algorithm == algorithm else None
        interval = st_settings.signing_key_rotation_interval
        if key is None or (
            key.signs_until - now <= announce_period(interval) and not state.has_successor(key)  # type: ignore[union-attr]
        ):
            key = self.ensure_keys(now)
        return SigningMaterial(key.kid, key.algorithm, key.private)

    def _reload_for_signing(self, now: datetime, algorithm: str) -> _State:
        """Read the keys again before signing with keys read ``SIGNER_RELOAD_INTERVAL`` ago or
        more: one query per process per interval, however many signatures it makes."""
        with self._lock:
            state = self._state
            if state is None or state.algorithm != algorithm or _stale_for_signing(state, now):
                state = self._load(now, algorithm)
            return state

    def ensure_keys(
        self, now: datetime, *, force: bool = False, retire_old: bool = False
    ) -> _Loaded:
        """Make sure a key signs at ``now`` and its successor is announced; return the signer.

        ``force`` rotates instead (see :meth:`_rotate`) and returns the new key, which signs
        from ``now + FORCED_KEY_NOTICE``; with ``retire_old`` too, every other key stops
        verifying then (see :meth:`_retire_all_but`).

        Creating is a compare-and-swap: the highest generation is read *before* the keys the
        decision is based on, and the new key takes the next one. A worker that decided on a
        stale view collides with the unique ``generation`` and decides again on a fresh one.
        """
        with self._lock:
            if force:
                rotation = self._rotate(now)
                if retire_old:
                    self._retire_all_but(rotation, now)
                return rotation
            if retire_old:
                raise ValueError("retire_old goes with force")
            algorithm = st_settings.signing_algorithm
            interval = st_settings.signing_key_rotation_interval
            for _attempt in range(3):
                top = self._top_generation()
                state = self._load(now, algorithm)
                signer = state.signer(now)
                if signer is None:
                    # Nobody can have signed with a key that does not exist yet, so it may start
                    # a little in the past: a worker whose clock reads a few ms earlier than
                    # ours then finds it signing, instead of creating a second one.
                    starts = now - NEW_KEY_BACKDATE
                elif signer.signs_until - now <= announce_period(
                    interval
                ) and not state.has_successor(signer):
                    starts = signer.signs_until
                else:
                    return signer
                self._create(now, starts, algorithm, interval, generation=top + 1)
            state = self._load(now, algorithm)
            signer = state.signer(now)
            if signer is None:  # pragma: no cover - three lost races in a row
                raise ServiceUnavailable("could not establish a signing key")
            return signer

    def _rotate(self, now: datetime) -> _Loaded:
        """Create a key that takes over from the current signer at ``now + FORCED_KEY_NOTICE``.

        The previous key is not withdrawn: it verifies until its ``verifies_until``. When no key
        signs at all, the new one starts at once (backdated like a first key): nobody holds a
        token to be confused by it.

        Two rotations at once are one rotation. Each remembers the highest generation it read
        first; a worker that loses the insert returns the key that won, that is, the newest key
        created since, which takes over before the previous signer would have ended. A key that
        won but only announces the natural successor (it starts when the previous one ends) is
        not a rotation: the worker tries again.
        """
        algorithm = st_settings.signing_algorithm
        interval = st_settings.signing_key_rotation_interval
        since: int | None = None
        for _attempt in range(3):
            top = self._top_generation()
            since = top if since is None else since
            state = self._load(now, algorithm)
            rotation = _rotation_since(state, since, now)
            if rotation is not None:
                return rotation
            starts = now + FORCED_KEY_NOTICE if state.signer(now) else now - NEW_KEY_BACKDATE
            self._create(now, starts, algorithm, interval, generation=top + 1)
        rotation = _rotation_since(self._load(now, algorithm), since or 0, now)
        if rotation is None:  # pragma: no cover - three lost races in a row
            raise ServiceUnavailable("could not rotate the signing key")
        return rotation

    def _retire_all_but(self, rotation: _Loaded, now: datetime) -> None:
        """Withdraw every key but ``rotation`` (a key that may have leaked): each stops signing
        and verifying when ``rotation`` starts signing, so every access token they signed is
        refused from then on ("try refresh token": its client refreshes, and the refresh token
        does not depend on the keys).

        The end is only ever brought forward (a key already retired stays so). Other processes
        learn it when they next read the keys: before their next signature (at most a second
        after their last read), and on the first token of the new key they see; a process that
        does neither goes on accepting the old keys' tokens until it reads the keys or restarts.
        """
        from .models import SigningKey

        end = max(rotation.signs_from, now)
        alias = db.write_alias(SigningKey)
        try:
            with transaction.atomic(using=alias):
                others = SigningKey.objects.using(alias).exclude(kid=rotation.kid)
                others.filter(signs_until__gt=end).update(signs_until=end)
                others.filter(verifies_until__gt=end).update(verifies_until=end)
        except DatabaseError as exc:
            raise ServiceUnavailable("the signing keys could not be retired") from exc
        # This process knows at once (later signatures and verifications read this state).
        self._load(now, rotation.algorithm)

    def _top_generation(self) -> int:
        from .models import SigningKey

        try:
            top = (
                SigningKey.objects.using(db.write_alias(SigningKey))
                .order_by("-generation")
                .values_list("generation", flat=True)
            )
            return top.first() or 0
        except DatabaseError as exc:
            raise ServiceUnavailable("signing keys could not be loaded") from exc

    def _create(
        self,
        now: datetime,
        starts: datetime,
        algorithm: str,
        interval: timedelta,
        *,
        generation: int,
    ) -> bool:
        from .models import SigningKey

        private = generate_private_key(algorithm)
        kid = secrets.token_hex(8)
        lifetime = st_settings.access_token_lifetime
        alias = db.write_alias(SigningKey)
        uncommitted = db.in_transaction(alias)
        try:
            with transaction.atomic(using=alias):
                SigningKey.objects.using(alias).create(
                    kid=kid,
                    generation=generation,
                    algorithm=algorithm,
                    private_key=encrypt_private_key(kid, private_to_bytes(private)),
                    public_key=public_pem(private),
                    created_at=now,
                    signs_from=starts,
                    signs_until=starts + interval,
                    verifies_until=starts + interval + 2 * lifetime,
                )
        except IntegrityError:
            return False  # another worker created a key since we looked: decide again
        except DatabaseError as exc:
            raise ServiceUnavailable("a signing key could not be stored") from exc
        if uncommitted:
            # Visible to this transaction only, and gone if it rolls back: the caller may sign
            # with it, this process publishes it once it commits (never if it rolls back).
            self._uncommitted.add(kid)
            transaction.on_commit(functools.partial(self._committed, kid), using=alias)
        return True

    def _committed(self, kid: str) -> None:
        """``kid``'s transaction committed: the next signature, and the next token signed with
        it, reload the keys at once (no database access here: the commit has succeeded)."""
        with self._lock:
            self._uncommitted.discard(kid)
            state = self._state
            if state is not None:
                self._state = _State(state.algorithm, state.keys, -math.inf, None)

    def _load(self, now: datetime, algorithm: str) -> _State:
        from .models import SigningKey

        try:
            rows = list(
                SigningKey.objects.using(db.write_alias(SigningKey)).filter(
                    verifies_until__gt=now, algorithm=algorithm
                )
            )
        except DatabaseError as exc:
            raise ServiceUnavailable("signing keys could not be loaded") from exc
        # A kid's key never changes: keep what is already decrypted and parsed. Parsing an RSA
        # key takes milliseconds, and any request with an unknown kid triggers a reload.
        known = {k.kid: k.private for k in self._state.keys} if self._state else {}
        keys = []
        for r in rows:
            private = known.get(r.kid)
            if private is None:
                try:
                    private = load_private(r.algorithm, decrypt_private_key(r.kid, r.private_key))
                except ImproperlyConfigured as exc:
                    self._skip_undecryptable(r.kid, exc)
                    continue
            keys.append(
                _Loaded(
                    r.kid,
                    r.generation,
                    r.algorithm,
                    r.signs_from,
                    r.signs_until,
                    r.verifies_until,
                    private,
                )
            )
        state = _State(algorithm, tuple(keys), time.monotonic(), now)
        # What this process shares (with its other threads and later requests) leaves out keys
        # of transactions that have not committed yet; the caller, whose transaction may be one
        # of them, gets everything it read.
        uncommitted = self._uncommitted
        if uncommitted and any(k.kid in uncommitted for k in keys):
            shared = tuple(k for k in keys if k.kid not in uncommitted)
            self._state = _State(algorithm, shared, state.loaded_at, now)
        else:
            self._state = state
        return state

    def _skip_undecryptable(self, kid: str, exc: Exception) -> None:
        """A key stored under a secret this process no longer has (``SECRET_KEY`` replaced
        without keeping the old one in ``SECRET_KEY_FALLBACKS``) is left out: its tokens are
        refused as "try refresh token", and a new key signs. Failing every request with a 500
        instead would not bring the old secret back. Logged once per key and process."""
        if kid not in self._undecryptable:
            self._undecryptable.add(kid)
            logger.error("%s; it is skipped, and its tokens are refused", exc)

    # -- verification

    def resolve(self, kid: str, now: datetime) -> Any | None:
        """The verification key for ``kid``, or ``None`` if we don't trust it (at ``now``)."""
        found = self._find(kid, now)
        return verification_key(found.private) if found is not None else None

    def is_trusted(self, kid: str, now: datetime, config: Resolved | None = None) -> bool:
        """Whether ``kid`` still verifies at ``now`` (the verified-token cache asks on each hit).
        ``config``: the settings snapshot, for a caller that has it."""
        return self._find(kid, now, config) is not None

    def _find(self, kid: str, now: datetime, config: Resolved | None = None) -> _Loaded | None:
        if config is None:
            config = st_settings.current()
        if config.static_signing_key:
            static = self._static()
            return static if static is not None and kid == static.kid else None
        algorithm = config.signing_algorithm
        state = self._state
        key = state.by_kid.get(kid) if state is not None and state.algorithm == algorithm else None
        if key is None and self._may_reload(state, algorithm):
            with self._lock:
                state = self._state
                if (
                    state is None
                    or state.algorithm != algorithm
                    or (kid not in state.by_kid and self._may_reload(state, algorithm))
                ):
                    state = self._load(now, algorithm)
            key = state.by_kid.get(kid)
        return key if key is not None and key.verifies_until > now else None

    @staticmethod
    def _may_reload(state: _State | None, algorithm: str) -> bool:
        """Nothing loaded (for this algorithm), or the last load is older than the reload
        interval: an unknown kid may reload, at most this often per process."""
        return (
            state is None
            or state.algorithm != algorithm
            or time.monotonic() - state.loaded_at >= UNKNOWN_KID_RELOAD_SECONDS
        )

    def jwks(self, now: datetime) -> dict[str, Any]:
        """Every public key that verifies at ``now`` (announced successors included)."""
        static = self._static()
        if static is not None:
            keys = [static]
        else:
            self.signing_material(now)  # creates the first key, or announces the successor
            with self._lock:
                keys = list(self._load(now, st_settings.signing_algorithm).keys)
        jwks = [public_jwk(k.kid, k.algorithm, k.private) for k in keys]
        return {"keys": [k for k in jwks if k is not None]}


keyring = KeyRing()
