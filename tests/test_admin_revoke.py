"""Revoking from the admin: the two actions, the session page's button, the user's page, and who
may do it. Every revocation must go through the engine: a blacklist record with reason
``admin`` and the admin's username, and ``session_revoked`` sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from supertokens_django import engine
from supertokens_django.admin import (
    UserSessionsInline,
    attach_to_user_admin,
    confirmation,
    revoking,
)
from supertokens_django.exceptions import Unauthorised
from supertokens_django.models import RevocationReason, RevokedSession, Session
from supertokens_django.signals import session_revoked
from tests import test_admin
from tests.test_admin import (
    CHROME_MAC,
    HOUR,
    SESSIONS,
    WHEN,
    MakeSession,
    html,
    staff_client,
)

# The admin fixtures live in test_admin.py; pytest finds fixtures by module attribute.
make_session = test_admin.make_session
viewer_client = test_admin.viewer_client
non_staff_client = test_admin.non_staff_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keyring")]
User = get_user_model()
ACTION = "_selected_action"


@pytest.fixture
def revoked_signals() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    session_revoked.connect(receiver, dispatch_uid="test_admin_revoke")
    yield received
    session_revoked.disconnect(dispatch_uid="test_admin_revoke")


def assert_revoked_by_admin(handles: set[str], by: str, signals: list[dict[str, Any]]) -> None:
    assert not Session.objects.filter(pk__in=handles).exists()
    records = RevokedSession.objects.filter(handle__in=handles)
    assert {str(r.handle) for r in records} == handles
    assert {(r.reason, r.revoked_by) for r in records} == {(RevocationReason.ADMIN, by)}
    assert {s["handle"] for s in signals} == handles
    assert {(s["reason"], s["revoked_by"]) for s in signals} == {(RevocationReason.ADMIN, by)}


# --------------------------------------------------------------------------- revoke selected


def test_revoke_selected_confirms_then_revokes(
    admin_client: Client,
    user: Any,
    other_user: Any,
    make_session: MakeSession,
    revoked_signals: list[dict[str, Any]],
) -> None:
    chosen = [make_session(user), make_session(other_user)]
    kept = make_session(user)
    handles = {str(s.pk) for s in chosen}
    url = reverse(SESSIONS)

    response = admin_client.post(url, {"action": "revoke_selected", ACTION: sorted(handles)})
    page = html(response)
    assert response.templates[0].name == confirmation.TEMPLATE
    assert "Are you sure you want to revoke these 2 sessions?" in page
    for handle in handles:
        change = reverse("admin:supertokens_django_session_change", args=(handle,))
        assert f'<a href="{change}">{handle}</a>' in page
        assert f'<input type="hidden" name="{ACTION}" value="{handle}">' in page
    assert str(kept.pk) not in page
    assert ">alice</a>" in page and ">bob</a>" in page  # grouped by user
    assert '<input type="hidden" name="action" value="revoke_selected">' in page
    assert '<input type="hidden" name="post" value="yes">' in page
    assert Session.objects.count() == 3  # nothing revoked yet
    assert revoked_signals == []

    response = admin_client.post(
        url, {"action": "revoke_selected", ACTION: sorted(handles), "post": "yes"}
    )
    assert response.status_code == 302
    assert_revoked_by_admin(handles, "admin", revoked_signals)
    assert Session.objects.filter(pk=kept.pk).exists()
    assert "Revoked 2 sessions." in html(admin_client.get(url))


def test_revoked_browser_is_refused_at_once_with_blacklisting(
    admin_client: Client, user: Any, settings: Any
) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True, "BLACKLIST_CACHE": "blacklist"}
    tokens = engine.create_session(user)
    engine.verify_access_token(tokens.access_token.token)
    handle = tokens.session.get_handle()
    admin_client.post(
        reverse(SESSIONS), {"action": "revoke_selected", ACTION: [handle], "post": "yes"}
    )
    with pytest.raises(Unauthorised):
        engine.verify_access_token(tokens.access_token.token)
    with pytest.raises(Unauthorised):
        engine.refresh_session(tokens.refresh_token.token)


def test_revoke_selected_refuses_huge_selections(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revoking, "MAX_SELECTED_SESSIONS", 2)
    sessions = [make_session(user) for _ in range(3)]
    response = admin_client.post(
        reverse(SESSIONS),
        {"action": "revoke_selected", ACTION: [s.pk for s in sessions], "post": "yes"},
        follow=True,
    )
    assert "Select at most 2 sessions at once" in html(response)
    assert Session.objects.count() == 3


def test_revoke_selected_across_all_pages(
    admin_client: Client, user: Any, other_user: Any, make_session: MakeSession
) -> None:
    mine = {str(make_session(user).pk) for _ in range(2)}
    make_session(other_user)
    url = reverse(SESSIONS) + f"?subject={user.pk}"
    response = admin_client.post(
        url, {"action": "revoke_selected", ACTION: [sorted(mine)[0]], "select_across": "1"}
    )
    page = html(response)
    for handle in mine:  # the whole filtered list, each handle posted back explicitly
        assert f'name="{ACTION}" value="{handle}"' in page
    admin_client.post(url, {"action": "revoke_selected", ACTION: sorted(mine), "post": "yes"})
    assert set(Session.objects.values_list("subject", flat=True)) == {str(other_user.pk)}


# --------------------------------------------------------------------------- revoke users


def test_revoke_users_lists_every_session_of_the_users(
    admin_client: Client,
    user: Any,
    other_user: Any,
    make_session: MakeSession,
    revoked_signals: list[dict[str, Any]],
) -> None:
    alice = [make_session(user) for _ in range(3)]
    bob = make_session(other_user)
    bare = make_session("external-42")
    url = reverse(SESSIONS)
    selection = [alice[0].pk, bare.pk]

    page = html(admin_client.post(url, {"action": "revoke_users", ACTION: selection}))
    assert "every session of these 2 users" in page
    for session in (*alice, bare):  # also the sessions of alice that were not selected
        assert str(session.pk) in page
    assert str(bob.pk) not in page
    assert "3 sessions" in page and "1 session" in page
    assert f'name="{revoking.SUBJECT_FIELD}" value="{user.pk}"' in page
    assert f'name="{revoking.SUBJECT_FIELD}" value="external-42"' in page
    assert Session.objects.count() == 5

    # A session of alice created after the confirmation page was shown is revoked too, and so
    # are the users even if the selected sessions are gone by now.
    late = make_session(user)
    engine.revoke_session(str(alice[0].pk))
    revoked_signals.clear()
    response = admin_client.post(
        url,
        {
            "action": "revoke_users",
            ACTION: selection,
            revoking.SUBJECT_FIELD: [str(user.pk), "external-42"],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    expected = {str(s.pk) for s in (*alice[1:], late, bare)}
    assert_revoked_by_admin(expected, "admin", revoked_signals)
    assert list(Session.objects.values_list("pk", flat=True)) == [bob.pk]


def test_revoke_users_refuses_too_many_users(
    admin_client: Client, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revoking, "MAX_SELECTED_USERS", 1)
    sessions = [make_session("u1"), make_session("u2")]
    response = admin_client.post(
        reverse(SESSIONS), {"action": "revoke_users", ACTION: [s.pk for s in sessions]}, follow=True
    )
    assert "Select the sessions of at most 1 users at once." in html(response)


def test_confirmation_lists_a_bounded_number_per_user(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(confirmation, "LISTED_PER_USER", 2)
    sessions = [make_session(user) for _ in range(4)]
    page = html(
        admin_client.post(reverse(SESSIONS), {"action": "revoke_users", ACTION: [sessions[0].pk]})
    )
    assert "4 sessions" in page
    assert "… and 2 more sessions of this user." in page
    assert sum(f">{s.pk}</a>" in page for s in sessions) == 2


# --------------------------------------------------------------------------- one session


def test_revoke_this_session_button(
    admin_client: Client, user: Any, make_session: MakeSession, revoked_signals: list[Any]
) -> None:
    session = make_session(user)
    change = reverse("admin:supertokens_django_session_change", args=(session.pk,))
    revoke = reverse("admin:supertokens_django_session_revoke", args=(session.pk,))
    page = html(admin_client.get(change))
    link = f'<a href="{revoke}" class="st-revoke-session" id="st-revoke-session">'
    assert f"{link}Revoke this session</a>" in page

    page = html(admin_client.get(revoke))
    assert "Are you sure you want to revoke this session?" in page
    assert str(session.pk) in page and 'id="st-revoke-confirm"' in page
    assert Session.objects.filter(pk=session.pk).exists()  # a GET revokes nothing

    response = admin_client.post(revoke)
    assert response.status_code == 302
    assert response["Location"] == reverse(SESSIONS)
    assert_revoked_by_admin({str(session.pk)}, "admin", revoked_signals)

    response = admin_client.get(revoke, follow=True)
    assert "This session no longer exists" in html(response)


def test_revoke_needs_csrf(user: Any, make_session: MakeSession, admin_user: Any) -> None:
    session = make_session(user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    revoke = reverse("admin:supertokens_django_session_revoke", args=(session.pk,))
    assert client.post(revoke).status_code == 403
    assert (
        client.post(
            reverse(SESSIONS), {"action": "revoke_selected", ACTION: [session.pk], "post": "yes"}
        ).status_code
        == 403
    )
    assert Session.objects.filter(pk=session.pk).exists()
    page = html(client.get(revoke))
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert client.post(revoke, {"csrfmiddlewaretoken": token}).status_code == 302
    assert not Session.objects.filter(pk=session.pk).exists()


def test_delete_url_leads_to_revocation(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    session = make_session(user)
    delete = reverse("admin:supertokens_django_session_delete", args=(session.pk,))
    response = admin_client.post(delete, {"post": "yes"})
    assert response["Location"] == reverse(
        "admin:supertokens_django_session_revoke", args=(session.pk,)
    )
    assert Session.objects.filter(pk=session.pk).exists()
    assert (
        admin_client.get(
            reverse("admin:supertokens_django_session_delete", args=("nope",)), follow=True
        ).status_code
        == 200
    )


def test_no_delete_selected_action(admin_client: Client, user: Any, make_session: Any) -> None:
    make_session(user)
    choices = dict(
        admin_client.get(reverse(SESSIONS)).context["action_form"].fields["action"].choices
    )
    assert set(choices) == {"", "revoke_selected", "revoke_users"}


def test_next_must_stay_on_site(admin_client: Client, user: Any, make_session: Any) -> None:
    session = make_session(user)
    revoke = reverse("admin:supertokens_django_session_revoke", args=(session.pk,))
    response = admin_client.post(revoke + "?next=https://evil.example/")
    assert response["Location"] == reverse(SESSIONS)


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("codename", ["revoke_session", "delete_session"])
def test_revoke_or_delete_permission_is_enough(
    codename: str, user: Any, make_session: MakeSession, revoked_signals: list[Any]
) -> None:
    client = staff_client("helpdesk", "view_session", codename)
    one, two = make_session(user), make_session(user)
    page = html(client.get(reverse(SESSIONS)))
    assert 'value="revoke_selected"' in page and 'value="revoke_users"' in page
    client.post(reverse(SESSIONS), {"action": "revoke_selected", ACTION: [one.pk], "post": "yes"})
    client.post(reverse("admin:supertokens_django_session_revoke", args=(two.pk,)))
    assert_revoked_by_admin({str(one.pk), str(two.pk)}, "helpdesk", revoked_signals)


def test_staff_without_revoke_permission_cannot_revoke(
    viewer_client: Client, user: Any, make_session: MakeSession
) -> None:
    session = make_session(user)
    page = html(viewer_client.get(reverse(SESSIONS)))
    assert "revoke_selected" not in page and "revoke_users" not in page
    assert "st-revoke-user" not in html(
        viewer_client.get(reverse(SESSIONS), {"subject": str(user.pk)})
    )
    change = reverse("admin:supertokens_django_session_change", args=(session.pk,))
    assert "st-revoke-session" not in html(viewer_client.get(change))

    for action in ("revoke_selected", "revoke_users"):
        response = viewer_client.post(
            reverse(SESSIONS),
            {
                "action": action,
                ACTION: [session.pk],
                revoking.SUBJECT_FIELD: [str(user.pk)],
                "post": "yes",
            },
        )
        # No action is offered to this user, so the POST is not one: the list is shown again.
        assert response.templates[0].name == "admin/supertokens_django/session/change_list.html"
    revoke = reverse("admin:supertokens_django_session_revoke", args=(session.pk,))
    revoke_user = reverse("admin:supertokens_django_session_revoke_user", args=(str(user.pk),))
    for url in (revoke, revoke_user):
        assert viewer_client.get(url).status_code == 403
        assert viewer_client.post(url).status_code == 403
    assert Session.objects.filter(pk=session.pk).exists()
    assert not RevokedSession.objects.exists()


def test_non_staff_cannot_revoke(non_staff_client: Client, user: Any, make_session: Any) -> None:
    session = make_session(user)
    for url, data in (
        (reverse(SESSIONS), {"action": "revoke_selected", ACTION: [session.pk], "post": "yes"}),
        (reverse("admin:supertokens_django_session_revoke", args=(session.pk,)), {}),
        (reverse("admin:supertokens_django_session_revoke_user", args=(str(user.pk),)), {}),
    ):
        response = non_staff_client.post(url, data)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert Session.objects.filter(pk=session.pk).exists()


# --------------------------------------------------------------------------- the user's page


def test_from_the_user_page_in_two_clicks(
    admin_client: Client,
    user: Any,
    other_user: Any,
    make_session: MakeSession,
    revoked_signals: list[Any],
) -> None:
    mine = {str(make_session(user).pk) for _ in range(2)}
    theirs = make_session(other_user)
    user_page = reverse("admin:auth_user_change", args=(user.pk,))

    page = html(admin_client.get(user_page))
    assert 'id="st-user-sessions"' in page
    assert "2 active sessions." in page
    assert all(handle in page for handle in mine) and str(theirs.pk) not in page
    listing = reverse(SESSIONS) + f"?subject={user.pk}"
    assert f'href="{listing}"' in page
    revoke_all = page.split('id="st-user-sessions-revoke"')[0].rsplit('href="', 1)[1].split('"')[0]
    revoke_all = revoke_all.replace("&amp;", "&")

    # Click 1: "Revoke all sessions" opens the confirmation.
    confirmation = html(admin_client.get(revoke_all))
    assert all(handle in confirmation for handle in mine)
    assert str(theirs.pk) not in confirmation
    # Click 2: "Yes, revoke"; back to the user's page.
    next_url = confirmation.split('name="next" value="')[1].split('"')[0]
    response = admin_client.post(revoke_all, {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == user_page
    assert_revoked_by_admin(mine, "admin", revoked_signals)
    assert Session.objects.filter(pk=theirs.pk).exists()
    assert "0 active sessions." in html(admin_client.get(user_page))


def test_user_page_and_confirmation_rows_are_compact(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cells of the sessions list, so that both pages fit a laptop's screen: the user's page
    shortens the handle (whole in its title), the confirmation lists it whole."""
    session = make_session(
        user, ip="2001:db8::1", created_at=WHEN - timedelta(days=3), expires_at=WHEN + 13 * HOUR
    )
    monkeypatch.setattr(timezone, "now", lambda: WHEN)
    handle = str(session.pk)
    change = reverse("admin:supertokens_django_session_change", args=(handle,))
    client = (
        f'<td><span class="st-device" title="{CHROME_MAC}">Chrome 120 on Mac OS X 10.15</span>'
        '<span class="st-ip">2001:<wbr>db8::<wbr>1</span></td>'
    )
    created = 'title="March 12, 2024, noon">created 3\xa0days ago</time>'

    page = html(admin_client.get(reverse("admin:auth_user_change", args=(user.pk,))))
    assert f'<td><a href="{change}" title="{handle}">{handle[:8]}</a></td>' in page
    assert client in page and created in page
    assert 'title="March 16, 2024, 1 a.m.">in 13\xa0hours</time></td>' in page

    page = html(
        admin_client.get(reverse("admin:supertokens_django_session_revoke", args=(handle,)))
    )
    assert f'<td><a href="{change}">{handle}</a></td>' in page
    assert client in page and created in page
    assert '<span class="st-line">Active</span>' in page
    assert 'title="March 16, 2024, 1 a.m.">expires in 13\xa0hours</time></td>' in page


