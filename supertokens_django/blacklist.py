"""The revocation check (PROTOCOL.md §9): Django's cache when configured, the database otherwise.

The database (``RevokedSession``) is the source of truth. With ``BLACKLIST_CACHE`` set, the cache
holds ``"1"`` for revoked handles (written after the revocation commits, kept as long as the
record) and ``"0"`` for handles found live (added with ``cache.add`` for at most
``BLACKLIST_CACHE_TIMEOUT``). ``add`` never overwrites, so a check that read the database just
before a revocation committed cannot hide the revocation's ``"1"``. A cache that errors is
skipped: the check falls back to the database, never to "allow"; a database error is a 503.

Two modes (``BLACKLIST_MODE``):

``"immediate"`` (the default)
    Every verified request asks the shared store above. Once :func:`engine.revoke_session` (or
    any revocation) has returned, no process accepts the session's access token again: the
    record is committed and the cache holds ``"1"`` before it returns. (If the cache cannot be
    written, nor its stale ``"0"`` removed, a process may trust that ``"0"`` for at most
    ``BLACKLIST_CACHE_TIMEOUT``; this is logged as an error.)

``"bounded"``
    Each process remembers the shared store's answer for a handle for at most
    ``BLACKLIST_BOUND`` (default 1 s), measured on the monotonic clock **from the moment it
    started asking**, so an answer that was read just before a revocation committed expires no
    later than ``BLACKLIST_BOUND`` after that commit. Guarantee: a revocation that has returned at
    time *T* is refused by every process, for every request whose check starts at
    *T* + ``BLACKLIST_BOUND`` or later (plus the same cache-failure caveat as above); the process
    that made the revocation refuses at once (it marks the handles locally). What it buys: the
    shared store sees at most one query per handle, per process, per bound, instead of one per
    request. The local memory holds at most :data:`LOCAL_MAX_ENTRIES` handles (oldest first
    out), which costs speed, never the bound.

A revocation made inside a caller's transaction (``ATOMIC_REQUESTS``, an admin action) writes
the cache's ``"1"`` only once that transaction commits, never if it rolls back; in the bounded
mode the revoking process marks the handles locally at once and again at the commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import setting_changed
from django.db import DatabaseError

from . import db
from .conf import st_settings
from .exceptions import ServiceUnavailable

logger = logging.getLogger("supertokens_django.blacklist")
REVOKED, LIVE = "1", "0"


def cache_key(handle: str) -> str:
    return f"supertokens:revoked:{handle}"


def _cache() -> BaseCache | None:
    alias = st_settings.blacklist_cache
    if not alias:
        return None
    try:
        return caches[alias]
    except Exception:  # a misconfigured alias (check E019) must not turn into a 500  # noqa: BLE001
        logger.error("blacklist cache %r unavailable; using the database", alias, exc_info=True)
        return None


#: The bounded mode's clock (seconds, monotonic); tests replace it.
monotonic: Callable[[], float] = time.monotonic
#: How many handles the bounded mode remembers per process (about 150 bytes each).
LOCAL_MAX_ENTRIES = 100_000


class LocalVerdicts:
    """The bounded mode's per-process memory: handle -> (when its check started, revoked)."""

    def __init__(self, max_entries: int = LOCAL_MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, bool]] = {}
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, handle: str, now: float, bound: float) -> bool | None:
        """The remembered verdict if its check started less than ``bound`` seconds ago."""
        entry = self._entries.get(handle)  # one dict read: atomic, no lock needed
        if entry is None:
            return None
        started, revoked = entry
        # ``now < started`` cannot happen with a monotonic clock; refuse to trust it anyway.
        if started <= now < started + bound:
            return revoked
        return None

    def put(self, handle: str, started: float, revoked: bool) -> None:
        with self._lock:
            current = self._entries.pop(handle, None)
            if current is not None and current[1] and not revoked and current[0] > started:
                # A revocation marked here after this check began: the check's "live" is stale.
                self._entries[handle] = current
                return
            while len(self._entries) >= self.max_entries:
                # Insertion order is (nearly) start order: the oldest entries go first.
                del self._entries[next(iter(self._entries))]
            self._entries[handle] = (started, revoked)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


local_verdicts = LocalVerdicts()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    # A new configuration (override_settings) starts with nothing remembered.
    if setting == "SUPERTOKENS":
        local_verdicts.clear()


setting_changed.connect(
    _on_setting_changed, weak=False, dispatch_uid="supertokens_django.blacklist"
)


def _bound() -> float | None:
    """The bounded mode's bound in seconds, or ``None`` in the immediate mode."""
    if st_settings.blacklist_mode != "bounded":
        return None
    bound = st_settings.blacklist_bound.total_seconds()
    return bound if bound > 0 else None


def is_revoked(handle: str) -> bool:
    """Whether ``handle`` is on the revocation list; raises :class:`ServiceUnavailable`.

    In the bounded mode the answer may be up to ``BLACKLIST_BOUND`` old (module docstring)."""
    bound = _bound()
    if bound is None:
        return _shared_is_revoked(handle)
    started = monotonic()
    known = local_verdicts.get(handle, started, bound)
    if known is not None:
        return known
    revoked = _shared_is_revoked(handle)
    local_verdicts.put(handle, started, revoked)
    return revoked


