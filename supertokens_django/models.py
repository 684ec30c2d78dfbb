"""Sessions, the revocation list (blacklist) and signing keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    _SessionQS = models.QuerySet["Session"]
    _RevokedQS = models.QuerySet["RevokedSession"]
else:
    _SessionQS = _RevokedQS = models.QuerySet


class SessionQuerySet(_SessionQS):
    def active(self, now: datetime | None = None) -> SessionQuerySet:
        return self.filter(expires_at__gt=now or timezone.now())

    def expired(self, now: datetime | None = None) -> SessionQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())

    def for_user(self, user_id: str) -> SessionQuerySet:
        return self.filter(subject=user_id)


class Session(models.Model):
    """One login. Only a double hash of the current refresh token is kept."""

    handle = models.UUIDField(_("handle"), primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="supertokens_sessions",
    )
    # The user id as the tokens carry it (``sub``): ``str(user.pk)``, or any id the app uses.
    subject = models.CharField(_("user id"), max_length=255)
    refresh_token_hash_2 = models.CharField(_("refresh token hash"), max_length=64)
    session_data = models.JSONField(_("session data"), default=dict, blank=True)
    jwt_payload = models.JSONField(_("JWT payload"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_active_at = models.DateTimeField(_("last active"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True, default="")

    objects = models.Manager.from_queryset(SessionQuerySet)()

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["subject", "expires_at"], name="st_session_subject_idx"),
            models.Index(fields=["expires_at"], name="st_session_expires_idx"),
            models.Index(fields=["-created_at"], name="st_session_created_idx"),
            # The admin searches by IP address.
            models.Index(fields=["ip_address"], name="st_session_ip_idx"),
        ]
        permissions = [("revoke_session", _("Can revoke sessions"))]

    def __str__(self) -> str:
        return f"{self.subject} ({self.handle})"

    @property
    def is_active(self) -> bool:
        return self.expires_at > timezone.now()


class RevocationReason(models.TextChoices):
    LOGOUT = "logout", _("signed out")
    ADMIN = "admin", _("revoked by an admin")
    THEFT = "theft", _("token theft detected")
    ALL_FOR_USER = "all-for-user", _("all sessions of the user revoked")
    PASSWORD_CHANGE = "password-change", _("password changed")
    USER_DELETED = "user-deleted", _("user deleted")
    USER_DEACTIVATED = "user-deactivated", _("user deactivated")
    EXPIRED = "expired", _("expired")
    API = "api", _("revoked through the API")


class RevokedSessionQuerySet(_RevokedQS):
    def expired(self, now: datetime | None = None) -> RevokedSessionQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())


class RevokedSession(models.Model):
    """The blacklist: kept only as long as an access token of the session could be alive."""

    handle = models.UUIDField(_("handle"), unique=True, editable=False)
    subject = models.CharField(_("user id"), max_length=255, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=32, choices=RevocationReason.choices)
    revoked_at = models.DateTimeField(_("revoked"), default=timezone.now, db_index=True)
    revoked_by = models.CharField(_("revoked by"), max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(_("record expires"), db_index=True)

    objects = models.Manager.from_queryset(RevokedSessionQuerySet)()

    class Meta:
        verbose_name = _("revoked session")
        verbose_name_plural = _("revoked sessions")
        ordering = ["-revoked_at"]

    def __str__(self) -> str:
        return f"{self.handle} ({self.reason})"


class SigningKey(models.Model):
    """A key that signs access tokens for a while and verifies them a while longer.

    ``generation`` is unique: a worker that rotates inserts ``max + 1``, so two workers rotating at
    once produce one new key and one ``IntegrityError`` (the loser reloads and uses the winner's).
    """

    kid = models.CharField(_("key id"), max_length=64, primary_key=True)
    generation = models.PositiveIntegerField(_("generation"), unique=True)
    algorithm = models.CharField(_("algorithm"), max_length=16)
    # Encrypted at rest (AES-GCM under a key derived from SECRET_KEY); never shown anywhere.
    private_key = models.TextField(_("private key (encrypted)"))
    public_key = models.TextField(_("public key (PEM)"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    signs_from = models.DateTimeField(_("signs from"))
    signs_until = models.DateTimeField(_("signs until"))
    verifies_until = models.DateTimeField(_("verifies until"), db_index=True)

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["-generation"]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm})"
