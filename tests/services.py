"""Probes for the external services some tests need, and the skip-or-fail rule for them.

Locally a missing service skips the tests that need it. CI sets SUPERTOKENS_REQUIRE_SERVICES=1,
and there a missing service fails those tests instead, so a broken setup cannot pass as green.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import socket
from collections.abc import Callable

import pytest
from django.conf import settings

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The browser the e2e tests drive: $SUPERTOKENS_CHROMIUM, else Debian's chromium."""
    configured = os.environ.get("SUPERTOKENS_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _tcp_reason(what: str, host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{what} is not answering on {host}:{port} ({exc})"


def _missing_module(module: str, package: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"the Python package {package} is not installed"
    return None


def _redis() -> str | None:
    missing = _missing_module("redis", "redis")
    if missing:
        return missing
    import redis

    from tests.settings import REDIS_URL

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis is not answering at {REDIS_URL} ({exc})"
    return None


def _chromium() -> str | None:
    missing = _missing_module("playwright", "playwright")
    if missing:
        return missing
    if chromium_path() is None:
        return "chromium is not installed (apt-get install chromium, or make system-deps)"
    return None


def _postgres() -> str | None:
    host = os.environ.get("SUPERTOKENS_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("SUPERTOKENS_PG_PORT", "5432"))
    return _missing_module("psycopg", "psycopg") or _tcp_reason("PostgreSQL", host, port)


def _mariadb() -> str | None:
    host = os.environ.get("SUPERTOKENS_MARIADB_HOST", "127.0.0.1")
    port = int(os.environ.get("SUPERTOKENS_MARIADB_PORT", "3306"))
    return _missing_module("MySQLdb", "mysqlclient") or _tcp_reason("MariaDB", host, port)


_PROBES: dict[str, Callable[[], str | None]] = {
    "redis": _redis,
    "chromium": _chromium,
    "postgres": _postgres,
    "mariadb": _mariadb,
}


@functools.cache
def unavailable(name: str) -> str | None:
    """Why service `name` cannot be used, or None when it can. Probed once per run."""
    try:
        probe = _PROBES[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r}; expected one of {sorted(_PROBES)}") from None
    return probe()


def services_required() -> bool:
    return os.environ.get("SUPERTOKENS_REQUIRE_SERVICES", "") not in ("", "0")


def require_service(name: str) -> None:
    """Skip the current test when service `name` is missing, or fail it under
    SUPERTOKENS_REQUIRE_SERVICES=1."""
    reason = unavailable(name)
    if reason is None:
        return
    if services_required():
        pytest.fail(f"{name} is required (SUPERTOKENS_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


def is_redis_cache(alias: str) -> bool:
    backend: str = settings.CACHES.get(alias, {}).get("BACKEND", "")
    return backend.endswith("RedisCache")
