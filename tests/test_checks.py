"""The system checks: one case (at least) per id in supertokens_django.checks."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings as django_settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import ERROR, WARNING, Tags, run_checks
from django.test import override_settings

from supertokens_django import checks
from supertokens_django.checks import check_settings, check_wiring
from supertokens_django.middleware import SuperTokensMiddleware

if TYPE_CHECKING:
    from pytest_django import Settings

HOUR = timedelta(hours=1)
SECRET = "a-static-hs256-secret-of-at-least-32-bytes"
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
DUMMY = "django.core.cache.backends.dummy.DummyCache"
SHARED = "django.core.cache.backends.db.DatabaseCache"


WITHOUT_OURS = [m for m in django_settings.MIDDLEWARE if "SuperTokens" not in m]


class OurMiddleware(SuperTokensMiddleware):
    """A project's subclass of the middleware: it counts as the middleware."""


def get_user(user_id: str) -> None:
    """A valid USER_GETTER."""


NOT_CALLABLE = 42


class LocMemSubclass(LocMemCache):
    """A project's own per-process cache: as blind to other processes as its parent."""


def _pem(key: Any) -> str:
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def _public_pem(key: Any) -> str:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PEM = _pem(_RSA)
RSA_PUBLIC_PEM = _public_pem(_RSA)
# Deliberately too weak: the check must reject it.
RSA_1024_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505
RSA_ENCRYPTED_PEM = _RSA.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.BestAvailableEncryption(b"passphrase"),
).decode()
P256_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))
P384_PEM = _pem(ec.generate_private_key(ec.SECP384R1()))
ED25519_PEM = _pem(ed25519.Ed25519PrivateKey.generate())


def ids(messages: list[Any]) -> list[str]:
    return [m.id.removeprefix("supertokens_django.") for m in messages]


