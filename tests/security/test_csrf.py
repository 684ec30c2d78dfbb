"""Cross-site request forgery in cookie mode (PROTOCOL.md §6), on plain views, the sign-out and
refresh endpoints, and DRF; header mode is never checked (a cross-site page cannot send an
``Authorization`` header without a CORS preflight).

Every unsafe request a forged cross-site form or ``fetch(..., {mode: "no-cors"})`` could send is
tried in each ``ANTI_CSRF`` mode: refused ones change nothing and issue nothing; a refresh
refused for CSRF answers "unauthorised" *without* clearing tokens (clearing would hand any site
a logout-CSRF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from tests.http_helpers import REFRESH, SIGNOUT
from tests.security.support import (
    TRY_REFRESH,
    UNAUTHORISED,
    Outcome,
    expect,
    needs_drf,
    unchanged_db,
)

if TYPE_CHECKING:
    from pytest_django import Settings as SettingsWrapper

    from tests.security.conftest import BrowserFactory

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]

SETTINGS = ["VIA_CUSTOM_HEADER", "VIA_TOKEN", "NONE"]


@dataclass(frozen=True)
class Request:
    """What arrives: the ``rid`` header or not, which ``anti-csrf`` value, other headers."""

    rid: bool
    anti_csrf: str  # "absent" | "own" | "wrong" | "empty" | "another-users"
    extra: dict[str, str] = field(default_factory=dict)

    def passes(self, setting: str) -> bool:
        if setting == "NONE":
            return True
        if setting == "VIA_CUSTOM_HEADER":
            return self.rid
        return self.anti_csrf == "own"


REQUESTS = {
    # What a cross-site form or a no-cors fetch can send: no custom header at all.
    "cross-site": Request(rid=False, anti_csrf="absent"),
    "cross-site-with-basic-auth": Request(
        rid=False, anti_csrf="absent", extra={"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}
    ),
    "cross-site-with-foreign-bearer": Request(
        rid=False, anti_csrf="absent", extra={"HTTP_AUTHORIZATION": "Bearer not.ours"}
    ),
    "cross-site-claiming-header-mode": Request(
        rid=False, anti_csrf="absent", extra={"HTTP_ST_AUTH_MODE": "header"}
    ),
    # Only reachable after a CORS preflight, yet without the right token.
    "rid-only": Request(rid=True, anti_csrf="absent"),
    "rid-and-a-wrong-token": Request(rid=True, anti_csrf="wrong"),
    "rid-and-an-empty-token": Request(rid=True, anti_csrf="empty"),
    "rid-and-another-users-token": Request(rid=True, anti_csrf="another-users"),
    # What the SDK sends.
    "the-sdk": Request(rid=True, anti_csrf="own"),
    "own-token-without-rid": Request(rid=False, anti_csrf="own"),
}


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    passed: int  # the status when the check passes
    refused: Outcome | None  # None: a HEAD (no body)
    body: dict[str, object] | None = None


CSRF_REFUSED = Outcome(401, TRY_REFRESH)
TARGETS = {
    "plain-view": Target("POST", "/api/me", 200, CSRF_REFUSED),
    "payload-update": Target("POST", "/api/jwt-payload", 200, CSRF_REFUSED, {"role": "admin"}),
    "session-data": Target("POST", "/api/session-data", 200, CSRF_REFUSED, {"x": 1}),
    "revoke-all": Target("POST", "/api/revoke-all", 200, CSRF_REFUSED),
    "signout": Target("POST", SIGNOUT, 200, CSRF_REFUSED),
    # The deliberate deviation: "unauthorised", but nothing cleared.
    "refresh": Target("POST", REFRESH, 200, Outcome(401, UNAUTHORISED)),
    # DRF authenticates before it looks for a handler: 405 means the session was accepted.
    "drf-post": Target("POST", "/api/drf/me", 405, CSRF_REFUSED),
    "drf-head": Target("HEAD", "/api/drf/me", 200, None),
}


def target_params() -> list[object]:
    return [
        pytest.param(name, id=name, marks=[needs_drf] if name.startswith("drf") else [])
        for name in TARGETS
    ]


@pytest.mark.parametrize("target_name", target_params())
@pytest.mark.parametrize("request_name", list(REQUESTS))
@pytest.mark.parametrize("setting", SETTINGS)
def test_cookie_mode_unsafe_requests(
    settings: SettingsWrapper,
    user: object,
    other_user: object,
    browser: BrowserFactory,
    setting: str,
    request_name: str,
    target_name: str,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    request, target = REQUESTS[request_name], TARGETS[target_name]
    bob = browser("cookie", sign_in="bob")
    alice = browser("cookie", sign_in="alice")
    headers = dict(request.extra)
    anti_csrf = {
        "absent": None,
        "own": alice.anti_csrf,
        "wrong": "x" * 43,
        "empty": "",
        "another-users": bob.anti_csrf,
    }[request.anti_csrf]
    if setting == "VIA_TOKEN" and request.anti_csrf in ("own", "another-users"):
        assert anti_csrf, "VIA_TOKEN hands out an anti-CSRF token"
        assert alice.anti_csrf != bob.anti_csrf
    if anti_csrf is not None:
        headers["HTTP_ANTI_CSRF"] = anti_csrf

    def send() -> object:
        return alice.call(
            target.method, target.path, target.body, rid=request.rid, anti_csrf=False, **headers
        )

    if request.passes(setting):
        assert send().status_code == target.passed  # type: ignore[attr-defined]
        return
    with unchanged_db():
        response = send()
    if target.refused is None:
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert not response.cookies and "front-token" not in response  # type: ignore[attr-defined]
    else:
        expect(response, target.refused)  # type: ignore[arg-type]
    # Refused, not signed out: the SDK's next real call still works.
    assert alice.get("/api/me").status_code == 200


@pytest.mark.parametrize("target_name", target_params())
@pytest.mark.parametrize("setting", SETTINGS)
def test_header_mode_is_never_checked(
    settings: SettingsWrapper,
    user: object,
    browser: BrowserFactory,
    setting: str,
    target_name: str,
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    target = TARGETS[target_name]
    alice = browser("header", sign_in="alice")
    response = alice.call(target.method, target.path, target.body, rid=False, anti_csrf=False)
    assert response.status_code == target.passed


@pytest.mark.parametrize("setting", ["VIA_CUSTOM_HEADER", "VIA_TOKEN"])
def test_safe_methods_are_not_checked_unless_a_view_asks(
    settings: SettingsWrapper, user: object, browser: BrowserFactory, setting: str
) -> None:
    """GET is what SameSite=Lax lets through on top-level navigation: it must change nothing,
    which is the application's side of the bargain (PROTOCOL.md §6)."""
    settings.SUPERTOKENS = {"ANTI_CSRF": setting}
    alice = browser("cookie", sign_in="alice")
    for path in ("/api/me", "/api/strict", "/api/optional", "/api/async/me"):
        with unchanged_db():
            response = alice.get(path, rid=False, anti_csrf=False)
        assert response.status_code == 200, path
