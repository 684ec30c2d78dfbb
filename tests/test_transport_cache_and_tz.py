"""What a response that depends on the session tells caches, over HTTP.

A header-mode session comes in ``Authorization``, a cookie-mode one in ``Cookie``: a response
that depends on either must vary on both, or Django's cache middleware (which on 4.2 adds no
``Vary: Authorization`` of its own, and on 5.x none to a ``Cache-Control: public`` response)
keys one user's page on nothing and serves it to the next visitor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils.cache import has_vary_header

from tests.http_helpers import (
    Agent,
    fresh_keyring,  # noqa: F401
    json_body,
)

if TYPE_CHECKING:
    from pytest_django import Settings

pytestmark = [
    pytest.mark.urls("tests.http_urls"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("fresh_keyring"),
]


@pytest.fixture
def cache_middleware(settings: Settings) -> Iterator[None]:
    """Django's whole-site cache around the test settings' middleware, on an empty cache."""
    settings.MIDDLEWARE = [
        "django.middleware.cache.UpdateCacheMiddleware",
        *settings.MIDDLEWARE,
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    settings.CACHE_MIDDLEWARE_KEY_PREFIX = "test_transport_cache_and_tz"
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("cache_middleware")
@pytest.mark.parametrize("path", ["/protected", "/public-cache"])
def test_header_mode_response_is_not_served_to_others_by_the_cache_middleware(
    client: Client, path: str
) -> None:
    alice = Agent(client, "header")
    alice.login(user_id="alice")
    assert json_body(alice.get(path))["user_id"] == "alice"
    assert json_body(alice.get(path))["user_id"] == "alice"  # (her own copy may be cached)

    stranger = client.get(path)
    assert stranger.status_code == 401, stranger.content
    bob = Agent(client, "header")
    bob.login(user_id="bob")
    assert json_body(bob.get(path))["user_id"] == "bob"


@pytest.mark.usefixtures("cache_middleware")
def test_cookie_mode_response_is_not_served_to_a_header_mode_user(client: Client) -> None:
    alice = Agent(client, "cookie")
    alice.login(user_id="alice")
    assert json_body(alice.get("/optional"))["user_id"] == "alice"

    bob = Agent(client, "header")
    bob.login(user_id="bob")
    assert json_body(bob.get("/optional"))["user_id"] == "bob"
    assert json_body(client.get("/optional"))["user_id"] is None


@pytest.mark.parametrize("path", ["/protected", "/async/protected", "/cbv/profile"])
def test_a_header_mode_verified_response_varies_on_authorization(client: Client, path: str) -> None:
    agent = Agent(client, "header")
    agent.login()
    response = agent.get(path)

    assert response.status_code == 200
    assert has_vary_header(response, "Authorization")
    assert has_vary_header(response, "Cookie")


@pytest.mark.parametrize("path", ["/optional", "/async/optional", "/lazy"])
def test_an_anonymous_response_of_an_optional_view_varies_on_both(
    client: Client, path: str
) -> None:
    # A Bearer token would have changed this answer as surely as a cookie.
    response = client.get(path)

    assert json_body(response)["user_id"] is None
    assert response["Vary"] == "Cookie, Authorization"


@pytest.mark.parametrize("path", ["/protected", "/async/protected"])
def test_a_refusal_varies_on_both(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response["Vary"] == "Cookie, Authorization"
