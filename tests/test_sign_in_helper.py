"""``supertokens_django.test.sign_in``: a test client signed in the way ``force_login`` signs one
in for Django's sessions, and then checked by the real verification, anti-CSRF and refresh."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import django
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import user_logged_in
from django.core.signals import request_started
from django.test import AsyncClient, Client

from supertokens_django import revoke_session
from supertokens_django.models import Session as SessionRow
from supertokens_django.test import arefresh, asign_in, refresh, sign_in
from tests.http_helpers import HTTP_TEST_MARKS, REFRESH, Mode, json_body

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import Settings

pytestmark = HTTP_TEST_MARKS


def test_a_signed_in_client_passes_verify_session(client: Client, user: User, mode: Mode) -> None:
    assert client.get("/protected").status_code == 401

    session = sign_in(client, user, mode=mode, jwt_payload={"role": "admin"})

    response = client.get("/protected")
    assert response.status_code == 200
    assert json_body(response) == {
        "user_id": str(user.pk),
        "handle": session.get_handle(),
        "jwt_payload": {"role": "admin"},
        "username": "alice",
    }


def test_it_is_a_real_sign_in(client: Client, user: User) -> None:
    """The row a login view writes, and Django's ``user_logged_in`` (``last_login``)."""
    assert user.last_login is None
    session = sign_in(client, user, session_data={"cart": [1]})

    row = SessionRow.objects.get(handle=session.get_handle())
    assert row.subject == str(user.pk)
    assert row.session_data == {"cart": [1]}
    user.refresh_from_db()
    assert user.last_login is not None


def test_a_user_id_is_signed_in_too(client: Client) -> None:
    sign_in(client, "user-7")
    assert json_body(client.get("/protected"))["user_id"] == "user-7"


def test_a_primary_key_is_signed_in_as_its_string(client: Client, user: User) -> None:
    """``user.pk`` means ``str(user.pk)``, as a string id would: the session is that user's, but
    the id is not looked up at sign-in (no ``user_logged_in``, so no ``last_login``)."""
    session = sign_in(client, user.pk)

    described = json_body(client.get("/protected"))
    assert (described["user_id"], described["username"]) == (str(user.pk), "alice")
    assert SessionRow.objects.get(handle=session.get_handle()).user is None
    user.refresh_from_db()
    assert user.last_login is None


def test_the_tokens_travel_as_the_sdk_sends_them(client: Client, user: User, mode: Mode) -> None:
    sign_in(client, user, mode=mode)

    has_cookies = {"sAccessToken", "sRefreshToken"} <= set(client.cookies)
    assert has_cookies == (mode == "cookie")
    assert ("HTTP_AUTHORIZATION" in client.defaults) == (mode == "header")
    assert client.defaults["HTTP_RID"] == "anti-csrf"
    assert client.defaults["HTTP_ST_AUTH_MODE"] == mode


NEW_PASSWORD = {
    "old_password": "alice-password",
    "new_password1": "a-new-pass-phrase-4",
    "new_password2": "a-new-pass-phrase-4",
}


def test_a_view_that_creates_a_session_answers_in_the_clients_mode(
    client: Client, user: User, mode: Mode
) -> None:
    """The README's password change: the view revokes the session and creates one with
    ``create_new_session``, whose mode is the request's ``st-auth-mode`` (header mode when it
    names none). The client sends it, as the SDK does, so a cookie-mode client stays signed in."""
    sign_in(client, user, mode=mode)

    response = client.post("/change-password", NEW_PASSWORD, content_type="application/json")

    assert response.status_code == 200, response.content
    new_handle = json_body(response)["handle"]
    assert response.has_header("st-access-token") == (mode == "header")
    assert bool(response.cookies.get("sAccessToken", "")) == (mode == "cookie")
    if mode == "header":  # what the SDK does with st-access-token
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {response['st-access-token']}"
    response = client.get("/protected")
    assert response.status_code == 200
    assert json_body(response)["handle"] == new_handle


