"""``verify_session`` on async class-based views decorated through ``method_decorator``, whose
sync ``dispatch`` gets the decorator's sync wrapper inside the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient
from django.urls import path
from django.utils.decorators import method_decorator
from django.views import View

from supertokens_django import verify_session
from supertokens_django.session import Session
from tests import http_urls
from tests.http_helpers import Agent, fresh_keyring, json_body  # noqa: F401

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import Settings

pytestmark = [
    pytest.mark.urls("tests.test_decorator_csrf_and_async_cbv"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("fresh_keyring"),
]


# --------------------------------------------------------------------------- views


@method_decorator(verify_session, name="dispatch")
class AsyncProfile(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        session: Session = request.supertokens  # type: ignore[attr-defined]
        user = await request.auser()  # type: ignore[attr-defined]
        return JsonResponse(
            {"user_id": session.get_user_id(), "username": getattr(user, "username", None)}
        )


@method_decorator(verify_session(check_database=True), name="dispatch")
class AsyncStrictProfile(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        session: Session = request.supertokens  # type: ignore[attr-defined]
        return JsonResponse({"user_id": session.get_user_id()})


urlpatterns = [
    *http_urls.urlpatterns,
    path("async-cbv", AsyncProfile.as_view()),
    path("async-cbv/strict", AsyncStrictProfile.as_view()),
]


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
