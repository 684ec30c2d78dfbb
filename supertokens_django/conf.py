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
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

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
    "REVOKE_SESSIONS_ON_DEACTIVATION": True,
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
#: The Django settings ``LazySettings`` has read so far: it caches each one in its instance
#: ``__dict__``, and empties it on every change; the dict object itself lives as long as the
#: settings object. A hot path may look a setting up here, falling back to ``settings`` (which
#: fills it) when it is absent.
settings_cache: dict[str, Any] = object.__getattribute__(settings, "__dict__")


class Resolved:
    """One snapshot of the settings, typed. Each value is computed on its first read and is a
    plain instance attribute after that (``cached_property``): the hot path reads a handful per
    request. A misconfigured value (system checks report it) raises only where it is read."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise KeyError(name)
        return self._values[name]

    @cached_property
    def access_token_lifetime(self) -> timedelta:
        return self.get("ACCESS_TOKEN_LIFETIME")  # type: ignore[no-any-return]

    @cached_property
    def refresh_token_lifetime(self) -> timedelta:
        return self.get("REFRESH_TOKEN_LIFETIME")  # type: ignore[no-any-return]

    @cached_property
    def leeway(self) -> timedelta:
        return self.get("LEEWAY")  # type: ignore[no-any-return]

    @cached_property
    def api_domain(self) -> str | None:
        value = self.get("API_DOMAIN")
        return value.rstrip("/") if value else None

    @cached_property
    def api_base_path(self) -> str:
        path: str = self.get("API_BASE_PATH") or ""
        return "/" + path.strip("/") if path.strip("/") else ""

    @cached_property
    def cookie_secure(self) -> bool:
        return bool(self.get("COOKIE_SECURE"))

    @cached_property
    def cookie_samesite(self) -> str:
        return str(self.get("COOKIE_SAMESITE"))

    @cached_property
    def cookie_domain(self) -> str | None:
        return self.get("COOKIE_DOMAIN")  # type: ignore[no-any-return]

    @cached_property
    def anti_csrf(self) -> AntiCsrfMode:
        value = self.get("ANTI_CSRF")
        if value in ("VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"):
            return value  # type: ignore[no-any-return]
        # A misspelt mode (system check E006) must not switch the protection off in a process
        # that never ran the checks (gunicorn doesn't): fall back to the default, which checks.
        return "VIA_CUSTOM_HEADER"

    @cached_property
    def blacklisting(self) -> bool:
        return bool(self.get("BLACKLISTING"))

    @cached_property
    def blacklist_cache(self) -> str | None:
        return self.get("BLACKLIST_CACHE")  # type: ignore[no-any-return]

    @cached_property
    def blacklist_cache_timeout(self) -> timedelta:
        return self.get("BLACKLIST_CACHE_TIMEOUT")  # type: ignore[no-any-return]

    @cached_property
    def signing_algorithm(self) -> Algorithm:
        return self.get("SIGNING_ALGORITHM")  # type: ignore[no-any-return]

    @cached_property
    def signing_key_rotation_interval(self) -> timedelta:
        return self.get("SIGNING_KEY_ROTATION_INTERVAL")  # type: ignore[no-any-return]

    @cached_property
    def static_signing_key(self) -> str | None:
        return self.get("STATIC_SIGNING_KEY")  # type: ignore[no-any-return]

    @cached_property
    def session_expired_status_code(self) -> int:
        return int(self.get("SESSION_EXPIRED_STATUS_CODE"))

    @cached_property
    def invalid_claim_status_code(self) -> int:
        return int(self.get("INVALID_CLAIM_STATUS_CODE"))

    @cached_property
    def max_jwt_payload_bytes(self) -> int:
        return int(self.get("MAX_JWT_PAYLOAD_BYTES"))

    @cached_property
    def max_session_data_bytes(self) -> int:
        return int(self.get("MAX_SESSION_DATA_BYTES"))

    @cached_property
    def revoke_sessions_on_password_change(self) -> bool:
        return bool(self.get("REVOKE_SESSIONS_ON_PASSWORD_CHANGE"))

    @cached_property
    def revoke_sessions_on_deactivation(self) -> bool:
        return bool(self.get("REVOKE_SESSIONS_ON_DEACTIVATION"))

    @cached_property
    def user_getter(self) -> str | None:
        return self.get("USER_GETTER")  # type: ignore[no-any-return]

    @cached_property
    def drf_user(self) -> str:
        return str(self.get("DRF_USER"))

    @cached_property
    def verified_token_cache_size(self) -> int:
        value = self.get("VERIFIED_TOKEN_CACHE_SIZE")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    @cached_property
    def database_retries(self) -> int:
        return int(self.get("DATABASE_RETRIES"))

    @cached_property
    def blacklist_mode(self) -> BlacklistMode:
        return self.get("BLACKLIST_MODE")  # type: ignore[no-any-return]

    @cached_property
    def blacklist_bound(self) -> timedelta:
        return self.get("BLACKLIST_BOUND")  # type: ignore[no-any-return]


if TYPE_CHECKING:
    # For type checkers the settings object has every typed setting of ``Resolved``; at run
    # time they are properties that read the current snapshot (``_delegate`` below).
    _SettingsBase = Resolved
else:
    _SettingsBase = object


class SuperTokensSettings(_SettingsBase):
    """``settings.SUPERTOKENS`` merged with :data:`DEFAULTS`, as typed attributes
    (``st_settings.leeway``). Code that reads several at once takes one snapshot,
    ``st_settings.current()``, and reads its attributes."""

    def __init__(self) -> None:
        #: ``(the settings value it was built from, the snapshot built from it)``
        self._snapshot: tuple[object, Resolved] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        value = getattr(settings, "SUPERTOKENS", None)
        return value if isinstance(value, dict) else {}

    def current(self) -> Resolved:
        """The snapshot for the settings in force now (see the module docstring)."""
        snapshot = self._snapshot
        if snapshot is not None:
            # Django's cache of settings already read: no LazySettings.__getattribute__.
            cached = settings_cache.get("SUPERTOKENS", _UNREAD)
            if cached is snapshot[0] or (cached is _UNREAD and snapshot[0] is _ABSENT):
                return snapshot[1]
        source = getattr(settings, "SUPERTOKENS", _ABSENT)  # fills Django's cache when set
        if snapshot is not None and source is snapshot[0]:
            return snapshot[1]
        merged = {**DEFAULTS, **source} if isinstance(source, dict) else dict(DEFAULTS)
        resolved = Resolved(merged)
        # One tuple assignment: a thread never sees a source paired with another's values.
        self._snapshot = (source, resolved)
        return resolved

    def reset(self) -> None:
        """Forget the snapshot (``setting_changed`` does this; tests rarely need to)."""
        self._snapshot = None

    def get(self, name: str) -> Any:
        return self.current().get(name)


def _delegate(name: str) -> property:
    return property(lambda self: getattr(self.current(), name), doc=f"``current().{name}``")


# Every typed setting of ``Resolved`` is a property of the settings object, read from the
# snapshot in force (declared for type checkers by the ``_SettingsBase`` above).
for _name, _attribute in list(vars(Resolved).items()):
    if isinstance(_attribute, cached_property):
        setattr(SuperTokensSettings, _name, _delegate(_name))


st_settings = SuperTokensSettings()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "SUPERTOKENS":
        st_settings.reset()


# weak=False: the receiver is a module-level function, alive as long as the module anyway.
setting_changed.connect(_on_setting_changed, weak=False, dispatch_uid="supertokens_django.conf")
