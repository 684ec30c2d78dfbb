"""What a session response tells caches and browsers about who and when, over HTTP.

Caches: a header-mode session comes in ``Authorization``, a cookie-mode one in ``Cookie``; a
response that depends on either must vary on both, or Django's cache middleware (which on 4.2
adds no ``Vary: Authorization`` of its own, and on 5.x none to a ``Cache-Control: public``
response) keys one user's page on nothing and serves it to the next visitor.

Time: with ``USE_TZ = False`` Django's clock is naive local time, which ``set_cookie`` reads as
UTC; the cookies' lifetimes must come out right east and west of UTC all the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from http.cookies import Morsel
from typing import TYPE_CHECKING

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django.utils.cache import has_vary_header

from tests.http_helpers import (
    HTTP_TEST_MARKS,
    REFRESH,
    Agent,
    Mode,
    cookie,
    cookie_expiry,
    decode_front_token,
    decode_jwt_payload,
    json_body,
)

if TYPE_CHECKING:
    from pytest_django import Settings

pytestmark = HTTP_TEST_MARKS


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


# --------------------------------------------------------------------------- USE_TZ = False

ACCESS_LIFETIME = timedelta(minutes=30)
REFRESH_LIFETIME = timedelta(hours=8)
ONE_YEAR = timedelta(days=365)
# Between the server's clock and the assertion: the test's own run, and set_cookie's added second.
SLACK = 60


@pytest.fixture(
    params=[("UTC", False), ("Pacific/Honolulu", False), ("Asia/Tokyo", False), ("UTC", True)],
    ids=["naive-UTC", "naive-west-Honolulu", "naive-east-Tokyo", "aware"],
)
def time_zone(request: pytest.FixtureRequest, settings: Settings) -> str:
    """``USE_TZ = False`` in a zone at, west and east of UTC (none with daylight saving time,
    so that the offsets hold all year), and the aware default for comparison."""
    zone, use_tz = request.param
    settings.USE_TZ = use_tz
    settings.TIME_ZONE = zone  # (Django's test signal sets the process's TZ and calls tzset)
    settings.SUPERTOKENS = {
        "ACCESS_TOKEN_LIFETIME": ACCESS_LIFETIME,
        "REFRESH_TOKEN_LIFETIME": REFRESH_LIFETIME,
    }
    return zone  # type: ignore[no-any-return]


def assert_lasts(morsel: Morsel[str] | None, lifetime: timedelta) -> None:
    """The cookie's Max-Age and Expires both say ``lifetime`` from now (the real clock)."""
    assert morsel is not None
    max_age = int(morsel["max-age"])
    assert abs(max_age - lifetime.total_seconds()) <= SLACK, (max_age, lifetime)
    expires = cookie_expiry(morsel)
    assert abs(expires.timestamp() - (time.time() + lifetime.total_seconds())) <= SLACK


@pytest.mark.usefixtures("time_zone")
@pytest.mark.parametrize("via", ["login", "refresh"])
def test_cookie_lifetimes_whatever_the_time_zone(client: Client, via: str) -> None:
    agent = Agent(client, "cookie")
    response = agent.login(user_id="u1")
    if via == "refresh":
        response = agent.refresh()
        assert response.status_code == 200, response.content

    assert_lasts(cookie(response, "sRefreshToken"), REFRESH_LIFETIME)
    assert_lasts(cookie(response, "sAccessToken"), ONE_YEAR)
    # And the browser keeps them: the session works on and refreshes.
    assert json_body(agent.get("/protected"))["user_id"] == "u1"
    assert "sRefreshToken" in agent.cookies and agent.refresh().status_code == 200


@pytest.mark.usefixtures("time_zone")
@pytest.mark.parametrize("mode", ["cookie", "header"])
def test_token_expiry_claims_are_epoch_seconds_whatever_the_time_zone(
    client: Client, mode: Mode
) -> None:
    # front-token's ate and the JWT's exp are instants, not wall-clock readings: a naive local
    # clock must give the same numbers as an aware one.
    agent = Agent(client, mode)
    response = agent.login(user_id="u1")
    expected = time.time() + ACCESS_LIFETIME.total_seconds()

    ate = decode_front_token(response["front-token"])["ate"]
    assert abs(ate / 1000 - expected) <= SLACK
    claims = decode_jwt_payload(agent.access or "")
    assert abs(claims["exp"] - expected) <= SLACK
    assert abs(claims["iat"] - time.time()) <= SLACK


def test_refresh_cookie_is_not_born_expired_west_of_utc(client: Client, settings: Settings) -> None:
    """The reported case: eight hours of refresh token, ten hours west of UTC."""
    settings.USE_TZ = False
    settings.TIME_ZONE = "Pacific/Honolulu"
    settings.SUPERTOKENS = {"REFRESH_TOKEN_LIFETIME": timedelta(hours=8)}
    morsel = Agent(client, "cookie").login(user_id="u1").cookies["sRefreshToken"]

    assert int(morsel["max-age"]) > 7 * 3600
    assert morsel["path"] == REFRESH


@pytest.mark.usefixtures("time_zone")
def test_a_time_zone_activated_for_the_request_does_not_move_the_cookies(client: Client) -> None:
    # A project's middleware may activate the user's zone; the clock stays the process's.
    with timezone.override("America/Santiago"):
        response = Agent(client, "cookie").login(user_id="u1")

    assert_lasts(cookie(response, "sRefreshToken"), REFRESH_LIFETIME)
    assert_lasts(cookie(response, "sAccessToken"), ONE_YEAR)
