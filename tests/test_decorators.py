"""``verify_session`` and the request-level API it stands on (``create_new_session``,
``get_session``): every form of the decorator, sync, async and class-based views, Django's
CSRF middleware and auth integration, and the missing-middleware error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import iscoroutinefunction
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client, RequestFactory

from supertokens_django import engine, get_session, transport, update_jwt_payload, verify_session
from supertokens_django.models import Session as SessionRow
from tests import http_urls
from tests.http_helpers import (
    HTTP_TEST_MARKS,
    SIGNOUT,
    Agent,
    Mode,
    assert_cleared_both_modes,
    assert_untouched,
    decode_front_token,
    json_body,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from pytest_django import DjangoAssertNumQueries, Settings

pytestmark = HTTP_TEST_MARKS
MIDDLEWARE_PATH = "supertokens_django.middleware.SuperTokensMiddleware"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def agent_for(flavour: str, client: Client, async_client: AsyncClient, mode: Mode) -> Agent:
    return Agent(async_client if flavour == "async" else client, mode)


def url(flavour: str, name: str) -> str:
    return f"/async/{name}" if flavour == "async" else f"/{name}"


# --------------------------------------------------------------------------- forms


def test_bare_and_called_forms_wrap_the_view() -> None:
    for view in (
        http_urls.protected,
        http_urls.csrf_always,
        http_urls.optional,
        http_urls.aprotected,
    ):
        assert view.csrf_exempt is True  # type: ignore[attr-defined]
    assert http_urls.protected.__name__ == "protected"
    assert http_urls.csrf_always.__doc__ and "positional" in http_urls.csrf_always.__doc__
    assert iscoroutinefunction(http_urls.aprotected)
    assert not iscoroutinefunction(http_urls.protected)


@pytest.mark.parametrize(
    "decorate",
    [
        lambda f: verify_session(f),
        lambda f: verify_session()(f),
        lambda f: verify_session(None)(f),
        lambda f: verify_session(True)(f),
        lambda f: verify_session(False)(f),
        lambda f: verify_session(anti_csrf_check=True, session_required=False)(f),
    ],
)
def test_every_form_returns_a_view(decorate: Any) -> None:
    def view(request: HttpRequest) -> JsonResponse:
        return JsonResponse({})

    wrapped = decorate(view)
    assert callable(wrapped) and wrapped.__wrapped__ is view
    assert wrapped.csrf_exempt is True


def test_a_view_without_a_request_is_a_type_error() -> None:
    @verify_session
    def not_a_view(value: int) -> None: ...

    with pytest.raises(TypeError, match="receives the request"):
        not_a_view(1)


@pytest.mark.parametrize(
    ("path", "method", "rid", "status"),
    [
        ("/csrf-always", "get", False, 401),  # @verify_session(True): checked even on GET
        ("/csrf-always", "get", True, 200),
        ("/csrf-never", "post", False, 200),  # anti_csrf_check=False: never checked
        ("/protected", "post", False, 401),  # bare: unsafe methods are checked
        ("/protected", "get", False, 200),
    ],
)
def test_the_anti_csrf_option(
    client: Client, path: str, method: str, rid: bool, status: int
) -> None:
    agent = Agent(client, "cookie")
    agent.login()
    assert agent.call(method, path, rid=rid).status_code == status


# --------------------------------------------------------------------------- options


def test_required_session_missing(
    client: Client, async_client: AsyncClient, flavour: str, mode: Mode
) -> None:
    response = agent_for(flavour, client, async_client, mode).get(url(flavour, "protected"))

    assert response.status_code == 401
    assert json_body(response) == {"message": "unauthorised"}
    assert_untouched(response)


def test_session_not_required(
    client: Client, async_client: AsyncClient, flavour: str, mode: Mode
) -> None:
    agent = agent_for(flavour, client, async_client, mode)
    anonymous = agent.get(url(flavour, "optional"))
    assert anonymous.status_code == 200
    assert json_body(anonymous) == {"user_id": None, "is_none": True}

    agent.login(user_id="opt")
    signed_in = agent.get(url(flavour, "optional"))
    assert json_body(signed_in)["user_id"] == "opt"
    assert json_body(signed_in)["is_none"] is False


def test_session_not_required_still_refuses_an_expired_token(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from tests.http_helpers import advance_clock

    agent = Agent(client, "cookie")
    agent.login()
    advance_clock(monkeypatch, timedelta(hours=2))
    response = agent.get("/optional")

    assert response.status_code == 401
    assert json_body(response) == {"message": "try refresh token"}


def test_check_database_costs_one_query_and_notices_revocation(
    client: Client,
    async_client: AsyncClient,
    flavour: str,
    mode: Mode,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    agent = agent_for(flavour, client, async_client, mode)
    login = agent.login()
    with django_assert_num_queries(1):
        assert agent.get(url(flavour, "strict")).status_code == 200

    engine.revoke_session(json_body(login)["handle"])
    response = agent.get(url(flavour, "strict"))

    assert response.status_code == 401
    assert json_body(response) == {"message": "unauthorised"}
    assert_cleared_both_modes(response)


def test_check_database_reissues_a_token_whose_payload_changed(
    client: Client, async_client: AsyncClient, flavour: str, mode: Mode
) -> None:
    agent = agent_for(flavour, client, async_client, mode)
    login = agent.login(jwt_payload={"plan": "free"})
    update_jwt_payload(json_body(login)["handle"], {"plan": "pro"})

    assert json_body(agent.get(url(flavour, "protected")))["jwt_payload"] == {"plan": "free"}
    response = agent.get(url(flavour, "strict"))

    assert json_body(response)["jwt_payload"] == {"plan": "pro"}
    assert decode_front_token(response["front-token"])["up"]["plan"] == "pro"
    assert json_body(agent.get(url(flavour, "protected")))["jwt_payload"] == {"plan": "pro"}


# --------------------------------------------------------------------------- async views


def test_async_views_update_the_payload_and_the_data(async_client: AsyncClient, mode: Mode) -> None:
    agent = Agent(async_client, mode)
    agent.post("/alogin", {"user_id": "a"})

    payload = agent.post("/async/payload", {"tier": 2})
    assert payload.status_code == 200
    assert decode_front_token(payload["front-token"])["up"]["tier"] == 2
    assert json_body(agent.get("/async/protected"))["jwt_payload"] == {"tier": 2}

    data = agent.post("/async/session-data", {"cart": [1, 2]})
    assert json_body(data) == {"data": {"cart": [1, 2]}}
    assert SessionRow.objects.get().session_data == {"cart": [1, 2]}


def test_async_views_see_the_session_user(async_client: AsyncClient, user: User) -> None:
    agent = Agent(async_client, "cookie")
    agent.post("/login", {"username": user.username})

    assert json_body(agent.get("/async/protected"))["username"] == user.username


# --------------------------------------------------------------------------- class-based views


def test_a_class_based_view_with_method_decorator(client: Client, mode: Mode) -> None:
    agent = Agent(client, mode)
    assert agent.get("/cbv/profile").status_code == 401
    assert json_body(agent.get("/cbv/optional")) == {"user_id": None}

    agent.login(user_id="cbv")
    assert json_body(agent.get("/cbv/profile"))["user_id"] == "cbv"
    assert agent.post("/cbv/profile", {"theme": "dark"}).status_code == 200
    assert SessionRow.objects.get().session_data == {"theme": "dark"}
    assert json_body(agent.get("/cbv/optional"))["user_id"] == "cbv"


# --------------------------------------------------------------------------- Django's CSRF


def test_decorated_views_are_exempt_from_djangos_csrf_middleware() -> None:
    client = Client(enforce_csrf_checks=True)
    # The control: Django's CSRF middleware is enforcing in this client.
    assert client.post("/django-csrf-protected").status_code == 403

    agent = Agent(client, "cookie")
    assert agent.login().status_code == 200
    assert agent.post("/protected").status_code == 200
    assert agent.post("/cbv/profile", {"x": 1}).status_code == 200
    assert agent.post("/payload", {"y": 2}).status_code == 200
    assert agent.refresh().status_code == 200
    assert agent.post(SIGNOUT).status_code == 200


def test_the_protocols_anti_csrf_still_applies_under_djangos(client: Client) -> None:
    enforcing = Client(enforce_csrf_checks=True)
    agent = Agent(enforcing, "cookie")
    agent.login()

    response = agent.post("/protected", rid=False)
    assert response.status_code == 401
    assert json_body(response) == {"message": "try refresh token"}


# --------------------------------------------------------------------------- Django auth


def test_request_user_is_the_sessions_user(client: Client, user: User, mode: Mode) -> None:
    agent = Agent(client, mode)
    agent.login(username=user.username)

    assert json_body(agent.get("/protected"))["username"] == user.username
    assert json_body(agent.get("/needs-django-login")) == {"username": user.username}


def test_request_user_is_loaded_on_first_use_and_copies_like_djangos(
    user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    import copy

    from django.utils.functional import SimpleLazyObject

    tokens = engine.create_session(user)
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {tokens.access_token.token}")
    request.user = None  # what AuthenticationMiddleware would have set
    transport.ensure_state(request, managed=True)
    seen: list[Any] = []
    view = verify_session(lambda request: seen.append(request.user) or JsonResponse({}))

    with django_assert_num_queries(0):
        assert view(request).status_code == 200
    (lazy,) = seen
    assert isinstance(lazy, SimpleLazyObject)
    twin = copy.copy(lazy)  # before use: a lazy object of the same function
    with django_assert_num_queries(1):
        assert lazy.pk == user.pk and lazy.username == user.username
    with django_assert_num_queries(0):
        assert lazy.is_authenticated and lazy == user
    with django_assert_num_queries(0):  # the session resolves its user once
        assert twin.username == user.username
    assert copy.copy(lazy) == user


def test_an_inactive_user_is_not_request_user(client: Client, user: User) -> None:
    """A token issued before the user was deactivated (here without a signal, so the session
    is not revoked) still verifies, but, as with Django's ModelBackend, the inactive user is
    not ``request.user``."""
    agent = Agent(client, "cookie")
    agent.login(username=user.username)
    assert agent.get("/needs-django-login").status_code == 200

    type(user).objects.filter(pk=user.pk).update(is_active=False)

    assert json_body(agent.get("/protected"))["username"] == ""  # AnonymousUser
    assert agent.get("/needs-django-login").status_code == 302


def test_a_session_of_a_plain_id_is_not_a_django_login(client: Client) -> None:
    agent = Agent(client, "cookie")
    agent.login(user_id="external-42")

    assert json_body(agent.get("/protected"))["username"] == ""  # AnonymousUser
    assert agent.get("/needs-django-login").status_code == 302


def test_create_new_session_with_a_user_sends_user_logged_in(client: Client, user: User) -> None:
    seen: list[tuple[Any, Any]] = []

    def receiver(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        seen.append((user, request.user))

    user_logged_in.connect(receiver)
    try:
        Agent(client, "cookie").login(username=user.username)
        Agent(client, "cookie").login(user_id="not-a-django-user")
    finally:
        user_logged_in.disconnect(receiver)

    assert seen == [(user, user)]
    user.refresh_from_db()
    assert user.last_login is not None  # Django's own receiver ran


# --------------------------------------------------------------------------- missing middleware


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/protected", "verify_session decorator"),
        ("/optional", "verify_session decorator"),
        ("/cbv/profile", "verify_session decorator"),
        ("/login", "create_new_session()"),
    ],
)
def test_without_the_middleware_the_error_names_the_fix(
    client: Client, settings: Settings, path: str, what: str
) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]

    with pytest.raises(ImproperlyConfigured) as info:
        client.post(path, "{}", content_type="application/json")

    message = str(info.value)
    assert what in message
    assert "MIDDLEWARE" in message and MIDDLEWARE_PATH in message
    assert "AuthenticationMiddleware" in message


def test_without_the_middleware_an_async_view_names_the_fix(
    async_client: AsyncClient, settings: Settings
) -> None:
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]

    with pytest.raises(ImproperlyConfigured, match="SuperTokensMiddleware"):
        Agent(async_client, "cookie").get("/async/protected")


# --------------------------------------------------------------------------- get_session reuse


def _managed_request(**extra: Any) -> HttpRequest:
    request = RequestFactory().post("/", **extra)
    transport.ensure_state(request, managed=True)
    return request


def test_get_session_reuses_a_verification_unless_asked_for_more(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    tokens = engine.create_session("u")
    request = _managed_request(
        HTTP_COOKIE=f"sAccessToken={tokens.access_token.token}", HTTP_RID="x"
    )
    first = get_session(request)
    with django_assert_num_queries(0):
        assert get_session(request) is first
    with django_assert_num_queries(1):
        assert get_session(request, check_database=True) is not None


def test_an_anonymous_verification_is_reused_when_none_is_required() -> None:
    from supertokens_django.exceptions import Unauthorised

    request = _managed_request()
    assert get_session(request, session_required=False) is None
    assert get_session(request, session_required=False) is None
    with pytest.raises(Unauthorised):
        get_session(request)


def test_a_verification_without_the_anti_csrf_check_is_not_reused_for_one_that_needs_it() -> None:
    from supertokens_django.exceptions import TryRefreshToken

    tokens = engine.create_session("u")
    request = _managed_request(HTTP_COOKIE=f"sAccessToken={tokens.access_token.token}")
    assert get_session(request, anti_csrf_check=False) is not None

    with pytest.raises(TryRefreshToken):
        get_session(request)  # a POST without rid: the check was skipped before, not passed


def test_after_create_new_session_the_new_session_is_the_requests(client: Client) -> None:
    from supertokens_django import create_new_session

    old = engine.create_session("old-user")
    request = _managed_request(
        HTTP_COOKIE=f"sAccessToken={old.access_token.token}", HTTP_ST_AUTH_MODE="cookie"
    )
    created = create_new_session(request, "new-user")

    assert get_session(request) is created
    assert request.supertokens is created  # type: ignore[attr-defined]