#: Where :func:`_reader` keeps a backend instance's reader: on the instance itself, so that it
#: goes when the instance goes. Django makes one instance per thread and alias, and under ASGI
#: one per request (each request runs in a context of its own); a table kept here, even one
#: with weak keys, would keep them all alive, as its values refer back to their instances.
_READER_ATTRIBUTE = "_supertokens_blacklist_reader"


def _reader(cache: BaseCache) -> Callable[[str], Any]:
    """The function that reads one key of ``cache``: :func:`_make_reader`'s, made once per
    instance (one dict lookup from then on), or ``cache.get``."""
    reader: Callable[[str], Any] | bool | None = cache.__dict__.get(_READER_ATTRIBUTE)
    if reader is None:
        reader = cache.__dict__[_READER_ATTRIBUTE] = _make_reader(cache) or False
    return reader or cache.get  # type: ignore[return-value]


def _make_reader(cache: BaseCache) -> Callable[[str], Any] | None:
    """``cache.get`` for one key, by a shorter path to the same answer on Django's RedisCache.

    ``RedisCache.get`` builds a new redis-py client object on every call, which on loopback
    costs about as much as the GET itself, and it runs on every verified request in the
    immediate mode. This keeps one read client per backend instance (redis-py clients are
    thread-safe over their connection pool) and reads the very key and format ``get`` would
    (``make_key``, the backend's serializer). Any other backend, or a subclass that may shard
    or serialize differently, keeps its own ``get`` (``None`` here).

    The reader refers to nothing that refers back to ``cache`` (it is stored on ``cache``): it
    makes the key as ``BaseCache.make_key`` does, from the instance's key function, prefix and
    version, so the instance is freed by reference counting as soon as Django lets it go.
    """
    from django.core.cache.backends.redis import RedisCache, RedisCacheClient

    backend = getattr(cache, "_cache", None) if type(cache) is RedisCache else None
    if type(backend) is not RedisCacheClient:
        return None
    client = backend.get_client(write=False)
    loads = backend._serializer.loads  # type: ignore[attr-defined]
    key_func, key_prefix, version = cache.key_func, cache.key_prefix, cache.version

    def get(key: str) -> Any:
        value = client.get(key_func(key, key_prefix, version))
        return None if value is None else loads(value)

    return get


def _shared_is_revoked(handle: str) -> bool:
    cache = _cache()
    if cache is not None:
        try:
            cached = _reader(cache)(cache_key(handle))
        except Exception:  # any backend error: fall back to the database  # noqa: BLE001
            logger.warning("blacklist cache unavailable; checking the database", exc_info=True)
            cache = None
        else:
            if cached is not None:
                return bool(cached == REVOKED)
    revoked = _in_database(handle)
    if cache is not None:
        timeout = st_settings.blacklist_cache_timeout.total_seconds()
        try:
            cache.add(cache_key(handle), REVOKED if revoked else LIVE, timeout=timeout)
        except Exception:  # noqa: BLE001 - a cache that cannot store costs speed, not safety
            logger.warning("blacklist cache could not store a result", exc_info=True)
    return revoked


async def ais_revoked(handle: str) -> bool:
    from asgiref.sync import sync_to_async

    bound = _bound()
    if bound is not None:
        # A remembered verdict needs no thread hop.
        known = local_verdicts.get(handle, monotonic(), bound)
        if known is not None:
            return known
    return await sync_to_async(is_revoked, thread_sensitive=True)(handle)


def _in_database(handle: str) -> bool:
    from .models import RevokedSession

    try:
        # The primary, never a replica that may not have the revocation yet (db.write_alias).
        alias = db.write_alias(RevokedSession)
        return RevokedSession.objects.using(alias).filter(handle=handle).exists()
    except DatabaseError as exc:
        raise ServiceUnavailable("revocation list unavailable") from exc


def mark_locally(handles: Iterable[str]) -> None:
    """In the bounded mode, remember ``handles`` as revoked in this process (from now on)."""
    if _bound() is not None:
        marked = monotonic()
        for handle in handles:
            local_verdicts.put(handle, marked, True)


def remember_revoked(handles: Iterable[str], lifetime: timedelta) -> None:
    """Mark ``handles`` revoked in the cache (called once the revocation has committed), and in
    this process's bounded-mode memory, so the process that revokes refuses at once."""
    cache = _cache()
    handles = list(handles)
    mark_locally(handles)
    if cache is None or not handles:
        return
    try:
        cache.set_many(
            {cache_key(h): REVOKED for h in handles}, timeout=max(1, int(lifetime.total_seconds()))
        )
    except Exception:  # noqa: BLE001
        # The database has the record; a stale "0" lives at most BLACKLIST_CACHE_TIMEOUT. Try to
        # remove such entries so the next check goes to the database.
        logger.error("blacklist cache could not record a revocation", exc_info=True)
        try:
            cache.delete_many([cache_key(h) for h in handles])
        except Exception:  # noqa: BLE001
            logger.error("blacklist cache could not drop stale entries", exc_info=True)
