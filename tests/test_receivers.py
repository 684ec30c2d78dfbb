"""receivers.py: a password change or a deactivation revokes the user's sessions, as Django does
for its own (after a password change a view can keep the device that changed it signed in), and
Django's ``logout()`` revokes the session of the view that calls it."""

from __future__ import annotations

import django
import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.contrib.auth.models import User
from django.db import models
from django.db.models.signals import post_save
from django.test import Client
from django.test.utils import isolate_apps
from pytest_django import DjangoAssertNumQueries
from pytest_django import Settings as SettingsWrapper

from supertokens_django import engine
from supertokens_django.models import RevocationReason, RevokedSession
from supertokens_django.models import Session as SessionRow
from tests.http_helpers import Agent, Mode, assert_cleared_both_modes, assert_untouched, json_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("warm_keyring")]


def sessions_of(user: User) -> set[str]:
    return set(engine.get_all_session_handles_for_user(user))


def test_password_change_revokes_every_session_of_the_user(user: User, other_user: User) -> None:
    mine = {engine.create_session(user).session.get_handle() for _ in range(2)}
    theirs = engine.create_session(other_user).session.get_handle()
    user.set_password("a-new-password")
    user.save()
    assert sessions_of(user) == set()
    assert sessions_of(other_user) == {theirs}
    revoked = RevokedSession.objects.filter(subject=str(user.pk))
    assert {str(h) for h in revoked.values_list("handle", flat=True)} == mine
    assert set(revoked.values_list("reason", flat=True)) == {RevocationReason.PASSWORD_CHANGE}


def test_password_change_with_update_fields(user: User) -> None:
    engine.create_session(user)
    user.set_password("a-new-password")
    user.save(update_fields=["password"])
    assert sessions_of(user) == set()


def test_setting_off_keeps_the_sessions(user: User, settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"REVOKE_SESSIONS_ON_PASSWORD_CHANGE": False}
    handle = engine.create_session(user).session.get_handle()
    user.set_password("a-new-password")
    user.save()
    assert sessions_of(user) == {handle}


def test_other_saves_keep_the_sessions(user: User) -> None:
    handle = engine.create_session(user).session.get_handle()
    user.first_name = "Alice"
    user.save()
    user.refresh_from_db()
    user.save()  # e.g. update_last_login
    assert sessions_of(user) == {handle}


def test_creating_a_user_revokes_nothing(django_user_model: type[User]) -> None:
    engine.create_session("3")  # an external id that may collide with the next primary key
    django_user_model.objects.create_user(username="carol", password="pw")
    assert SessionRow.objects.count() == 1


def test_sessions_under_the_user_id_string_are_revoked_too(user: User) -> None:
    handle = engine.create_session(str(user.pk)).session.get_handle()
    user.set_password("a-new-password")
    user.save()
    assert not SessionRow.objects.filter(handle=handle).exists()


@isolate_apps("tests")
def test_password_change_through_a_proxy_model(user: User) -> None:
    class StaffUser(User):
        """A proxy of the user model, as projects define for their admin: saves through it
        send ``post_save`` with the proxy as sender."""

        class Meta:
            proxy = True
            app_label = "tests"

    engine.create_session(user)
    staff = StaffUser.objects.get(pk=user.pk)
    staff.set_password("a-new-password")
    staff.save()
    assert sessions_of(user) == set()


def test_an_unusable_password_revokes_every_session(user: User, other_user: User) -> None:
    # set_unusable_password() leaves ``_password`` alone, but the stored hash changes: Django's
    # own sessions of the user end (their auth hash derives from the password field).
    engine.create_session(user)
    theirs = engine.create_session(other_user).session.get_handle()
    user.set_unusable_password()
    user.save()
    assert sessions_of(user) == set()
    assert sessions_of(other_user) == {theirs}
    reasons = RevokedSession.objects.values_list("reason", flat=True)
    assert set(reasons) == {RevocationReason.PASSWORD_CHANGE}


def test_an_unusable_password_on_a_freshly_loaded_user(user: User) -> None:
    engine.create_session(user)
    loaded = User.objects.get(pk=user.pk)
    loaded.set_unusable_password()
    loaded.save(update_fields=["password"])
    assert sessions_of(user) == set()


