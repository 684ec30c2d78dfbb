"""Settings of the benchmark project: PostgreSQL ``supertokens_bench``, Redis, every peer.

``BENCH_PROFILE`` picks the ``SUPERTOKENS`` settings of a server process (gunicorn serves one
profile per process); in-process cases switch with ``override_settings`` instead.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

SECRET_KEY = "supertokens-django-benchmarks-not-a-secret-0123456789"  # noqa: S105
DEBUG = False  # DEBUG keeps every query in memory: it would measure itself
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "benchmarks.urls"
WSGI_APPLICATION = "benchmarks.wsgi.application"

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("SUPERTOKENS_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("SUPERTOKENS_PG_PORT", "5432"),
        "USER": os.environ.get("SUPERTOKENS_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("SUPERTOKENS_PG_PASSWORD", ""),
        "NAME": os.environ.get("BENCH_DB_NAME", "supertokens_bench"),
        # Persistent connections, as any production deployment has: a connection per request
        # would measure PostgreSQL's fork, not the libraries.
        "CONN_MAX_AGE": 600,
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "bench",
    },
    "blacklist": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "bench-bl",
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",  # section D times the sessions changelist
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "knox",
    "supertokens_django",
]

# One stack for every case, the bare view included: ``startproject``'s, plus ours.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "benchmarks.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "supertokens_django.middleware.SuperTokensMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

#: The admin pages of section D run with this stack instead (``run.py``): startproject's
#: ``MessageMiddleware`` is left out above so that the request cases keep the stack they have
#: always been measured with.
ADMIN_MIDDLEWARE = [
    *MIDDLEWARE[:-1],
    "django.contrib.messages.middleware.MessageMiddleware",
    MIDDLEWARE[-1],
]
SILENCED_SYSTEM_CHECKS = ["admin.E409"]  # MessageMiddleware: see ADMIN_MIDDLEWARE

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"], "level": "ERROR"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
}
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "UPDATE_LAST_LOGIN": False,
}
REST_KNOX = {"TOKEN_TTL": timedelta(hours=10), "AUTO_REFRESH": False}

#: ``SUPERTOKENS`` per profile. Cookies travel over plain HTTP on loopback here.
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"COOKIE_SECURE": False},
    "bl_redis": {"COOKIE_SECURE": False, "BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"},
    "bl_db": {"COOKIE_SECURE": False, "BLACKLISTING": True},
    "bl_bounded": {
        "COOKIE_SECURE": False,
        "BLACKLISTING": True,
        "BLACKLIST_CACHE": "blacklist",
        "BLACKLIST_MODE": "bounded",
        "BLACKLIST_BOUND": timedelta(seconds=1),
    },
    "eddsa": {"COOKIE_SECURE": False, "SIGNING_ALGORITHM": "EdDSA"},
    # A diagnostic, not a recommendation: the same with PostgreSQL's commits not waiting for
    # the WAL flush, to show how much of a refresh or create is the disk's fsync.
    "eddsa_async_commit": {"COOKIE_SECURE": False, "SIGNING_ALGORITHM": "EdDSA"},
}
PROFILE = os.environ.get("BENCH_PROFILE", "default")
SUPERTOKENS: dict[str, Any] = dict(PROFILES[PROFILE])
if PROFILE == "eddsa_async_commit":
    DATABASES["default"]["OPTIONS"] = {"options": "-c synchronous_commit=off"}
