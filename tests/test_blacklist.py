"""blacklist.py: the revocation check (PROTOCOL.md §9), served by a cache when configured.

Caches are real backends: LocMem, Redis (the ``redis_cache`` fixture) and a Redis client pointed
at a port where nothing listens, which fails every call the way an unreachable server does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import BaseCache, caches
from django.db import OperationalError, connection
from pytest_django import DjangoAssertNumQueries
from pytest_django import Settings as SettingsWrapper

from supertokens_django import blacklist, engine
from supertokens_django.blacklist import LIVE, REVOKED, cache_key, is_revoked, remember_revoked
from supertokens_django.exceptions import ServiceUnavailable, Unauthorised
from tests.conftest import MonotonicClock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("warm_keyring")]

LIFETIME = timedelta(hours=1, seconds=1)


def live_handle() -> str:
    return engine.create_session("user-1").session.get_handle()


def revoked_handle() -> str:
    handle = live_handle()
    engine.revoke_session(handle)
    return handle


@pytest.fixture
def locmem(settings: SettingsWrapper) -> Iterator[BaseCache]:
    settings.CACHES = {
        **settings.CACHES,
        "st-locmem": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "blacklist-tests",
        },
    }
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "st-locmem"}
    cache = caches["st-locmem"]
    cache.clear()
    yield cache
    cache.clear()


def test_without_cache_one_indexed_query(
    settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    live, revoked = live_handle(), revoked_handle()
    with django_assert_num_queries(1) as queries:
        assert is_revoked(live) is False
    assert "revokedsession" in queries.captured_queries[0]["sql"].lower()
    with django_assert_num_queries(1):
        assert is_revoked(revoked) is True


def test_cache_serves_the_check_after_the_first_look(
    locmem: BaseCache, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    live = live_handle()
    with django_assert_num_queries(1):
        assert is_revoked(live) is False
    assert locmem.get(cache_key(live)) == LIVE
    with django_assert_num_queries(0):
        assert is_revoked(live) is False
    engine.revoke_session(live)
    assert locmem.get(cache_key(live)) == REVOKED
    with django_assert_num_queries(0):
        assert is_revoked(live) is True


def test_revocation_overrides_a_cached_live_entry(locmem: BaseCache) -> None:
    handle = live_handle()
    assert is_revoked(handle) is False
    engine.revoke_all_sessions_for_user("user-1")
    assert is_revoked(handle) is True


def test_a_check_racing_a_revocation_cannot_hide_it(locmem: BaseCache) -> None:
    """The check read "not revoked" just before the revocation committed and cached "1"."""
    handle = live_handle()

    def revoke_right_after_the_read(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any
    ) -> Any:
        result = execute(sql, params, many, ctx)
        if "revokedsession" in sql.lower() and sql.lstrip().upper().startswith("SELECT"):
            remember_revoked([handle], LIFETIME)  # what the committed revocation does
        return result

    with connection.execute_wrapper(revoke_right_after_the_read):
        assert is_revoked(handle) is False  # it read the database before the revocation...
    assert is_revoked(handle) is True  # ...but its "0" did not overwrite the "1"


def test_live_entries_expire_after_the_cache_timeout(
    redis_cache: BaseCache, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {
        "BLACKLISTING": True,
        "BLACKLIST_CACHE": "blacklist",
        "BLACKLIST_CACHE_TIMEOUT": timedelta(seconds=30),
    }
    live = live_handle()
    is_revoked(live)
    client = redis_cache._cache.get_client()  # type: ignore[attr-defined]
    assert 0 < client.ttl(redis_cache.make_key(cache_key(live))) <= 30
    remember_revoked([live], LIFETIME)
    assert 30 < client.ttl(redis_cache.make_key(cache_key(live))) <= 3601


def test_redis_cache_end_to_end(
    redis_cache: BaseCache,
    settings: SettingsWrapper,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"}
    tokens = engine.create_session("user-1")
    token = tokens.access_token.token
    engine.verify_access_token(token)
    with django_assert_num_queries(0):
        engine.verify_access_token(token)
    tokens.session.revoke_session()
    with django_assert_num_queries(0), pytest.raises(Unauthorised):
        engine.verify_access_token(token)


def test_the_redis_reader_reads_what_the_cache_wrote_with_one_client(
    redis_cache: BaseCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short path for Django's RedisCache answers exactly as ``cache.get`` would (same key,
    prefix, version and serializer) and builds its redis-py client once, not per call."""
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCacheClient

    reader = blacklist._reader(redis_cache)
    assert reader is blacklist._reader(redis_cache)
    built: list[bool] = []
    real = RedisCacheClient.get_client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(True)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RedisCacheClient, "get_client", counting)
    redis_cache.set_many({"k-revoked": REVOKED, "k-live": LIVE, "k-int": 7}, timeout=60)
    written = len(built)
    for key in ("k-revoked", "k-live", "k-int", "k-missing"):
        assert reader(key) == redis_cache.get(key)
        assert reader(key) == {"k-revoked": REVOKED, "k-live": LIVE, "k-int": 7}.get(key)
    assert len(built) == written + 4  # one per ``cache.get``, none per reader call
    other = LocMemCache("reader-test", {})
    assert blacklist._reader(other) == other.get  # any other backend keeps its own ``get``


