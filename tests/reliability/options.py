"""The settings a reliability server runs with, shared by the server processes and the test
process (which revokes, rotates and cleans up next to them, like any other process would)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

#: Rounds of each race; the issue's full run uses 200.
ITERATIONS = int(os.environ.get("SUPERTOKENS_RELIABILITY_ITERATIONS", "20"))
#: Length of the soak, in seconds.
SOAK_SECONDS = float(os.environ.get("SUPERTOKENS_RELIABILITY_SOAK_SECONDS", "20"))
#: The blacklist cache alias the servers (and the test process) use when Redis is shared.
CACHE_ALIAS = "blacklist"
#: One prefix per test run, so that runs sharing a Redis never see each other's entries.
REDIS_PREFIX = os.environ.setdefault(
    "SUPERTOKENS_RELIABILITY_REDIS_PREFIX", f"st-rel-{os.getpid()}"
)


def supertokens_options(
    *, access_token_seconds: int, blacklisting: bool, redis: bool
) -> dict[str, Any]:
    """``SUPERTOKENS`` for a server; the example project's other choices stay (plain http)."""
    return {
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=access_token_seconds),
        "COOKIE_SECURE": False,
        "BLACKLISTING": blacklisting,
        "BLACKLIST_CACHE": CACHE_ALIAS if redis else None,
        "ANTI_CSRF": "VIA_CUSTOM_HEADER",
    }


def redis_cache(url: str) -> dict[str, Any]:
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": REDIS_PREFIX,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
