"""The ``SUPERTOKENS`` settings dict, behind a snapshot that ``override_settings`` refreshes.

A verified request reads about ten settings; going through ``settings.SUPERTOKENS`` (a Python
level ``__getattribute__`` on Django's ``LazySettings``) and the defaults for each cost more than
the rest of the fast path. So the dict merged with :data:`DEFAULTS` is kept, keyed by the very
dict it was built from, and a read only compares that dict's identity with the one in Django's
own per-setting cache (``LazySettings.__dict__``, which Django empties whenever a setting is
assigned or ``override_settings`` swaps the settings). A replaced dict is therefore never served
stale, signal or not; Django's ``setting_changed`` signal (``override_settings``, pytest-django's
``settings`` fixture) also drops the snapshot, which covers a project that sets no
``SUPERTOKENS`` at all. Mutating the dict in place is not supported, as for every Django setting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.signals import setting_changed

AntiCsrfMode = Literal["VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"]
Algorithm = Literal["RS256", "ES256", "EdDSA", "HS256"]

#: Every public key with its default. The names are a public contract (README, settings table).
DEFAULTS: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=100),
    "LEEWAY": timedelta(seconds=1),
    "API_DOMAIN": None,
    "API_BASE_PATH": "/auth",
    "COOKIE_SECURE": True,
    "COOKIE_SAMESITE": "Lax",
    "COOKIE_DOMAIN": None,
    "ANTI_CSRF": "VIA_CUSTOM_HEADER",
    "BLACKLISTING": False,
    "BLACKLIST_CACHE": None,
    "BLACKLIST_CACHE_TIMEOUT": timedelta(minutes=5),
    "SIGNING_ALGORITHM": "RS256",
    "SIGNING_KEY_ROTATION_INTERVAL": timedelta(days=7),
    "STATIC_SIGNING_KEY": None,
    "SESSION_EXPIRED_STATUS_CODE": 401,
    "INVALID_CLAIM_STATUS_CODE": 403,
    # A 1-hour token with ~300 bytes of protected claims, signed RS256 (342 bytes of signature),
    # stays under the 4096-byte cookie limit with a 2 KiB custom payload (base64 grows it by 4/3).
    "MAX_JWT_PAYLOAD_BYTES": 2048,
    "MAX_SESSION_DATA_BYTES": 64 * 1024,
    "REVOKE_SESSIONS_ON_PASSWORD_CHANGE": True,
    "USER_GETTER": None,
    "DATABASE_RETRIES": 3,
    # Per-process cache of access tokens already verified in full (fastpath.py); 0 disables it.
    "VERIFIED_TOKEN_CACHE_SIZE": 4096,
    # DRF: "auto" (the Django user, else a TokenUser), "django" (must exist) or "token".
    "DRF_USER": "auto",
    # Blacklisting: "immediate" asks the shared store on every request; "bounded" lets each
    # process remember a "not revoked" answer for at most BLACKLIST_BOUND (blacklist.py).
    "BLACKLIST_MODE": "immediate",
    "BLACKLIST_BOUND": timedelta(seconds=1),
}

BlacklistMode = Literal["immediate", "bounded"]

_UNREAD = object()  # not in Django's cache of settings (yet)
_ABSENT = object()  # the project sets no SUPERTOKENS
# LazySettings caches each setting it has read in its instance __dict__, and empties it on every
# change; the dict object itself lives as long as the settings object.
_lazy_settings_cache: dict[str, Any] = object.__getattribute__(settings, "__dict__")


class SuperTokensSettings:
    """Typed accessors over ``settings.SUPERTOKENS`` merged with :data:`DEFAULTS`."""

    def __init__(self) -> None:
        #: ``(the settings value it was built from, that dict merged over DEFAULTS)``
        self._snapshot: tuple[object, dict[str, Any]] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        value = getattr(settings, "SUPERTOKENS", None)
        return value if isinstance(value, dict) else {}

    def _values(self) -> dict[str, Any]:
        snapshot = self._snapshot
        if snapshot is not None:
            # Django's cache of settings already read: no LazySettings.__getattribute__.
            cached = _lazy_settings_cache.get("SUPERTOKENS", _UNREAD)
            if cached is snapshot[0] or (cached is _UNREAD and snapshot[0] is _ABSENT):
                return snapshot[1]
        source = getattr(settings, "SUPERTOKENS", _ABSENT)  # fills Django's cache when set
        if snapshot is not None and source is snapshot[0]:
            return snapshot[1]
        merged = {**DEFAULTS, **source} if isinstance(source, dict) else dict(DEFAULTS)
        # One tuple assignment: a thread never sees a source paired with another's values.
        self._snapshot = (source, merged)
        return merged

    def reset(self) -> None:
        """Forget the snapshot (``setting_changed`` does this; tests rarely need to)."""
        self._snapshot = None

    def get(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise KeyError(name)
        return self._values()[name]

    @property
    def access_token_lifetime(self) -> timedelta:
        return self.get("ACCESS_TOKEN_LIFETIME")  # type: ignore[no-any-return]

    @property
    def refresh_token_lifetime(self) -> timedelta:
        return self.get("REFRESH_TOKEN_LIFETIME")  # type: ignore[no-any-return]

    @property
    def leeway(self) -> timedelta:
        return self.get("LEEWAY")  # type: ignore[no-any-return]

    @property
    def api_domain(self) -> str | None:
        value = self.get("API_DOMAIN")
        return value.rstrip("/") if value else None

    @property
    def api_base_path(self) -> str:
        path: str = self.get("API_BASE_PATH") or ""
        return "/" + path.strip("/") if path.strip("/") else ""

    @property
    def cookie_secure(self) -> bool:
        return bool(self.get("COOKIE_SECURE"))

    @property
    def cookie_samesite(self) -> str:
        return str(self.get("COOKIE_SAMESITE"))

    @property
    def cookie_domain(self) -> str | None:
        return self.get("COOKIE_DOMAIN")  # type: ignore[no-any-return]

    @property
    def anti_csrf(self) -> AntiCsrfMode:
        value = self.get("ANTI_CSRF")
        if value in ("VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"):
            return value  # type: ignore[no-any-return]
        # A misspelt mode (system check E006) must not switch the protection off in a process
        # that never ran the checks (gunicorn doesn't): fall back to the default, which checks.
        return "VIA_CUSTOM_HEADER"

    @property
    def blacklisting(self) -> bool:
        return bool(self.get("BLACKLISTING"))

    @property
    def blacklist_cache(self) -> str | None:
        return self.get("BLACKLIST_CACHE")  # type: ignore[no-any-return]

    @property
    def blacklist_cache_timeout(self) -> timedelta:
        return self.get("BLACKLIST_CACHE_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def signing_algorithm(self) -> Algorithm:
        return self.get("SIGNING_ALGORITHM")  # type: ignore[no-any-return]

    @property
    def signing_key_rotation_interval(self) -> timedelta:
        return self.get("SIGNING_KEY_ROTATION_INTERVAL")  # type: ignore[no-any-return]

    @property
    def static_signing_key(self) -> str | None:
        return self.get("STATIC_SIGNING_KEY")  # type: ignore[no-any-return]

    @property
    def session_expired_status_code(self) -> int:
        return int(self.get("SESSION_EXPIRED_STATUS_CODE"))

    @property
    def invalid_claim_status_code(self) -> int:
        return int(self.get("INVALID_CLAIM_STATUS_CODE"))

    @property
    def max_jwt_payload_bytes(self) -> int:
        return int(self.get("MAX_JWT_PAYLOAD_BYTES"))

    @property
    def max_session_data_bytes(self) -> int:
        return int(self.get("MAX_SESSION_DATA_BYTES"))

    @property
    def revoke_sessions_on_password_change(self) -> bool:
        return bool(self.get("REVOKE_SESSIONS_ON_PASSWORD_CHANGE"))

    @property
    def user_getter(self) -> str | None:
        return self.get("USER_GETTER")  # type: ignore[no-any-return]

    @property
    def drf_user(self) -> str:
        return str(self.get("DRF_USER"))

    @property
    def verified_token_cache_size(self) -> int:
        value = self.get("VERIFIED_TOKEN_CACHE_SIZE")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    @property
    def database_retries(self) -> int:
        return int(self.get("DATABASE_RETRIES"))

    @property
    def blacklist_mode(self) -> BlacklistMode:
        return self.get("BLACKLIST_MODE")  # type: ignore[no-any-return]

    @property
    def blacklist_bound(self) -> timedelta:
        return self.get("BLACKLIST_BOUND")  # type: ignore[no-any-return]


st_settings = SuperTokensSettings()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "SUPERTOKENS":
        st_settings.reset()


# weak=False: the receiver is a module-level function, alive as long as the module anyway.
setting_changed.connect(_on_setting_changed, weak=False, dispatch_uid="supertokens_django.conf")
