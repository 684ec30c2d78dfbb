"""Django REST framework: ``SuperTokensAuthentication``, ``HasSession``, ``HasJWTClaim`` and the
OpenAPI extension, through ``APIView``, ``ViewSet`` + router and ``@api_view`` (tests/drf_urls.py).

Query counts are exact: the steady state opens no transaction, so pytest-django's savepoints do
not show up in them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("rest_framework")

from django.core.cache import cache  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.exceptions import APIException  # noqa: E402
from rest_framework.permissions import AND, IsAuthenticated  # noqa: E402
from rest_framework.views import exception_handler as drf_exception_handler  # noqa: E402

from supertokens_django import engine  # noqa: E402
from supertokens_django.drf import (  # noqa: E402
    HasJWTClaim,
    SessionException,
    SuperTokensAuthentication,
    TokenUser,
)
from supertokens_django.exceptions import (  # noqa: E402
    InvalidClaim,
    ServiceUnavailable,
    TryRefreshToken,
    Unauthorised,
)
from tests.http_helpers import (  # noqa: E402
    Agent,
    Mode,
    advance_clock,
    assert_cleared_both_modes,
    assert_untouched,
    decode_front_token,
    decode_jwt_payload,
    json_body,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpResponse
    from pytest_django import DjangoAssertNumQueries
    from pytest_django import Settings as SettingsWrapper

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.drf_urls"),
    pytest.mark.usefixtures("keyring", "_empty_default_cache"),
]

#: The same view three ways: (collection path, item path) for APIView, @api_view and a ViewSet.
VIEW_STYLES = {
    "apiview": ("/api/me", "/api/me"),
    "api_view": ("/api/fn/me", "/api/fn/me"),
    "viewset": ("/api/notes", "/api/notes/1"),
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
TRY_REFRESH = {"message": "try refresh token"}
UNAUTHORISED = {"message": "unauthorised"}
CHALLENGE = 'Bearer realm="api"'


@pytest.fixture
def _empty_default_cache() -> Iterator[None]:
    cache.clear()  # throttle counters
    yield
    cache.clear()


@pytest.fixture(params=list(VIEW_STYLES))
def style(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def agent(client: Client, mode: Mode, user: User) -> Agent:
    """An SDK stand-in, signed in as ``user`` through the DRF login view."""
    signed_in = Agent(client, mode)
    signed_in.login(username=user.username, jwt_payload={"role": "user"})
    return signed_in


@pytest.fixture
def cookie_agent(client: Client, user: User) -> Agent:
    signed_in = Agent(client, "cookie")
    signed_in.login(username=user.username, jwt_payload={"role": "user"})
    return signed_in


def path_for(style: str, method: str) -> str:
    collection, item = VIEW_STYLES[style]
    return collection if method in ("GET", "HEAD", "POST") else item


def ok_status(style: str, method: str) -> int:
    return 201 if style == "viewset" and method == "POST" else 200


def assert_refused(response: HttpResponse, status: int, body: dict[str, Any]) -> None:
    assert response.status_code == status, response.content
    assert json_body(response) == body


# --------------------------------------------------------------------------- success


def test_every_view_style_sees_the_session_in_both_modes(
    agent: Agent, style: str, user: User
) -> None:
    response = agent.get(path_for(style, "GET"))

    assert response.status_code == 200, response.content
    data = json_body(response)
    assert data["user_id"] == str(user.pk)
    assert data["jwt_payload"] == {"role": "user"}
    assert data["session_handle"] == decode_jwt_payload(agent.access or "")["sessionHandle"]
    # request.auth, request.supertokens and the HttpRequest's request.supertokens: one object.
    assert data["same_session"] is True
    assert_untouched(response)  # steady state: nothing to re-issue
    assert "Cookie" in response["Vary"]


def test_request_user_is_the_django_user(agent: Agent, user: User) -> None:
    data = json_body(agent.get("/api/who"))

    assert data == {
        "user_class": "User",
        "user_pk": str(user.pk),
        "authenticated": True,
        "supertokens": True,
        "http_supertokens": True,
    }


def test_the_steady_state_costs_no_query(
    agent: Agent, style: str, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    # IsAuthenticated asks bool(user) and user.is_authenticated: answered without loading the user.
    with django_assert_num_queries(0):
        assert agent.get(path_for(style, "GET")).status_code == 200
        assert agent.call("PATCH", path_for(style, "PATCH"), {}).status_code == 200


def test_claim_checks_cost_no_query(
    client: Client, mode: Mode, user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    admin = Agent(client, mode)
    admin.login(username=user.username, jwt_payload={"role": "admin", "scope": "notes"})

    with django_assert_num_queries(0):
        assert admin.get("/api/admin").status_code == 200
        assert admin.get("/api/scoped").status_code == 200
        assert admin.get("/api/has-session").status_code == 200


def test_reading_the_user_costs_one_query(
    agent: Agent, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        assert agent.get("/api/who").status_code == 200


# --------------------------------------------------------------------------- the user setting


def test_a_user_id_that_is_no_django_user_gets_a_token_user(client: Client, mode: Mode) -> None:
    external = Agent(client, mode)
    external.login(user_id="ext-42")

    data = json_body(external.get("/api/who"))

    assert data["user_class"] == "TokenUser"
    assert data["user_pk"] == "ext-42"
    assert data["authenticated"] is True


def test_token_user_mode_never_loads_the_user(
    agent: Agent,
    settings: SettingsWrapper,
    django_assert_num_queries: DjangoAssertNumQueries,
    user: User,
) -> None:
    settings.SUPERTOKENS = {"DRF_USER": "token"}

    with django_assert_num_queries(0):
        data = json_body(agent.get("/api/who"))

    assert data["user_class"] == "TokenUser"
    assert data["user_pk"] == str(user.pk)


def test_django_user_mode_refuses_an_id_that_is_no_user(
    client: Client, mode: Mode, settings: SettingsWrapper
) -> None:
    external = Agent(client, mode)
    external.login(user_id="ext-42")
    settings.SUPERTOKENS = {"DRF_USER": "django"}

    response = external.get("/api/who")

    assert_refused(response, 401, UNAUTHORISED)
    assert response["WWW-Authenticate"] == CHALLENGE
    assert_cleared_both_modes(response)


def test_django_user_mode_refuses_an_inactive_user(
    agent: Agent,
    settings: SettingsWrapper,
    user: User,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    settings.SUPERTOKENS = {"DRF_USER": "django"}
    with django_assert_num_queries(1):  # the user, loaded up front
        assert json_body(agent.get("/api/who"))["user_class"] == "User"

    # Deactivated without a signal (a save would revoke the session): the token still verifies.
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    response = agent.get("/api/who")

    assert_refused(response, 401, UNAUTHORISED)
    assert_cleared_both_modes(response)


def test_auto_user_mode_never_makes_an_inactive_user_request_user(agent: Agent, user: User) -> None:
    """Within the lifetime of a token issued before the deactivation, an inactive staff user is
    not ``request.user`` (as with Django's ModelBackend): ``IsAdminUser`` refuses."""
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    assert agent.get("/api/staff").status_code == 200

    type(user).objects.filter(pk=user.pk).update(is_active=False)  # no signal: no revocation

    assert agent.get("/api/staff").status_code == 403
    assert json_body(agent.get("/api/who"))["user_class"] == "TokenUser"


def test_an_unknown_user_mode_fails_loudly(agent: Agent, settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"DRF_USER": "sometimes"}

    with pytest.raises(ImproperlyConfigured, match="DRF_USER"):
        agent.get("/api/who")


def test_token_user_behaves_like_an_authenticated_user_without_rights() -> None:
    user = TokenUser("ext-1")

    assert user.is_authenticated and not user.is_anonymous and user.is_active
    assert not (user.is_staff or user.is_superuser)
    assert user.pk == user.id == user.get_username() == str(user) == "ext-1"
    assert user == TokenUser("ext-1") and user != TokenUser("ext-2")
    assert len({user, TokenUser("ext-1")}) == 1
    assert not user.has_perm("auth.view_user") and not user.has_perms(["auth.view_user"])
    assert not user.has_module_perms("auth")
    assert repr(user) == "<TokenUser 'ext-1'>"
    assert user.get_all_permissions() == set() == user.get_group_permissions()
    assert user.get_user_permissions() == set()
    assert list(user.groups.all()) == [] and list(user.user_permissions.all()) == []


# --------------------------------------------------------------------------- no credentials


def test_no_credentials_lets_the_next_authentication_class_run(client: Client, user: User) -> None:
    response = client.get("/api/other-scheme", HTTP_X_TEST_USER=user.username)

    assert response.status_code == 200
    assert json_body(response) == {
        "username": user.username,
        "auth": "None",
        "supertokens": None,
        "http_supertokens": None,
    }


def test_a_bearer_value_that_is_not_ours_is_left_to_other_classes(
    client: Client, user: User
) -> None:
    response = client.get(
        "/api/other-scheme",
        HTTP_AUTHORIZATION="Bearer opaque-api-key",
        HTTP_X_TEST_USER=user.username,
    )

    assert response.status_code == 200
    assert json_body(response)["username"] == user.username


def test_no_credentials_with_is_authenticated_is_drfs_401(client: Client, style: str) -> None:
    response = client.get(path_for(style, "GET"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == CHALLENGE
    assert_untouched(response)


def test_no_credentials_with_has_session_is_the_protocols_401(client: Client) -> None:
    response = client.get("/api/has-session")

    assert_refused(response, 401, UNAUTHORISED)
    assert response["WWW-Authenticate"] == CHALLENGE
    assert_untouched(response)


def test_no_session_with_a_claim_check_is_401_not_403(client: Client) -> None:
    assert_refused(client.get("/api/admin"), 401, UNAUTHORISED)


# --------------------------------------------------------------------------- 401 failures


def test_an_expired_access_token_is_try_refresh_and_tokens_stay(
    agent: Agent, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    advance_clock(monkeypatch, timedelta(hours=2))

    response = agent.get(path_for(style, "GET"))

    assert_refused(response, 401, TRY_REFRESH)
    assert response["WWW-Authenticate"] == CHALLENGE
    assert_untouched(response)


def test_a_bad_signature_is_try_refresh(agent: Agent) -> None:
    header, payload, signature = (agent.access or "").split(".")
    flipped = "A" if signature[20] != "A" else "B"  # mid-signature: no padding bits involved
    agent.access = f"{header}.{payload}.{signature[:20]}{flipped}{signature[21:]}"
    if agent.mode == "cookie":
        agent.cookies["sAccessToken"] = (agent.access, "/")

    response = agent.get("/api/me")

    assert_refused(response, 401, TRY_REFRESH)
    assert_untouched(response)


def test_the_legacy_cookie_is_try_refresh(cookie_agent: Agent) -> None:
    cookie_agent.cookies["sIdRefreshToken"] = ("legacy", "/")

    assert_refused(cookie_agent.get("/api/me"), 401, TRY_REFRESH)


def test_a_revoked_session_is_unauthorised_and_cleared_with_blacklisting(
    agent: Agent, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    handle = decode_jwt_payload(agent.access or "")["sessionHandle"]
    engine.revoke_session(handle)

    response = agent.get("/api/me")

    assert_refused(response, 401, UNAUTHORISED)
    assert response["WWW-Authenticate"] == CHALLENGE
    assert_cleared_both_modes(response)
    assert agent.session_exists is False


def test_theft_then_the_newest_access_token_is_unauthorised(
    agent: Agent, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    stolen = agent.refresh_token
    assert agent.refresh().status_code == 200
    # Using the child promotes it: from now on the stolen token is a superseded one.
    assert agent.get("/api/me").status_code == 200
    thief = Agent(agent.client, agent.mode)
    thief.use_refresh_token(stolen or "")
    assert json_body(thief.refresh()) == {"message": "token theft detected"}

    response = agent.get("/api/me")

    assert_refused(response, 401, UNAUTHORISED)
    assert_cleared_both_modes(response)


def test_the_first_call_after_refresh_of_a_deleted_session_is_unauthorised(agent: Agent) -> None:
    assert agent.refresh().status_code == 200
    engine.revoke_session(decode_jwt_payload(agent.access or "")["sessionHandle"])

    response = agent.get("/api/notes")  # the access token has a parent hash: the row is read

    assert_refused(response, 401, UNAUTHORISED)
    assert_cleared_both_modes(response)


def test_a_session_error_inside_a_drf_view_reaches_the_client(agent: Agent) -> None:
    engine.revoke_session(decode_jwt_payload(agent.access or "")["sessionHandle"])

    response = agent.get("/api/data")  # authenticates statelessly, then reads the gone row

    assert_refused(response, 401, UNAUTHORISED)
    assert_cleared_both_modes(response)


def test_drf_never_turns_our_401_into_403(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    # SessionAuthentication comes first and has no WWW-Authenticate scheme; DRF coerces
    # AuthenticationFailed to 403 in that case, which would stop the SDK from refreshing.
    advance_clock(monkeypatch, timedelta(hours=2))

    response = agent.get("/api/session-first")

    assert_refused(response, 401, TRY_REFRESH)
    assert response["WWW-Authenticate"] == CHALLENGE


def test_drfs_own_not_authenticated_follows_the_first_class(client: Client) -> None:
    # Why the README says to list SuperTokensAuthentication first: with no credentials at all,
    # DRF's NotAuthenticated takes its scheme from the first class; SessionAuthentication has none.
    assert client.get("/api/session-first").status_code == 403


def test_the_session_expired_status_code_is_honoured(
    agent: Agent, settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SUPERTOKENS = {"SESSION_EXPIRED_STATUS_CODE": 440}
    advance_clock(monkeypatch, timedelta(hours=2))

    response = agent.get("/api/me")

    assert_refused(response, 440, TRY_REFRESH)
    assert "WWW-Authenticate" not in response  # a challenge belongs to 401 only


# --------------------------------------------------------------------------- 403 failures


def test_a_failed_claim_is_403_with_the_protocols_body(agent: Agent) -> None:
    response = agent.get("/api/admin")

    assert_refused(
        response,
        403,
        {
            "message": "invalid claim",
            "claimValidationErrors": [
                {
                    "id": "role",
                    "reason": {
                        "message": "wrong value",
                        "expectedValue": "admin",
                        "actualValue": "user",
                    },
                }
            ],
        },
    )
    assert "WWW-Authenticate" not in response
    assert_untouched(response)


def test_a_missing_claim_is_403_value_does_not_exist(agent: Agent) -> None:
    response = agent.get("/api/scoped")

    assert_refused(
        response,
        403,
        {
            "message": "invalid claim",
            "claimValidationErrors": [
                {"id": "scope", "reason": {"message": "value does not exist", "actualValue": None}}
            ],
        },
    )


def test_the_invalid_claim_status_code_is_honoured(agent: Agent, settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"INVALID_CLAIM_STATUS_CODE": 409}

    assert agent.get("/api/admin").status_code == 409


def test_a_claim_list_that_contains_the_value_passes(client: Client, mode: Mode) -> None:
    member = Agent(client, mode)
    member.login(user_id="ext-1", jwt_payload={"role": ["user", "admin"]})

    assert member.get("/api/admin").status_code == 200


def test_an_authenticated_user_without_a_permission_is_403(agent: Agent) -> None:
    response = agent.get("/api/staff")  # IsAdminUser; alice is not staff

    assert response.status_code == 403
    assert_untouched(response)


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"role": "admin"}, []),
        ({"role": ["user", "admin"]}, []),
        (
            {"role": "user"},
            [
                {
                    "id": "role",
                    "reason": {
                        "message": "wrong value",
                        "expectedValue": "admin",
                        "actualValue": "user",
                    },
                }
            ],
        ),
        (
            {"role": ["user"]},
            [
                {
                    "id": "role",
                    "reason": {
                        "message": "wrong value",
                        "expectedToInclude": "admin",
                        "actualValue": ["user"],
                    },
                }
            ],
        ),
        (
            {},
            [
                {
                    "id": "role",
                    "reason": {
                        "message": "value does not exist",
                        "actualValue": None,
                        "expectedValue": "admin",
                    },
                }
            ],
        ),
        (
            {"role": None},
            [
                {
                    "id": "role",
                    "reason": {
                        "message": "value does not exist",
                        "actualValue": None,
                        "expectedValue": "admin",
                    },
                }
            ],
        ),
    ],
)
def test_claim_validation(payload: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    assert HasJWTClaim("role", "admin").validate(payload) == errors


def test_a_boolean_claim_matches_only_a_boolean() -> None:
    assert HasJWTClaim("admin", True).validate({"admin": True}) == []
    assert HasJWTClaim("admin", True).validate({"admin": 1}) != []
    assert HasJWTClaim("level", 1).validate({"level": True}) != []
    assert HasJWTClaim("level", 1).validate({"level": 1}) == []


def test_has_jwt_claim_composes_and_is_its_own_instance() -> None:
    check = HasJWTClaim("role", "admin")

    assert check() is check
    assert isinstance((check & IsAuthenticated)(), AND)
    assert isinstance((IsAuthenticated & check)(), AND)
    assert repr(check) == "HasJWTClaim('role', 'admin')"


# --------------------------------------------------------------------------- anti-CSRF


@pytest.mark.parametrize("method", UNSAFE)
def test_cookie_mode_unsafe_methods_need_the_rid_header(
    cookie_agent: Agent, style: str, method: str
) -> None:
    path = path_for(style, method)

    refused = cookie_agent.call(method, path, {}, rid=False)
    allowed = cookie_agent.call(method, path, {})

    assert_refused(refused, 401, TRY_REFRESH)
    assert_untouched(refused)
    assert allowed.status_code == ok_status(style, method), allowed.content


@pytest.mark.parametrize("method", UNSAFE)
def test_header_mode_needs_no_anti_csrf(
    client: Client, user: User, style: str, method: str
) -> None:
    header_agent = Agent(client, "header")
    header_agent.login(username=user.username)

    response = header_agent.call(method, path_for(style, method), {}, rid=False)

    assert response.status_code == ok_status(style, method), response.content


def test_get_needs_no_rid_but_head_does(cookie_agent: Agent) -> None:
    assert cookie_agent.get("/api/me", rid=False).status_code == 200
    assert cookie_agent.call("HEAD", "/api/me", rid=False).status_code == 401
    assert cookie_agent.call("HEAD", "/api/me").status_code == 200


@pytest.mark.parametrize("method", UNSAFE)
def test_via_token_needs_the_anti_csrf_token(
    client: Client, user: User, settings: SettingsWrapper, style: str, method: str
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    browser = Agent(client, "cookie")
    browser.login(username=user.username)
    assert browser.anti_csrf
    path = path_for(style, method)

    assert_refused(browser.call(method, path, {}, anti_csrf=False), 401, TRY_REFRESH)
    assert_refused(browser.call(method, path, {}, HTTP_ANTI_CSRF="forged"), 401, TRY_REFRESH)
    assert browser.call(method, path, {}).status_code == ok_status(style, method)


def test_anti_csrf_none_checks_nothing(
    client: Client, user: User, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "NONE"}
    browser = Agent(client, "cookie")
    browser.login(username=user.username)

    assert browser.post("/api/me", {}, rid=False).status_code == 200


class AlwaysCheckCsrf(SuperTokensAuthentication):
    anti_csrf_check = True


class CheckDatabase(SuperTokensAuthentication):
    check_database = True


def test_a_subclass_can_check_anti_csrf_on_safe_methods(
    cookie_agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.drf_urls import MeView

    monkeypatch.setattr(MeView, "authentication_classes", [AlwaysCheckCsrf])

    assert_refused(cookie_agent.get("/api/me", rid=False), 401, TRY_REFRESH)
    assert cookie_agent.get("/api/me").status_code == 200


def test_a_subclass_can_check_the_database_and_sees_a_new_payload_at_once(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.drf_urls import AdminClaimView

    handle = decode_jwt_payload(agent.access or "")["sessionHandle"]
    engine.update_jwt_payload(handle, {"role": "admin"})  # e.g. from the admin, elsewhere
    assert agent.get("/api/admin").status_code == 403  # the token still says "user"

    monkeypatch.setattr(AdminClaimView, "authentication_classes", [CheckDatabase])
    response = agent.get("/api/admin")

    assert response.status_code == 200
    assert decode_jwt_payload(agent.access or "")["role"] == "admin"  # re-issued on this call
    engine.revoke_session(handle)
    revoked = agent.get("/api/admin")
    assert_refused(revoked, 401, UNAUTHORISED)
    assert_cleared_both_modes(revoked)


# --------------------------------------------------------------------------- re-issued tokens


def test_the_first_drf_call_after_a_refresh_gets_a_replacement_token(
    agent: Agent, style: str, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    assert agent.refresh().status_code == 200
    child = agent.access or ""
    assert decode_jwt_payload(child)["parentRefreshTokenHash1"] is not None

    response = agent.get(path_for(style, "GET"))

    assert response.status_code == 200
    replacement = agent.access or ""
    assert replacement != child
    claims = decode_jwt_payload(replacement)
    assert claims["parentRefreshTokenHash1"] is None
    assert decode_front_token(response["front-token"])["up"] == claims
    if agent.mode == "cookie":
        assert response.cookies["sAccessToken"].value == replacement
        assert "sRefreshToken" not in response.cookies
    else:
        assert response["st-access-token"] == replacement
        assert "st-refresh-token" not in response
    with django_assert_num_queries(0):  # and from now on, the steady state again
        assert_untouched(agent.get(path_for(style, "GET")))


def test_update_jwt_payload_in_a_drf_view_reaches_the_client(agent: Agent) -> None:
    response = agent.post("/api/payload", {"role": "admin"})

    assert response.status_code == 200
    assert agent.front is not None and agent.front["up"]["role"] == "admin"
    assert decode_jwt_payload(agent.access or "")["role"] == "admin"
    assert agent.get("/api/admin").status_code == 200


def test_revoking_in_a_drf_view_clears_the_tokens(agent: Agent) -> None:
    response = agent.post("/api/signout")

    assert response.status_code == 200
    assert_cleared_both_modes(response)
    assert agent.session_exists is False


def test_djangos_logout_in_a_drf_view_revokes_the_session(agent: Agent) -> None:
    response = agent.post("/api/django-logout")

    assert response.status_code == 200
    assert_cleared_both_modes(response)
    assert agent.session_exists is False
    assert agent.refresh().status_code == 401


def test_a_drf_login_view_creates_the_session_in_the_requested_mode(
    client: Client, mode: Mode, user: User
) -> None:
    browser = Agent(client, mode)
    response = browser.login(username=user.username)

    if mode == "cookie":
        assert {"sAccessToken", "sRefreshToken"} <= set(response.cookies)
    else:
        assert response["st-access-token"] and response["st-refresh-token"]
    assert browser.front is not None and browser.front["uid"] == str(user.pk)
    assert json_body(browser.get("/api/me"))["user_id"] == str(user.pk)


# --------------------------------------------------------------------------- throttling, browser


def test_throttling_counts_authenticated_requests(agent: Agent) -> None:
    statuses = [agent.get("/api/throttled").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_the_browsable_api_reads_with_the_cookie(cookie_agent: Agent, user: User) -> None:
    response = cookie_agent.get("/api/me", rid=False, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert f"&quot;user_id&quot;: &quot;{user.pk}&quot;" in response.content.decode()


def test_a_browsable_api_form_post_needs_the_rid_header(cookie_agent: Agent) -> None:
    # The HTML form posts natively (no custom header): refused like any cross-site form.
    form = {
        "HTTP_COOKIE": cookie_agent.headers("/api/me")["HTTP_COOKIE"],
        "HTTP_ACCEPT": "text/html",
    }
    refused = cookie_agent.client.post("/api/me", {"note": "x"}, **form)
    # The "Raw data" form posts with jQuery: a page that adds {"rid": ...} to $.ajaxSetup passes.
    allowed = cookie_agent.client.post("/api/me", {"note": "x"}, HTTP_RID="anti-csrf", **form)

    assert refused.status_code == 401
    assert allowed.status_code == 200


# --------------------------------------------------------------------------- exception handlers


def reshaping_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """A project's handler that reshapes every error body: {"error": {...}}."""
    context["request"]._request.seen_supertokens = context["request"]._request.supertokens
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"error": {"status": response.status_code, "detail": response.data}}
    return response


def protocol_aware_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """The README's pattern: session errors keep the protocol's body, the rest is reshaped."""
    if isinstance(exc, SessionException):
        return drf_exception_handler(exc, context)
    return reshaping_handler(exc, context)


def test_a_protocol_aware_exception_handler_keeps_the_body(
    agent: Agent, settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REST_FRAMEWORK = {"EXCEPTION_HANDLER": "tests.test_drf.protocol_aware_handler"}
    advance_clock(monkeypatch, timedelta(hours=2))

    assert_refused(agent.get("/api/me"), 401, TRY_REFRESH)
    not_authenticated = agent.client.get("/api/me")  # no credentials: DRF's own error
    assert json_body(not_authenticated)["error"]["status"] == 401


def test_any_exception_handler_keeps_the_status_and_the_clearing(
    agent: Agent, settings: SettingsWrapper
) -> None:
    settings.REST_FRAMEWORK = {"EXCEPTION_HANDLER": "tests.test_drf.reshaping_handler"}
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    engine.revoke_session(decode_jwt_payload(agent.access or "")["sessionHandle"])

    response = agent.get("/api/me")

    assert response.status_code == 401
    assert json_body(response) == {"error": {"status": 401, "detail": UNAUTHORISED}}
    assert_cleared_both_modes(response)  # written by the middleware, not the handler
    assert response.wsgi_request.seen_supertokens is None  # type: ignore[attr-defined]


def test_session_exception_is_an_api_exception_with_the_protocol_body() -> None:
    expired = SessionException(TryRefreshToken("expired"))
    claim = SessionException(InvalidClaim([{"id": "n", "reason": {"actualValue": None, "n": 1}}]))
    down = SessionException(ServiceUnavailable("db down"))

    assert isinstance(expired, APIException)
    assert (expired.status_code, expired.detail, expired.auth_header) == (
        401,
        TRY_REFRESH,
        CHALLENGE,
    )
    assert expired.get_codes() == "try_refresh_token"
    assert expired.get_full_details() == {**TRY_REFRESH, "code": "try_refresh_token"}
    assert str(expired) == "try refresh token"
    # Claim reasons keep their JSON types (APIException would have made "None" and "1" of them).
    assert claim.detail["claimValidationErrors"][0]["reason"] == {"actualValue": None, "n": 1}  # type: ignore[index]
    assert (claim.status_code, claim.auth_header) == (403, None)
    assert (down.status_code, down.auth_header) == (503, None)
    assert SessionException(Unauthorised()).error.clear_tokens is True


# --------------------------------------------------------------------------- configuration


def test_the_middleware_is_required(agent: Agent, settings: SettingsWrapper) -> None:
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "supertokens_django.middleware.SuperTokensMiddleware"
    ]

    fresh = Client()  # a client's handler loads MIDDLEWARE once

    with pytest.raises(ImproperlyConfigured, match="SuperTokensMiddleware"):
        fresh.get("/api/me", **agent.headers("/api/me"))


def test_only_the_drf_package_imports_rest_framework() -> None:
    package = Path(__file__).resolve().parent.parent / "supertokens_django"
    offenders = []
    for source in package.rglob("*.py"):
        if "drf" in source.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("rest_framework", "drf_spectacular") for n in names):
                offenders.append(str(source.relative_to(package)))
    assert offenders == []


# --------------------------------------------------------------------------- OpenAPI


def openapi_schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    from tests.drf_urls import urlpatterns

    # @api_view fixes its schema class when decorated (at import), before settings could point
    # DEFAULT_SCHEMA_CLASS at drf-spectacular; a project sets it in its settings instead.
    patterns = [p for p in urlpatterns if str(p.pattern) != "api/fn/me"]
    return SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)  # type: ignore[no-any-return]


@pytest.fixture
def spectacular(settings: SettingsWrapper) -> None:
    pytest.importorskip("drf_spectacular")
    settings.REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}


@pytest.mark.usefixtures("spectacular")
def test_openapi_documents_the_cookie_and_the_bearer_schemes() -> None:
    schema = openapi_schema()

    schemes = schema["components"]["securitySchemes"]
    assert schemes["supertokensCookieAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sAccessToken",
        "description": schemes["supertokensCookieAuth"]["description"],
    }
    assert schemes["supertokensBearerAuth"]["type"] == "http"
    assert schemes["supertokensBearerAuth"]["scheme"] == "bearer"
    assert schemes["supertokensAntiCsrf"] == {
        "type": "apiKey",
        "in": "header",
        "name": "rid",
        "description": schemes["supertokensAntiCsrf"]["description"],
    }
    me = schema["paths"]["/api/me"]
    # Either scheme; the cookie needs the anti-CSRF header on unsafe methods only.
    assert me["get"]["security"] == [{"supertokensCookieAuth": []}, {"supertokensBearerAuth": []}]
    assert me["post"]["security"] == [
        {"supertokensCookieAuth": [], "supertokensAntiCsrf": []},
        {"supertokensBearerAuth": []},
    ]


@pytest.mark.usefixtures("spectacular")
def test_openapi_follows_the_anti_csrf_mode(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"ANTI_CSRF": "VIA_TOKEN"}
    assert (
        openapi_schema()["components"]["securitySchemes"]["supertokensAntiCsrf"]["name"]
        == "anti-csrf"
    )

    settings.SUPERTOKENS = {"ANTI_CSRF": "NONE"}
    schema = openapi_schema()
    assert "supertokensAntiCsrf" not in schema["components"]["securitySchemes"]
    assert schema["paths"]["/api/me"]["post"]["security"][0] == {"supertokensCookieAuth": []}


class StrictSuperTokensAuthentication(SuperTokensAuthentication):
    """The README's per-view subclass."""

    anti_csrf_check = True
    check_database = True


class NeverCheckCsrf(SuperTokensAuthentication):
    anti_csrf_check = False


def schema_warnings(*authentications: type) -> tuple[dict[str, Any], list[str]]:
    """The schema of one view per class (in that order), and what drf-spectacular reported: what
    ``manage.py spectacular --fail-on-warn`` fails on."""
    from django.urls import path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.generics import GenericAPIView
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.serializers import CharField, Serializer

    class Me(Serializer):  # type: ignore[type-arg]
        user_id = CharField()

    class Documented(GenericAPIView):  # type: ignore[type-arg]
        serializer_class = Me  # so that the schema has nothing else to report
        permission_classes = [IsAuthenticated]

        def get(self, request: Request) -> Response:
            return Response({})  # pragma: no cover

        post = get

    patterns = [
        path(f"api/{i}", Documented.as_view(authentication_classes=[cls]))
        for i, cls in enumerate(authentications)
    ]
    GENERATOR_STATS.reset()
    try:
        schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
        return schema, [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    finally:
        GENERATOR_STATS.reset()


@pytest.mark.usefixtures("spectacular")
@pytest.mark.parametrize("subclass_first", [False, True])
def test_openapi_shares_the_schemes_with_a_subclass(subclass_first: bool) -> None:
    """A subclass (the README's strict one) is the same scheme: drf-spectacular must not see two
    components named ``supertokensCookieAuth`` with different identities."""
    classes = [SuperTokensAuthentication, StrictSuperTokensAuthentication]
    if subclass_first:
        classes.reverse()

    schema, warnings = schema_warnings(*classes)

    assert warnings == []
    assert set(schema["components"]["securitySchemes"]) == {
        "supertokensCookieAuth",
        "supertokensBearerAuth",
        "supertokensAntiCsrf",
    }


@pytest.mark.usefixtures("spectacular")
def test_openapi_follows_a_subclass_s_anti_csrf_check(settings: SettingsWrapper) -> None:
    """``anti_csrf_check = True`` asks for the anti-CSRF header on every method, ``False`` on
    none; the default on unsafe methods only (``transport.anti_csrf_required``)."""
    cookie, bearer = {"supertokensCookieAuth": []}, {"supertokensBearerAuth": []}
    with_header = {**cookie, "supertokensAntiCsrf": []}

    schema, warnings = schema_warnings(
        SuperTokensAuthentication, StrictSuperTokensAuthentication, NeverCheckCsrf
    )

    assert warnings == []
    security = {
        (path, method): operation["security"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert security == {
        ("/api/0", "get"): [cookie, bearer],
        ("/api/0", "post"): [with_header, bearer],
        ("/api/1", "get"): [with_header, bearer],
        ("/api/1", "post"): [with_header, bearer],
        ("/api/2", "get"): [cookie, bearer],
        ("/api/2", "post"): [cookie, bearer],
    }

    settings.SUPERTOKENS = {"ANTI_CSRF": "NONE"}  # nothing to check, whatever the class says
    schema, warnings = schema_warnings(StrictSuperTokensAuthentication)
    assert warnings == []
    assert schema["paths"]["/api/0"]["get"]["security"] == [cookie, bearer]
    assert "supertokensAntiCsrf" not in schema["components"]["securitySchemes"]


class Lookalike(BaseAuthentication):
    """Not a subclass: another scheme that happens to take one of our names."""


@pytest.mark.usefixtures("spectacular")
def test_openapi_still_warns_about_another_class_with_our_name() -> None:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    from supertokens_django.drf import spectacular

    if spectacular._ComponentIdentity is None:
        pytest.skip("drf-spectacular < 0.28 compares no identities and never warns")

    class LookalikeScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
        target_class = Lookalike
        name = "supertokensBearerAuth"

        def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
            return {"type": "http", "scheme": "basic"}

    try:
        _, warnings = schema_warnings(SuperTokensAuthentication, Lookalike)
    finally:
        OpenApiAuthenticationExtension._registry.remove(LookalikeScheme)

    assert len(warnings) == 1
    assert 'identical names "supertokensBearerAuth"' in warnings[0]


@pytest.mark.usefixtures("spectacular")
def test_openapi_without_component_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    """drf-spectacular before 0.28 has no ``ComponentIdentity`` (nor warns about a subclass):
    the schemes are documented as before."""
    from supertokens_django.drf import spectacular

    monkeypatch.setattr(spectacular, "_ComponentIdentity", None)

    schema, warnings = schema_warnings(SuperTokensAuthentication)

    assert warnings == []
    assert len(schema["components"]["securitySchemes"]) == 3
    assert schema["paths"]["/api/0"]["post"]["security"][0] == {
        "supertokensCookieAuth": [],
        "supertokensAntiCsrf": [],
    }
