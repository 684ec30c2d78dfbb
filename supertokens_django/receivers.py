"""Revoke a user's sessions when their password changes or they are deactivated (as Django
does for its own sessions), or when the user is deleted; and the request's session when the view
calls Django's ``logout()``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, user_logged_out
from django.db.models.signals import post_save, pre_delete

from .conf import st_settings

_UID = "supertokens_django.user_save"


def revoke_on_user_save(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    """A saved password change, or ``is_active`` saved as ``False``, revokes every session."""
    if created:
        return
    reason = _revocation_reason(instance, update_fields)
    # Saved through a proxy of the user model, ``sender`` is the proxy: match the concrete model.
    if reason is None or sender._meta.concrete_model is not get_user_model():
        return
    from .engine import revoke_all_sessions_for_user

    revoke_all_sessions_for_user(str(instance.pk), reason=reason)


def _revocation_reason(instance: Any, update_fields: Any) -> str | None:
    # This runs for every save of every model, so it reads only the instance's own attributes:
    # never a property, which on some other model could run a query.
    from .models import RevocationReason

    attributes = instance.__dict__
    # ``AbstractBaseUser.set_password`` keeps the raw password in ``_password`` until the save
    # that follows it completes, so during ``post_save`` it marks a password change.
    if attributes.get("_password") is not None and st_settings.revoke_sessions_on_password_change:
        return RevocationReason.PASSWORD_CHANGE
    # Django's ModelBackend treats an inactive user as signed out on their next request; a
    # token is verified without loading the user, so the sessions themselves must go. Any save
    # of an inactive user with ``is_active`` among its fields revokes what is left (usually
    # nothing, one query).
    if (
        attributes.get("is_active", True) is False
        and (update_fields is None or "is_active" in update_fields)
        and st_settings.revoke_sessions_on_deactivation
    ):
        return RevocationReason.USER_DEACTIVATED
    return None


def revoke_on_user_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The rows would go by cascade anyway, but without a revocation record the user's access
    # tokens would keep working until they expire, blacklisting or not.
    if sender._meta.concrete_model is not get_user_model():
        return
    from .engine import revoke_all_sessions_for_user
    from .models import RevocationReason

    revoke_all_sessions_for_user(str(instance.pk), reason=RevocationReason.USER_DELETED)


def revoke_on_logout(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """Django's ``logout(request)`` revokes the SuperTokens session this request verified.

    Only a session the request already has (``@verify_session``, ``get_session``, DRF's class,
    or ``request.supertokens`` read): a logout elsewhere, the admin's say, does not go and
    verify tokens nobody asked about. The response then clears the client's tokens.
    """
    from .transport import state_of

    state = state_of(request) if request is not None else None
    session = state.session if state is not None else None
    if session is not None and not session.revoked:
        session.revoke_session()


def _user_models() -> list[Any]:
    """The user model and its proxies: a save or delete through a proxy names the proxy."""
    from django.apps import apps

    user_model = get_user_model()
    return [m for m in apps.get_models() if m._meta.concrete_model is user_model]


def connect() -> None:
    # post_save for every sender: a save through a proxy of the user model names the proxy, and
    # the receiver returns at once for anything that has not just had its password set or been
    # saved inactive.
    post_save.connect(revoke_on_user_save, dispatch_uid=_UID)
    user_logged_out.connect(revoke_on_logout, dispatch_uid="supertokens_django.logout")
    # pre_delete only for the user model and its proxies: a receiver for every sender would stop
    # Django from fast-deleting anything (our own session clean-up included).
    for model in _user_models():
        pre_delete.connect(
            revoke_on_user_delete,
            sender=model,
            dispatch_uid=f"supertokens_django.user_delete.{model._meta.label_lower}",
        )