# (SUPERTOKENS, extra Django settings, the ids expected: exactly these, in this order)
CASES: list[tuple[Any, dict[str, Any], list[str]]] = [
    # E001 / E002: shape and spelling
    ([("BLACKLISTING", True)], {}, ["E001"]),
    ({"BLACKLISTNG": True}, {}, ["E002"]),
    ({"blacklisting": True, "NOPE": 1}, {}, ["E002", "E002"]),
    # E003 / E004 / E005 / E023 / E024: types
    ({"ACCESS_TOKEN_LIFETIME": 3600}, {}, ["E003"]),
    ({"LEEWAY": 1.5, "BLACKLIST_CACHE_TIMEOUT": None}, {}, ["E003", "E003"]),
    ({"COOKIE_SECURE": "yes"}, {"DEBUG": True}, ["E004"]),
    ({"BLACKLISTING": 1, "REVOKE_SESSIONS_ON_PASSWORD_CHANGE": None}, {}, ["E004", "E004"]),
    ({"REVOKE_SESSIONS_ON_DEACTIVATION": "no"}, {}, ["E004"]),
    ({"MAX_JWT_PAYLOAD_BYTES": 0}, {}, ["E005"]),
    ({"MAX_SESSION_DATA_BYTES": True}, {}, ["E005"]),
    ({"MAX_SESSION_DATA_BYTES": "65536"}, {}, ["E005"]),
    ({"DATABASE_RETRIES": -1}, {}, ["E023"]),
    ({"DATABASE_RETRIES": "3"}, {}, ["E023"]),
    ({"DATABASE_RETRIES": 0}, {}, []),
    ({"COOKIE_DOMAIN": 5}, {}, ["E024"]),
    ({"COOKIE_DOMAIN": ".example.com"}, {}, []),
    # E029 / E030: the fast path's size and the DRF user
    ({"VERIFIED_TOKEN_CACHE_SIZE": -1}, {}, ["E029"]),
    ({"VERIFIED_TOKEN_CACHE_SIZE": "4096"}, {}, ["E029"]),
    ({"VERIFIED_TOKEN_CACHE_SIZE": 0}, {}, []),
    ({"DRF_USER": "anonymous"}, {}, ["E030"]),
    ({"DRF_USER": "token"}, {}, []),
    # E031 / E032 / W006: the blacklisting mode and its bound
    ({"BLACKLIST_MODE": "lazy"}, {}, ["E031"]),
    ({"BLACKLIST_MODE": None, "BLACKLISTING": True}, {}, ["E031"]),
    ({"BLACKLIST_MODE": "bounded", "BLACKLISTING": True}, {}, []),
    ({"BLACKLIST_MODE": "immediate", "BLACKLISTING": True}, {}, []),
    ({"BLACKLIST_MODE": "bounded"}, {}, ["W006"]),
    ({"BLACKLIST_BOUND": timedelta(0)}, {}, ["E032"]),
    ({"BLACKLIST_BOUND": -timedelta(seconds=1)}, {}, ["E032"]),
    ({"BLACKLIST_BOUND": 1}, {}, ["E003"]),
    ({"BLACKLIST_BOUND": timedelta(milliseconds=250)}, {}, []),
    # E006 / E007: choices
    ({"ANTI_CSRF": "via_token"}, {}, ["E006"]),
    ({"ANTI_CSRF": "VIA_TOKEN"}, {}, []),
    ({"SIGNING_ALGORITHM": "none"}, {}, ["E007"]),
    ({"SIGNING_ALGORITHM": "PS256", "STATIC_SIGNING_KEY": RSA_PEM}, {}, ["E007"]),
    # E008 / E009: status codes
    ({"SESSION_EXPIRED_STATUS_CODE": 500}, {}, ["E008"]),
    ({"INVALID_CLAIM_STATUS_CODE": "403"}, {}, ["E008"]),
    ({"INVALID_CLAIM_STATUS_CODE": True}, {}, ["E008"]),
    ({"INVALID_CLAIM_STATUS_CODE": 401}, {}, ["E009"]),
    ({"SESSION_EXPIRED_STATUS_CODE": 440, "INVALID_CLAIM_STATUS_CODE": 440}, {}, ["E009"]),
    ({"SESSION_EXPIRED_STATUS_CODE": 440}, {}, []),
    # E010: API_BASE_PATH
    ({"API_BASE_PATH": "auth"}, {}, ["E010"]),
    ({"API_BASE_PATH": ""}, {}, ["E010"]),
    ({"API_BASE_PATH": None}, {}, ["E010"]),
    ({"API_BASE_PATH": "/auth?x=1"}, {}, ["E010"]),
    ({"API_BASE_PATH": "/auth#top"}, {}, ["E010"]),
    ({"API_BASE_PATH": "/my auth"}, {}, ["E010"]),
    ({"API_BASE_PATH": "/auth;x"}, {}, ["E010"]),
    # A path (no E010), but not where tests.urls mounts the URLs (E034, below).
    ({"API_BASE_PATH": "/"}, {}, ["E034"]),
    ({"API_BASE_PATH": "/api/auth/"}, {}, []),
    # E011: API_DOMAIN
    ({"API_DOMAIN": "api.example.com"}, {}, ["E011"]),
    ({"API_DOMAIN": "https://api.example.com/auth"}, {}, ["E011"]),
    ({"API_DOMAIN": "ftp://api.example.com"}, {}, ["E011"]),
    ({"API_DOMAIN": "https://"}, {}, ["E011"]),
    ({"API_DOMAIN": "https://api.example.com?x"}, {}, ["E011"]),
    ({"API_DOMAIN": "https://api.example.com#x"}, {}, ["E011"]),
    ({"API_DOMAIN": "https://user@api.example.com"}, {}, ["E011"]),
    ({"API_DOMAIN": "https://api.example.com:port"}, {}, ["E011"]),
    ({"API_DOMAIN": 42}, {}, ["E011"]),
    ({"API_DOMAIN": "https://api.example.com"}, {}, []),
    ({"API_DOMAIN": "https://api.example.com/"}, {}, []),
    ({"API_DOMAIN": "http://localhost:8000"}, {}, []),
    ({"API_DOMAIN": "http://[::1]:8000"}, {}, []),
    # E012 / E027: USER_GETTER
    ({"USER_GETTER": 42}, {}, ["E012"]),
    ({"USER_GETTER": "tests.no_such_module.get_user"}, {}, ["E027"]),
    ({"USER_GETTER": "tests.test_checks.no_such_function"}, {}, ["E027"]),
    ({"USER_GETTER": "tests.test_checks.NOT_CALLABLE"}, {}, ["E027"]),
    ({"USER_GETTER": "tests.test_checks.get_user"}, {}, []),
    # E013-E016, E028, W001, W004: lifetimes
    ({"ACCESS_TOKEN_LIFETIME": timedelta(0)}, {}, ["E013"]),
    ({"REFRESH_TOKEN_LIFETIME": -HOUR}, {}, ["E013"]),
    ({"REFRESH_TOKEN_LIFETIME": HOUR}, {}, ["E014"]),
    ({"ACCESS_TOKEN_LIFETIME": timedelta(days=200)}, {}, ["E014", "W004"]),
    ({"LEEWAY": -timedelta(seconds=1)}, {}, ["E015"]),
    ({"LEEWAY": HOUR}, {}, ["E015"]),
    ({"LEEWAY": timedelta(0)}, {}, []),
    ({"SIGNING_KEY_ROTATION_INTERVAL": timedelta(0)}, {}, ["E016"]),
    ({"SIGNING_KEY_ROTATION_INTERVAL": timedelta(minutes=90)}, {}, ["W004"]),
    ({"SIGNING_KEY_ROTATION_INTERVAL": 2 * HOUR}, {}, []),
    ({"BLACKLIST_CACHE_TIMEOUT": timedelta(0)}, {}, ["E028"]),
    ({"ACCESS_TOKEN_LIFETIME": timedelta(days=2)}, {}, ["W001"]),
    # E017 / E018 / E025 / W002: cookies
    ({"COOKIE_SAMESITE": "lax"}, {}, ["E017"]),
    ({"COOKIE_SAMESITE": None}, {}, ["E017"]),
    ({"COOKIE_SAMESITE": "None", "COOKIE_SECURE": False}, {"DEBUG": True}, ["E018"]),
    ({"COOKIE_SAMESITE": "None", "COOKIE_SECURE": False}, {}, ["E018"]),
    ({"COOKIE_SAMESITE": "None"}, {}, []),
    ({"COOKIE_SAMESITE": "None", "ANTI_CSRF": "NONE"}, {}, ["E025"]),
    ({"COOKIE_SAMESITE": "Strict", "ANTI_CSRF": "NONE"}, {}, []),
    ({"COOKIE_SECURE": False}, {"DEBUG": False}, ["W002"]),
    ({"COOKIE_SECURE": False}, {"DEBUG": True}, []),
    # E019 / E020 / E026 / W003 / W005: the blacklist cache
    ({"BLACKLIST_CACHE": "nope"}, {}, ["E019"]),
    ({"BLACKLIST_CACHE": "nope", "BLACKLISTING": True}, {}, ["E019"]),
    ({"BLACKLIST_CACHE": ["blacklist"]}, {}, ["E026"]),
    ({"BLACKLIST_CACHE": "bl", "BLACKLISTING": True}, {"CACHES": {"bl": LOCMEM}}, ["E020"]),
    (
        {"BLACKLIST_CACHE": "bl", "BLACKLISTING": True},
        {"CACHES": {"bl": "tests.test_checks.LocMemSubclass"}},
        ["E020"],
    ),
    # A backend that does not import is Django's to report (when the cache is first used).
    ({"BLACKLIST_CACHE": "bl", "BLACKLISTING": True}, {"CACHES": {"bl": "tests.nope.Cache"}}, []),
    ({"BLACKLIST_CACHE": "bl", "BLACKLISTING": True}, {"CACHES": {"bl": DUMMY}}, ["W005"]),
    ({"BLACKLIST_CACHE": "bl", "BLACKLISTING": True}, {"CACHES": {"bl": SHARED}}, []),
    ({"BLACKLIST_CACHE": "bl"}, {"CACHES": {"bl": SHARED}}, ["W003"]),
    # A per-process cache is harmless while nothing reads it.
    ({"BLACKLIST_CACHE": "bl"}, {"CACHES": {"bl": LOCMEM}}, ["W003"]),
    # E021 / E022: the static signing key
    ({"STATIC_SIGNING_KEY": SECRET.encode()}, {}, ["E021"]),
    ({"STATIC_SIGNING_KEY": RSA_PEM}, {}, []),
    ({"STATIC_SIGNING_KEY": RSA_1024_PEM}, {}, ["E022"]),
    ({"STATIC_SIGNING_KEY": RSA_PUBLIC_PEM}, {}, ["E022"]),
    ({"STATIC_SIGNING_KEY": RSA_ENCRYPTED_PEM}, {}, ["E022"]),
    ({"STATIC_SIGNING_KEY": P256_PEM}, {}, ["E022"]),
    ({"STATIC_SIGNING_KEY": "not a key"}, {}, ["E022"]),
    ({"STATIC_SIGNING_KEY": SECRET}, {}, ["E022"]),
    ({"SIGNING_ALGORITHM": "ES256", "STATIC_SIGNING_KEY": P256_PEM}, {}, []),
    ({"SIGNING_ALGORITHM": "ES256", "STATIC_SIGNING_KEY": P384_PEM}, {}, ["E022"]),
    ({"SIGNING_ALGORITHM": "ES256", "STATIC_SIGNING_KEY": ED25519_PEM}, {}, ["E022"]),
    ({"SIGNING_ALGORITHM": "EdDSA", "STATIC_SIGNING_KEY": ED25519_PEM}, {}, []),
    ({"SIGNING_ALGORITHM": "EdDSA", "STATIC_SIGNING_KEY": RSA_PEM}, {}, ["E022"]),
    ({"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": SECRET}, {}, []),
    ({"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "too short"}, {}, ["E022"]),
    # The algorithm-confusion trap: an HMAC "secret" that is somebody's public key.
    ({"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": RSA_PUBLIC_PEM}, {}, ["E022"]),
    ({"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": RSA_PEM}, {}, ["E022"]),
    # E033: the middleware, or a project's subclass of it
    ({}, {"MIDDLEWARE": WITHOUT_OURS}, ["E033"]),
    ({}, {"MIDDLEWARE": [*WITHOUT_OURS, "tests.test_checks.OurMiddleware"]}, []),
    # One that does not import is Django's to report (on the first request).
    ({}, {"MIDDLEWARE": [*WITHOUT_OURS, "tests.nope.Middleware"]}, ["E033"]),
    # E034 / W007: the URLs, where API_BASE_PATH says (or under a SCRIPT_NAME prefix of it)
    ({}, {"ROOT_URLCONF": "tests.urls_without_auth"}, ["W007"]),
    ({}, {"ROOT_URLCONF": "tests.urls_auth_elsewhere"}, ["E034"]),
    ({"API_BASE_PATH": "/api/auth"}, {"ROOT_URLCONF": "tests.urls_auth_elsewhere"}, []),
    ({"API_BASE_PATH": "/api/auth/"}, {"ROOT_URLCONF": "tests.urls_auth_elsewhere"}, []),
    ({"API_BASE_PATH": "/api/auth"}, {}, []),  # served with SCRIPT_NAME=/api
    ({"API_BASE_PATH": "/other"}, {}, ["E034"]),
]


def _apply(settings: Settings, supertokens: Any, django_settings: dict[str, Any]) -> None:
    settings.SUPERTOKENS = supertokens
    for name, value in django_settings.items():
        if name == "CACHES":
            value = {"default": {"BACKEND": LOCMEM}} | {
                alias: {"BACKEND": backend} for alias, backend in value.items()
            }
        setattr(settings, name, value)


@pytest.mark.parametrize(
    ("supertokens", "django_settings", "expected"),
    CASES,
    ids=[f"{n}-{'+'.join(expected) or 'ok'}" for n, (_st, _dj, expected) in enumerate(CASES)],
)
def test_check(
    settings: Settings, supertokens: Any, django_settings: dict[str, Any], expected: list[str]
) -> None:
    _apply(settings, supertokens, django_settings)

    messages = check_settings() + check_wiring()

    assert ids(messages) == expected
    for message in messages:
        # Errors stop manage.py; warnings only print. The id's letter says which it is.
        assert message.level == (ERROR if ".E" in str(message.id) else WARNING), message
        assert message.msg


def test_every_check_id_is_documented_and_tested() -> None:
    documented = re.findall(r"^([EW]\d{3})  ", checks.__doc__ or "", flags=re.MULTILINE)
    tested = {code for _st, _dj, expected in CASES for code in expected}
    assert len(documented) == len(set(documented))
    assert set(documented) == tested
    # Every id the module can emit, read from its ``_error(msg, n)``/``_warning(msg, n)`` calls.
    in_source = set()
    for node in ast.walk(ast.parse(Path(checks.__file__).read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("_error", "_warning"):
                number = node.args[1]
                assert isinstance(number, ast.Constant), ast.dump(node)
                assert isinstance(number.value, int), ast.dump(node)
                in_source.add(f"{node.func.id[1].upper()}{number.value:03d}")
    assert in_source == set(documented)


def test_the_defaults_pass() -> None:
    assert check_settings() == []
    assert check_wiring() == []


@override_settings(SUPERTOKENS={})
def test_the_defaults_pass_through_run_checks() -> None:
    # No database checks (databases=[]): this test has no database, and since Django 6.1 they
    # run on every alias unless told which, here the tests' "replica" too.
    messages = run_checks(databases=[])
    assert [m for m in messages if m.id and m.id.startswith("supertokens_django.")] == []


@override_settings(SUPERTOKENS={"COOKIE_SAMESITE": "None", "COOKIE_SECURE": False})
def test_the_check_is_registered_for_the_security_tag() -> None:
    messages = run_checks(tags=[Tags.security])
    assert "supertokens_django.E018" in {m.id for m in messages}


def test_unknown_key_suggests_the_closest_name(settings: Settings) -> None:
    settings.SUPERTOKENS = {"BLACKLISTNG": True}
    (message,) = check_settings()
    assert message.msg == "SUPERTOKENS has an unknown key 'BLACKLISTNG'."
    assert message.hint == "Did you mean 'BLACKLISTING'?"


def test_several_problems_are_all_reported(settings: Settings) -> None:
    settings.SUPERTOKENS = {
        "COOKIE_SAMESITE": "None",
        "COOKIE_SECURE": False,
        "ANTI_CSRF": "NONE",
        "INVALID_CLAIM_STATUS_CODE": 401,
        "LEEWAY": -HOUR,
    }
    assert ids(check_settings()) == ["E009", "E015", "E018", "E025"]


def test_the_mismatch_message_says_why(settings: Settings) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "ES256", "STATIC_SIGNING_KEY": P384_PEM}
    (message,) = check_settings()
    assert message.msg == (
        "SUPERTOKENS['STATIC_SIGNING_KEY'] does not fit SIGNING_ALGORITHM 'ES256': "
        "ES256 needs a P-256 key"
    )
