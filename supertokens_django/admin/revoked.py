"""``RevokedSessionAdmin``: the blacklist, read-only, with theft detections standing out."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import RevocationReason, RevokedSession
from . import display
from .changelist import LargeTableAdminMixin


@admin.register(RevokedSession)
class RevokedSessionAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("handle", "user_link", "reason_label", "revoked_at", "revoked_by", "expires_at")
    list_filter = ("reason",)
    date_hierarchy = "revoked_at"
    search_fields = ("=handle", "=subject", "=user__username", "=user__email")
    search_help_text = _("Exact match on a session handle, user id, username or email address.")
    list_select_related = ("user",)
    show_full_result_count = False
    sortable_by = ("revoked_at", "expires_at")
    ordering = ("-revoked_at",)
    fields = ("handle", "user", "subject", "reason_label", "revoked_at", "revoked_by", "expires_at")
    readonly_fields = fields
    if hasattr(admin, "ShowFacets"):
        show_facets = admin.ShowFacets.NEVER

    @admin.display(description=_("user"))
    def user_link(self, obj: RevokedSession) -> str:
        return display.user_link(self.admin_site, obj)

    @admin.display(description=_("reason"))
    def reason_label(self, obj: RevokedSession) -> str:
        label = obj.get_reason_display()
        if obj.reason != RevocationReason.THEFT:
            return str(label)
        return format_html(
            '<strong class="st-theft"><img src="{}" alt="" width="14" height="14"> {}</strong>',
            static("admin/img/icon-alert.svg"),
            label,
        )

    # The blacklist is written by the engine only: deleting a record would un-revoke a session.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