def test_unsafe_requests_pass_the_real_anti_csrf_check(client: Client, user: User) -> None:
    """``VIA_CUSTOM_HEADER`` (the default): the ``rid`` the client now sends is what lets a POST
    through; the same cookies without it are refused."""
    sign_in(client, user)
    body = json.dumps({"cart": [2]})

    response = client.post("/session-data", body, content_type="application/json")
    assert response.status_code == 200
    assert json_body(response) == {"data": {"cart": [2]}}

    del client.defaults["HTTP_RID"]
    response = client.post("/session-data", body, content_type="application/json")
    assert response.status_code == 401
    assert json_body(response) == {"message": "try refresh token"}


def test_via_token_sends_the_anti_csrf_token(
    client: Client, user: User, settings: Settings
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    sign_in(client, user)
    token = client.defaults["HTTP_ANTI_CSRF"]

    assert client.post("/session-data", "{}", content_type="application/json").status_code == 200

    client.defaults["HTTP_ANTI_CSRF"] = token[::-1]
    response = client.post("/session-data", "{}", content_type="application/json")
    assert response.status_code == 401


def test_the_session_refreshes_at_the_real_endpoint(client: Client, user: User) -> None:
    session = sign_in(client, user)
    old_access = client.cookies["sAccessToken"].value

    response = client.post(REFRESH)

    assert response.status_code == 200
    assert client.cookies["sAccessToken"].value != old_access
    assert json_body(client.get("/protected"))["handle"] == session.get_handle()


@pytest.mark.parametrize("anti_csrf", ["VIA_CUSTOM_HEADER", "VIA_TOKEN"])
def test_refresh_keeps_what_the_sdk_keeps(
    client: Client, user: User, mode: Mode, anti_csrf: str, settings: Settings
) -> None:
    """After ``refresh(client)`` the client holds the new tokens and, under ``VIA_TOKEN``, the new
    anti-CSRF token: its next unsafe call passes, as the SDK's would."""
    settings.SUPERTOKENS = {"ANTI_CSRF": anti_csrf}
    session = sign_in(client, user, mode=mode)
    before = json_body(client.get("/protected"))

    response = refresh(client)

    assert response.status_code == 200
    body = '{"n": 1}'
    assert client.post("/session-data", body, content_type="application/json").status_code == 200
    after = client.get("/protected")
    assert json_body(after)["handle"] == session.get_handle() == before["handle"]
    # The new access token is the one in use: its first use promoted the refreshed token.
    assert SessionRow.objects.get(handle=session.get_handle()).refresh_token_hash_2 != ""
    assert refresh(client).status_code == 200  # the refresh token kept is the new one


def test_refresh_of_a_revoked_session_signs_the_client_out(
    client: Client, user: User, mode: Mode
) -> None:
    session = sign_in(client, user, mode=mode)
    revoke_session(session.get_handle())

    response = refresh(client)

    assert response.status_code == 401
    assert json_body(response) == {"message": "unauthorised"}
    assert not {"HTTP_AUTHORIZATION", "HTTP_RID", "HTTP_ST_AUTH_MODE"} & set(client.defaults)
    assert client.get("/optional").status_code == 200
    assert json_body(client.get("/optional"))["user_id"] is None


def test_an_async_client_refreshes(async_client: AsyncClient, user: User, mode: Mode) -> None:
    if django.VERSION < (5, 2):
        pytest.skip("sign_in() needs Django 5.2 for an AsyncClient (Django ticket #35414)")
    session = async_to_sync(asign_in)(async_client, user, mode=mode)

    response = async_to_sync(arefresh)(async_client)

    assert response.status_code == 200
    described = json_body(async_to_sync(async_client.get)("/async/protected"))
    assert described["handle"] == session.get_handle()
    assert async_to_sync(arefresh)(async_client).status_code == 200


def test_an_async_refresh_sends_each_header_once(
    async_client: AsyncClient, user: User, mode: Mode
) -> None:
    """The refresh call's ``rid``, ``st-auth-mode`` and ``Authorization`` replace the client's
    defaults: an async client sends both otherwise, which the server reads joined by a comma."""
    if django.VERSION < (5, 2):
        pytest.skip("sign_in() needs Django 5.2 for an AsyncClient (Django ticket #35414)")
    async_to_sync(asign_in)(async_client, user, mode=mode)
    sent: list[list[tuple[bytes, bytes]]] = []

    def record(sender: object, scope: dict[str, Any], **kwargs: object) -> None:
        sent.append(scope["headers"])

    request_started.connect(record)
    try:
        assert async_to_sync(arefresh)(async_client).status_code == 200
    finally:
        request_started.disconnect(record)

    [headers] = sent
    names = [name for name, _ in headers]
    for name in (b"rid", b"st-auth-mode"):
        assert names.count(name) == 1
    assert dict(headers)[b"rid"] == b"session"
    assert dict(headers)[b"st-auth-mode"] == mode.encode()
    assert names.count(b"authorization") == (mode == "header")
    assert async_client.defaults["st-auth-mode"] == mode  # type: ignore[index]


def test_a_login_receiver_finds_a_django_session(client: Client, user: User) -> None:
    """As in a login view, ``request.session`` exists; what a receiver writes to it is saved and
    the client gets its cookie, as SessionMiddleware would do."""

    def remember(sender: object, request: object, user: User, **kwargs: object) -> None:
        request.session["signed_in_as"] = user.username  # type: ignore[attr-defined]

    user_logged_in.connect(remember)
    try:
        sign_in(client, user)
    finally:
        user_logged_in.disconnect(remember)

    assert client.session["signed_in_as"] == "alice"


def test_signing_in_again_replaces_the_tokens(client: Client, user: User, other_user: User) -> None:
    sign_in(client, user, mode="cookie")
    second = sign_in(client, other_user, mode="header")

    assert "sAccessToken" not in client.cookies
    assert client.defaults["HTTP_ST_AUTH_MODE"] == "header"
    described = json_body(client.get("/protected"))
    assert (described["handle"], described["username"]) == (second.get_handle(), "bob")


def test_an_unknown_mode_is_refused(client: Client, user: User) -> None:
    with pytest.raises(ValueError, match="mode must be"):
        sign_in(client, user, mode="query")  # type: ignore[arg-type]
    assert not SessionRow.objects.exists()


def test_an_async_client_signs_in(async_client: AsyncClient, user: User, mode: Mode) -> None:
    if django.VERSION < (5, 2):  # its default headers are dropped (Django ticket #35414)
        with pytest.raises(TypeError, match="needs Django 5.2"):
            async_to_sync(asign_in)(async_client, user, mode=mode)
        assert not SessionRow.objects.exists()
        return
    session = async_to_sync(asign_in)(async_client, user, mode=mode)

    response = async_to_sync(async_client.post)(
        "/async/session-data", '{"n": 1}', content_type="application/json"
    )
    assert response.status_code == 200
    assert json_body(response) == {"data": {"n": 1}}
    described = json_body(async_to_sync(async_client.get)("/async/protected"))
    assert described["handle"] == session.get_handle()


def test_an_async_client_keeps_its_mode_through_a_new_session(
    async_client: AsyncClient, user: User, mode: Mode
) -> None:
    if django.VERSION < (5, 2):
        pytest.skip("sign_in() needs Django 5.2 for an AsyncClient (Django ticket #35414)")
    async_to_sync(asign_in)(async_client, user, mode=mode)

    response = async_to_sync(async_client.post)(
        "/change-password", NEW_PASSWORD, content_type="application/json"
    )

    assert response.status_code == 200, response.content
    assert response.has_header("st-access-token") == (mode == "header")
    assert bool(response.cookies.get("sAccessToken", "")) == (mode == "cookie")
    if mode == "header":
        async_client.defaults["authorization"] = f"Bearer {response['st-access-token']}"  # type: ignore[index]
    assert async_to_sync(async_client.get)("/async/protected").status_code == 200


@pytest.mark.urls("tests.drf_urls")
def test_drf_api_client_signs_in(user: User, mode: Mode) -> None:
    test = pytest.importorskip("rest_framework.test")
    client = test.APIClient()
    session = sign_in(client, user, mode=mode)

    response = client.post("/api/me")
    assert response.status_code == 200
    assert json_body(response)["session_handle"] == session.get_handle()
