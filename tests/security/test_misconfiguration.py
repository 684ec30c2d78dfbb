"""Misconfiguration fails closed.

Each dangerous combination of settings is refused at start-up: ``manage.py check`` (which
``runserver`` and ``migrate`` run) ends with a ``SystemCheckError``, from an ``Error`` (never a
mere warning) with a documented id. ``tests/test_checks.py`` covers every id one by one; this
module takes the attacker's view: what each combination would give away, and, because WSGI and
ASGI servers (gunicorn, uvicorn) never run system checks, what the running app does with it:
it must refuse to sign or accept anything rather than quietly run insecurely.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.checks import ERROR
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from supertokens_django import checks, engine
from supertokens_django.keys import keyring
from tests.security.support import (
    LOGIN,
    PASSWORDS,
    attack,
    carry,
    craft,
    json_body,
    our_signing_key,
    parts,
    send,
    signer,
    unchanged_db,
)

if TYPE_CHECKING:
    from pytest_django import Settings as SettingsWrapper

    from tests.security.conftest import BrowserFactory
    from tests.security.support import LeakGuard

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = (
    _RSA.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
RSA_PRIVATE_PEM = _RSA.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
P384_PEM = (
    ec.generate_private_key(ec.SECP384R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}

#: name -> (SUPERTOKENS, other Django settings, the error id, what it would give away)
DANGEROUS: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "hs256-secret-is-a-public-pem": (
        {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": RSA_PUBLIC_PEM},
        {},
        "E022",
        "anyone holding the public key signs tokens",
    ),
    "hs256-secret-is-a-private-pem": (
        {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": RSA_PRIVATE_PEM},
        {},
        "E022",
        "an asymmetric key used as a shared secret",
    ),
    "hs256-secret-shorter-than-32-bytes": (
        {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "s" * 31},
        {},
        "E022",
        "a brute-forceable HMAC key",
    ),
    "rs256-key-is-only-the-public-half": (
        {"STATIC_SIGNING_KEY": RSA_PUBLIC_PEM},
        {},
        "E022",
        "nothing can be signed",
    ),
    "es256-key-on-the-wrong-curve": (
        {"SIGNING_ALGORITHM": "ES256", "STATIC_SIGNING_KEY": P384_PEM},
        {},
        "E022",
        "a key the algorithm does not define",
    ),
    "algorithm-none": ({"SIGNING_ALGORITHM": "none"}, {}, "E007", "unsigned tokens"),
    "samesite-none-without-secure": (
        {"COOKIE_SAMESITE": "None", "COOKIE_SECURE": False},
        {},
        "E018",
        "tokens sent cross-site over plain HTTP",
    ),
    "samesite-none-without-anti-csrf": (
        {"COOKIE_SAMESITE": "None", "ANTI_CSRF": "NONE"},
        {},
        "E025",
        "every site can send authenticated requests",
    ),
    "blacklisting-on-a-per-process-cache": (
        {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"},
        {"CACHES": {"default": LOCMEM, "blacklist": LOCMEM}},
        "E020",
        "a revoked session stays accepted by the other processes",
    ),
    "anti-csrf-mode-in-lower-case": (
        {"ANTI_CSRF": "via_token"},
        {},
        "E006",
        "an unknown mode that checks nothing",
    ),
    "anti-csrf-setting-misspelt": (
        {"ANTI_CRSF": "VIA_TOKEN"},
        {},
        "E002",
        "the intended protection silently falls back to the default",
    ),
    "secure-flag-as-a-string": (
        {"COOKIE_SECURE": "False"},
        {},
        "E004",
        "a flag that means the opposite of what it says",
    ),
    "leeway-as-long-as-the-token": (
        {"LEEWAY": timedelta(hours=1)},
        {},
        "E015",
        "expired access tokens accepted for another lifetime",
    ),
    "access-token-outliving-the-refresh-token": (
        {"ACCESS_TOKEN_LIFETIME": timedelta(days=200)},
        {},
        "E014",
        "revocation that takes months to bite",
    ),
}


def _configure(
    settings: SettingsWrapper, supertokens: dict[str, Any], other: dict[str, Any]
) -> None:
    settings.SUPERTOKENS = supertokens
    for name, value in other.items():
        setattr(settings, name, value)


@pytest.mark.parametrize("name", list(DANGEROUS))
def test_start_up_refuses_a_dangerous_combination(settings: SettingsWrapper, name: str) -> None:
    supertokens, other, error_id, _why = DANGEROUS[name]
    _configure(settings, supertokens, other)
    found = [m for m in checks.check_settings() if m.id == f"supertokens_django.{error_id}"]
    assert found and all(m.level >= ERROR for m in found)
    with pytest.raises(SystemCheckError, match=error_id):
        call_command("check", tags=["security"])


def test_the_defaults_start(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {}
    call_command("check", tags=["security"])


# =========================================================================== at run time


def _login(client: Client) -> Any:
    return send(
        client,
        "POST",
        LOGIN,
        data=b'{"username": "alice", "password": "%s"}' % PASSWORDS["alice"].encode(),
        content_type="application/json",
        HTTP_ST_AUTH_MODE="header",
    )


def _signs_nothing(leak_guard: LeakGuard) -> None:
    """A login under this configuration must fail, not hand out a token."""
    leak_guard.server_errors_expected = True  # failing loudly is the point here
    failing = Client(raise_request_exception=False)
    with unchanged_db():
        response = _login(failing)
    assert response.status_code == 500
    assert not response.get("st-access-token") and not response.cookies


@pytest.mark.parametrize(
    "config",
    [
        {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": RSA_PUBLIC_PEM},
        {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "s" * 31},
        {"SIGNING_ALGORITHM": "none"},
        {"STATIC_SIGNING_KEY": RSA_PUBLIC_PEM},
        {"ACCESS_TOKEN_LIFETIME": 3600},
    ],
    ids=["hs256-public-pem", "hs256-short", "alg-none", "rs256-public-half", "lifetime-int"],
)
def test_an_unusable_signing_configuration_signs_nothing(
    settings: SettingsWrapper, user: object, leak_guard: LeakGuard, config: dict[str, Any]
) -> None:
    settings.SUPERTOKENS = config
    _signs_nothing(leak_guard)


@pytest.mark.parametrize("secret", [RSA_PUBLIC_PEM, RSA_PUBLIC_PEM.strip(), "s" * 31, ""])
def test_a_token_keyed_with_an_unusable_hs256_secret_is_never_accepted(
    settings: SettingsWrapper,
    user: object,
    browser: BrowserFactory,
    leak_guard: LeakGuard,
    secret: str,
) -> None:
    """The attacker's side of E022: the public key is public, so a deployment that took it for
    its HS256 secret must not accept what anybody can sign with it."""
    alice = browser("header", sign_in="alice")
    header, claims, _ = parts(alice.access or "")
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": secret}
    keyring.reset()
    leak_guard.server_errors_expected = True
    failing = Client(raise_request_exception=False)
    for kid in (f"s-{'0' * 16}", header["kid"]):
        token = craft(
            {**header, "alg": "HS256", "kid": kid}, claims, signer("HS256", secret.encode())
        )
        for carrier in ("cookie", "header"):
            response = send(failing, "GET", "/api/me", **carry(token, carrier))
            assert response.status_code != 200
            assert not response.get("st-access-token") and not response.cookies


@pytest.mark.parametrize("value", ["via_token", "via_custom_header", "VIA-TOKEN", "yes", ""])
def test_an_unknown_anti_csrf_mode_still_protects_at_run_time(
    settings: SettingsWrapper, user: object, browser: BrowserFactory, value: str
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": value}
    alice = browser("cookie", sign_in="alice")
    with unchanged_db():
        forged = alice.post("/api/me", rid=False, anti_csrf=False)
        assert forged.status_code == 401
        assert json_body(forged) == {"message": "try refresh token"}
        refresh = alice.refresh(rid=False, anti_csrf=False)
        assert refresh.status_code == 401


def test_truthy_strings_in_flags_err_on_the_safe_side(
    settings: SettingsWrapper, user: object, browser: BrowserFactory
) -> None:
    """``"False"`` is refused by E004; if the check is skipped, the cookie is still Secure."""
    settings.SUPERTOKENS = {"COOKIE_SECURE": "False", "BLACKLISTING": "False"}
    alice = browser("cookie")
    response = alice.sign_in("alice")
    assert response.cookies["sAccessToken"]["secure"] is True
    engine.revoke_session(alice.handle)
    assert alice.get("/api/me").status_code == 401  # blacklisting is on, not off


def test_verification_without_any_key_accepts_nothing_and_creates_nothing(
    client: Client, user: object, browser: BrowserFactory
) -> None:
    """The simplejwt failure (CVE-2024-22513 family): no key configured must not mean "nothing
    to verify". Tokens arrive before this deployment ever signed; none is accepted, and
    verifying does not create a key either."""
    from supertokens_django.models import SigningKey

    alice = browser("header", sign_in="alice")
    token = alice.access or ""
    SigningKey.objects.all().delete()
    keyring.reset()
    header, claims, _ = parts(token)
    forged = [
        token,
        craft({**header, "alg": "none"}, claims, None),
        craft({**header, "alg": "HS256"}, claims, signer("HS256", b"")),
    ]
    with unchanged_db():
        for candidate in forged:
            for carrier in ("cookie", "header"):
                attack(client, candidate, carrier)
    assert not SigningKey.objects.exists()


def test_an_empty_static_key_falls_back_to_database_keys_not_to_no_key(
    client: Client, settings: SettingsWrapper, user: object, browser: BrowserFactory
) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": ""}
    alice = browser("header", sign_in="alice")
    assert not our_signing_key().kid.startswith("s-")
    header, claims, _ = parts(alice.access or "")
    token = craft(header, claims, signer("HS256", b""))
    with unchanged_db():
        for carrier in ("cookie", "header"):
            attack(client, token, carrier)


def test_a_secret_key_rotated_without_fallback_accepts_no_old_token(
    settings: SettingsWrapper, user: object, browser: BrowserFactory, leak_guard: LeakGuard
) -> None:
    """Refresh tokens are MACed, and signing keys encrypted, under ``SECRET_KEY``. Replacing it
    without keeping the old one in ``SECRET_KEY_FALLBACKS`` must not let anything old through,
    and must not turn every request into a server error either: the old access token is "try
    refresh token" (its signing key cannot be decrypted, so it is skipped), the old refresh
    token is "unauthorised" (its MAC fails), and the user signs in again. Keep the old key in
    the fallbacks for ``REFRESH_TOKEN_LIFETIME`` to avoid that; see SECURITY.md."""
    alice = browser("cookie", sign_in="alice")
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-without-the-old-one-as-fallback-0123456789"
    keyring.reset()
    failing = Client(raise_request_exception=False)
    access, refresh = alice.access or "", alice.refresh_token or ""
    with unchanged_db():
        for carrier in ("cookie", "header"):
            response = send(failing, "GET", "/api/me", **carry(access, carrier))
            assert response.status_code == 401 and not response.get("front-token")
            assert json_body(response) == {"message": "try refresh token"}
        response = send(
            failing,
            "POST",
            "/auth/session/refresh",
            HTTP_COOKIE=f"sRefreshToken={refresh}",
            HTTP_RID="s",
        )
        assert response.status_code == 401
        assert json_body(response) == {"message": "unauthorised"}
    # With the old key as a fallback, the very same tokens work again.
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    keyring.reset()
    assert alice.get("/api/me").status_code == 200
    assert alice.refresh().status_code == 200