def test_an_assigned_hash_revokes_every_session(user: User) -> None:
    engine.create_session(user)
    user.password = make_password("a-new-password")
    user.save()
    assert sessions_of(user) == set()
    assert RevokedSession.objects.get().reason == RevocationReason.PASSWORD_CHANGE


def test_an_unusable_password_with_the_setting_off_keeps_the_sessions(
    user: User, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"REVOKE_SESSIONS_ON_PASSWORD_CHANGE": False}
    handle = engine.create_session(user).session.get_handle()
    user.set_unusable_password()
    user.save()
    assert sessions_of(user) == {handle}


@pytest.mark.skipif(
    django.VERSION < (5, 1), reason="the admin can disable password-based auth from Django 5.1"
)
def test_disabling_password_based_authentication_in_the_admin(
    admin_client: Client, user: User
) -> None:
    # The admin's answer to a compromised account: "Password-based authentication: Disabled".
    engine.create_session(user)
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"usable_password": "false", "password1": "", "password2": "", "unset-password": "1"},
    )
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert sessions_of(user) == set()
    assert RevokedSession.objects.get().reason == RevocationReason.PASSWORD_CHANGE


def test_other_saves_of_a_user_without_a_usable_password_keep_the_sessions(
    django_user_model: type[User],
) -> None:
    # E.g. a single sign-on user: the password stays unusable, whatever else changes.
    sso = django_user_model.objects.create_user(username="sso", password=None)
    handle = engine.create_session(sso).session.get_handle()
    sso.first_name = "Sam"
    sso.save()
    loaded = User.objects.get(pk=sso.pk)
    loaded.last_name = "Smith"
    loaded.save()
    assert sessions_of(sso) == {handle}


