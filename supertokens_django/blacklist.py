"""The revocation check (PROTOCOL.md §9): Django's cache when configured, the database otherwise.

The database (``RevokedSession``) is the source of truth. With ``BLACKLIST_CACHE`` set, the cache
holds ``"1"`` for revoked handles (written after the revocation commits, kept as long as the
record) and ``"0"`` for handles found live (added with ``cache.add`` for at most
``BLACKLIST_CACHE_TIMEOUT``). ``add`` never overwrites, so a check that read the database just
before a revocation committed cannot hide the revocation's ``"1"``. A cache that errors is
skipped: the check falls back to the database, never to "allow"; a database error is a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import DatabaseError

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


def is_revoked(handle: str) -> bool:
    """Whether ``handle`` is on the revocation list; raises :class:`ServiceUnavailable`."""
    cache = _cache()
    if cache is not None:
        try:
            cached = cache.get(cache_key(handle))
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

    return await sync_to_async(is_revoked, thread_sensitive=True)(handle)


def _in_database(handle: str) -> bool:
    from .models import RevokedSession

    try:
        return RevokedSession.objects.filter(handle=handle).exists()
    except DatabaseError as exc:
        raise ServiceUnavailable("revocation list unavailable") from exc


def remember_revoked(handles: Iterable[str], lifetime: timedelta) -> None:
    """Mark ``handles`` revoked in the cache (called once the revocation has committed)."""
    cache = _cache()
    handles = list(handles)
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
