"""The page that lists exactly what a revocation will revoke, then posts the confirmation.

It never shows token material: a row is the handle, device, IP address and dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.admin import AdminSite, ModelAdmin
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from ..models import Session
from . import display
from .device import describe_device
from .display import user_admin_url, user_label

TEMPLATE = "admin/supertokens_django/session/revoke_confirmation.html"
#: The page lists this many sessions of each user, then says how many more there are.
LISTED_PER_USER = 50
#: Columns a listed session needs (the JSON and the token hash are never loaded).
ROW_FIELDS = (
    "handle",
    "user",
    "subject",
    "user_agent",
    "ip_address",
    "created_at",
    "last_active_at",
    "expires_at",
)


@dataclass(frozen=True)
class Row:
    handle: str
    url: str
    device: str
    user_agent: str
    ip_address: str | None
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime

    # The cells, as the sessions list shows them (see display): short enough for a laptop.

    @property
    def short_handle(self) -> str:
        return self.handle[:8]

    @property
    def client(self) -> SafeString:
        return display.client(self.device, self.user_agent, self.ip_address, empty="-")

    @property
    def activity(self) -> SafeString:
        return display.activity(self.created_at, self.last_active_at, timezone.now())

    @property
    def status(self) -> SafeString:
        return display.status(self.expires_at, timezone.now())

    @property
    def expires(self) -> SafeString:
        return display.moment(
            self.expires_at, display.relative_time(self.expires_at, timezone.now())
        )


@dataclass(frozen=True)
class Group:
    """The sessions of one user, as listed: ``total`` counts those not listed too."""

    title: str
    url: str | None
    rows: list[Row] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def row(site: AdminSite, session: Session) -> Row:
    return Row(
        handle=str(session.handle),
        url=reverse(
            "admin:supertokens_django_session_change",
            args=(session.handle,),
            current_app=site.name,
        ),
        device=describe_device(session.user_agent),
        user_agent=session.user_agent,
        ip_address=session.ip_address,
        created_at=session.created_at,
        last_active_at=session.last_active_at,
        expires_at=session.expires_at,
    )


def _group(site: AdminSite, title: str, sessions: list[Session], total: int) -> Group:
    first = sessions[0] if sessions else None
    return Group(
        title=user_label(first) if first else title,
        url=user_admin_url(site, first.user) if first else None,
        rows=[row(site, s) for s in sessions],
        total=total,
    )


def _by_subject(sessions: Iterable[Session]) -> dict[str, list[Session]]:
    grouped: dict[str, list[Session]] = {}
    for session in sessions:
        grouped.setdefault(session.subject, []).append(session)
    return grouped


def groups_for_sessions(site: AdminSite, sessions: Iterable[Session]) -> list[Group]:
    """These sessions (users loaded with them), grouped by user in order of appearance."""
    return [
        _group(site, subject, group, len(group)) for subject, group in _by_subject(sessions).items()
    ]


def groups_for_subjects(site: AdminSite, subjects: Sequence[str]) -> list[Group]:
    """Every session of each user: two queries, however many users and sessions.

    The newest :data:`LISTED_PER_USER` of each user are listed (a window function keeps the
    page bounded for a user with thousands of sessions); the total counts them all.
    """
    totals = dict(
        Session.objects.filter(subject__in=subjects)
        .order_by()
        .values("subject")
        .annotate(n=Count("pk"))
        .values_list("subject", "n")
    )
    newest = _by_subject(
        Session.objects.filter(subject__in=subjects)
        .select_related("user")
        .only(*ROW_FIELDS)
        .annotate(
            position=Window(RowNumber(), partition_by=F("subject"), order_by=F("created_at").desc())
        )
        .filter(position__lte=LISTED_PER_USER)
        .order_by("subject", "position")
    )
    return [
        _group(site, subject, newest.get(subject, []), totals.get(subject, 0))
        for subject in subjects
    ]


def render(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    *,
    title: str,
    question: str,
    groups: list[Group],
    hidden: list[tuple[str, str]],
    cancel_url: str | None = None,
) -> TemplateResponse:
    """The confirmation page; its form posts ``hidden`` (name, value) pairs back to this URL."""
    opts = model_admin.model._meta
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "question": question,
        "groups": groups,
        "session_count": sum(g.total for g in groups),
        "hidden_fields": hidden,
        "cancel_url": cancel_url,
        "opts": opts,
        "app_label": opts.app_label,
        "media": model_admin.media,
    }
    return TemplateResponse(request, TEMPLATE, context)
