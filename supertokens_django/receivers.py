"""Revoke a user's sessions when their password changes, as Django does for its own sessions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save

from .conf import st_settings

_UID = "supertokens_django.password_change"


def revoke_on_password_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # ``AbstractBaseUser.set_password`` keeps the raw password in ``_password`` until the save
    # that follows it completes, so during ``post_save`` it marks a password change.
    if created or getattr(instance, "_password", None) is None:
        return
    # Saved through a proxy of the user model, ``sender`` is the proxy: match the concrete model.
    if sender._meta.concrete_model is not get_user_model():
        return
    if not st_settings.revoke_sessions_on_password_change:
        return
    from .engine import revoke_all_sessions_for_user
    from .models import RevocationReason

    revoke_all_sessions_for_user(str(instance.pk), reason=RevocationReason.PASSWORD_CHANGE)


def connect() -> None:
    # No ``sender=``: a save through a proxy of the user model is sent with the proxy as sender.
    # The receiver returns at once for anything that has not just had its password set.
    post_save.connect(revoke_on_password_change, dispatch_uid=_UID)
