"""``verify_session`` where two requests' worth of rules meet.

Django's CSRF check on an optional-session view that runs as the user of Django's own session
cookie (the decorator exempts its views from Django's middleware for the protocol's sake), and
async class-based views decorated through ``method_decorator``, whose sync ``dispatch`` gets
the decorator's sync wrapper inside the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.test import AsyncClient, Client, RequestFactory
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.functional import SimpleLazyObject
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from supertokens_django import engine, transport, verify_session
from supertokens_django.session import Session
from tests import http_urls
from tests.http_helpers import Agent, json_body

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import Settings

pytestmark = [
    pytest.mark.urls("tests.test_decorator_csrf_and_async_cbv"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("keyring"),
]


# --------------------------------------------------------------------------- views


def _who(request: HttpRequest, user: Any) -> JsonResponse:
    session: Session | None = request.supertokens  # type: ignore[attr-defined]
    return JsonResponse(
        {
            "user_id": session.get_user_id() if session is not None else None,
            "username": getattr(user, "username", None),
        }
    )


async def _auser(request: HttpRequest) -> Any:
    """``await request.auser()``; Django 4.2's AuthenticationMiddleware sets no ``auser``."""
    if hasattr(request, "auser"):
        return await request.auser()

    def load() -> Any:
        user = request.user
        user.is_authenticated  # noqa: B018 - evaluates the lazy user off the event loop
        return user

    return await sync_to_async(load)()


@verify_session(session_required=False)
def optional_user(request: HttpRequest) -> JsonResponse:
    return _who(request, request.user)


@verify_session(session_required=False)
async def aoptional_user(request: HttpRequest) -> JsonResponse:
    return _who(request, await _auser(request))


@verify_session(session_required=False)
@csrf_exempt
def optional_user_exempt(request: HttpRequest) -> JsonResponse:
    return _who(request, request.user)


@verify_session(session_required=False)
@http_urls.exempt
async def aoptional_user_exempt(request: HttpRequest) -> JsonResponse:
    return _who(request, await _auser(request))


