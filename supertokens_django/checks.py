"""System checks for every misconfiguration we can detect (ids ``supertokens_django.E0xx/W0xx``).

A setting that makes the app insecure or broken at run time is an ``Error`` (``manage.py`` refuses
to start); one that is merely unusual or wasteful is a ``Warning``. Silence either with
``SILENCED_SYSTEM_CHECKS`` when you know better (e.g. a per-process blacklist cache on a
single-process deployment).

====  =========================================================================================
E001  ``SUPERTOKENS`` is not a dict
E002  unknown key (a typo silently falls back to the default)
E003  a duration is not a ``timedelta``
E004  a flag is not a bool
E005  a byte cap is not a positive int
E006  ``ANTI_CSRF`` is not one of its choices
E007  ``SIGNING_ALGORITHM`` is not one of its choices
E008  a status code is not a 4xx int
E009  the session-expired and invalid-claim status codes are equal
E010  ``API_BASE_PATH`` is not a path
E011  ``API_DOMAIN`` is not an origin
E012  ``USER_GETTER`` is not an import string
E013  a token lifetime is not positive
E014  ``ACCESS_TOKEN_LIFETIME`` >= ``REFRESH_TOKEN_LIFETIME``
E015  ``LEEWAY`` negative, or not shorter than the access-token lifetime
E016  ``SIGNING_KEY_ROTATION_INTERVAL`` is not positive
E017  ``COOKIE_SAMESITE`` is not one of its choices
E018  ``SameSite=None`` without ``Secure``
E019  ``BLACKLIST_CACHE`` names an unknown cache alias
E020  blacklisting served by a per-process cache (revocations don't reach other processes)
E021  ``STATIC_SIGNING_KEY`` is not a string
E022  ``STATIC_SIGNING_KEY`` does not fit ``SIGNING_ALGORITHM``
E023  ``DATABASE_RETRIES`` is not a non-negative int
E024  ``COOKIE_DOMAIN`` is not None or a string
E025  ``ANTI_CSRF='NONE'`` with ``SameSite=None`` (cross-site requests carry the cookies)
E026  ``BLACKLIST_CACHE`` is not None or a string
E027  ``USER_GETTER`` cannot be imported, or is not callable
E028  ``BLACKLIST_CACHE_TIMEOUT`` is not positive
E029  ``VERIFIED_TOKEN_CACHE_SIZE`` is not a non-negative int
E030  ``DRF_USER`` is not "auto", "django" or "token"
E031  ``BLACKLIST_MODE`` is not "immediate" or "bounded"
E032  ``BLACKLIST_BOUND`` is not positive
E033  ``SuperTokensMiddleware`` (or a subclass) is not in ``MIDDLEWARE``
E034  ``supertokens_django.urls`` is mounted away from ``API_BASE_PATH`` (the refresh cookie's
      ``Path`` would not match the refresh URL, so browsers would never send it there)
W001  ``ACCESS_TOKEN_LIFETIME`` over a day
W002  ``COOKIE_SECURE`` off outside ``DEBUG``
W003  ``BLACKLIST_CACHE`` set while ``BLACKLISTING`` is off
W004  ``SIGNING_KEY_ROTATION_INTERVAL`` shorter than twice the access-token lifetime
W005  blacklisting served by ``DummyCache`` (stores nothing: every check queries the database)
W006  ``BLACKLIST_MODE='bounded'`` while ``BLACKLISTING`` is off (the mode has no effect)
W007  ``supertokens_django.urls`` is not in the URLconf (no refresh, sign-out or JWKS endpoint)
====  =========================================================================================
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, st_settings

_ID = "supertokens_django.{}{:03d}"
_BOOLS = (
    "COOKIE_SECURE",
    "BLACKLISTING",
    "REVOKE_SESSIONS_ON_PASSWORD_CHANGE",
    "REVOKE_SESSIONS_ON_DEACTIVATION",
)
_DURATIONS = (
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "LEEWAY",
    "SIGNING_KEY_ROTATION_INTERVAL",
    "BLACKLIST_CACHE_TIMEOUT",
    "BLACKLIST_BOUND",
)
_POSITIVE_INTS = ("MAX_JWT_PAYLOAD_BYTES", "MAX_SESSION_DATA_BYTES")
_ALGORITHMS = ("RS256", "ES256", "EdDSA", "HS256")
# Characters that would end or corrupt a cookie ``Path`` or a URL path.
_BAD_PATH_CHARS = re.compile(r"[\s?#;,\\]")


def _error(msg: str, n: int, hint: str | None = None) -> Error:
    return Error(msg, hint=hint, id=_ID.format("E", n))


def _warning(msg: str, n: int, hint: str | None = None) -> Warning:
    return Warning(msg, hint=hint, id=_ID.format("W", n))


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and not _BAD_PATH_CHARS.search(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@register(Tags.security, Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "SUPERTOKENS", {})
    if not isinstance(raw, dict):
        return [_error("SUPERTOKENS must be a dict.", 1)]
    errors: list[CheckMessage] = []
    for key in sorted(set(raw) - set(DEFAULTS), key=str):
        close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else "See the README's settings table."
        errors.append(_error(f"SUPERTOKENS has an unknown key {key!r}.", 2, hint))
    errors += _check_types()
    errors += _check_choices()
    if all(isinstance(st_settings.get(key), timedelta) for key in _DURATIONS):
        errors += _check_lifetimes()
    errors += _check_cookies()
    errors += _check_blacklist()
    errors += _check_signing_key()
    errors += _check_user_getter()
    return errors


def _check_types() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key in _DURATIONS:
        if not isinstance(st_settings.get(key), timedelta):
            errors.append(_error(f"SUPERTOKENS[{key!r}] must be a datetime.timedelta.", 3))
    for key in _BOOLS:
        if not isinstance(st_settings.get(key), bool):
            errors.append(_error(f"SUPERTOKENS[{key!r}] must be True or False.", 4))
    for key in _POSITIVE_INTS:
        value = st_settings.get(key)
        if not _is_int(value) or value <= 0:
            errors.append(_error(f"SUPERTOKENS[{key!r}] must be a positive integer.", 5))
    retries = st_settings.get("DATABASE_RETRIES")
    if not _is_int(retries) or retries < 0:
        errors.append(_error("SUPERTOKENS['DATABASE_RETRIES'] must be an integer >= 0.", 23))
    domain = st_settings.get("COOKIE_DOMAIN")
    if domain is not None and not isinstance(domain, str):
        errors.append(_error("SUPERTOKENS['COOKIE_DOMAIN'] must be None or a string.", 24))
    size = st_settings.get("VERIFIED_TOKEN_CACHE_SIZE")
    if not _is_int(size) or size < 0:
        errors.append(
            _error("SUPERTOKENS['VERIFIED_TOKEN_CACHE_SIZE'] must be an integer >= 0.", 29)
        )
    if st_settings.get("DRF_USER") not in ("auto", "django", "token"):
        errors.append(_error("SUPERTOKENS['DRF_USER'] must be 'auto', 'django' or 'token'.", 30))
    mode = st_settings.get("BLACKLIST_MODE")
    if mode not in ("immediate", "bounded"):
        errors.append(_error("SUPERTOKENS['BLACKLIST_MODE'] must be 'immediate' or 'bounded'.", 31))
    elif mode == "bounded" and st_settings.get("BLACKLISTING") is not True:
        errors.append(
            _warning(
                "BLACKLIST_MODE is 'bounded' but BLACKLISTING is off: the mode has no effect.",
                6,
            )
        )
    return errors


def _check_choices() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if st_settings.get("ANTI_CSRF") not in ("VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"):
        errors.append(
            _error("SUPERTOKENS['ANTI_CSRF'] must be VIA_CUSTOM_HEADER, VIA_TOKEN or NONE.", 6)
        )
    if st_settings.signing_algorithm not in _ALGORITHMS:
        errors.append(
            _error("SUPERTOKENS['SIGNING_ALGORITHM'] must be RS256, ES256, EdDSA or HS256.", 7)
        )
    expired = st_settings.get("SESSION_EXPIRED_STATUS_CODE")
    claim = st_settings.get("INVALID_CLAIM_STATUS_CODE")
    if not all(_is_int(c) and 400 <= c <= 499 for c in (expired, claim)):
        errors.append(
            _error("The session-expired and invalid-claim status codes must be 4xx integers.", 8)
        )
    elif expired == claim:
        errors.append(
            _error(
                "SESSION_EXPIRED_STATUS_CODE and INVALID_CLAIM_STATUS_CODE must differ.",
                9,
                "The SDK tells a claim failure from an expired session by the status code.",
            )
        )
    if not _is_path(st_settings.get("API_BASE_PATH")):
        errors.append(
            _error(
                "SUPERTOKENS['API_BASE_PATH'] must be a path starting with '/'.",
                10,
                "It becomes the refresh token's cookie Path: no query, fragment, ';', ',', "
                "backslash or whitespace. Use '/' for the site root.",
            )
        )
    if not _is_origin(st_settings.get("API_DOMAIN")):
        errors.append(
            _error(
                "SUPERTOKENS['API_DOMAIN'] must be None or an origin like "
                "'https://api.example.com'.",
                11,
                "Scheme and host (and port) only: API_BASE_PATH holds the path.",
            )
        )
    getter = st_settings.get("USER_GETTER")
    if getter is not None and not isinstance(getter, str):
        errors.append(_error("SUPERTOKENS['USER_GETTER'] must be an import string.", 12))
    return errors


def _is_origin(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and not value.endswith(("?", "#"))
    )


def _check_lifetimes() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    access, refresh = st_settings.access_token_lifetime, st_settings.refresh_token_lifetime
    if access <= timedelta(0) or refresh <= timedelta(0):
        errors.append(_error("Token lifetimes must be positive.", 13))
    elif access >= refresh:
        errors.append(
            _error("ACCESS_TOKEN_LIFETIME must be shorter than REFRESH_TOKEN_LIFETIME.", 14)
        )
    elif access > timedelta(days=1):
        errors.append(
            _warning(
                "ACCESS_TOKEN_LIFETIME is over a day: without blacklisting, a revoked session's "
                "access token keeps working that long.",
                1,
            )
        )
    leeway = st_settings.leeway
    if access > timedelta(0) and (leeway < timedelta(0) or leeway >= access):
        errors.append(
            _error("LEEWAY must be at least zero and shorter than ACCESS_TOKEN_LIFETIME.", 15)
        )
    interval = st_settings.signing_key_rotation_interval
    if interval <= timedelta(0):
        # A key whose signing window is empty: every signature would create another key.
        errors.append(_error("SIGNING_KEY_ROTATION_INTERVAL must be positive.", 16))
    elif interval < 2 * access:
        errors.append(
            _warning(
                "SIGNING_KEY_ROTATION_INTERVAL is shorter than twice ACCESS_TOKEN_LIFETIME.",
                4,
                "Each key keeps verifying for twice the access-token lifetime after it stops "
                "signing, so the JWKS would carry several keys at once.",
            )
        )
    if st_settings.blacklist_cache_timeout <= timedelta(0):
        errors.append(_error("BLACKLIST_CACHE_TIMEOUT must be positive.", 28))
    if st_settings.blacklist_bound <= timedelta(0):
        errors.append(
            _error(
                "BLACKLIST_BOUND must be positive.",
                32,
                "It is how long a process may trust a 'not revoked' answer in the bounded mode; "
                "for no delay at all, use BLACKLIST_MODE='immediate'.",
            )
        )
    return errors


def _check_cookies() -> list[CheckMessage]:
    samesite = st_settings.get("COOKIE_SAMESITE")
    if samesite not in ("Lax", "Strict", "None"):
        return [_error("SUPERTOKENS['COOKIE_SAMESITE'] must be 'Lax', 'Strict' or 'None'.", 17)]
    errors: list[CheckMessage] = []
    if samesite == "None" and not st_settings.cookie_secure:
        errors.append(
            _error(
                "COOKIE_SAMESITE='None' requires COOKIE_SECURE=True.",
                18,
                "Browsers drop SameSite=None cookies that are not Secure.",
            )
        )
    if samesite == "None" and st_settings.anti_csrf == "NONE":
        errors.append(
            _error(
                "COOKIE_SAMESITE='None' with ANTI_CSRF='NONE' lets any site send authenticated "
                "requests (CSRF).",
                25,
                "Use ANTI_CSRF='VIA_CUSTOM_HEADER' (or 'VIA_TOKEN'), or SameSite 'Lax'.",
            )
        )
    if not st_settings.cookie_secure and samesite != "None" and not settings.DEBUG:
        errors.append(
            _warning(
                "SUPERTOKENS['COOKIE_SECURE'] is off outside DEBUG: tokens travel over plain HTTP.",
                2,
            )
        )
    return errors


def _check_blacklist() -> list[CheckMessage]:
    alias = st_settings.get("BLACKLIST_CACHE")
    if alias is None:
        return []
    if not isinstance(alias, str):
        return [_error("SUPERTOKENS['BLACKLIST_CACHE'] must be None or a CACHES alias.", 26)]
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        # Even with BLACKLISTING off every revocation writes to this cache, and would fail.
        return [
            _error(f"SUPERTOKENS['BLACKLIST_CACHE'] names the unknown cache alias {alias!r}.", 19)
        ]
    if st_settings.get("BLACKLISTING") is not True:
        return [_warning("BLACKLIST_CACHE is set but BLACKLISTING is off.", 3)]
    backend = _backend_class(caches[alias].get("BACKEND", ""))
    if backend is None:
        return []  # an unimportable backend is reported by Django itself on first use
    from django.core.cache.backends.dummy import DummyCache
    from django.core.cache.backends.locmem import LocMemCache

    if issubclass(backend, LocMemCache):
        return [
            _error(
                f"The blacklist cache {alias!r} is a LocMemCache, which other processes cannot "
                "see: a session revoked in one process stays accepted in the others.",
                20,
                "Use a shared cache (Redis, Memcached, database) or leave BLACKLIST_CACHE unset.",
            )
        ]
    if issubclass(backend, DummyCache):
        return [
            _warning(
                f"The blacklist cache {alias!r} is a DummyCache: it stores nothing, so every "
                "check queries the database anyway.",
                5,
                "Leave BLACKLIST_CACHE unset, or point it at a shared cache.",
            )
        ]
    return []


def _backend_class(path: Any) -> type | None:
    try:
        backend = import_string(path)
    except (ImportError, TypeError, ValueError):
        return None
    return backend if isinstance(backend, type) else None


def _check_signing_key() -> list[CheckMessage]:
    value = st_settings.get("STATIC_SIGNING_KEY")
    algorithm = st_settings.signing_algorithm
    if value is None or algorithm not in _ALGORITHMS:  # a bad algorithm is E007 already
        return []
    if not isinstance(value, str):
        return [_error("SUPERTOKENS['STATIC_SIGNING_KEY'] must be a PEM string or a secret.", 21)]
    from cryptography.exceptions import UnsupportedAlgorithm

    from .keys import load_static_key

    def mismatch(reason: str) -> list[CheckMessage]:
        return [
            _error(
                f"SUPERTOKENS['STATIC_SIGNING_KEY'] does not fit SIGNING_ALGORITHM "
                f"{algorithm!r}: {reason}",
                22,
            )
        ]

    if algorithm == "HS256" and "-----BEGIN" in value:
        # An HMAC secret that is a PEM is most likely the public key of an asymmetric pair:
        # anybody who has that public key could then sign tokens.
        return mismatch("HS256 needs a random secret, not a PEM key")
    try:
        load_static_key(algorithm, value)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return mismatch(str(exc))
    return []


def _check_user_getter() -> list[CheckMessage]:
    path = st_settings.get("USER_GETTER")
    if not isinstance(path, str):
        return []  # None, or E012
    try:
        getter = import_string(path)
    except ImportError as exc:
        return [_error(f"SUPERTOKENS['USER_GETTER'] cannot be imported: {exc}", 27)]
    if not callable(getter):
        return [_error(f"SUPERTOKENS['USER_GETTER'] {path!r} is not callable.", 27)]
    return []


# --------------------------------------------------------------------------- wiring


@register(Tags.urls, Tags.compatibility)
def check_wiring(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """What ``settings.py`` and ``urls.py`` must add for the settings to take effect: mistakes
    that otherwise show only at run time, one as an ``ImproperlyConfigured`` on the first
    request, the other as every user signed out an access-token lifetime after signing in."""
    return _check_middleware() + _check_urls()


def _check_middleware() -> list[CheckMessage]:
    from .middleware import SuperTokensMiddleware
    from .requests import MIDDLEWARE_PATH

    for path in getattr(settings, "MIDDLEWARE", None) or ():
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django reports a middleware it cannot import on its own
        if isinstance(middleware, type) and issubclass(middleware, SuperTokensMiddleware):
            return []
    return [
        _error(
            f"'{MIDDLEWARE_PATH}' must be in MIDDLEWARE: sessions are verified, created and "
            "written onto responses through it.",
            33,
            hint="Insert it after 'django.contrib.auth.middleware.AuthenticationMiddleware'.",
        )
    ]


def _check_urls() -> list[CheckMessage]:
    from django.urls import NoReverseMatch, reverse

    from .transport import refresh_path

    if not _is_path(st_settings.get("API_BASE_PATH")):
        return []  # E010 says what to fix first
    try:
        mounted = reverse("supertokens_django:refresh")
    except NoReverseMatch:
        return [
            _warning(
                "supertokens_django.urls is not in the URLconf: the browser SDK's refresh and "
                "sign-out calls would find nothing.",
                7,
                hint=f'Add path("{st_settings.api_base_path.lstrip("/")}/", '
                'include("supertokens_django.urls")) to your urlpatterns.',
            )
        ]
    except Exception:  # noqa: BLE001 - a URLconf that does not load is Django's own check's
        return []
    # The browser sees the path under the application's SCRIPT_NAME, which a check cannot know
    # (FORCE_SCRIPT_NAME it can: reverse() includes it): API_BASE_PATH may carry such a prefix.
    if refresh_path().endswith(mounted):
        return []
    return [
        _error(
            f"supertokens_django.urls serves the refresh endpoint at {mounted!r}, but "
            f"SUPERTOKENS['API_BASE_PATH'] puts the refresh cookie on {refresh_path()!r}: "
            "browsers would never send it there, so every session would end once its first "
            "access token expires.",
            34,
            hint="Set API_BASE_PATH to the path where you include supertokens_django.urls, as "
            "the browser sees it (with any prefix the application is served under).",
        )
    ]
