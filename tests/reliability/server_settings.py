"""Settings of the servers the reliability suite starts: the example project on the test
database, with the test run's ``SECRET_KEY`` and ``SUPERTOKENS`` options, read from the
environment that ``servers.GunicornServer`` prepares."""

from __future__ import annotations

import json
import os

import django

from example_project.settings import *  # noqa: F403
from tests.reliability.options import redis_cache, supertokens_options

SECRET_KEY = os.environ["RELIABILITY_SECRET_KEY"]
DEBUG = False
ROOT_URLCONF = "tests.reliability.server_urls"
# The test process creates the users with this hasher; the real one would cost ~0.5 s a login.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_database = json.loads(os.environ["RELIABILITY_DATABASE"])
_database["ATOMIC_REQUESTS"] = os.environ.get("RELIABILITY_ATOMIC_REQUESTS") == "1"
if _database["ENGINE"].endswith("sqlite3") and django.VERSION >= (5, 1):
    # As in the example project: readers go on while one request writes (the option needs
    # Django 5.1; older versions pass OPTIONS straight to sqlite3.connect()).
    _database.setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
DATABASES = {"default": _database}

_redis_url = os.environ.get("RELIABILITY_REDIS_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if _redis_url:
    CACHES["blacklist"] = redis_cache(_redis_url)

SUPERTOKENS = supertokens_options(
    access_token_seconds=int(os.environ["RELIABILITY_ACCESS_TOKEN_SECONDS"]),
    blacklisting=os.environ.get("RELIABILITY_BLACKLISTING") == "1",
    redis=bool(_redis_url),
)

# 5xx tracebacks go to the server log, which a failing test prints.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR"},
        "supertokens_django": {"handlers": ["console"], "level": "WARNING"},
        "django.security": {"handlers": ["console"], "level": "WARNING"},
    },
}
