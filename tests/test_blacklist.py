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


@pytest.fixture
def dead_cache(settings: SettingsWrapper) -> BaseCache:
    pytest.importorskip("redis")
    settings.CACHES = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "dead"}
    return caches["dead"]


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
