"""Generic fixtures for the whole suite: external services, users, Hypothesis profiles.

Fixtures that belong to one module's tests live in that test module; shared factories
for the package's own objects go in the marked section at the end of this file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from django.core.cache import BaseCache, caches
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.services import is_redis_cache
from tests.services import require_service as _require_service

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import Settings

    from supertokens_django.keys import KeyRing
    from tests.http_helpers import Mode

# Database-backed properties are slow on a 2-core CI machine: no per-example deadline.
# Choose a profile with `pytest --hypothesis-profile=NAME` (`make fuzz` uses "fuzz").
hypothesis_settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "ci", parent=hypothesis_settings.get_profile("dev"), print_blob=True
)
hypothesis_settings.register_profile(
    "fuzz", parent=hypothesis_settings.get_profile("dev"), max_examples=5_000
)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) ``server_database`` tests on SQLite (one writer at a time, no network
    to cut): they run in the PostgreSQL and MariaDB legs, and a skip would read as a gap."""
    from tests.settings import TEST_DB

    if TEST_DB != "sqlite":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if item.get_closest_marker("server_database") is None else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.e2e` needs chromium; `@pytest.mark.services("redis", ...)` names its own."""
    if item.get_closest_marker("e2e") is not None:
        _require_service("chromium")
    for marker in item.iter_markers("services"):
        for name in marker.args:
            _require_service(name)


@pytest.fixture
def require_service() -> Callable[[str], None]:
    """The skip-or-fail check, for tests that decide at run time which service they need."""
    return _require_service


@pytest.fixture
def redis_cache(settings: Settings) -> Iterator[BaseCache]:
    """The "blacklist" cache alias backed by a real, empty Redis database.

    Under SUPERTOKENS_TEST_CACHE=redis the alias already is Redis; otherwise it is pointed
    at Redis for this test only.
    """
    _require_service("redis")
    if not is_redis_cache("blacklist"):
        from tests.settings import REDIS_URL

        settings.CACHES = {
            **settings.CACHES,
            "blacklist": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
            },
        }
    cache = caches["blacklist"]
    cache.clear()
    yield cache
    cache.clear()


@pytest.fixture
def dead_cache(settings: Settings) -> BaseCache:
    """Blacklisting on a Redis cache alias ("dead") that every call fails to reach."""
    pytest.importorskip("redis")
    settings.CACHES = {
        **settings.CACHES,
        # Nothing listens on port 1: every cache call fails with a connection error.
        "dead": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "dead"}
    return caches["dead"]


@pytest.fixture
def user(django_user_model: type[User]) -> User:
    alice: User = django_user_model.objects.create_user(username="alice", password="alice-password")
    return alice


@pytest.fixture
def other_user(django_user_model: type[User]) -> User:
    bob: User = django_user_model.objects.create_user(username="bob", password="bob-password")
    return bob


# ---------------------------------------------------------------------------------------------
# Shared fixtures for the package's own objects (sessions, signing keys, clients) go below.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["cookie", "header"])
def mode(request: pytest.FixtureRequest) -> Mode:
    """How the client carries its tokens: each test that asks for it runs in both modes.

    A test that parametrizes ``mode`` itself (one mode, or another order) overrides this.
    """
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def thefts() -> Iterator[list[str]]:
    """The handles that ``token_theft_detected`` reports during the test, in order.

    (test_engine and security/test_refresh_attacks keep their own, which record every keyword
    argument of the signal.)
    """
    from supertokens_django.signals import token_theft_detected

    handles: list[str] = []

    def receiver(sender: object, handle: str, **kwargs: object) -> None:
        handles.append(handle)

    token_theft_detected.connect(receiver)
    yield handles
    token_theft_detected.disconnect(receiver)


class Clock:
    """The engine's clock (``engine._now``), moved by hand: tests never read the wall clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the engine's clock at the current time; ``clock.advance(...)`` moves it."""
    from django.utils import timezone

    from supertokens_django import engine

    frozen = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(engine, "_now", frozen)
    return frozen


@pytest.fixture
def keyring() -> Iterator[KeyRing]:
    """The process-wide key ring, emptied before and after the test.

    Signing keys live in the database, which is rolled back between tests; a key ring that
    kept its keys would sign with keys that no longer exist.
    """
    from supertokens_django.keys import keyring as ring

    ring.reset()
    yield ring
    ring.reset()


@pytest.fixture
def warm_keyring(keyring: KeyRing, clock: Clock) -> KeyRing:
    """A key ring that has its signing key loaded: signing and verifying cost no query."""
    keyring.signing_material(clock.now)
    return keyring


class MonotonicClock:
    """The bounded blacklist mode's monotonic clock (``blacklist.monotonic``), moved by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mono(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    from supertokens_django import blacklist

    ticking = MonotonicClock()
    monkeypatch.setattr(blacklist, "monotonic", ticking)
    return ticking


@pytest.fixture
def bounded(settings: Settings, mono: MonotonicClock) -> Iterator[MonotonicClock]:
    """Blacklisting in the bounded mode (a 1 s bound) on :func:`mono`'s clock, with this
    process's memory of verdicts empty before and after."""
    from supertokens_django import blacklist

    settings.SUPERTOKENS = {
        "BLACKLISTING": True,
        "BLACKLIST_MODE": "bounded",
        "BLACKLIST_BOUND": timedelta(seconds=1),
    }
    blacklist.local_verdicts.clear()
    yield mono
    blacklist.local_verdicts.clear()


@pytest.fixture(autouse=True)
def _fresh_verified_token_cache() -> Iterator[None]:
    """Each test starts with an empty per-process cache of verified tokens (fastpath.py)."""
    from supertokens_django.fastpath import verified_tokens

    verified_tokens.clear()
    yield
    verified_tokens.clear()
