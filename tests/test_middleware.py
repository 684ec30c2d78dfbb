"""``SuperTokensMiddleware``: lazy ``request.supertokens``, token changes onto the response, the
library's errors raised in views turned into PROTOCOL.md §5 responses; sync and async."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.utils.functional import SimpleLazyObject

from supertokens_django.middleware import SuperTokensMiddleware
from supertokens_django.models import Session as SessionRow
from tests.http_helpers import (
    HTTP_TEST_MARKS,
    REFRESH,
    SIGNOUT,
    Agent,
    Mode,
    assert_cleared_both_modes,
    assert_untouched,
    json_body,
)

if TYPE_CHECKING:
    from pytest_django import DjangoAssertNumQueries, Settings

pytestmark = HTTP_TEST_MARKS
MIDDLEWARE_PATH = "supertokens_django.middleware.SuperTokensMiddleware"


def test_it_is_sync_and_async_capable() -> None:
    assert SuperTokensMiddleware.sync_capable is True
    assert SuperTokensMiddleware.async_capable is True


def test_request_supertokens_is_lazy() -> None:
    request = RequestFactory().get("/", HTTP_COOKIE="sAccessToken=garbage")
    seen: dict[str, Any] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["value"] = request.supertokens  # type: ignore[attr-defined]
        return HttpResponse()

    SuperTokensMiddleware(view)(request)

    # Not evaluated: the garbage cookie was never looked at.
    assert isinstance(seen["value"], SimpleLazyObject)
    assert seen["value"]._wrapped.__class__ is object  # still the "empty" sentinel


@pytest.mark.parametrize(
    "cookie_header",
    [
        "sAccessToken=garbage",
        "sAccessToken=a.b.c; sRefreshToken=x",
        "sIdRefreshToken=legacy",
        "sAccessToken=" + "A" * 10_000,
    ],
)
@pytest.mark.parametrize("path", ["/untouched", "/async/untouched"])
def test_a_request_that_never_looks_costs_nothing(
    client: Client,
    async_client: AsyncClient,
    django_assert_num_queries: DjangoAssertNumQueries,
    cookie_header: str,
    path: str,
) -> None:
    with django_assert_num_queries(0):
        if path.startswith("/async"):
            response = Agent(async_client).get(path, HTTP_COOKIE=cookie_header)
        else:
            response = client.post(path, HTTP_COOKIE=cookie_header)

    assert response.status_code == 200
    assert_untouched(response)
    assert "Cookie" not in response.get("Vary", "")


def test_reading_the_lazy_session_verifies_it(client: Client, mode: Mode) -> None:
    agent = Agent(client, mode)
    agent.login(user_id="lazy-user")

    assert json_body(agent.get("/lazy")) == {"user_id": "lazy-user"}
    anonymous = client.get("/lazy")
    assert json_body(anonymous) == {"user_id": None}
    assert "Cookie" in anonymous["Vary"]


def test_a_bad_token_read_lazily_is_answered_by_the_middleware(client: Client) -> None:
    response = client.get("/lazy", HTTP_COOKIE="sAccessToken=garbage")

    assert response.status_code == 401
    assert json_body(response) == {"message": "try refresh token"}
    assert_untouched(response)


def test_the_lazy_session_is_anti_csrf_checked(client: Client) -> None:
    agent = Agent(client, "cookie")
    agent.login()

    assert agent.post("/lazy", rid=False).status_code == 401
    assert agent.post("/lazy").status_code == 200


def test_a_promotion_seen_by_the_lazy_session_is_written(client: Client, mode: Mode) -> None:
    agent = Agent(client, mode)
    agent.login()
    agent.refresh()
    response = agent.get("/lazy")

    assert response.status_code == 200
    assert response["front-token"] != "remove"
    assert decode_up(response)["parentRefreshTokenHash1"] is None


def decode_up(response: Any) -> dict[str, Any]:
    from tests.http_helpers import decode_front_token

    return decode_front_token(response["front-token"])["up"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["/revoked-elsewhere", "/async/revoked-elsewhere"])
def test_unauthorised_raised_inside_a_view_is_mapped(
    client: Client, async_client: AsyncClient, mode: Mode, path: str
) -> None:
    agent = Agent(async_client if path.startswith("/async") else client, mode)
    agent.login()
    response = agent.get(path)

    assert response.status_code == 401
    assert json_body(response) == {"message": "unauthorised"}
    assert_cleared_both_modes(response)
    assert not SessionRow.objects.exists()


def test_service_unavailable_inside_a_view_is_a_503_that_keeps_the_tokens(
    client: Client,
) -> None:
    agent = Agent(client, "cookie")
    agent.login()
    response = agent.get("/unavailable")

    assert response.status_code == 503
    assert json_body(response) == {"message": "service unavailable"}
    assert b"db-1" not in response.content
    assert_untouched(response)


def test_other_exceptions_are_not_ours_to_answer(client: Client) -> None:
    agent = Agent(client, "cookie")
    agent.login()
    with pytest.raises(RuntimeError, match="boom"):
        agent.get("/explode")


def test_the_endpoints_write_their_headers_once(client: Client, mode: Mode) -> None:
    agent = Agent(client, mode)
    agent.login()
    refreshed = agent.refresh()
    signed_out = agent.post(SIGNOUT)

    for response in (refreshed, signed_out):
        names = [h.strip() for h in response["Access-Control-Expose-Headers"].split(",")]
        assert len(names) == len(set(names))
        assert response["Vary"].count("Cookie") == 1


def test_vary_cookie_is_added_to_what_the_view_varies_on(client: Client) -> None:
    agent = Agent(client, "cookie")
    agent.login()
    response = agent.get("/protected")

    assert "Cookie" in response["Vary"]


def test_the_endpoints_work_without_the_middleware(
    client: Client, settings: Settings, mode: Mode
) -> None:
    agent = Agent(client, mode)
    agent.login()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]

    refreshed = agent.refresh()
    assert refreshed.status_code == 200
    assert refreshed["front-token"] != "remove"
    signed_out = agent.post(SIGNOUT)
    assert signed_out.status_code == 200
    assert_cleared_both_modes(signed_out)
    assert client.post(REFRESH).status_code == 401


def test_async_views_get_their_token_changes_written(async_client: AsyncClient, mode: Mode) -> None:
    agent = Agent(async_client, mode)
    login = agent.post("/alogin", {"user_id": "async-user"})
    assert login.status_code == 200
    assert decode_up(login)["sub"] == "async-user"

    agent.refresh()
    promoted = agent.get("/async/protected")
    assert promoted.status_code == 200
    assert decode_up(promoted)["parentRefreshTokenHash1"] is None

    revoked = agent.post("/async/revoke")
    assert_cleared_both_modes(revoked)


def test_an_async_view_cannot_read_the_lazy_session(async_client: AsyncClient) -> None:
    from django.core.exceptions import SynchronousOnlyOperation

    agent = Agent(async_client, "cookie")
    agent.post("/alogin", {"user_id": "a"})

    # Refused every time, not only when a verification happens to need the database.
    for _ in range(2):
        with pytest.raises(SynchronousOnlyOperation, match="aget_session"):
            agent.get("/async/lazy")
        agent.refresh()


def test_an_async_view_reads_the_session_after_aget_session(
    async_client: AsyncClient, mode: Mode
) -> None:
    agent = Agent(async_client, mode)
    assert json_body(agent.get("/async/lazy-after-aget-session")) == {"user_id": None}
    agent.post("/alogin", {"user_id": "a"})
    agent.refresh()
    response = agent.get("/async/lazy-after-aget-session")
    assert json_body(response) == {"user_id": "a"}
    assert decode_up(response)["parentRefreshTokenHash1"] is None


@pytest.mark.parametrize("split", [False, True])
def test_cookies_split_into_several_headers_as_http2_sends_them(
    async_client: AsyncClient, split: bool
) -> None:
    """An HTTP/2 browser sends one Cookie header per cookie, and an ASGI server passes them on
    as they came; the session must read the same as with one header."""
    from asgiref.sync import async_to_sync

    agent = Agent(async_client, "cookie")
    agent.post("/alogin", {"user_id": "h2"})
    jar = [f"{name}={value}".encode() for name, (value, _path) in agent.cookies.items()]
    jar.append(b"theme=dark")
    cookie_headers = [(b"cookie", c) for c in jar] if split else [(b"cookie", b"; ".join(jar))]

    def call(method: str, path: str) -> Any:
        return async_to_sync(async_client.request)(
            method=method,
            path=path,
            query_string="",
            headers=[(b"host", b"testserver"), (b"rid", b"session"), *cookie_headers],
        )

    assert json_body(call("GET", "/async/protected"))["user_id"] == "h2"
    refreshed = call("POST", REFRESH)
    assert refreshed.status_code == 200
    assert refreshed.cookies["sRefreshToken"].value
