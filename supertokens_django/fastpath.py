"""The verification fast path: a bounded per-process cache of access tokens verified in full.

A full verification (:func:`tokens.decode_access_token`) parses the JWT twice with pyjwt and
checks its signature: 60–250 µs for one of our tokens, depending on pyjwt's version and the
algorithm. A browser sends the same access token with every request for the token's lifetime,
so a process sees each token string many times. :meth:`VerifiedTokenCache.verify` verifies a
token in full the first time this process sees it and remembers the result under the exact token
string; later requests with the same string pay a dictionary lookup, two integer comparisons and
a key trust check. The engine verifies through the process-wide :data:`verified_tokens`.

Why a hit is exactly as strong as a full verification, step by step:

1. **Only full verifications fill the cache.** The single place that inserts an entry is
   :meth:`VerifiedTokenCache.verify`, right after its own call to ``decode_access_token``
   returned normally for that very ``token`` string. Nothing else (a caller's callable, a
   parsed header, a failure) can create or change an entry. An entry's claims are a private
   deep copy. When every claim is a scalar, the entry's token is immutable all the way down (a
   frozen dataclass of strings and datetimes, its payload a read-only view), and every hit
   hands out that same token; otherwise each hit gets a deep copy of the claims. Either way a
   caller cannot change what the next request sees.
2. **The key is the exact token string, plus the configured algorithm.** A dictionary lookup
   compares the whole string for equality after the hash matches, so a token that differs in a
   single byte (a forged signature, an edited claim, another header) is a miss and goes to the
   full verification. String hashing is SipHash with a per-process random key, so an attacker
   cannot flood one bucket either. The algorithm is part of the key because the full
   verification's verdict depends on it (``SIGNING_ALGORITHM`` may change under
   ``override_settings``).
3. **Everything else the full verdict depends on is re-checked on every hit.** Given the token
   and the algorithm, ``decode_access_token`` depends only on the key behind the header's
   ``kid`` and on ``now`` and ``leeway``. The claim checks that involve time are repeated
   (``exp`` with leeway, ``iat`` and ``nbf`` against ``now`` plus leeway: integer comparisons,
   and correct even if the clock steps backwards). The key is checked by asking the *same*
   ``resolve_key`` the full verification used whether it still trusts the ``kid``, at ``now``
   (or ``key_trusted``, which must answer exactly ``resolve_key(kid) is not None``, only
   without building the key): a retired key (past ``verifies_until``), a key deleted from the
   database and reloaded away, or a replaced ``STATIC_SIGNING_KEY`` all make it answer no, and
   the hit becomes a full verification, which refuses. A ``kid`` names one key for good:
   dynamic kids are random 64-bit primary keys, the static kid is a digest of the key itself.
4. **Tokens with a parent refresh-token hash are never cached.** Their use must reach the
   database anyway (promotion, PROTOCOL.md §8), where pyjwt's cost is noise.
5. **What a hit reveals.** A hit is faster than a miss, but probing for one needs the exact
   token string, and whoever holds it has nothing left to learn.

The revocation check, anti-CSRF and ``check_database`` stay with the caller (``engine``): the
cache replaces the decoding of a token, never a decision about its session.

The cache is bounded (least recently used entries go first; ``VERIFIED_TOKEN_CACHE_SIZE``,
default :data:`DEFAULT_SIZE`, ``0`` turns it off) and thread-safe (one lock around the
dictionary; the work inside it is a few dictionary operations).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .conf import st_settings
from .tokens import AccessToken, decode_access_token

#: Entries per process. An entry holds one token and its claims: about 3 KB for a typical token.
DEFAULT_SIZE = 4096
SETTING = "VERIFIED_TOKEN_CACHE_SIZE"

_SCALARS = (str, int, float, bool, type(None))


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


@dataclass(frozen=True)
class _Entry:
    """What a full verification established about one token string."""

    access: AccessToken  # its nested claims, if any, are private to the cache: see ``fresh()``
    kid: str
    exp: int
    not_before: int  # max(iat, nbf): the token is refused while ``now + leeway`` is before it
    flat: bool  # every claim is a scalar: ``access`` is immutable, and can be shared

    def fresh(self) -> AccessToken:
        """The token, for a caller who may do anything with what it gets."""
        if self.flat:
            return self.access
        return replace(self.access, payload=_copy_json(self.access.payload))


def _copy_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value  # JSON scalars are immutable


def _entry(access: AccessToken, kid: str) -> _Entry:
    payload = access.payload
    nbf = payload.get("nbf")
    iat = int(access.issued_at.timestamp())
    not_before = max(iat, nbf) if isinstance(nbf, int) and not isinstance(nbf, bool) else iat
    claims = {name: _copy_json(value) for name, value in payload.items()}
    return _Entry(
        access=AccessToken(
            access.token,
            access.user_id,
            access.handle,
            access.refresh_token_hash1,
            access.parent_refresh_token_hash1,
            access.anti_csrf_token,
            access.issued_at,
            access.expires_at,
            claims,
        ),
        kid=kid,
        exp=int(access.expires_at.timestamp()),
        not_before=not_before,
        flat=all(isinstance(v, _SCALARS) for v in claims.values()),
    )


class VerifiedTokenCache:
    """An LRU map from ``(algorithm, token)`` to what its full verification established."""

    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._maxsize = max(0, maxsize)
        self._hits = 0
        self._misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def resize(self, maxsize: int) -> None:
        with self._lock:
            self._maxsize = max(0, maxsize)
            self._trim()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, self._maxsize, len(self._entries))

    def _discard(self, key: tuple[str, str], entry: _Entry) -> None:
        with self._lock:
            self._hits -= 1  # found, but not served: the full verification answers
            self._misses += 1
            # Only the entry we judged: another thread may have stored a newer one meanwhile.
            if self._entries.get(key) is entry:
                del self._entries[key]

    def _put(self, key: tuple[str, str], entry: _Entry) -> None:
        with self._lock:
            if self._maxsize == 0:
                return
            # Make room first: the map never holds more than ``maxsize``, not even for a moment.
            self._entries.pop(key, None)
            while len(self._entries) >= self._maxsize:
                self._entries.popitem(last=False)
            self._entries[key] = entry

    def _trim(self) -> None:
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)

    def verify(
        self,
        token: str,
        *,
        now: datetime,
        algorithm: str,
        leeway: timedelta,
        resolve_key: Callable[[str], Any | None],
        key_trusted: Callable[[str], bool] | None = None,
        size: int | None = None,
    ) -> AccessToken:
        """:func:`tokens.decode_access_token`, answered from the cache when the token was
        verified in full before and still would be (see the module docstring).

        ``key_trusted(kid)``, when given, is the cheaper form of ``resolve_key(kid) is not None``
        that a hit asks; a function that says no more often than ``resolve_key`` only costs
        full verifications, one that says yes more often would break the argument. ``size``,
        when given, is the configured size: the cache resizes to it first.
        """
        if size is not None and size != self._maxsize:
            self.resize(size)
        if self._maxsize == 0:
            return decode_access_token(
                token, algorithm=algorithm, resolve_key=resolve_key, now=now, leeway=leeway
            )
        key = (algorithm, token)
        with self._lock:  # inline rather than a method: every verified request comes here
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
            else:
                self._entries.move_to_end(key)
                self._hits += 1
        if entry is not None:
            current = now.timestamp()
            slack = leeway.total_seconds()
            if (
                current - slack < entry.exp
                and entry.not_before <= current + slack
                and (
                    key_trusted(entry.kid)
                    if key_trusted is not None
                    else resolve_key(entry.kid) is not None
                )
            ):
                return entry.fresh()
            # Expired, not yet valid, or its key is no longer trusted: forget it, and let the
            # full verification give the answer (and the reason) it would give without a cache.
            self._discard(key, entry)
        kids: list[str] = []

        def recording_resolver(kid: str) -> Any | None:
            kids.append(kid)
            return resolve_key(kid)

        access = decode_access_token(
            token, algorithm=algorithm, resolve_key=recording_resolver, now=now, leeway=leeway
        )
        # The kid is recorded from the verification itself rather than parsed again: it is the
        # one whose key checked the signature.
        if access.parent_refresh_token_hash1 is None and len(set(kids)) == 1:
            self._put(key, _entry(access, kids[0]))
        return access


#: The process-wide cache (``engine.verify_access_token`` sizes it from the settings).
verified_tokens = VerifiedTokenCache()


def is_known(token: str) -> bool:
    """Whether ``token`` is in the cache now, i.e. was verified in full by this process.

    Only a hint for the transport's "is this Bearer value one of ours?" shape test (which it
    then skips): the verification that follows still decides. No LRU bump, no counters."""
    return (st_settings.signing_algorithm, token) in verified_tokens._entries