def test_user_filtered_list_offers_revoke_all(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    make_session(user)
    page = html(admin_client.get(reverse(SESSIONS), {"subject": str(user.pk)}))
    url = reverse("admin:supertokens_django_session_revoke_user", args=(str(user.pk),))
    assert f'<a href="{url}" class="st-revoke-user" id="st-revoke-user">' in page


def test_user_page_still_saves(admin_client: Client, user: Any, make_session: MakeSession) -> None:
    session = make_session(user)
    user_page = reverse("admin:auth_user_change", args=(user.pk,))
    form = html(admin_client.get(user_page))
    assert 'name="supertokens_sessions-TOTAL_FORMS" value="0"' in form
    engine.revoke_session(str(session.pk))  # revoked while the admin edits the user
    data = {
        "username": "alice2",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "supertokens_sessions-TOTAL_FORMS": "0",
        "supertokens_sessions-INITIAL_FORMS": "0",
        "supertokens_sessions-MIN_NUM_FORMS": "0",
        "supertokens_sessions-MAX_NUM_FORMS": "0",
    }
    response = admin_client.post(user_page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.username == "alice2"


def test_user_pages_without_session_permissions(user: Any, make_session: MakeSession) -> None:
    make_session(user)
    user_page = reverse("admin:auth_user_change", args=(user.pk,))
    only_users = staff_client("users-only", "view_user")
    assert "st-user-sessions" not in html(only_users.get(user_page))
    viewer = staff_client("session-viewer", "view_user", "view_session")
    page = html(viewer.get(user_page))
    assert "1 active session." in page and "st-user-sessions-revoke" not in page


def test_not_on_the_add_user_page(admin_client: Client) -> None:
    assert "st-user-sessions" not in html(admin_client.get(reverse("admin:auth_user_add")))


def test_attaches_to_a_custom_user_admin(
    admin_client: Client, user: Any, make_session: Any
) -> None:
    """A project's own UserAdmin, registered after ours, gets the inline (and keeps its own)."""

    class ProjectInline(admin.TabularInline):  # type: ignore[type-arg]
        model = Session
        fk_name = "user"
        fields = ("ip_address",)
        readonly_fields = ("ip_address",)

    class ProjectUserAdmin(UserAdmin):  # type: ignore[type-arg]
        inlines = [ProjectInline]

    original = admin.site._registry[User]
    admin.site.unregister(User)
    admin.site.register(User, ProjectUserAdmin)
    try:
        assert attach_to_user_admin(admin.site)
        assert attach_to_user_admin(admin.site)  # idempotent
        custom = admin.site._registry[User]
        assert custom.inlines == [ProjectInline, UserSessionsInline]
        assert ProjectUserAdmin.inlines == [ProjectInline]  # the class is untouched
        make_session(user)
        assert 'id="st-user-sessions"' in html(
            admin_client.get(reverse("admin:auth_user_change", args=(user.pk,)))
        )
    finally:
        admin.site.unregister(User)
        admin.site._registry[User] = original


def test_not_attached_where_sessions_are_not_registered() -> None:
    site = admin.AdminSite(name="other")
    assert not attach_to_user_admin(site)
    site.register(User, UserAdmin)
    assert not attach_to_user_admin(site)
    assert site._registry[User].inlines == UserAdmin.inlines


def test_attached_on_the_first_request(admin_client: Client) -> None:
    admin_client.get(reverse("admin:index"))
    assert UserSessionsInline in admin.site._registry[User].inlines
