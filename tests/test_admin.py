"""The admin: sessions list (columns, filters, search, overview, cost), session page, blacklist,
signing keys, and that no token hash or key material reaches any page.

Revocation (actions, buttons, the user's page, permissions to revoke) is in test_admin_revoke.py;
the fixtures below are shared with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from supertokens_django import engine
from supertokens_django.admin import search
from supertokens_django.admin.device import describe_device
from supertokens_django.engine import RequestMeta
from supertokens_django.exceptions import TokenTheftDetected
from supertokens_django.keys import FORCED_KEY_NOTICE, keyring
from supertokens_django.models import RevocationReason, RevokedSession, Session, SigningKey

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keyring")]

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SESSIONS = "admin:supertokens_django_session_changelist"
REVOKED = "admin:supertokens_django_revokedsession_changelist"
KEYS = "admin:supertokens_django_signingkey_changelist"
User = get_user_model()


# --------------------------------------------------------------------------- shared fixtures

MakeSession = Callable[..., Session]


@pytest.fixture
def make_session() -> MakeSession:
    """A session created by the engine; dates may then be moved for the test's scenario."""

    def make(
        user: Any,
        *,
        ip: str | None = "203.0.113.7",
        user_agent: str = CHROME_MAC,
        data: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        created_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> Session:
        tokens = engine.create_session(
            user,
            session_data=data,
            jwt_payload=payload,
            meta=RequestMeta(ip_address=ip, user_agent=user_agent),
        )
        handle = tokens.session.get_handle()
        moved = {k: v for k, v in {"created_at": created_at, "expires_at": expires_at}.items() if v}
        if moved:
            Session.objects.filter(pk=handle).update(**moved)
        return Session.objects.get(pk=handle)

    return make


def staff_client(username: str, *codenames: str) -> Client:
    """A logged-in staff user holding exactly the permissions ``codenames``."""
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


VIEW_ALL = ("view_session", "view_revokedsession", "view_signingkey", "view_user")


@pytest.fixture
def viewer_client() -> Client:
    """Staff with view permissions only: may look, may not revoke or rotate."""
    return staff_client("viewer", *VIEW_ALL)


@pytest.fixture
def non_staff_client(other_user: Any) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


def html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed(response: Any) -> set[str]:
    """Handles of the sessions on a changelist page."""
    return {str(obj.pk) for obj in response.context["cl"].result_list}


# --------------------------------------------------------------------------- columns


def test_changelist_columns(admin_client: Client, user: Any, make_session: MakeSession) -> None:
    active = make_session(user, ip="198.51.100.4")
    expired = make_session(
        user, user_agent=FIREFOX_LINUX, expires_at=timezone.now() - timedelta(minutes=1)
    )
    bare = make_session("external-42", ip=None, user_agent="")

    page = html(admin_client.get(reverse(SESSIONS)))

    # Five columns, so that the list fits a 1280-pixel screen with both sidebars open.
    columns = ("session", "user_link", "client", "activity", "state")
    assert page.count('<th scope="col" class="') == len(columns) + 1  # and the checkboxes
    for column in columns:
        assert f"column-{column}" in page
    change_url = reverse("admin:supertokens_django_session_change", args=(active.pk,))
    assert f'<a href="{change_url}">{str(active.pk)[:8]}</a>' in page
    user_url = reverse("admin:auth_user_change", args=(user.pk,))
    assert f'<a href="{user_url}">alice</a>' in page
    # The device, the whole user agent on hover, and the IP address under it.
    assert (
        f'<td class="field-client"><span class="st-device" title="{CHROME_MAC}">'
        'Chrome 120 on Mac OS X 10.15</span><span class="st-ip">198.51.100.4</span></td>'
    ) in page
    assert "Firefox 121 on Linux" in page
    rows = {str(s.pk): s for s in admin_client.get(reverse(SESSIONS)).context["cl"].result_list}
    assert set(rows) == {str(active.pk), str(expired.pk), str(bare.pk)}
    site = admin.site._registry[Session]
    assert ">Active</span>" in site.state(rows[str(active.pk)])
    assert ">Expired</span>" in site.state(rows[str(expired.pk)])
    assert site.status(rows[str(active.pk)]) == "Active"  # the session's page
    assert site.status(rows[str(expired.pk)]) == "Expired"
    assert site.user_link(rows[str(bare.pk)]) == "external-42"  # a bare user id: no link
    assert site.device(rows[str(bare.pk)]) == "-"
    # No user agent, no IP address: a dash, and no empty line for the address.
    assert site.client(rows[str(bare.pk)]) == '<span class="st-device">-</span>'


def test_user_column_without_registered_user_admin(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_session(user)
    monkeypatch.delitem(admin.site._registry, User)
    page = html(admin_client.get(reverse(SESSIONS)))
    assert ">alice</td>" in page
    assert "/admin/auth/user/" not in page


def test_user_column_when_the_user_admin_has_no_change_view(
    user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.urls import NoReverseMatch

    from supertokens_django.admin import display

    session = Session.objects.select_related("user").get(pk=make_session(user).pk)

    def no_route(*args: Any, **kwargs: Any) -> str:
        raise NoReverseMatch

    monkeypatch.setattr(display, "reverse", no_route)
    assert display.user_link(admin.site, session) == "alice"


def test_changelist_sorts_by_indexed_columns_only(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    now = timezone.now()
    older = make_session(user, created_at=now - timedelta(days=2), expires_at=now + HOUR)
    newer = make_session(user, created_at=now - timedelta(days=1), expires_at=now + 2 * HOUR)
    cl = admin_client.get(reverse(SESSIONS)).context["cl"]
    assert set(cl.sortable_by) == {"activity", "state"}
    assert cl.show_full_result_count is False

    def order(sort: str) -> list[str]:
        cl = admin_client.get(reverse(SESSIONS), {"o": sort}).context["cl"]
        return [str(s.pk) for s in cl.result_list]

    # "created / last active" sorts on created_at, "status" on expires_at (both indexed).
    assert cl.list_display.index("activity") == 4 and cl.list_display.index("state") == 5
    assert admin.site._registry[Session].activity.admin_order_field == "created_at"
    assert admin.site._registry[Session].state.admin_order_field == "expires_at"
    assert order("4") == [str(older.pk), str(newer.pk)]
    assert order("-5") == [str(newer.pk), str(older.pk)]
    assert order("2") == order("")  # the user column: not sortable, the default order


HOUR = timedelta(hours=1)
WHEN = datetime(2024, 3, 15, 12, 0, tzinfo=dt_timezone.utc)


def test_created_and_last_active_in_one_column(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative times that stay short; the full dates, as the admin writes them, in titles."""
    session = make_session(user, created_at=WHEN - timedelta(days=3), expires_at=WHEN + 13 * HOUR)
    Session.objects.filter(pk=session.pk).update(last_active_at=WHEN - 2 * HOUR)
    monkeypatch.setattr(timezone, "now", lambda: WHEN)

    page = html(admin_client.get(reverse(SESSIONS)))

    assert (
        '<td class="field-activity">'
        '<time class="st-line" datetime="2024-03-12T12:00:00+00:00" '
        'title="March 12, 2024, noon">created 3\xa0days ago</time>'
        '<time class="st-line" datetime="2024-03-15T10:00:00+00:00" '
        'title="March 15, 2024, 10 a.m.">active 2\xa0hours ago</time></td>'
    ) in page
    assert (
        '<td class="field-state"><span class="st-line">Active</span>'
        '<time class="st-line st-quiet" datetime="2024-03-16T01:00:00+00:00" '
        'title="March 16, 2024, 1 a.m.">expires in 13\xa0hours</time></td>'
    ) in page

    monkeypatch.setattr(timezone, "now", lambda: WHEN + timedelta(days=2))
    page = html(admin_client.get(reverse(SESSIONS)))
    assert "created 5\xa0days ago</time>" in page
    assert '<span class="st-line">Expired</span>' in page
    assert 'title="March 16, 2024, 1 a.m.">1\xa0day ago</time>' in page


def test_full_dates_in_the_current_time_zone(
    admin_client: Client, user: Any, make_session: MakeSession, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    make_session(user, created_at=WHEN)
    assert 'title="March 15, 2024, 1 p.m."' in html(admin_client.get(reverse(SESSIONS)))


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (WHEN, "just now"),
        (WHEN - timedelta(seconds=59), "just now"),
        (WHEN - timedelta(minutes=1), "1\xa0minute ago"),
        (WHEN - timedelta(days=13), "1\xa0week ago"),  # the largest unit only
        (WHEN - timedelta(days=400), "1\xa0year ago"),
        (WHEN + timedelta(seconds=59), "in under a minute"),
        (WHEN + 3 * HOUR, "in 3\xa0hours"),
        (WHEN + timedelta(days=100), "in 3\xa0months"),
    ],
)
def test_relative_time(moment: datetime, text: str) -> None:
    from supertokens_django.admin import display

    assert display.relative_time(moment, WHEN) == text


def test_full_date_without_time_zones(settings: Any) -> None:
    from supertokens_django.admin import display

    settings.USE_TZ = False
    naive = WHEN.replace(tzinfo=None)
    assert display.moment(naive, "now") == (
        '<time class="st-line" datetime="2024-03-15T12:00:00" title="March 15, 2024, noon">'
        "now</time>"
    )


def test_ipv6_addresses_may_wrap_between_groups(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    make_session(user, ip="2001:db8:ffff:ffff:ffff:ffff:ffff:1")
    make_session(user, ip="2001:db8::1")
    page = html(admin_client.get(reverse(SESSIONS)))
    assert '<span class="st-ip">2001:<wbr>db8:<wbr>ffff:<wbr>ffff:<wbr>ffff:<wbr>' in page
    assert '<span class="st-ip">2001:<wbr>db8::<wbr>1</span>' in page
    # Searching for the address as it reads still finds it: <wbr> is no character.
    assert len(listed(admin_client.get(reverse(SESSIONS), {"q": "2001:db8::1"}))) == 1


HOSTILE_USER_AGENT = '"><script>alert(1)</script><b x="'


def test_hostile_user_agent_is_escaped_everywhere(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    """The list, the user's page and the confirmation: the label and its title, escaped."""
    session = make_session(user, user_agent=HOSTILE_USER_AGENT)
    assert describe_device(HOSTILE_USER_AGENT) == HOSTILE_USER_AGENT  # no browser: shown raw
    escaped = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b x=&quot;"
    for url in (
        reverse(SESSIONS),
        reverse("admin:auth_user_change", args=(user.pk,)),
        reverse("admin:supertokens_django_session_revoke", args=(session.pk,)),
        reverse("admin:supertokens_django_session_revoke_user", args=(str(user.pk),)),
    ):
        page = html(admin_client.get(url))
        assert "<script>alert(1)" not in page, url
        assert f'<span class="st-device" title="{escaped}">{escaped}</span>' in page, url


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (CHROME_MAC, "Chrome 120 on Mac OS X 10.15"),
        (FIREFOX_LINUX, "Firefox 121 on Linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Mobile Safari 17 on iOS 17.2",
        ),
        ("python-requests/2.31", "Python Requests 2"),
        ("SomeInternalTool (Windows NT 10.0; Win64; x64)", "Windows 10"),  # no known browser
        ("x" * 100, "x" * 39 + "…"),
        ("", ""),
    ],
)
def test_device_label(user_agent: str, label: str) -> None:
    assert describe_device(user_agent) == label


def test_device_label_without_ua_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    from supertokens_django.admin import device

    monkeypatch.setattr(device, "ua_parser", None)
    assert describe_device(CHROME_MAC) == CHROME_MAC[:39] + "…"


# --------------------------------------------------------------------------- filters


def test_status_filter(admin_client: Client, user: Any, make_session: MakeSession) -> None:
    active = make_session(user)
    expired = make_session(user, expires_at=timezone.now() - timedelta(seconds=1))
    url = reverse(SESSIONS)
    assert listed(admin_client.get(url, {"status": "active"})) == {str(active.pk)}
    assert listed(admin_client.get(url, {"status": "expired"})) == {str(expired.pk)}
    assert listed(admin_client.get(url)) == {str(active.pk), str(expired.pk)}


def test_has_user_filter(admin_client: Client, user: Any, make_session: MakeSession) -> None:
    with_user = make_session(user)
    bare = make_session("external-42")
    url = reverse(SESSIONS)
    assert listed(admin_client.get(url, {"has_user": "yes"})) == {str(with_user.pk)}
    assert listed(admin_client.get(url, {"has_user": "no"})) == {str(bare.pk)}


def test_date_hierarchy_on_created(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    now = timezone.now()
    old = make_session(user, created_at=now - timedelta(days=800))
    new = make_session(user)
    url = reverse(SESSIONS)
    response = admin_client.get(url)
    dates = response.context["cl"].st_date_hierarchy
    # Every year from the first session's to the last one's: MIN/MAX, no DISTINCT scan.
    years = list(range(old.created_at.year, new.created_at.year + 1))
    assert [c["title"] for c in dates["choices"]] == [str(y) for y in years]
    assert f'href="?created_at__year={years[0]}"' in html(response)

    response = admin_client.get(url, {"created_at__year": str(old.created_at.year)})
    assert listed(response) == {str(old.pk)}
    dates = response.context["cl"].st_date_hierarchy
    assert dates["back"]["title"] == "All dates"
    assert len(dates["choices"]) == 1  # the one month with a session that year

    day = {
        "created_at__year": str(new.created_at.year),
        "created_at__month": str(new.created_at.month),
        "created_at__day": str(new.created_at.day),
    }
    response = admin_client.get(url, day)
    assert listed(response) == {str(new.pk)}
    dates = response.context["cl"].st_date_hierarchy
    assert dates["back"]["title"] == new.created_at.strftime("%B %Y")
    assert "link" not in dates["choices"][0]


def test_date_hierarchy_drills_down_by_itself(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    """Like Django's: one year only -> its months; one month only -> its days."""
    start = timezone.localtime().replace(day=1, hour=12)
    make_session(user, created_at=start)
    make_session(user, created_at=start + timedelta(days=2))
    dates = admin_client.get(reverse(SESSIONS)).context["cl"].st_date_hierarchy
    assert dates["back"]["title"] == str(start.year)
    assert [c["link"] for c in dates["choices"]] == [
        f"?created_at__day={d}&created_at__month={start.month}&created_at__year={start.year}"
        for d in (1, 2, 3)
    ]


def test_date_hierarchy_of_an_empty_list(admin_client: Client) -> None:
    dates = admin_client.get(reverse(SESSIONS)).context["cl"].st_date_hierarchy
    assert dates == {"show": True, "back": None, "choices": []}


def test_count_is_exact_up_to_the_limit_then_estimated(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supertokens_django.admin import changelist

    for _ in range(4):
        make_session(user)
    monkeypatch.setattr(changelist, "EXACT_COUNT_LIMIT", 4)
    response = admin_client.get(reverse(SESSIONS))
    assert response.context["cl"].result_count == 4
    assert 'id="st-estimated-count"' not in html(response)

    make_session(user)
    response = admin_client.get(reverse(SESSIONS))
    cl = response.context["cl"]
    if connection.vendor == "postgresql":
        # The LIMIT-ed count stopped at 5; the number shown is the planner's (at least 5).
        assert cl.paginator.estimated
        assert cl.result_count >= 5
        assert 'id="st-estimated-count"' in html(response)
    else:
        assert not cl.paginator.estimated
        assert cl.result_count == 5
    assert len(listed(response)) == 5


def test_overview_counts_are_exact_up_to_the_limit_then_estimated(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supertokens_django.admin import changelist

    for _ in range(5):
        make_session(user)
    monkeypatch.setattr(changelist, "EXACT_COUNT_LIMIT", 4)

    response = admin_client.get(reverse(SESSIONS))

    overview = response.context["st_overview"]
    assert (overview.active_users, overview.thefts_recently) == (1, 0)  # under the limit: exact
    if connection.vendor == "postgresql":
        # The LIMIT-ed counts stopped at 5; the numbers shown are the planner's (at least 5).
        assert overview.estimated
        assert overview.active_sessions >= 5 and overview.created_recently >= 5
        assert 'id="st-overview-estimated"' in html(response)
    else:
        assert not overview.estimated
        assert (overview.active_sessions, overview.created_recently) == (5, 5)
        assert 'id="st-overview-estimated"' not in html(response)


def test_filtered_by_user_id(
    admin_client: Client, user: Any, other_user: Any, make_session: MakeSession
) -> None:
    mine = make_session(user)
    make_session(other_user)
    response = admin_client.get(reverse(SESSIONS), {"subject": str(user.pk)})
    assert listed(response) == {str(mine.pk)}


# --------------------------------------------------------------------------- search


@pytest.fixture
def searchable(user: Any, other_user: Any, make_session: MakeSession) -> dict[str, Session]:
    user.email = "alice@example.com"
    user.save(update_fields=["email"])
    return {
        "alice": make_session(user, ip="198.51.100.4"),
        "bob": make_session(other_user, ip="2001:db8::1"),
        "bare": make_session("external-42", ip="192.0.2.9"),
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("alice", {"alice"}),  # username
        ("  alice  ", {"alice"}),
        ("alice@example.com", {"alice"}),  # email
        ("ALICE@EXAMPLE.COM", {"alice"}),  # email, as stored in lower case
        ("external-42", {"bare"}),  # a user id without a user row
        ("198.51.100.4", {"alice"}),  # IPv4
        ("2001:DB8:0::1", {"bob"}),  # IPv6, any spelling
        ("ali", set()),  # exact matches only: no prefix scan
        ("203.0.113.250", set()),
    ],
)
def test_search(
    admin_client: Client, searchable: dict[str, Session], term: str, expected: set[str]
) -> None:
    response = admin_client.get(reverse(SESSIONS), {"q": term})
    assert listed(response) == {str(searchable[name].pk) for name in expected}


def test_search_by_user_id_and_handle(
    admin_client: Client, user: Any, searchable: dict[str, Session]
) -> None:
    url = reverse(SESSIONS)
    assert listed(admin_client.get(url, {"q": str(user.pk)})) == {str(searchable["alice"].pk)}
    handle = str(searchable["bob"].pk)
    assert listed(admin_client.get(url, {"q": handle})) == {handle}
    assert listed(admin_client.get(url, {"q": handle.upper()})) == {handle}


def test_search_never_joins_the_user_table(searchable: dict[str, Session]) -> None:
    """The user table is asked once, alone; the session query stays on its own indexes."""
    with CaptureQueriesContext(connection) as queries:
        rows = list(search.search_sessions(Session.objects.all(), "alice", ip_field="ip_address"))
    assert [str(r.pk) for r in rows] == [str(searchable["alice"].pk)]
    session_table = Session._meta.db_table
    user_table = User._meta.db_table
    session_sql = [q["sql"] for q in queries.captured_queries if session_table in q["sql"]]
    assert len(session_sql) == 1
    assert user_table not in session_sql[0]
    assert " LIKE " not in session_sql[0].upper()


def test_search_with_a_user_model_without_email(
    searchable: dict[str, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(User, "EMAIL_FIELD", "no_such_field")
    assert search.matching_user_ids("alice@example.com") == []
    assert search.matching_user_ids("alice") == [str(searchable["alice"].subject)]


def test_search_help_text_says_exact(admin_client: Client, user: Any, make_session: Any) -> None:
    make_session(user)
    page = html(admin_client.get(reverse(SESSIONS)))
    assert "Exact match on a user id, username, email address, IP address or session handle" in page


# --------------------------------------------------------------------------- overview


def detect_theft(user: Any) -> str:
    """A real theft detection: a superseded refresh token is used again."""
    first = engine.create_session(user)
    child = engine.refresh_session(first.refresh_token.token)
    engine.refresh_session(child.refresh_token.token)  # promotes the child
    with pytest.raises(TokenTheftDetected):
        engine.refresh_session(first.refresh_token.token)
    return first.session.get_handle()


def test_overview(
    admin_client: Client, user: Any, other_user: Any, make_session: MakeSession
) -> None:
    now = timezone.now()
    make_session(user)
    make_session(user)
    make_session(other_user, created_at=now - timedelta(days=2))
    make_session("external-42", expires_at=now - timedelta(seconds=1))  # expired
    detect_theft(user)
    old_theft = detect_theft(other_user)
    RevokedSession.objects.filter(handle=old_theft).update(revoked_at=now - timedelta(days=8))
    engine.revoke_session(str(make_session(user).pk))  # a revocation, not a theft

    response = admin_client.get(reverse(SESSIONS))
    page = html(response)

    overview = response.context["st_overview"]
    assert overview.active_sessions == 3
    assert overview.active_users == 2
    assert overview.created_recently == 3  # the two of alice and the expired one
    assert overview.thefts_recently == 1
    assert '<td id="st-overview-active">3</td>' in page
    assert '<td id="st-overview-users">2</td>' in page
    assert '<td id="st-overview-recent">3</td>' in page
    thefts_url = reverse(REVOKED) + "?reason__exact=theft"
    assert f'<a href="{thefts_url}">1</a>' in page


def test_overview_without_the_revoked_sessions_admin(
    admin_client: Client, user: Any, make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    detect_theft(user)
    monkeypatch.delitem(admin.site._registry, RevokedSession)
    page = html(admin_client.get(reverse(SESSIONS)))
    assert 'icon-alert.svg" alt="" width="14" height="14"> 1</strong>' in page


def test_overview_costs_four_queries(user: Any, make_session: MakeSession) -> None:
    from supertokens_django.admin import overview

    make_session(user)
    with CaptureQueriesContext(connection) as queries:
        overview.compute(timezone.now())
    assert len(queries) == 4


# --------------------------------------------------------------------------- cost


def changelist_queries(client: Client, **params: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(SESSIONS), params)
        html(response)
    return len(queries)


# Per page, counted at the client (no transaction, so no savepoints): the admin's session and
# user (2), the overview (4), the count (1), the rows (1) and the date hierarchy's MIN/MAX (1).
# A search adds its user lookup; a staff user who is not a superuser adds the two permission
# queries of ModelBackend. With more than 10,000 rows PostgreSQL adds its EXPLAIN (estimate).
BASE_QUERIES = 9
PERMISSION_QUERIES = 2
YEAR = str(timezone.now().year)


@pytest.mark.parametrize(
    ("params", "extra"),
    [
        ({}, 0),
        ({"status": "active"}, 0),
        ({"has_user": "yes"}, 0),
        ({"created_at__year": YEAR}, 0),
        ({"q": "203.0.113.7"}, 1),  # every session has this IP address
        ({"q": "user-3"}, 1),
        ({"o": "5"}, 0),  # sorted by expiry (the status column)
    ],
    ids=["default", "status", "has-user", "date", "search-ip", "search-username", "sorted"],
)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client: Client,
    viewer_client: Client,
    make_session: MakeSession,
    params: dict[str, str],
    extra: int,
) -> None:
    """5 sessions or 50, each of its own user, all on one page: the same queries."""

    def add(count: int) -> None:
        for _ in range(count):
            user = User.objects.create_user(username=f"user-{User.objects.count()}")
            make_session(user, user_agent=f"{CHROME_MAC} {user.pk}")

    def count(client: Client) -> int:
        with CaptureQueriesContext(connection) as queries:
            html(client.get(reverse(SESSIONS), params))
        return len(queries)

    add(5)
    assert count(admin_client) == BASE_QUERIES + extra
    assert count(viewer_client) == BASE_QUERIES + extra + PERMISSION_QUERIES
    add(45)
    assert len(admin_client.get(reverse(SESSIONS)).context["cl"].result_list) == 50
    assert count(admin_client) == BASE_QUERIES + extra
    assert count(viewer_client) == BASE_QUERIES + extra + PERMISSION_QUERIES


# --------------------------------------------------------------------------- the session page


def test_session_page_is_read_only_with_pretty_json(
    admin_client: Client, viewer_client: Client, user: Any, make_session: MakeSession
) -> None:
    session = make_session(
        user,
        data={"cart": [1, 2], "note": "<script>alert(1)</script>", "é": True},
        payload={"role": "editor"},
    )
    url = reverse("admin:supertokens_django_session_change", args=(session.pk,))
    for client in (admin_client, viewer_client):
        response = client.get(url)
        page = html(response)
        assert '<pre class="st-json">{\n  &quot;cart&quot;: [\n    1,\n    2\n  ],' in page
        assert "&quot;note&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page
        assert "&quot;é&quot;: true" in page
        assert '<pre class="st-json">{\n  &quot;role&quot;: &quot;editor&quot;\n}</pre>' in page
        for label in (
            "Handle",
            "User id",
            "Device",
            "User agent",
            "IP address",
            "Created",
            "Last active",
            "Expires",
            "Session data",
            "JWT payload",
        ):
            assert f"<label>{label}:</label>" in page
        assert not response.context["adminform"].form.fields  # every field read-only
        assert 'name="_save"' not in page
        assert "/delete/" not in page
    assert admin_client.post(url, {"subject": "mallory"}).status_code == 403
    assert Session.objects.get(pk=session.pk).subject == str(user.pk)


def test_nobody_adds_sessions(admin_client: Client) -> None:
    assert admin_client.get(reverse("admin:supertokens_django_session_add")).status_code == 403


def test_non_staff_sees_login_page(non_staff_client: Client, user: Any, make_session: Any) -> None:
    session = make_session(user)
    urls = [
        reverse(SESSIONS),
        reverse("admin:supertokens_django_session_change", args=(session.pk,)),
        reverse(REVOKED),
        reverse(KEYS),
    ]
    for url in urls:
        response = non_staff_client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_view_permission_is_refused(user: Any, make_session: Any) -> None:
    client = staff_client("nobody")
    assert client.get(reverse(SESSIONS)).status_code == 403
    session = make_session(user)
    url = reverse("admin:supertokens_django_session_change", args=(session.pk,))
    assert client.get(url).status_code == 403


# --------------------------------------------------------------------------- revoked sessions


def test_revoked_sessions_list(
    admin_client: Client, viewer_client: Client, user: Any, other_user: Any, make_session: Any
) -> None:
    theft = detect_theft(user)
    by_admin = str(make_session(other_user).pk)
    engine.revoke_session(by_admin, reason=RevocationReason.ADMIN, revoked_by="root")
    engine.revoke_session(str(make_session(user).pk), reason=RevocationReason.LOGOUT)

    response = viewer_client.get(reverse(REVOKED))
    page = html(response)
    for column in ("handle", "user_link", "reason_label", "revoked_at", "revoked_by", "expires_at"):
        assert f"column-{column}" in page
    assert page.count('class="st-theft"') == 1
    assert "token theft detected" in page
    assert "revoked by an admin" in page and ">root<" in page
    assert "signed out" in page
    assert theft in page
    assert f'<a href="{reverse("admin:auth_user_change", args=(user.pk,))}">alice</a>' in page

    def handles(**params: str) -> set[str]:
        cl = viewer_client.get(reverse(REVOKED), params).context["cl"]
        return {str(r.handle) for r in cl.result_list}

    assert handles(reason__exact="theft") == {theft}
    assert handles(q=by_admin) == {by_admin}
    assert handles(q="bob") == {by_admin}
    assert len(handles(q="alice")) == 2


def test_revoked_sessions_are_read_only(admin_client: Client, user: Any) -> None:
    detect_theft(user)
    record = RevokedSession.objects.get()
    change = reverse("admin:supertokens_django_revokedsession_change", args=(record.pk,))
    page = html(admin_client.get(change))
    assert 'name="_save"' not in page
    assert "st-theft" in page
    assert admin_client.post(change, {"reason": "logout"}).status_code == 403
    delete = reverse("admin:supertokens_django_revokedsession_delete", args=(record.pk,))
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert (
        admin_client.get(reverse("admin:supertokens_django_revokedsession_add")).status_code == 403
    )
    assert RevokedSession.objects.get().reason == RevocationReason.THEFT


# --------------------------------------------------------------------------- signing keys


def test_signing_keys_list(admin_client: Client, viewer_client: Client, user: Any) -> None:
    engine.create_session(user)  # creates the first key
    first = SigningKey.objects.get()
    response = viewer_client.get(reverse(KEYS))
    page = html(response)
    for column in (
        "kid",
        "algorithm",
        "generation",
        "state",
        "created_at",
        "signs_from",
        "signs_until",
        "verifies_until",
    ):
        assert f"column-{column}" in page
    assert first.kid in page and "RS256" in page and "Signing" in page
    assert "st-rotate-key" not in page  # the viewer may not rotate
    assert "st-rotate-key" in html(admin_client.get(reverse(KEYS)))
    change = reverse("admin:supertokens_django_signingkey_change", args=(first.kid,))
    page = html(viewer_client.get(change))
    assert "Signs until" in page and "Verifies until" in page
    assert admin_client.get(reverse("admin:supertokens_django_signingkey_add")).status_code == 403
    delete = reverse("admin:supertokens_django_signingkey_delete", args=(first.kid,))
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_rotate_now(admin_client: Client, user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.create_session(user)
    old = SigningKey.objects.get()
    rotate = reverse("admin:supertokens_django_signingkey_rotate")

    page = html(admin_client.get(rotate))
    assert 'id="st-rotate-confirm"' in page
    assert SigningKey.objects.count() == 1

    response = admin_client.post(rotate)
    assert response.status_code == 302
    new = SigningKey.objects.exclude(pk=old.pk).get()
    assert new.generation == old.generation + 1
    assert new.signs_from == new.created_at + FORCED_KEY_NOTICE
    assert keyring.signing_material(new.signs_from).kid == new.kid
    page = html(admin_client.get(reverse(KEYS)))
    assert f"Key {new.kid} is published and signs new access tokens in 2 seconds." in page

    def states() -> dict[str, str]:
        return {
            k.kid: admin.site._registry[SigningKey].state(k)
            for k in admin_client.get(reverse(KEYS)).context["cl"].result_list
        }

    assert states() == {new.kid: "Announced", old.kid: "Signing"}
    signing = new.signs_from
    monkeypatch.setattr(timezone, "now", lambda: signing)
    assert states() == {new.kid: "Signing", old.kid: "Verifies only"}


def test_key_states(admin_client: Client, settings: Any) -> None:
    now = timezone.now()
    hour = timedelta(hours=1)

    def key(kid: str, generation: int, start: datetime, **overrides: Any) -> SigningKey:
        fields = {
            "algorithm": "RS256",
            "signs_from": start,
            "signs_until": start + 2 * hour,
            "verifies_until": start + 4 * hour,
            **overrides,
        }
        return SigningKey.objects.create(
            kid=kid, generation=generation, private_key="v1:", **fields
        )

    key("retired", 1, now - 10 * hour)
    key("old", 2, now - 3 * hour)
    key("current", 3, now - hour)
    key("next", 4, now + hour)
    key("other", 5, now - hour, algorithm="ES256")
    model_admin = admin.site._registry[SigningKey]
    rows = admin_client.get(reverse(KEYS)).context["cl"].result_list
    assert {k.kid: model_admin.state(k) for k in rows} == {
        "retired": "Retired",
        "old": "Verifies only",
        "current": "Signing",
        "next": "Announced",
        "other": "Unused (other algorithm or a static key)",
    }


def test_rotate_when_the_database_fails(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supertokens_django.exceptions import ServiceUnavailable

    def fail(*args: Any, **kwargs: Any) -> None:
        raise ServiceUnavailable("down")

    monkeypatch.setattr(keyring, "ensure_keys", fail)
    response = admin_client.post(reverse("admin:supertokens_django_signingkey_rotate"), follow=True)
    assert "The database is unavailable: no key was created." in html(response)


def test_rotate_action_leads_to_the_confirmation(admin_client: Client, user: Any) -> None:
    engine.create_session(user)
    key = SigningKey.objects.get()
    response = admin_client.post(
        reverse(KEYS), {"action": "rotate_now", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:supertokens_django_signingkey_rotate")
    assert SigningKey.objects.count() == 1


def test_rotate_needs_permission(viewer_client: Client, user: Any) -> None:
    engine.create_session(user)
    key = SigningKey.objects.get()
    rotate = reverse("admin:supertokens_django_signingkey_rotate")
    assert viewer_client.get(rotate).status_code == 403
    assert viewer_client.post(rotate).status_code == 403
    response = viewer_client.post(
        reverse(KEYS), {"action": "rotate_now", "_selected_action": [key.pk]}
    )
    assert response.status_code == 200  # "No action selected."
    assert SigningKey.objects.count() == 1


def test_rotate_with_a_static_key(admin_client: Client, settings: Any) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "k" * 32}
    page = html(admin_client.get(reverse(KEYS)))
    assert "st-rotate-key" not in page
    assert "STATIC_SIGNING_KEY" in page
    response = admin_client.post(reverse("admin:supertokens_django_signingkey_rotate"))
    assert response.status_code == 302
    assert not SigningKey.objects.exists()


# --------------------------------------------------------------------------- no secrets anywhere


def test_no_token_hash_or_key_material_on_any_page(
    admin_client: Client, user: Any, make_session: MakeSession
) -> None:
    tokens = engine.create_session(user, session_data={"x": 1})
    session = Session.objects.get(pk=tokens.session.get_handle())
    detect_theft(user)
    keyring.ensure_keys(timezone.now(), force=True)
    record = RevokedSession.objects.get()
    keys = list(SigningKey.objects.all())
    secrets = [
        session.refresh_token_hash_2,
        tokens.refresh_token.token,
        tokens.access_token.token,
        *(k.private_key for k in keys),
        *(k.private_key[3:40] for k in keys),  # any part of the ciphertext
        *(k.public_key.splitlines()[1] for k in keys if k.public_key),
    ]
    pages = [
        reverse(SESSIONS),
        reverse(SESSIONS) + f"?q={user.username}",
        reverse("admin:supertokens_django_session_change", args=(session.pk,)),
        reverse("admin:supertokens_django_session_revoke", args=(session.pk,)),
        reverse("admin:supertokens_django_session_revoke_user", args=(str(user.pk),)),
        reverse("admin:auth_user_change", args=(user.pk,)),
        reverse(REVOKED),
        reverse("admin:supertokens_django_revokedsession_change", args=(record.pk,)),
        reverse(KEYS),
        *(reverse("admin:supertokens_django_signingkey_change", args=(k.pk,)) for k in keys),
        reverse("admin:supertokens_django_signingkey_rotate"),
    ]
    for url in pages:
        page = html(admin_client.get(url))
        for secret in secrets:
            assert secret not in page, url
    action = admin_client.post(
        reverse(SESSIONS), {"action": "revoke_selected", "_selected_action": [session.pk]}
    )
    for secret in secrets:
        assert secret not in html(action)
