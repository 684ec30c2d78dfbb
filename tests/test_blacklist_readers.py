"""The blacklist's per-backend reader does not keep cache backend instances alive.

Django makes a cache backend instance per thread and alias, and under ASGI one per request (each
request task runs in a context of its own). The reader made for an instance must go with it: a
module-level table of them kept every instance, and a RedisCache's connection pool, forever.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections
from pytest_django import Settings

from supertokens_django import blacklist, engine
from supertokens_django.keys import KeyRing


def _alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is LocMemCache)


def _in_a_fresh_thread(work: Callable[[], Any]) -> None:
    """Run ``work`` where no cache instance exists yet (an ASGI server's root context has none)."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


@pytest.fixture
def cached_revocation(settings: Settings) -> str:
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"}
    handle = str(uuid.uuid4())
    _in_a_fresh_thread(
        lambda: caches["blacklist"].set(blacklist.cache_key(handle), blacklist.REVOKED)
    )
    return handle


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects: what a reference cycle keeps stays."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_instances_of_finished_threads_are_freed(cached_revocation: str) -> None:
    before = _alive()

    def work() -> None:
        assert blacklist.is_revoked(cached_revocation) is True

    for _ in range(50):
        _in_a_fresh_thread(work)
    assert _alive() - before <= 1


def test_instances_of_finished_async_requests_are_freed(cached_revocation: str) -> None:
    before = _alive()

    async def one_request() -> None:
        assert await blacklist.ais_revoked(cached_revocation) is True

    def serve() -> None:
        for _ in range(50):
            asyncio.run(one_request())  # a fresh context, as each ASGI request task has

    _in_a_fresh_thread(serve)
    assert _alive() - before <= 1


@pytest.mark.django_db(transaction=True)
def test_verification_under_asgi_frees_each_request_instance(
    settings: Settings, keyring: KeyRing, clock: Any
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"}
    # A steady-state token (no parent hash), as after the first request following a login.
    token = engine.create_session("user-1").access_token.token
    before = _alive()

    async def one_request() -> None:
        await engine.averify_access_token(token)

    async def close_connections() -> None:
        # The requests' ORM calls ran on asgiref's one thread for thread-sensitive work; its
        # connection would outlive the test and block the test database's teardown.
        await sync_to_async(connections.close_all)()

    def serve() -> None:
        for _ in range(30):
            asyncio.run(one_request())
        asyncio.run(close_connections())

    _in_a_fresh_thread(serve)
    assert _alive() - before <= 1


@pytest.mark.usefixtures("no_cyclic_gc")
def test_a_locmem_instance_is_freed_by_reference_counting() -> None:
    cache = LocMemCache("leak-test", {})
    assert blacklist._reader(cache)("missing") is None
    gone = weakref.ref(cache)
    del cache
    assert gone() is None


@pytest.mark.usefixtures("no_cyclic_gc")
def test_a_redis_instance_is_freed_by_reference_counting(settings: Settings) -> None:
    """The RedisCache reader holds a client, but nothing that refers back to the instance.
    (Nothing listens on port 1: making the reader connects to nothing.)"""
    pytest.importorskip("redis")
    from django.core.cache.backends.redis import RedisCache

    cache = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    reader = blacklist._reader(cache)
    assert reader is blacklist._reader(cache)  # made once per instance
    assert reader is not cache.get  # the short path, not the fallback
    gone = weakref.ref(cache)
    del cache
    assert gone() is None


def test_the_reader_makes_the_key_as_make_key_does() -> None:
    """The Redis reader makes keys from the instance's key function, prefix and version, as
    ``BaseCache.make_key`` does: with a custom prefix and version it reads the same key."""
    pytest.importorskip("redis")
    from django.core.cache.backends.redis import RedisCache

    cache = RedisCache("redis://127.0.0.1:1/0", {"KEY_PREFIX": "p", "VERSION": 3})
    asked: list[str] = []

    class Client:
        def get(self, key: str) -> None:
            asked.append(key)

    cache._cache.get_client = lambda *a, **kw: Client()  # type: ignore[method-assign]
    assert blacklist._reader(cache)("k") is None
    assert asked == [cache.make_key("k")] == ["p:3:k"]


def test_other_backends_keep_their_own_get(settings: Settings) -> None:
    cache: BaseCache = LocMemCache("reader-test", {})
    assert blacklist._reader(cache) == cache.get
