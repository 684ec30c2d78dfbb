"""A user's sessions on the user's admin page, added to whatever ``UserAdmin`` is registered.

``UserSessionsInline`` shows the user's newest active sessions, links to all of them in the
sessions list, and a "Revoke all sessions" button (confirmation page, then POST): two clicks.
It holds no forms (its formset is empty), so saving the user never trips over a session that
was revoked or expired in the meantime.

The project's ``UserAdmin`` is not replaced: the inline is appended to the ``inlines`` of the
instance registered for the user model. Any app may register (or re-register) that admin, in
any order, so this happens when the first request starts, after every admin module is loaded.
A ``UserAdmin`` whose ``get_inlines()`` ignores ``inlines`` can list ``UserSessionsInline``
itself.
"""

from __future__ import annotations

import threading
from typing import Any

from django.contrib import admin
from django.contrib.admin.sites import AdminSite, all_sites
from django.contrib.auth import get_user_model
from django.core.signals import request_started
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..models import Session
from . import confirmation, revoking

#: How many of the user's sessions the user's page lists (the sessions list has them all).
LISTED_SESSIONS = 10
_UID = "supertokens_django.admin.users.attach"
_lock = threading.Lock()


class UserSessionsInline(admin.TabularInline):
    model = Session
    fk_name = "user"
    template = "admin/supertokens_django/session/user_sessions_inline.html"
    verbose_name = _("session")
    verbose_name_plural = _("sessions")
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("ip_address",)  # the formset has no forms; the template shows st_summary

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        none: QuerySet[Any] = Session.objects.none()
        return none

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Not on the "add user" page: a user being created has no sessions.
        return obj is not None and super().has_view_permission(request, obj)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset: type[BaseInlineFormSet] = super().get_formset(request, obj, **kwargs)
        summary = self.summary(request, obj) if obj is not None else None
        return type(formset.__name__, (formset,), {"st_summary": summary})

    def summary(self, request: HttpRequest, user: Any) -> dict[str, Any]:
        """What the template shows: two queries (the newest sessions, the number of active)."""
        subject = str(user.pk)
        now = timezone.now()
        live = Session.objects.active(now).for_user(subject)
        sessions = list(
            live.only(*confirmation.ROW_FIELDS)
            .select_related("user")
            .order_by("-created_at")[:LISTED_SESSIONS]
        )
        site = self.admin_site.name
        changelist = reverse("admin:supertokens_django_session_changelist", current_app=site)
        revoke = reverse(
            "admin:supertokens_django_session_revoke_user", args=(subject,), current_app=site
        )
        return {
            "rows": [confirmation.row(self.admin_site, s) for s in sessions],
            "active": live.count() if len(sessions) == LISTED_SESSIONS else len(sessions),
            "changelist_url": f"{changelist}?{urlencode({'subject': subject})}",
            # Back to this page once revoked.
            "revoke_url": f"{revoke}?{urlencode({'next': request.get_full_path()})}"
            if revoking.can_revoke(request)
            else None,
        }


def attach_to_user_admin(site: AdminSite) -> bool:
    """Append :class:`UserSessionsInline` to ``site``'s user admin; idempotent."""
    user_admin = site._registry.get(get_user_model())
    if user_admin is None or not site.is_registered(Session):
        return False
    with _lock:
        if not any(issubclass(i, UserSessionsInline) for i in user_admin.inlines):
            # On the instance: the UserAdmin class (maybe shared by other sites) is untouched.
            user_admin.inlines = [*user_admin.inlines, UserSessionsInline]  # type: ignore[misc]
    return True


def _attach_on_first_request(**kwargs: Any) -> None:
    request_started.disconnect(dispatch_uid=_UID)
    for site in list(all_sites):
        attach_to_user_admin(site)


request_started.connect(_attach_on_first_request, dispatch_uid=_UID)
