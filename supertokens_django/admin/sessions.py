"""``SessionAdmin``: the sessions list, a read-only session page, and revocation.

Cost of the list, whatever the table size (asserted in tests/test_admin.py): the page's rows in
one query (``list_select_related``; the JSON columns deferred), a count that stops at 10,000
rows (:mod:`.changelist`; ``show_full_result_count = False`` drops Django's second, unfiltered
count), the date hierarchy's ``MIN``/``MAX``, and the overview's four aggregates. Every filter,
search branch and sortable column has an index: see :mod:`.search` and ``Session.Meta``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import RevocationReason, RevokedSession, Session
from . import display, overview
from .changelist import IndexFriendlyChangeList, LargeTableAdminMixin
from .device import describe_device
from .revoking import RevocationMixin

#: Never loaded for the list: the JSON can be 64 KiB a row, the hash is never shown anywhere.
LIST_DEFERRED = ("session_data", "jwt_payload", "refresh_token_hash_2")


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("Active")), ("expired", _("Expired"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        now = timezone.now()
        condition = {"active": Q(expires_at__gt=now), "expired": Q(expires_at__lte=now)}.get(
            self.value() or ""
        )
        filtered: QuerySet[Any] | None = queryset.filter(condition) if condition else None
        return filtered


class HasUserFilter(admin.SimpleListFilter):
    """Sessions created for a user instance versus a bare user id (``user`` is then empty)."""

    title = _("has user")
    parameter_name = "has_user"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() not in ("yes", "no"):
            return None
        filtered: QuerySet[Any] = queryset.filter(user__isnull=self.value() == "no")
        return filtered


class SessionChangeList(IndexFriendlyChangeList):
    deferred = LIST_DEFERRED


@admin.register(Session)
class SessionAdmin(RevocationMixin, LargeTableAdminMixin, admin.ModelAdmin):
    changelist_class = SessionChangeList
    search_ip_field = "ip_address"

    # Five columns, two short lines a cell, so that the list fits a 1280-pixel laptop with both
    # sidebars open: who, from which device and address, when, and whether it still runs.
    list_display = ("session", "user_link", "client", "activity", "state")
    list_display_links = ("session",)
    list_filter = (StatusFilter, HasUserFilter)
    date_hierarchy = "created_at"
    # What the search matches (exactly); get_search_results implements it on indexes.
    search_fields = ("=subject", "=user__username", "=user__email", "=ip_address", "=handle")
    search_help_text = _(
        "Exact match on a user id, username, email address, IP address or session handle."
    )
    list_select_related = ("user",)
    show_full_result_count = False
    # Sorting by an unindexed column would sort every row of the table.
    sortable_by = ("activity", "state")  # created_at, expires_at
    ordering = ("-created_at",)
    list_per_page = 100
    actions = ("revoke_selected", "revoke_users")
    fieldsets = (
        (None, {"fields": ("handle", "user", "subject", "status")}),
        (_("Client"), {"fields": ("device", "user_agent", "ip_address")}),
        (_("Lifetime"), {"fields": ("created_at", "last_active_at", "expires_at")}),
        (_("Data"), {"fields": ("session_data_json", "jwt_payload_json")}),
    )
    readonly_fields = (
        "handle",
        "user",
        "subject",
        "status",
        "device",
        "user_agent",
        "ip_address",
        "created_at",
        "last_active_at",
        "expires_at",
        "session_data_json",
        "jwt_payload_json",
    )
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts would scan the table
        show_facets = admin.ShowFacets.NEVER

    # -- columns

    @admin.display(description=_("session"))
    def session(self, obj: Session) -> str:
        return str(obj.handle)[:8]

    @admin.display(description=_("user"))
    def user_link(self, obj: Session) -> str:
        return display.user_link(self.admin_site, obj)

    @admin.display(description=_("device"))
    def device(self, obj: Session) -> str:
        label = describe_device(obj.user_agent)
        if not label:
            return self.get_empty_value_display()
        return format_html('<span title="{}">{}</span>', obj.user_agent, label)

    @admin.display(description=_("status"))
    def status(self, obj: Session) -> str:
        return str(_("Active") if obj.is_active else _("Expired"))

    @admin.display(description=_("device / IP address"))
    def client(self, obj: Session) -> SafeString:
        label = describe_device(obj.user_agent)
        return display.client(
            label, obj.user_agent, obj.ip_address, empty=self.get_empty_value_display()
        )

    @admin.display(description=_("created / last active"), ordering="created_at")
    def activity(self, obj: Session) -> SafeString:
        return display.activity(obj.created_at, obj.last_active_at, timezone.now())

    @admin.display(description=_("status"), ordering="expires_at")
    def state(self, obj: Session) -> SafeString:
        return display.status(obj.expires_at, timezone.now())

    @admin.display(description=_("session data"))
    def session_data_json(self, obj: Session) -> SafeString:
        return display.pretty_json(obj.session_data)

    @admin.display(description=_("JWT payload"))
    def jwt_payload_json(self, obj: Session) -> SafeString:
        return display.pretty_json(obj.jwt_payload)

    # -- queries

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request).defer("refresh_token_hash_2")
        return queryset

    # -- permissions: view to look, revoke (see RevocationMixin), nobody adds or edits

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        now = timezone.now()
        context = {
            **(extra_context or {}),
            # Lazy: an action's POST to this view renders no overview and pays nothing for it.
            "st_overview": SimpleLazyObject(lambda: overview.compute(now)),
            "st_thefts_url": _revoked_thefts_url(self),
        }
        subject = request.GET.get("subject")
        if subject and len(subject) <= 255 and self.has_revoke_permission(request):
            context["st_revoke_user_url"] = self._url("revoke_user", subject)
            context["st_subject"] = subject
        return super().changelist_view(request, context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "show_delete": False,
            "has_revoke_permission": self.has_revoke_permission(request),
        }
        return super().change_view(request, object_id, form_url, context)


def _revoked_thefts_url(model_admin: SessionAdmin) -> str | None:
    if not model_admin.admin_site.is_registered(RevokedSession):
        return None
    url = reverse(
        "admin:supertokens_django_revokedsession_changelist",
        current_app=model_admin.admin_site.name,
    )
    return f"{url}?{urlencode({'reason__exact': RevocationReason.THEFT})}"
