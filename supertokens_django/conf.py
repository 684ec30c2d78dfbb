"""The ``SUPERTOKENS`` settings dict, read on every access so ``override_settings`` just works."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from django.conf import settings

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
}


class SuperTokensSettings:
    """Typed accessors over ``settings.SUPERTOKENS``; nothing is cached."""

    @property
    def raw(self) -> dict[str, Any]:
        value = getattr(settings, "SUPERTOKENS", None)
        return value if isinstance(value, dict) else {}

    def get(self, name: str) -> Any:
        return self.raw.get(name, DEFAULTS[name])

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
        return self.get("ANTI_CSRF")  # type: ignore[no-any-return]

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


st_settings = SuperTokensSettings()
