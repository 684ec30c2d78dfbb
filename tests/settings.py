"""Django settings for the test suite, chosen by environment variables.

SUPERTOKENS_TEST_DB     sqlite (default) | postgres | mariadb
SUPERTOKENS_TEST_CACHE  locmem (default) | redis   -- backs the "blacklist" cache alias

PostgreSQL: SUPERTOKENS_PG_HOST/_PORT/_USER/_PASSWORD (127.0.0.1, 5432, postgres, "").
MariaDB: SUPERTOKENS_MARIADB_HOST/_PORT/_USER/_PASSWORD (127.0.0.1, 3306, root, "").
Redis: SUPERTOKENS_REDIS_URL (redis://127.0.0.1:6379/15).

Importing this module needs Django only: not supertokens_django, not a database driver.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
from typing import Any

import django
from django.core.exceptions import ImproperlyConfigured

TEST_DB = os.environ.get("SUPERTOKENS_TEST_DB", "sqlite")
TEST_CACHE = os.environ.get("SUPERTOKENS_TEST_CACHE", "locmem")
REDIS_URL = os.environ.get("SUPERTOKENS_REDIS_URL", "redis://127.0.0.1:6379/15")


def _sqlite_dir() -> str:
    """A directory for the SQLite files, shared with any subprocess this run starts.

    The database is a file, not ``:memory:``, so that the threads of a live server (and a
    gunicorn started by a test, which inherits the environment) all see the same data.
    """
    path = os.environ.get("SUPERTOKENS_TEST_SQLITE_DIR")
    if path:
        return path
    path = tempfile.mkdtemp(prefix="supertokens-test-")
    os.environ["SUPERTOKENS_TEST_SQLITE_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _database() -> dict[str, Any]:
    if TEST_DB == "sqlite":
        directory = _sqlite_dir()
        options: dict[str, Any] = {"timeout": 20}
        if django.VERSION >= (5, 1):
            # Take the write lock at BEGIN, so concurrent refreshes wait for each other
            # instead of failing with "database is locked" when they upgrade a read lock.
            options["transaction_mode"] = "IMMEDIATE"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(directory, "supertokens.sqlite3"),
            "OPTIONS": options,
            "TEST": {"NAME": os.path.join(directory, "test_supertokens.sqlite3")},
        }
    if TEST_DB == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("SUPERTOKENS_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("SUPERTOKENS_PG_PORT", "5432"),
            "USER": os.environ.get("SUPERTOKENS_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("SUPERTOKENS_PG_PASSWORD", ""),
            "NAME": "supertokens_test",
            # Parallel runs (several developers, CI legs) each need their own test database.
            "TEST": {"NAME": os.environ.get("SUPERTOKENS_TEST_DB_NAME", "test_supertokens_test")},
        }
    if TEST_DB == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "HOST": os.environ.get("SUPERTOKENS_MARIADB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("SUPERTOKENS_MARIADB_PORT", "3306"),
            "USER": os.environ.get("SUPERTOKENS_MARIADB_USER", "root"),
            "PASSWORD": os.environ.get("SUPERTOKENS_MARIADB_PASSWORD", ""),
            "NAME": "supertokens_test",
            "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
            "TEST": {
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
                "NAME": os.environ.get("SUPERTOKENS_TEST_DB_NAME", "test_supertokens_test"),
            },
        }
    raise ImproperlyConfigured(
        f"SUPERTOKENS_TEST_DB={TEST_DB!r}: expected 'sqlite', 'postgres' or 'mariadb'."
    )


def _blacklist_cache() -> dict[str, Any]:
    if TEST_CACHE == "locmem":
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "supertokens-blacklist",
        }
    if TEST_CACHE == "redis":
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    raise ImproperlyConfigured(
        f"SUPERTOKENS_TEST_CACHE={TEST_CACHE!r}: expected 'locmem' or 'redis'."
    )


SECRET_KEY = "supertokens-django-tests-not-a-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", "[::1]"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _replica(primary: dict[str, Any]) -> dict[str, Any]:
    """A second database of the same kind standing in for a read replica that lags (it never
    replicates): tests route reads to it with their own router to show what must read the
    primary. No router sends anything there unless a test installs one, and pytest-django
    creates its test database only for tests that list it in ``databases``."""
    if TEST_DB == "sqlite":
        return {
            **primary,
            "NAME": os.path.join(_sqlite_dir(), "replica.sqlite3"),
            "TEST": {"NAME": os.path.join(_sqlite_dir(), "test_replica.sqlite3")},
        }
    return {**primary, "TEST": {**primary["TEST"], "NAME": f"{primary['TEST']['NAME']}_replica"}}


DATABASES = {"default": _database()}
DATABASES["replica"] = _replica(DATABASES["default"])

# "blacklist" always exists; tests that want the revocation list in a cache opt in with
# SUPERTOKENS = {"BLACKLIST_CACHE": "blacklist"}.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "blacklist": _blacklist_cache(),
}

HAS_DRF = importlib.util.find_spec("rest_framework") is not None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *(["rest_framework"] if HAS_DRF else []),
    "supertokens_django",
    "tests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "supertokens_django.middleware.SuperTokensMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

STATIC_URL = "/static/"

# Fast hashing: the tests log users in often, and what they test is not the password hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Package defaults; tests change them with override_settings or pytest-django's `settings`.
SUPERTOKENS: dict[str, Any] = {}
