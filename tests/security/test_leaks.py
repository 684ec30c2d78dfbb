"""Information leaks. Every test of this package runs under the leak guard (``conftest.py``): no
log record may carry a token, a refresh-token hash, key material, SQL or a traceback, and no
response body a token or a hash. This module proves the guard sees what it looks for, walks the
example project's admin after real logins, refreshes, a theft and a key rotation, and checks
what a staff user without session permissions can do (nothing)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from supertokens_django.keys import decrypt_private_key, keyring
from supertokens_django.models import RevokedSession, SigningKey
from supertokens_django.models import Session as SessionRow
from tests.http_helpers import JWKS, REFRESH
from tests.security.support import (
    TRY_REFRESH,
    UNAUTHORISED,
    LeakGuard,
    carry,
    carry_refresh,
    json_body,
    send,
    unchanged_db,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import Settings as SettingsWrapper

    from tests.security.conftest import BrowserFactory

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]


def test_the_guard_catches_each_kind_of_leak(leak_guard: LeakGuard) -> None:
    """A canary: without it, a guard that inspects nothing would pass every test."""
    logger = logging.getLogger("supertokens_django.canary")
    token = "eyJhbGciOiJSUzI1NiJ9.canary-token-value.signature"
    leak_guard.note(token)
    samples = [
        ("token %s", token),
        ("query %s", "SELECT handle FROM supertokens_django_session WHERE 1"),
        ("key %s", "-----BEGIN PRIVATE KEY-----"),
        ("jwk %s", '{"kty": "RSA", "d": "secret"}'),
    ]
    for message, arg in samples:
        logger.warning(message, arg)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failure")
    assert len(leak_guard.problems()) == len(samples) + 1
    leak_guard.records.clear()


def test_library_refusals_are_logged_without_the_token(
    client: Client, user: object, browser: BrowserFactory, leak_guard: LeakGuard
) -> None:
    """The records the guard inspects are real: refusals are logged (for operators), and say
    why without quoting what was refused."""
    alice = browser("cookie", sign_in="alice")
    access, refresh_token = alice.access or "", alice.refresh_token or ""
    send(client, "GET", "/api/me", **carry(access[:-2] + "xx", "cookie"))
    send(client, "POST", REFRESH, **carry_refresh(refresh_token[:-3], "cookie"))
    refusals = [
        r.getMessage() for r in leak_guard.records if r.name.startswith("supertokens_django")
    ]
    assert any("refused" in text for text in refusals), refusals
    assert leak_guard.problems() == []


# =========================================================================== admin


def secrets_in_the_database() -> list[str]:
    """What the database holds that must never be displayed: hashes and key material."""
    found = list(SessionRow.objects.values_list("refresh_token_hash_2", flat=True))
    for key in SigningKey.objects.all():
        found += [key.private_key, key.private_key[3:40]]
        found += [line for line in key.public_key.splitlines()[1:-1] if line]
        private = decrypt_private_key(key.kid, key.private_key).decode("latin-1")
        found += [line for line in private.splitlines()[1:-1] if line]
    return found


def test_the_example_admin_shows_no_token_hash_or_key(
    client: Client,
    settings: SettingsWrapper,
    user: User,
    other_user: User,
    admin_user: User,
    browser: BrowserFactory,
    leak_guard: LeakGuard,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    alice = browser("cookie", sign_in="alice")
    alice.refresh()
    alice.get("/api/me")
    bob = browser("header", sign_in="bob")
    rt0 = bob.refresh_token or ""
    bob.refresh()
    bob.get("/api/me")
    bob.use_refresh_token(rt0)
    assert bob.refresh().status_code == 401  # theft: a revoked session to show
    keyring.ensure_keys(timezone.now(), force=True)
    leak_guard.note_keys()
    secrets = sorted(leak_guard.secrets) + secrets_in_the_database()

    record = RevokedSession.objects.get()
    row = SessionRow.objects.get()
    pages = [
        reverse("admin:index"),
        reverse("admin:supertokens_django_session_changelist"),
        reverse("admin:supertokens_django_session_changelist") + f"?q={row.pk}",
        reverse("admin:supertokens_django_session_change", args=(row.pk,)),
        reverse("admin:supertokens_django_session_revoke", args=(row.pk,)),
        reverse("admin:supertokens_django_session_revoke_user", args=(row.subject,)),
        reverse("admin:supertokens_django_revokedsession_changelist"),
        reverse("admin:supertokens_django_revokedsession_change", args=(record.pk,)),
        reverse("admin:supertokens_django_signingkey_changelist"),
        reverse("admin:supertokens_django_signingkey_rotate"),
        reverse("admin:auth_user_change", args=(user.pk,)),
        *(
            reverse("admin:supertokens_django_signingkey_change", args=(kid,))
            for kid in SigningKey.objects.values_list("kid", flat=True)
        ),
    ]
    admin = Client()
    admin.force_login(admin_user)
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "Traceback" not in page and "-----BEGIN" not in page, url
        for secret in secrets:
            assert secret not in page, (url, secret[:12])


def staff(username: str, *codenames: str) -> Client:
    from django.contrib.auth import get_user_model

    member = get_user_model().objects.create_user(username=username, password="x", is_staff=True)
    member.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(member)
    return client


@pytest.mark.parametrize(
    "codenames",
    [(), ("view_session", "view_revokedsession", "view_signingkey")],
    ids=["no-permission", "view-only"],
)
def test_staff_without_session_permissions_changes_nothing(
    user: object, other_user: object, browser: BrowserFactory, codenames: tuple[str, ...]
) -> None:
    alice = browser("cookie", sign_in="alice")
    browser("cookie", sign_in="bob")
    client = staff("staffer", *codenames)
    row = SessionRow.objects.get(handle=alice.handle)
    sessions = reverse("admin:supertokens_django_session_changelist")
    attempts: list[tuple[str, dict[str, Any]]] = [
        (reverse("admin:supertokens_django_session_revoke", args=(row.pk,)), {}),
        (reverse("admin:supertokens_django_session_revoke_user", args=(row.subject,)), {}),
        (reverse("admin:supertokens_django_session_delete", args=(row.pk,)), {"post": "yes"}),
        (sessions, {"action": "revoke_selected", "_selected_action": [str(row.pk)]}),
        (sessions, {"action": "revoke_users", "_selected_action": [str(row.pk)]}),
        (sessions, {"action": "delete_selected", "_selected_action": [str(row.pk)]}),
        (reverse("admin:supertokens_django_signingkey_rotate"), {}),
    ]
    with unchanged_db():
        for url, data in attempts:
            response = client.post(url, data)
            # Refused outright, or sent elsewhere (the list again for an action this user does
            # not have; the revoke confirmation for the delete URL): what counts is that no
            # row changed.
            assert response.status_code in (200, 302, 403), (url, data)
    assert alice.get("/api/me").status_code == 200


# =========================================================================== public endpoints


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_the_jwks_publishes_public_halves_only(
    client: Client, settings: SettingsWrapper, algorithm: str
) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": algorithm}
    keyring.ensure_keys(timezone.now(), force=True)
    keyring.ensure_keys(timezone.now(), force=True)
    keys = json_body(send(client, "GET", JWKS))["keys"]
    assert len(keys) >= 2
    for jwk in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k", "oth"} & set(jwk)
        assert jwk["use"] == "sig" and jwk["alg"] == algorithm


def test_refusals_say_nothing_about_why(
    client: Client, user: object, browser: BrowserFactory
) -> None:
    """The body is one of the protocol's messages and no header explains the refusal: the
    reason (bad signature, unknown kid, expired...) is for the logs only."""
    alice = browser("cookie", sign_in="alice")
    access = alice.access or ""
    refusals = [
        send(client, "GET", "/api/me", **carry(access[:-2] + "xx", "cookie")),
        send(client, "GET", "/api/me", **carry(access.replace(".", ".x", 1), "cookie")),
        send(client, "POST", REFRESH, **carry_refresh("a.b", "cookie")),
        send(client, "POST", "/api/me", **carry(access, "cookie")),  # no rid
    ]
    for response in refusals:
        assert json_body(response) in (TRY_REFRESH, UNAUTHORISED)
        assert response.content in (
            json.dumps(TRY_REFRESH).encode(),
            json.dumps(UNAUTHORISED).encode(),
        )
        for name, value in response.items():
            lowered = value.lower()
            for word in ("signature", "kid", "expired", "claim", "algorithm", "csrf", "mac"):
                assert word not in lowered, (name, value)
