"""The protocol's endpoints (``supertokens_django.views`` and ``urls``): methods, preflights,
CSRF exemption, the JWKS; the session flows through them are in ``test_protocol``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jwt
import pytest
from django.test import Client
from django.urls import reverse

from supertokens_django.models import Session as SessionRow
from tests.http_helpers import (
    HTTP_TEST_MARKS,
    JWKS,
    REFRESH,
    SIGNOUT,
    Agent,
    Mode,
    assert_cleared_both_modes,
    json_body,
)

if TYPE_CHECKING:
    from pytest_django import Settings

pytestmark = HTTP_TEST_MARKS


def test_the_url_names() -> None:
    assert reverse("supertokens_django:refresh") == REFRESH
    assert reverse("supertokens_django:signout") == SIGNOUT
    assert reverse("supertokens_django:jwks") == JWKS


@pytest.mark.parametrize(
    ("path", "methods", "allowed"),
    [
        (REFRESH, ["get", "put", "patch", "delete", "head", "trace"], "POST, OPTIONS"),
        (SIGNOUT, ["get", "put", "patch", "delete", "head"], "POST, OPTIONS"),
        (JWKS, ["post", "put", "patch", "delete"], "GET, HEAD, OPTIONS"),
    ],
)
def test_wrong_methods_get_a_json_405(
    client: Client, path: str, methods: list[str], allowed: str
) -> None:
    for method in methods:
        response = client.generic(method.upper(), path, HTTP_COOKIE="sRefreshToken=a.b")
        assert response.status_code == 405, method
        assert response["Allow"] == allowed
        assert not response.cookies
        if method != "head":
            assert json_body(response) == {"message": "method not allowed"}


@pytest.mark.parametrize(
    ("path", "allowed"), [(REFRESH, "POST, OPTIONS"), (SIGNOUT, "POST, OPTIONS")]
)
def test_options_is_a_preflight_answer(client: Client, path: str, allowed: str) -> None:
    response = client.options(
        path,
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="rid,fdi-version,st-auth-mode,anti-csrf",
    )

    assert response.status_code == 204
    assert response["Allow"] == allowed
    assert not response.content and not response.cookies


def test_the_endpoints_are_exempt_from_djangos_csrf(mode: Mode) -> None:
    client = Client(enforce_csrf_checks=True)
    agent = Agent(client, mode)
    agent.login()

    assert agent.refresh().status_code == 200
    assert agent.post(SIGNOUT).status_code == 200
    assert client.post(REFRESH).status_code == 401  # the protocol's answer, not Django's 403


def test_the_refresh_endpoint_ignores_a_body(client: Client, mode: Mode) -> None:
    agent = Agent(client, mode)
    agent.login()
    response = agent.post(REFRESH, {"refreshToken": "ignored"})

    assert response.status_code == 200
    assert json_body(response) == {}


def test_signout_twice_is_ok(client: Client, mode: Mode) -> None:
    agent = Agent(client, mode)
    agent.login()
    token = agent.access
    assert agent.post(SIGNOUT).status_code == 200

    # The same access token again (without blacklisting it still verifies): nothing to revoke.
    extra = (
        {"HTTP_COOKIE": f"sAccessToken={token}"}
        if mode == "cookie"
        else {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    )
    again = client.post(SIGNOUT, HTTP_RID="session", **extra)  # type: ignore[arg-type]
    assert again.status_code == 200
    assert json_body(again) == {"status": "OK"}
    assert_cleared_both_modes(again)


def test_signout_sends_no_user_logged_out_without_a_user(client: Client) -> None:
    from django.contrib.auth.signals import user_logged_out

    seen: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    user_logged_out.connect(receiver)
    try:
        agent = Agent(client, "cookie")
        agent.login(user_id="external")
        agent.post(SIGNOUT)
        client.post(SIGNOUT)
    finally:
        user_logged_out.disconnect(receiver)

    assert seen == []
    assert not SessionRow.objects.exists()


def test_the_jwks(client: Client) -> None:
    response = client.get(JWKS)

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    keys = json_body(response)["keys"]
    assert len(keys) >= 1
    for key in keys:
        assert {"kid", "kty", "alg", "use"} <= set(key)
        assert "d" not in key and "p" not in key  # public parts only
    assert client.head(JWKS).status_code == 200


def test_the_jwks_verifies_tokens_signed_before_and_after_a_rotation(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    from supertokens_django import engine
    from supertokens_django.keys import FORCED_KEY_NOTICE as notice
    from supertokens_django.keys import keyring

    before = Agent(client, "header").login()["st-access-token"]
    new = keyring.ensure_keys(timezone.now(), force=True)
    monkeypatch.setattr(engine, "_now", lambda: new.signs_from)  # once the new key signs
    after = Agent(client, "header").login()["st-access-token"]
    assert jwt.get_unverified_header(after)["kid"] == new.kid
    keys = {k["kid"]: k for k in json_body(client.get(JWKS))["keys"]}

    for token in (before, after):
        key = keys[jwt.get_unverified_header(token)["kid"]]
        # The leeway: ``after`` was signed on a clock moved to when the new key signs.
        claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], leeway=notice)
        assert claims["sub"] == "user-1"
    assert len(keys) == 2


def test_a_cross_origin_setup_with_django_cors_headers(settings: Settings, client: Client) -> None:
    pytest.importorskip("corsheaders")
    from corsheaders.defaults import default_headers

    from supertokens_django.cors import cors_allow_headers, cors_expose_headers

    settings.MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *settings.MIDDLEWARE]
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    settings.CORS_ALLOW_CREDENTIALS = True
    settings.CORS_ALLOW_HEADERS = [*default_headers, *cors_allow_headers()]
    settings.CORS_EXPOSE_HEADERS = cors_expose_headers()
    origin = {"HTTP_ORIGIN": "https://app.example.com"}

    preflight = client.options(
        REFRESH,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="rid,fdi-version,st-auth-mode,anti-csrf,authorization",
        **origin,
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert preflight["Access-Control-Allow-Credentials"] == "true"
    allowed = {h.strip() for h in preflight["Access-Control-Allow-Headers"].split(",")}
    assert set(cors_allow_headers()) <= allowed

    agent = Agent(client, "header")
    login = agent.post("/login", {}, **origin)
    refreshed = agent.refresh(**origin)
    for response in (login, refreshed):
        assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
        exposed = {h.strip() for h in response["Access-Control-Expose-Headers"].split(",")}
        assert {"front-token", "st-access-token", "st-refresh-token"} <= exposed
