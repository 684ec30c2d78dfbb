"""Settings of the example project: SQLite, DEBUG on, plain-http cookies, short access tokens.

Tuned by environment variables so that the end-to-end tests and the benchmarks can run the very
same project with other values:

EXAMPLE_DB_PATH                    SQLite file (default example_project/db.sqlite3)
EXAMPLE_DEBUG                      "0" turns DEBUG off (static files are then not served)
EXAMPLE_CORS_ORIGINS               comma-separated origins allowed cross-origin (needs
                                   django-cors-headers), e.g. http://127.0.0.1:3000
SUPERTOKENS_ACCESS_TOKEN_SECONDS   access-token lifetime (default 60, so refreshes are visible)
SUPERTOKENS_BLACKLISTING           "1" (default) checks revocation on every request, "0" does not
SUPERTOKENS_ANTI_CSRF              VIA_CUSTOM_HEADER (default), VIA_TOKEN or NONE
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import django

from supertokens_django.cors import cors_allow_headers, cors_expose_headers

BASE_DIR = Path(__file__).resolve().parent


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() not in ("", "0", "false", "no")


# A demo on localhost only; a real project reads its key from the environment.
SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "example-project-not-a-secret-do-not-deploy")
DEBUG = _env_flag("EXAMPLE_DEBUG", True)
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

HAS_DRF = importlib.util.find_spec("rest_framework") is not None
HAS_CORSHEADERS = importlib.util.find_spec("corsheaders") is not None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *(["corsheaders"] if HAS_CORSHEADERS else []),
    *(["rest_framework"] if HAS_DRF else []),
    "supertokens_django",
    "example_project.demo",
]

MIDDLEWARE = [
    # First, so that preflights and error responses carry the CORS headers too.
    *(["corsheaders.middleware.CorsMiddleware"] if HAS_CORSHEADERS else []),
    "django.middleware.security.SecurityMiddleware",
    # Django's own session and auth: the admin logs in with them, the API does not.
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "supertokens_django.middleware.SuperTokensMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

_sqlite_options: dict[str, Any] = {"timeout": 20}
if django.VERSION >= (5, 1):
    # Take SQLite's write lock at BEGIN, so that concurrent refreshes queue up instead of failing
    # with "database is locked" when two transactions both try to upgrade a read lock; WAL lets
    # readers go on while one request writes.
    _sqlite_options["transaction_mode"] = "IMMEDIATE"
    _sqlite_options["init_command"] = "PRAGMA journal_mode=WAL;"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB_PATH") or BASE_DIR / "db.sqlite3",
        "OPTIONS": _sqlite_options,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "/admin/login/"

SUPERTOKENS: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        seconds=int(os.environ.get("SUPERTOKENS_ACCESS_TOKEN_SECONDS", "60"))
    ),
    # Plain http on localhost: a Secure cookie would never come back.
    "COOKIE_SECURE": False,
    "API_DOMAIN": None,
    # On by default here so that "revoke all" shows its effect on the very next call.
    "BLACKLISTING": _env_flag("SUPERTOKENS_BLACKLISTING", True),
    "ANTI_CSRF": os.environ.get("SUPERTOKENS_ANTI_CSRF", "VIA_CUSTOM_HEADER"),
}


def _names(helper: Any) -> list[str]:
    # The helpers of supertokens_django.cors are lists of header names or functions returning one.
    return list(helper() if callable(helper) else helper)


# Cross-origin pages (another port or host) need CORS with credentials, the SDK's request
# headers allowed and its response headers exposed: the README's recipe for django-cors-headers.
if HAS_CORSHEADERS:
    from corsheaders.defaults import default_headers

    CORS_ALLOWED_ORIGINS = [
        origin.strip()
        for origin in os.environ.get("EXAMPLE_CORS_ORIGINS", "").split(",")
        if origin.strip()
    ]
    CORS_ALLOW_CREDENTIALS = True
    CORS_ALLOW_HEADERS = list(dict.fromkeys([*default_headers, *_names(cors_allow_headers)]))
    CORS_EXPOSE_HEADERS = _names(cors_expose_headers)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        # Refreshes, theft detections and revocations show up in the runserver console.
        "supertokens_django": {"handlers": ["console"], "level": "INFO"},
        "django.security": {"handlers": ["console"], "level": "INFO"},
    },
}