def test_cache_fault_falls_back_to_the_database(
    dead_cache: BaseCache,
    django_assert_num_queries: DjangoAssertNumQueries,
    caplog: pytest.LogCaptureFixture,
) -> None:
    live, revoked = live_handle(), revoked_handle()
    with caplog.at_level(logging.WARNING, logger="supertokens_django.blacklist"):
        with django_assert_num_queries(1):
            assert is_revoked(live) is False
        with django_assert_num_queries(1):
            assert is_revoked(revoked) is True
    assert "checking the database" in caplog.text


def test_cache_fault_on_revocation_is_logged_not_raised(
    dead_cache: BaseCache, caplog: pytest.LogCaptureFixture
) -> None:
    handle = live_handle()
    with caplog.at_level(logging.ERROR, logger="supertokens_django.blacklist"):
        assert engine.revoke_session(handle) is True
    assert "could not record a revocation" in caplog.text
    assert "could not drop stale entries" in caplog.text
    assert is_revoked(handle) is True


def test_cache_and_database_down_is_service_unavailable(dead_cache: BaseCache) -> None:
    handle = str(uuid.uuid4())

    def fail(*args: Any) -> None:
        raise OperationalError("injected")

    with connection.execute_wrapper(fail), pytest.raises(ServiceUnavailable):
        is_revoked(handle)


def test_database_down_with_the_cache_answering_still_answers(locmem: BaseCache) -> None:
    handle = revoked_handle()

    def fail(*args: Any) -> None:
        raise OperationalError("injected")

    with connection.execute_wrapper(fail):
        assert is_revoked(handle) is True


def test_dummy_cache_means_a_query_every_time(
    settings: SettingsWrapper, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "dummy"}
    handle = revoked_handle()
    for _ in range(2):
        with django_assert_num_queries(1):
            assert is_revoked(handle) is True


def test_remember_revoked_without_cache_or_handles_does_nothing(
    settings: SettingsWrapper, locmem: BaseCache
) -> None:
    remember_revoked([], LIFETIME)
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    remember_revoked(["x"], LIFETIME)
    assert locmem.get(cache_key("x")) is None
    assert blacklist.cache_key("h") == "supertokens:revoked:h"


# --------------------------------------------------------------------------- the bounded mode