def test_other_saves_in_the_admin_keep_the_sessions(
    admin_client: Client, django_user_model: type[User]
) -> None:
    sso = django_user_model.objects.create_user(username="sso", password=None)
    handle = engine.create_session(sso).session.get_handle()
    response = admin_client.post(
        f"/admin/auth/user/{sso.pk}/change/",
        {
            "username": "sso",
            "first_name": "Sam",
            "is_active": "on",
            "date_joined_0": "2024-01-01",
            "date_joined_1": "00:00:00",
            **{
                f"supertokens_sessions-{field}": "0"
                for field in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")
            },
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    sso.refresh_from_db()
    assert sso.first_name == "Sam"
    assert not sso.has_usable_password()
    assert sessions_of(sso) == {handle}


def test_a_save_that_leaves_the_password_out_keeps_the_sessions(user: User) -> None:
    # update_last_login saves update_fields=["last_login"]: a new hash in memory is not stored.
    handle = engine.create_session(user).session.get_handle()
    user.set_unusable_password()
    user.save(update_fields=["last_login"])
    assert sessions_of(user) == {handle}
    user.set_password("a-new-password")
    user.save(update_fields=["last_login"])
    assert sessions_of(user) == {handle}
    user.refresh_from_db()
    assert user.check_password("alice-password")


def test_a_user_loaded_without_the_password_saves_without_revoking(
    user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    handle = engine.create_session(user).session.get_handle()
    for loaded in (User.objects.defer("password").get(), User.objects.only("first_name").get()):
        with django_assert_num_queries(1):  # the UPDATE: the password is neither read nor loaded
            loaded.first_name = "Alice"
            loaded.save()
    assert sessions_of(user) == {handle}
    loaded = User.objects.defer("password").get()
    loaded.set_unusable_password()
    loaded.save()  # set_unusable_password() cannot be seen here: no hash was loaded to compare
    assert not User.objects.get().has_usable_password()


def test_saving_other_fields_costs_no_query(
    user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    loaded = User.objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        loaded.first_name = "Alice"
        loaded.save()
    with django_assert_num_queries(1):
        user.save(update_fields=["last_login"])


def test_a_refreshed_hash_saved_again_is_no_change(user: User) -> None:
    # Another instance changed the password; this one, refreshed, writes the same hash back.
    elsewhere = User.objects.get(pk=user.pk)
    elsewhere.set_unusable_password()
    elsewhere.save()
    handle = engine.create_session(user).session.get_handle()  # signed in again since
    user.refresh_from_db()
    user.first_name = "Alice"
    user.save()
    assert sessions_of(user) == {handle}


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 2


def test_a_hash_upgrade_at_sign_in_keeps_the_sessions(
    user: User, settings: SettingsWrapper
) -> None:
    # check_password() re-hashes the same password with the preferred hasher and saves it: not a
    # password change for Django's password_changed, nor here.
    handle = engine.create_session(user).session.get_handle()
    settings.PASSWORD_HASHERS = [
        f"{__name__}.FastPBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert authenticate(username="alice", password="alice-password") is not None
    assert User.objects.get().password.startswith("pbkdf2_sha256$2$")
    assert sessions_of(user) == {handle}


def test_deleting_a_user_revokes_their_sessions(user: User, other_user: User) -> None:
    mine = {engine.create_session(user).session.get_handle() for _ in range(2)}
    theirs = engine.create_session(other_user).session.get_handle()
    user_id = str(user.pk)
    user.delete()
    assert sessions_of(other_user) == {theirs}
    revoked = RevokedSession.objects.filter(subject=user_id)
    # The records stay (unlinked from the deleted user), so blacklisting refuses the tokens.
    assert {str(h) for h in revoked.values_list("handle", flat=True)} == mine
    assert set(revoked.values_list("reason", flat=True)) == {RevocationReason.USER_DELETED}
    assert set(revoked.values_list("user", flat=True)) == {None}


@pytest.mark.urls("tests.http_urls")
@pytest.mark.parametrize("mode", ["cookie", "header"])
def test_changing_ones_own_password_can_keep_this_device_signed_in(
    client: Client, user: User, mode: Mode
) -> None:
    # The README's recipe (``change_password`` in tests/http_urls.py): the form's save revokes
    # every session of the user, then the view creates one for the device that asked.
    here, elsewhere = Agent(client, mode), Agent(Client(), mode)
    here.login(username=user.username, jwt_payload={"role": "admin"}, session_data={"cart": [1]})
    elsewhere.login(username=user.username)
    old_refresh = Agent(Client(), mode)
    old_refresh.use_refresh_token(here.refresh_token or "")

    response = here.post(
        "/change-password",
        {
            "old_password": "alice-password",
            "new_password1": "a-new-pass-phrase-4",
            "new_password2": "a-new-pass-phrase-4",
        },
    )

    assert response.status_code == 200, response.content
    body = json_body(response)
    assert body["handle"] != body["previous"]
    assert sessions_of(user) == {body["handle"]}
    assert json_body(here.get("/protected"))["handle"] == body["handle"]
    assert json_body(here.get("/session-data")) == {"data": {"cart": [1]}}
    assert here.front is not None and here.front["up"]["role"] == "admin"
    assert here.refresh().status_code == 200
    # The other device and the tokens this one held before the change are signed out.
    assert elsewhere.refresh().status_code == 401
    assert old_refresh.refresh().status_code == 401
    user.refresh_from_db()
    assert user.check_password("a-new-pass-phrase-4")


@pytest.mark.urls("tests.http_urls")
def test_a_refused_password_change_revokes_nothing(client: Client, user: User) -> None:
    agent = Agent(client, "cookie")
    handle = json_body(agent.login(username=user.username))["handle"]

    response = agent.post(
        "/change-password",
        {"old_password": "wrong", "new_password1": "x-y-z-1234", "new_password2": "x-y-z-1234"},
    )

    assert response.status_code == 400
    assert json_body(response) == {"errors": ["old_password"]}
    assert sessions_of(user) == {handle}


# --------------------------------------------------------------------------- deactivation


def test_deactivating_a_user_revokes_every_session(user: User, other_user: User) -> None:
    mine = {engine.create_session(user).session.get_handle() for _ in range(2)}
    theirs = engine.create_session(other_user).session.get_handle()
    user.is_active = False
    user.save()
    assert sessions_of(user) == set()
    assert sessions_of(other_user) == {theirs}
    revoked = RevokedSession.objects.filter(subject=str(user.pk))
    assert {str(h) for h in revoked.values_list("handle", flat=True)} == mine
    assert set(revoked.values_list("reason", flat=True)) == {RevocationReason.USER_DEACTIVATED}


def test_deactivation_with_update_fields(user: User) -> None:
    engine.create_session(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert sessions_of(user) == set()


def test_a_save_of_other_fields_of_an_inactive_user_keeps_the_sessions(user: User) -> None:
    # E.g. a backend that lets inactive users sign in (AllowAllUsersModelBackend) updating
    # last_login: the user was not deactivated by this save.
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.refresh_from_db()
    handle = engine.create_session(user).session.get_handle()
    user.save(update_fields=["last_login"])
    assert sessions_of(user) == {handle}


def test_deactivation_setting_off_keeps_the_sessions(user: User, settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"REVOKE_SESSIONS_ON_DEACTIVATION": False}
    handle = engine.create_session(user).session.get_handle()
    user.is_active = False
    user.save()
    assert sessions_of(user) == {handle}


def test_a_password_change_of_a_deactivated_user_still_revokes(
    user: User, settings: SettingsWrapper
) -> None:
    settings.SUPERTOKENS = {"REVOKE_SESSIONS_ON_PASSWORD_CHANGE": False}
    engine.create_session(user)
    user.set_password("a-new-password")
    user.is_active = False
    user.save()
    reasons = RevokedSession.objects.values_list("reason", flat=True)
    assert set(reasons) == {RevocationReason.USER_DEACTIVATED}


@isolate_apps("tests")
def test_an_inactive_instance_of_another_model_revokes_nothing(user: User) -> None:
    class Subscription(models.Model):
        is_active = models.BooleanField(default=True)

        class Meta:
            app_label = "tests"

        def __str__(self) -> str:
            return f"subscription {self.pk}"

    handle = engine.create_session(user).session.get_handle()
    subscription = Subscription(pk=user.pk, is_active=False)  # the same primary key
    post_save.send(sender=Subscription, instance=subscription, created=False, update_fields=None)
    assert sessions_of(user) == {handle}


@pytest.mark.urls("tests.http_urls")
@pytest.mark.parametrize("mode", ["cookie", "header"])
def test_a_deactivated_user_is_signed_out_at_the_next_refresh(
    client: Client, user: User, mode: Mode
) -> None:
    agent = Agent(client, mode)
    agent.login(username=user.username)
    refresher = Agent(Client(), mode)  # the same refresh token, in a second client
    refresher.use_refresh_token(agent.refresh_token or "")

    user.is_active = False
    user.save()

    assert agent.get("/strict").status_code == 401  # the row is gone
    response = refresher.refresh()
    assert response.status_code == 401
    assert json_body(response) == {"message": "unauthorised"}


# --------------------------------------------------------------------------- Django's logout()


@pytest.mark.urls("tests.http_urls")
@pytest.mark.parametrize("mode", ["cookie", "header"])
@pytest.mark.parametrize(
    "view",
    [
        "/django-logout",
        pytest.param(
            "/async/django-logout",
            marks=pytest.mark.skipif(
                django.VERSION < (5, 0), reason="alogout() is new in Django 5.0"
            ),
        ),
    ],
)
def test_djangos_logout_in_a_view_revokes_its_session(
    client: Client, user: User, mode: Mode, view: str
) -> None:
    agent = Agent(client, mode)
    agent.login(username=user.username)

    response = agent.post(view)

    assert response.status_code == 200
    assert_cleared_both_modes(response)
    assert sessions_of(user) == set()
    assert RevokedSession.objects.get().reason == RevocationReason.LOGOUT
    assert agent.refresh().status_code == 401


@pytest.mark.urls("tests.http_urls")
def test_djangos_logout_leaves_a_session_the_view_never_asked_for(
    client: Client, user: User
) -> None:
    agent = Agent(client, "cookie")
    handle = json_body(agent.login(username=user.username))["handle"]

    response = agent.post("/django-logout-unverified")

    assert response.status_code == 200
    assert_untouched(response)
    assert sessions_of(user) == {handle}
