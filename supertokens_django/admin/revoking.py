"""Revoking from the admin: who may, the two actions, and the "revoke" pages of one session and
of one user. Each asks for confirmation (GET, or an action's first POST), then revokes (POST).

Every revocation goes through the engine with ``reason=admin`` and ``revoked_by`` = the admin's
username, so the blacklist records it, the cache learns it and ``session_revoked`` is sent.
Revoking needs the session model's delete permission or the ``revoke_session`` permission.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin import action
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import engine
from ..models import RevocationReason, Session
from . import confirmation
from .confirmation import ROW_FIELDS
from .search import as_uuid

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _Base = ModelAdmin[Session]
else:
    _Base = object

#: "Revoke selected sessions" refuses larger selections ("select all" on a huge filter).
MAX_SELECTED_SESSIONS = 1000
#: "Revoke all sessions of these users" refuses selections spanning more users.
MAX_SELECTED_USERS = 100
#: Form field carrying the user ids of "Revoke all sessions of these users".
SUBJECT_FIELD = "st_subject"
#: The form fields that carry the changelist's selection into an action.
SELECTION_FIELDS = (ACTION_CHECKBOX_NAME, "select_across")


def can_revoke(request: HttpRequest) -> bool:
    opts = Session._meta
    delete = f"{opts.app_label}.{get_permission_codename('delete', opts)}"
    return request.user.has_perm(delete) or request.user.has_perm(
        f"{opts.app_label}.revoke_session"
    )


def revoke_handles(request: HttpRequest, handles: Iterable[str]) -> list[str]:
    return engine.revoke_multiple_sessions(
        [str(h) for h in handles],
        reason=RevocationReason.ADMIN,
        revoked_by=request.user.get_username(),
    )


def revoke_subjects(request: HttpRequest, subjects: Iterable[str]) -> list[str]:
    revoked: list[str] = []
    for subject in subjects:
        revoked += engine.revoke_all_sessions_for_user(
            subject, reason=RevocationReason.ADMIN, revoked_by=request.user.get_username()
        )
    return revoked


def clean_subjects(values: Iterable[str]) -> list[str]:
    """User ids posted back by the confirmation form (as ``resolve_user`` accepts them)."""
    return sorted({v for v in values if v and len(v) <= 255})


ONE_QUESTION = _("Are you sure you want to revoke this session? It is signed out at once.")
USER_QUESTION = _(
    "Are you sure you want to revoke every session of this user? All of them are signed out at "
    "once, on every device."
)


class RevocationMixin(_Base):
    """For ``SessionAdmin``: the actions, the URLs ``<handle>/revoke/`` and
    ``user/<user id>/revoke/``, and the delete URL leading to revocation instead."""

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return can_revoke(request)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # ``action_location`` is passed from Django 6.1 on (actions on the change form too).
        location = () if action_location is None else (action_location,)
        actions: dict[str, Any] = super().get_actions(request, *location)
        # Deleting rows would skip the blacklist; revoking deletes them properly.
        actions.pop("delete_selected", None)
        return actions

    # -- actions

    @action(permissions=["revoke"], description=_("Revoke selected sessions"))
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        sessions = list(
            queryset.select_related("user").only(*ROW_FIELDS)[: MAX_SELECTED_SESSIONS + 1]
        )
        if len(sessions) > MAX_SELECTED_SESSIONS:
            message = _("Select at most %(max)d sessions at once, or narrow the list.")
            self.message_user(request, message % {"max": MAX_SELECTED_SESSIONS}, messages.WARNING)
            return None
        if request.POST.get("post") == "yes":
            self._report(request, revoke_handles(request, [s.pk for s in sessions]))
            return None
        count = len(sessions)
        return confirmation.render(
            self,
            request,
            title=str(_("Revoke sessions")),
            question=ngettext(
                "Are you sure you want to revoke this session? It is signed out at once.",
                "Are you sure you want to revoke these %(count)d sessions? They are signed out "
                "at once.",
                count,
            )
            % {"count": count},
            groups=confirmation.groups_for_sessions(self.admin_site, sessions),
            hidden=[
                ("action", "revoke_selected"),
                *((ACTION_CHECKBOX_NAME, str(s.pk)) for s in sessions),
                ("post", "yes"),
            ],
        )

    @action(permissions=["revoke"], description=_("Revoke all sessions of these users"))
    def revoke_users(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if request.POST.get("post") == "yes":
            # The users the confirmation page listed, even if the selected sessions are gone.
            subjects = clean_subjects(request.POST.getlist(SUBJECT_FIELD))
            self._report(request, revoke_subjects(request, subjects))
            return None
        distinct = queryset.order_by().values_list("subject", flat=True).distinct()
        subjects = sorted(distinct[: MAX_SELECTED_USERS + 1])
        if len(subjects) > MAX_SELECTED_USERS:
            message = _("Select the sessions of at most %(max)d users at once.")
            self.message_user(request, message % {"max": MAX_SELECTED_USERS}, messages.WARNING)
            return None
        return confirmation.render(
            self,
            request,
            title=str(_("Revoke all sessions of these users")),
            question=ngettext(
                "Are you sure you want to revoke every session of this user? All of them are "
                "signed out at once, on every device.",
                "Are you sure you want to revoke every session of these %(count)d users? All "
                "of them are signed out at once, on every device.",
                len(subjects),
            )
            % {"count": len(subjects)},
            groups=confirmation.groups_for_subjects(self.admin_site, subjects),
            hidden=[
                ("action", "revoke_users"),
                # The selection as it came, so that the POST runs this action again.
                *((n, v) for n in SELECTION_FIELDS for v in request.POST.getlist(n)),
                *((SUBJECT_FIELD, s) for s in subjects),
                ("post", "yes"),
            ],
        )

    def _report(self, request: HttpRequest, revoked: list[str]) -> None:
        count = len(revoked)
        self.message_user(
            request,
            ngettext("Revoked %(count)d session.", "Revoked %(count)d sessions.", count)
            % {"count": count},
            messages.SUCCESS if revoked else messages.WARNING,
        )

    # -- pages

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "user/<path:subject>/revoke/",
                view(self.revoke_user_view),
                name="supertokens_django_session_revoke_user",
            ),
            path(
                "<uuid:handle>/revoke/",
                view(self.revoke_view),
                name="supertokens_django_session_revoke",
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args: Any, **query: str) -> str:
        url = reverse(
            f"admin:supertokens_django_session_{name}", args=args, current_app=self.admin_site.name
        )
        return f"{url}?{urlencode(query)}" if query else url

    def _next_url(self, request: HttpRequest, default: str) -> str:
        target = request.POST.get("next") or request.GET.get("next") or ""
        allowed = url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return target if allowed else default

    def revoke_view(self, request: HttpRequest, handle: Any) -> HttpResponse:
        """One session: GET asks for confirmation, POST revokes."""
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        session = (
            self.get_queryset(request)
            .select_related("user")
            .only(*ROW_FIELDS)
            .filter(pk=handle)
            .first()
        )
        done = self._next_url(request, self._url("changelist"))
        if session is None:
            message = _("This session no longer exists: it was revoked or removed.")
            self.message_user(request, message, messages.WARNING)
            return HttpResponseRedirect(done)
        if request.method == "POST":
            self._report(request, revoke_handles(request, [str(session.pk)]))
            return HttpResponseRedirect(done)
        return confirmation.render(
            self,
            request,
            title=str(_("Revoke session")),
            question=str(ONE_QUESTION),
            groups=confirmation.groups_for_sessions(self.admin_site, [session]),
            hidden=[("next", done)],
            cancel_url=self._url("change", session.pk),
        )

    def revoke_user_view(self, request: HttpRequest, subject: str) -> HttpResponse:
        """Every session of one user (by user id): GET asks for confirmation, POST revokes."""
        if not self.has_revoke_permission(request) or len(subject) > 255:
            raise PermissionDenied
        done = self._next_url(request, self._url("changelist", subject=subject))
        if request.method == "POST":
            self._report(request, revoke_subjects(request, [subject]))
            return HttpResponseRedirect(done)
        return confirmation.render(
            self,
            request,
            title=str(_("Revoke all sessions of this user")),
            question=str(USER_QUESTION),
            groups=confirmation.groups_for_subjects(self.admin_site, [subject]),
            hidden=[("next", done)],
            cancel_url=done,
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Nobody deletes a session row by hand: the admin's delete URL leads to revocation.
        handle = as_uuid(object_id)
        if handle is None:
            return super().delete_view(request, object_id, extra_context)
        return HttpResponseRedirect(self._url("revoke", handle))
