"""System checks for every misconfiguration we can detect (ids ``supertokens_django.E0xx/W0xx``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import DEFAULTS, st_settings

_BOOLS = ("COOKIE_SECURE", "BLACKLISTING", "REVOKE_SESSIONS_ON_PASSWORD_CHANGE")
_DURATIONS = (
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "LEEWAY",
    "SIGNING_KEY_ROTATION_INTERVAL",
    "BLACKLIST_CACHE_TIMEOUT",
)
_POSITIVE_INTS = ("MAX_JWT_PAYLOAD_BYTES", "MAX_SESSION_DATA_BYTES")
_PER_PROCESS_CACHES = (
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.locmem.LocMemCache",
)


def _error(msg: str, n: int, hint: str | None = None) -> Error:
    return Error(msg, hint=hint, id=f"supertokens_django.E{n:03d}")


@register(Tags.security, Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "SUPERTOKENS", {})
    if not isinstance(raw, dict):
        return [_error("SUPERTOKENS must be a dict.", 1)]
    errors: list[CheckMessage] = []
    for key in sorted(set(raw) - set(DEFAULTS)):
        errors.append(
            _error(f"SUPERTOKENS has an unknown key {key!r}.", 2, "See the README's settings table.")
        )
    typed_ok = True
    for key in _DURATIONS:
        if not isinstance(st_settings.get(key), timedelta):
            errors.append(_error(f"SUPERTOKENS[{key!r}] must be a datetime.timedelta.", 3))
            typed_ok = False
    for key in _BOOLS:
        if not isinstance(st_settings.get(key), bool):
            errors.append(_error(f"SUPERTOKENS[{key!r}] must be True or False.", 4))
    for key in _POSITIVE_INTS:
        value = st_settings.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            errors.append(_error(f"SUPERTOKENS[{key!r}] must be a positive integer.", 5))
    errors += _check_choices()
    if typed_ok:
        errors += _check_lifetimes()
    errors += _check_cookies()
    errors += _check_blacklist()
    errors += _check_signing_key()
    return errors


def _check_choices() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if st_settings.anti_csrf not in ("VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"):
        errors.append(_error("SUPERTOKENS['ANTI_CSRF'] must be VIA_CUSTOM_HEADER, VIA_TOKEN or NONE.", 6))
    if st_settings.signing_algorithm not in ("RS256", "ES256", "EdDSA", "HS256"):
        errors.append(_error("SUPERTOKENS['SIGNING_ALGORITHM'] must be RS256, ES256, EdDSA or HS256.", 7))
    expired, claim = st_settings.get("SESSION_EXPIRED_STATUS_CODE"), st_settings.get("INVALID_CLAIM_STATUS_CODE")
    if not all(isinstance(c, int) and 400 <= c <= 499 for c in (expired, claim)):
        errors.append(_error("The session-expired and invalid-claim status codes must be 4xx integers.", 8))
    elif expired == claim:
        errors.append(
            _error(
                "SESSION_EXPIRED_STATUS_CODE and INVALID_CLAIM_STATUS_CODE must differ.",
                9,
                "The SDK tells a claim failure from an expired session by the status code.",
            )
        )
    path = st_settings.get("API_BASE_PATH")
    if not isinstance(path, str) or not path.startswith("/"):
        errors.append(_error("SUPERTOKENS['API_BASE_PATH'] must be a path starting with '/'.", 10))
    domain = st_settings.get("API_DOMAIN")
    if domain is not None and not (isinstance(domain, str) and domain.startswith(("http://", "https://"))):
        errors.append(_error("SUPERTOKENS['API_DOMAIN'] must be None or an origin like 'https://api.example.com'.", 11))
    getter = st_settings.get("USER_GETTER")
    if getter is not None and not isinstance(getter, str):
        errors.append(_error("SUPERTOKENS['USER_GETTER'] must be an import string.", 12))
    return errors


def _check_lifetimes() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    access, refresh = st_settings.access_token_lifetime, st_settings.refresh_token_lifetime
    if access <= timedelta(0) or refresh <= timedelta(0):
        errors.append(_error("Token lifetimes must be positive.", 13))
    elif access >= refresh:
        errors.append(_error("ACCESS_TOKEN_LIFETIME must be shorter than REFRESH_TOKEN_LIFETIME.", 14))
    elif access > timedelta(days=1):
        errors.append(
            Warning(
                "ACCESS_TOKEN_LIFETIME is over a day: revocation without blacklisting takes that long.",
                id="supertokens_django.W001",
            )
        )
    leeway = st_settings.leeway
    if leeway < timedelta(0) or leeway >= access:
        errors.append(_error("LEEWAY must be at least zero and shorter than ACCESS_TOKEN_LIFETIME.", 15))
    if st_settings.signing_key_rotation_interval < 2 * access:
        errors.append(
            _error("SIGNING_KEY_ROTATION_INTERVAL must be at least twice ACCESS_TOKEN_LIFETIME.", 16)
        )
    return errors


def _check_cookies() -> list[CheckMessage]:
    samesite = st_settings.get("COOKIE_SAMESITE")
    if samesite not in ("Lax", "Strict", "None"):
        return [_error("SUPERTOKENS['COOKIE_SAMESITE'] must be 'Lax', 'Strict' or 'None'.", 17)]
    if samesite == "None" and not st_settings.cookie_secure:
        return [
            _error(
                "COOKIE_SAMESITE='None' requires COOKIE_SECURE=True.",
                18,
                "Browsers drop SameSite=None cookies that are not Secure.",
            )
        ]
    if not st_settings.cookie_secure and not settings.DEBUG:
        return [
            Warning(
                "SUPERTOKENS['COOKIE_SECURE'] is off outside DEBUG: tokens travel over plain HTTP.",
                id="supertokens_django.W002",
            )
        ]
    return []


def _check_blacklist() -> list[CheckMessage]:
    alias = st_settings.get("BLACKLIST_CACHE")
    if alias is None:
        return []
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        return [_error(f"SUPERTOKENS['BLACKLIST_CACHE'] names the unknown cache alias {alias!r}.", 19)]
    backend = caches[alias].get("BACKEND", "")
    if backend in _PER_PROCESS_CACHES:
        return [
            _error(
                f"The blacklist cache {alias!r} uses {backend.rsplit('.', 1)[-1]}, which other "
                "processes cannot see: a revocation would not reach them.",
                20,
                "Use a shared cache (Redis, Memcached, database) or leave BLACKLIST_CACHE unset.",
            )
        ]
    if not st_settings.blacklisting:
        return [Warning("BLACKLIST_CACHE is set but BLACKLISTING is off.", id="supertokens_django.W003")]
    return []


def _check_signing_key() -> list[CheckMessage]:
    value = st_settings.get("STATIC_SIGNING_KEY")
    if value is None:
        return []
    from .keys import load_static_key

    if not isinstance(value, str):
        return [_error("SUPERTOKENS['STATIC_SIGNING_KEY'] must be a PEM string or a secret.", 21)]
    try:
        load_static_key(st_settings.signing_algorithm, value)
    except (ValueError, TypeError) as exc:
        return [
            _error(
                f"SUPERTOKENS['STATIC_SIGNING_KEY'] does not fit SIGNING_ALGORITHM "
                f"{st_settings.signing_algorithm!r}: {exc}",
                22,
            )
        ]
    return []