@method_decorator(verify_session(session_required=False), name="dispatch")
class AsyncOptionalProfile(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return _who(request, await _auser(request))

    async def post(self, request: HttpRequest) -> JsonResponse:
        return _who(request, await _auser(request))


@method_decorator(verify_session, name="dispatch")
class AsyncProfile(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        session: Session = request.supertokens  # type: ignore[attr-defined]
        user = await _auser(request)
        return JsonResponse(
            {"user_id": session.get_user_id(), "username": getattr(user, "username", None)}
        )


@method_decorator(verify_session(check_database=True), name="dispatch")
class AsyncStrictProfile(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        session: Session = request.supertokens  # type: ignore[attr-defined]
        return JsonResponse({"user_id": session.get_user_id()})


@http_urls.exempt
def csrf_token(request: HttpRequest) -> JsonResponse:
    """Hands out Django's CSRF token (and sets its cookie), as a form page would."""
    return JsonResponse({"token": get_token(request)})


urlpatterns = [
    *http_urls.urlpatterns,
    path("optional-user", optional_user),
    path("async/optional-user", aoptional_user),
    path("optional-user-exempt", optional_user_exempt),
    path("async/optional-user-exempt", aoptional_user_exempt),
    path("async-cbv/optional", AsyncOptionalProfile.as_view()),
    path("async-cbv", AsyncProfile.as_view()),
    path("async-cbv/strict", AsyncStrictProfile.as_view()),
    path("csrf-token", csrf_token),
]


# --------------------------------------------------------------------------- helpers

FLAVOURS = {
    "sync": "/optional-user",
    "async": "/async/optional-user",
    "async-cbv": "/async-cbv/optional",
}


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def enforcing_client(flavour: str) -> Client | AsyncClient:
    """A client under which Django's CSRF middleware enforces, as a browser's requests are."""
    if flavour == "sync":
        return Client(enforce_csrf_checks=True)
    return AsyncClient(enforce_csrf_checks=True)


def send(client: Client | AsyncClient, method: str, url: str, **kwargs: Any) -> HttpResponse:
    call = getattr(client, method)
    if isinstance(client, AsyncClient):
        return async_to_sync(call)(url, **kwargs)  # type: ignore[no-any-return]
    return call(url, **kwargs)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- Django's CSRF


def test_a_post_as_djangos_session_user_without_a_csrf_token_is_refused(
    flavour: str, user: User
) -> None:
    client = enforcing_client(flavour)
    client.force_login(user)

    response = send(client, "post", FLAVOURS[flavour])

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert json_body(response) == {"message": "CSRF Failed: CSRF cookie not set."}


def test_a_post_as_djangos_session_user_with_a_wrong_csrf_token_is_refused(
    flavour: str, user: User
) -> None:
    client = enforcing_client(flavour)
    client.force_login(user)
    send(client, "get", "/csrf-token")

    response = send(client, "post", FLAVOURS[flavour], headers={"X-CSRFToken": "x" * 32})

    assert response.status_code == 403
    assert json_body(response)["message"].startswith("CSRF Failed: CSRF token ")


def test_a_post_as_djangos_session_user_with_its_csrf_token_passes(
    flavour: str, user: User
) -> None:
    client = enforcing_client(flavour)
    client.force_login(user)
    token = json_body(send(client, "get", "/csrf-token"))["token"]

    response = send(client, "post", FLAVOURS[flavour], headers={"X-CSRFToken": token})

    assert response.status_code == 200
    assert json_body(response) == {"user_id": None, "username": user.username}


def test_safe_methods_are_not_checked(flavour: str, user: User) -> None:
    client = enforcing_client(flavour)
    client.force_login(user)

    response = send(client, "get", FLAVOURS[flavour])

    assert response.status_code == 200
    assert json_body(response) == {"user_id": None, "username": user.username}


def test_anonymous_posts_are_not_checked(flavour: str) -> None:
    response = send(enforcing_client(flavour), "post", FLAVOURS[flavour])

    assert response.status_code == 200
    assert json_body(response) == {"user_id": None, "username": ""}


@pytest.mark.parametrize("url", ["/optional-user-exempt", "/async/optional-user-exempt"])
def test_a_view_the_application_exempted_is_not_checked(url: str, user: User) -> None:
    client = enforcing_client("async" if url.startswith("/async") else "sync")
    client.force_login(user)

    response = send(client, "post", url)

    assert response.status_code == 200
    assert json_body(response)["username"] == user.username


def test_a_supertokens_session_keeps_the_protocols_anti_csrf_rules(
    flavour: str, user: User, other_user: User
) -> None:
    """Django's session cookie (another user's) rides along: the SuperTokens session decides,
    and its own anti-CSRF check applies, not Django's."""
    client = enforcing_client(flavour)
    client.force_login(other_user)
    agent = Agent(client, "cookie")
    agent.cookies["sessionid"] = (client.cookies["sessionid"].value, "/")
    agent.login(username=user.username)

    response = agent.post(FLAVOURS[flavour])
    assert response.status_code == 200
    assert json_body(response)["username"] == user.username

    refused = agent.post(FLAVOURS[flavour], rid=False)
    assert refused.status_code == 401
    assert json_body(refused) == {"message": "try refresh token"}


# --------------------------------------------------------------------------- async CBVs


def test_an_async_class_based_view_verifies_a_refreshed_token(async_client: AsyncClient) -> None:
    """The first use of a refreshed token promotes it in the database."""
    agent = Agent(async_client, "cookie")
    agent.login(user_id="u1")
    assert agent.get("/async-cbv").status_code == 200

    assert agent.refresh().status_code == 200
    response = agent.get("/async-cbv")

    assert response.status_code == 200, response.content
    assert json_body(response)["user_id"] == "u1"


def test_an_async_class_based_view_loads_the_sessions_user(
    async_client: AsyncClient, user: User
) -> None:
    agent = Agent(async_client, "header")
    agent.login(username=user.username)

    response = agent.get("/async-cbv")

    assert response.status_code == 200
    assert json_body(response)["username"] == user.username


def test_an_async_class_based_view_under_blacklisting(
    async_client: AsyncClient, settings: Settings
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    agent = Agent(async_client, "header")
    agent.login(user_id="u1")

    assert agent.get("/async-cbv").status_code == 200
    assert agent.refresh().status_code == 200
    assert agent.get("/async-cbv").status_code == 200

    revoked = agent.access
    assert agent.post("/auth/signout").status_code == 200
    agent.access = revoked  # replayed after the sign-out: the blacklist refuses it
    assert agent.get("/async-cbv").status_code == 401


def test_an_async_class_based_view_checking_the_database(async_client: AsyncClient) -> None:
    agent = Agent(async_client, "cookie")
    agent.login(user_id="u1")

    response = agent.get("/async-cbv/strict")

    assert response.status_code == 200
    assert json_body(response)["user_id"] == "u1"


def test_an_async_class_based_view_refuses_a_missing_session(async_client: AsyncClient) -> None:
    response = async_to_sync(async_client.get)("/async-cbv")

    assert response.status_code == 401
    assert json_body(response) == {"message": "unauthorised"}


def test_djangos_user_is_loaded_off_the_event_loop_without_auser(user: User) -> None:
    """Django 4.2's AuthenticationMiddleware sets only the lazy ``request.user``, whose loading
    queries the database: an async view must not evaluate it in the event loop."""
    from django.contrib.auth import get_user_model

    request = RequestFactory().post("/")
    request.user = SimpleLazyObject(lambda: get_user_model().objects.get(pk=user.pk))
    transport.ensure_state(request, managed=True)
    assert not hasattr(request, "auser")

    response = async_to_sync(aoptional_user)(request)

    assert response.status_code == 403
    assert json_body(response) == {"message": "CSRF Failed: CSRF cookie not set."}


def test_a_supertokens_session_never_reads_djangos_user(user: User) -> None:
    """The session's path stays as it was: Django's user is neither loaded nor checked."""
    tokens = engine.create_session(user)
    request = RequestFactory().post("/", HTTP_AUTHORIZATION=f"Bearer {tokens.access_token.token}")
    request.user = SimpleLazyObject(_never)
    transport.ensure_state(request, managed=True)

    response = optional_user(request)

    assert response.status_code == 200
    assert json_body(response) == {"user_id": str(user.pk), "username": user.username}


def _never() -> Any:
    raise AssertionError("Django's request.user was read")
