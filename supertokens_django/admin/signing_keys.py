"""``SigningKeyAdmin``: the signing keys, read-only (never their material), and "rotate now".

Rotating needs the ``add_signingkey`` permission: it adds the key that signs from then on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..conf import st_settings
from ..exceptions import ServiceUnavailable
from ..keys import keyring
from ..models import SigningKey

ROTATE_TEMPLATE = "admin/supertokens_django/signingkey/rotate_confirmation.html"


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = (
        "kid",
        "algorithm",
        "generation",
        "state",
        "created_at",
        "signs_from",
        "signs_until",
        "verifies_until",
    )
    # Listed explicitly: ``private_key`` (encrypted) and ``public_key`` are never rendered.
    fields = list_display
    readonly_fields = list_display
    ordering = ("-generation",)
    actions = ("rotate_now",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        newer_signer = SigningKey.objects.filter(
            algorithm=OuterRef("algorithm"),
            generation__gt=OuterRef("generation"),
            signs_from__lte=timezone.now(),
        )
        queryset: QuerySet[Any] = (
            super()
            .get_queryset(request)
            .defer("private_key", "public_key")
            .annotate(superseded=Exists(newer_signer))
        )
        return queryset

    @admin.display(description=_("state"))
    def state(self, obj: SigningKey) -> str:
        now = timezone.now()
        if obj.algorithm != st_settings.signing_algorithm or st_settings.static_signing_key:
            return str(_("Unused (other algorithm or a static key)"))
        if obj.verifies_until <= now:
            return str(_("Retired"))
        if obj.signs_from > now:
            return str(_("Announced"))
        if obj.signs_until <= now or getattr(obj, "superseded", False):
            return str(_("Verifies only"))
        return str(_("Signing"))

    # -- permissions: keys are made by the key ring only

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a key would break every token it signed: keys retire by their dates.
        return False

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}")

    # -- rotate now

    @admin.action(permissions=["rotate"], description=_("Rotate the signing key now"))
    def rotate_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        # Rotation is not about the selected keys: the action leads to the confirmation page.
        return HttpResponseRedirect(self._rotate_url())

    def _rotate_url(self) -> str:
        return reverse(
            "admin:supertokens_django_signingkey_rotate", current_app=self.admin_site.name
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "rotate/",
                self.admin_site.admin_view(self.rotate_view),
                name="supertokens_django_signingkey_rotate",
            ),
            *super().get_urls(),
        ]

    def rotate_view(self, request: HttpRequest) -> HttpResponse:
        """GET asks for confirmation; POST creates a key that signs two seconds later."""
        if not self.has_rotate_permission(request):
            raise PermissionDenied
        changelist = reverse(
            "admin:supertokens_django_signingkey_changelist", current_app=self.admin_site.name
        )
        if st_settings.static_signing_key:
            self.message_user(
                request,
                _("A static signing key (STATIC_SIGNING_KEY) is configured: nothing to rotate."),
                messages.ERROR,
            )
            return HttpResponseRedirect(changelist)
        if request.method == "POST":
            try:
                now = timezone.now()
                key = keyring.ensure_keys(now, force=True)
            except ServiceUnavailable:
                self.message_user(
                    request, _("The database is unavailable: no key was created."), messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    _("Key %(kid)s is published and signs new access tokens %(when)s.")
                    % {"kid": key.kid, "when": _starts(key.signs_from - now)},
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(changelist)
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": _("Rotate the signing key"),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "algorithm": st_settings.signing_algorithm,
            "cancel_url": changelist,
        }
        return TemplateResponse(request, ROTATE_TEMPLATE, context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "st_static_key": bool(st_settings.static_signing_key),
            "st_rotate_url": self._rotate_url() if self.has_rotate_permission(request) else None,
        }
        return super().changelist_view(request, context)


def _starts(delay: timedelta) -> str:
    seconds = round(delay.total_seconds())
    if seconds <= 0:
        return str(_("from now on"))
    return ngettext("in %(n)d second", "in %(n)d seconds", seconds) % {"n": seconds}