def revoke_in_another_process(handle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another server revokes: same database and cache, its own per-process memory."""
    with monkeypatch.context() as m:
        m.setattr(blacklist, "local_verdicts", blacklist.LocalVerdicts())
        engine.revoke_session(handle)


def test_bounded_mode_asks_the_shared_store_once_per_bound(
    bounded: MonotonicClock, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    handle = live_handle()
    with django_assert_num_queries(1):
        assert is_revoked(handle) is False
    bounded.now += 0.999
    with django_assert_num_queries(0):
        assert is_revoked(handle) is False
    bounded.now += 0.001  # the bound has passed: ask again
    with django_assert_num_queries(1):
        assert is_revoked(handle) is False


def test_bounded_mode_sees_another_process_revocation_within_the_bound(
    bounded: MonotonicClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = live_handle()
    token = engine.create_session("user-2")
    other = token.session.get_handle()
    assert is_revoked(handle) is False  # remembered from t0
    assert engine.verify_access_token(token.access_token.token).get_handle() == other
    bounded.now += 0.25
    revoke_in_another_process(handle, monkeypatch)
    revoke_in_another_process(other, monkeypatch)
    # Within the bound the remembered answer may still be served: that is the mode's trade.
    bounded.now += 0.5
    assert is_revoked(handle) is False
    # One bound after the answer was obtained (so at most one bound after the revocation),
    # every check refuses.
    bounded.now += 0.25
    assert is_revoked(handle) is True
    with pytest.raises(Unauthorised):
        engine.verify_access_token(token.access_token.token)


def test_bounded_mode_never_trusts_an_answer_from_a_future_clock_reading(
    bounded: MonotonicClock,
) -> None:
    handle = live_handle()
    assert is_revoked(handle) is False
    blacklist.local_verdicts.put(handle, bounded.now + 10, False)
    assert blacklist.local_verdicts.get(handle, bounded.now, 1.0) is None


def test_bounded_mode_the_revoking_process_refuses_at_once(
    bounded: MonotonicClock, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    handle = live_handle()
    assert is_revoked(handle) is False
    engine.revoke_session(handle)
    with django_assert_num_queries(0):
        assert is_revoked(handle) is True


def test_a_check_that_began_before_a_local_revocation_cannot_hide_it(
    bounded: MonotonicClock,
) -> None:
    handle = live_handle()
    started = bounded.now
    bounded.now += 0.1
    remember_revoked([handle], LIFETIME)  # committed after that check began
    blacklist.local_verdicts.put(handle, started, False)  # the check's stale "live" lands
    assert is_revoked(handle) is True


def test_bounded_mode_with_a_shared_cache(
    settings: SettingsWrapper,
    locmem: BaseCache,
    mono: MonotonicClock,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    settings.SUPERTOKENS = {**settings.SUPERTOKENS, "BLACKLIST_MODE": "bounded"}
    handle = live_handle()
    assert is_revoked(handle) is False
    revoke_in_another_process(handle, monkeypatch)
    assert locmem.get(cache_key(handle)) == REVOKED
    mono.now += 1.0
    with django_assert_num_queries(0):  # the shared cache answers
        assert is_revoked(handle) is True


def test_immediate_mode_sees_another_process_revocation_at_once(
    settings: SettingsWrapper, mono: MonotonicClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}  # BLACKLIST_MODE defaults to "immediate"
    handle = live_handle()
    assert is_revoked(handle) is False
    revoke_in_another_process(handle, monkeypatch)
    assert is_revoked(handle) is True
    assert len(blacklist.local_verdicts) == 0


def test_the_local_memory_is_bounded() -> None:
    verdicts = blacklist.LocalVerdicts(max_entries=3)
    for n in range(5):
        verdicts.put(f"h{n}", 100.0 + n, False)
    assert len(verdicts) == 3
    assert verdicts.get("h0", 104.0, 10.0) is None
    assert verdicts.get("h4", 104.0, 10.0) is False


def test_a_settings_change_forgets_what_was_remembered(
    bounded: MonotonicClock, settings: SettingsWrapper
) -> None:
    handle = live_handle()
    assert is_revoked(handle) is False
    assert len(blacklist.local_verdicts) == 1
    settings.SUPERTOKENS = {**settings.SUPERTOKENS, "BLACKLIST_BOUND": timedelta(seconds=2)}
    assert len(blacklist.local_verdicts) == 0


def test_bounded_mode_async_check_uses_the_local_memory(
    bounded: MonotonicClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import async_to_sync

    handle = live_handle()
    check = async_to_sync(blacklist.ais_revoked)
    assert check(handle) is False
    revoke_in_another_process(handle, monkeypatch)
    assert check(handle) is False  # within the bound
    bounded.now += 1.0
    assert check(handle) is True
