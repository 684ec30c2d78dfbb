"""Revoke a user's sessions when their password changes or they are deactivated (as Django
does for its own sessions), or when the user is deleted; and the request's session when the view
calls Django's ``logout()``.

A password change is a save that writes a password hash other than the stored one, whatever set
it: ``set_password()``, ``set_unusable_password()`` (the admin's "Password-based
authentication: Disabled") or ``user.password = make_password(...)``. Django's own sessions end
then too, since their auth hash derives from the password field. A hash upgrade (the same
password re-hashed by ``check_password()``) is not a change, as for Django's
``password_changed``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, user_logged_out
from django.db.models.signals import post_init, post_save, pre_delete, pre_save

from .conf import st_settings

_UID = "supertokens_django.user_save"

# Kept in a user instance's ``__dict__`` (so pickled and copied with it):
# ``(hash, had_password_attribute)``, the password hash as loaded or last saved, and whether the
# instance had a ``_password`` of its own then (``AbstractBaseUser.save`` leaves one, ``None``,
# after a ``set_password()``). Absent when the hash was deferred at load, or the instance's class
# is not connected (a proxy defined after ``ready()``): no comparison then.
_STORED = "_supertokens_stored_password"
# Set by ``pre_save`` for the ``post_save`` of the same save: this save writes a new hash.
_CHANGED = "_supertokens_password_changed"


def revoke_on_user_save(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    """A saved password change, or ``is_active`` saved as ``False``, revokes every session."""
    reason = None if created else _revocation_reason(instance, update_fields)
    # Only an instance of the user model (or a proxy) carries these: post_init and pre_save put
    # them there. The hash just saved is the one the next save compares with.
    if _STORED in instance.__dict__ or _CHANGED in instance.__dict__:
        _remember_saved_password(instance, update_fields)
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
    # that follows it completes, so during ``post_save`` it marks a password change. Any other
    # new hash (``set_unusable_password()``, an assigned hash) was found by ``check_new_password``.
    if (
        (attributes.get("_password") is not None or attributes.get(_CHANGED))
        and (update_fields is None or "password" in update_fields)
        and st_settings.revoke_sessions_on_password_change
    ):
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


def remember_loaded_password(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_init`` of the user model and its proxies: note the hash the instance starts with.

    Reads ``__dict__`` only: a deferred password (``.only()``, ``.defer("password")``) is absent
    from it, and reading the attribute would query. Such an instance is not compared."""
    password = instance.__dict__.get("password")
    if password is not None:
        instance.__dict__[_STORED] = (password, False)


def check_new_password(
    sender: Any,
    instance: Any,
    raw: bool = False,
    using: str | None = None,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """``pre_save`` of the user model and its proxies: does this save write a new hash?

    Costs nothing unless the hash in memory differs from the one loaded (or last saved); then one
    query reads the stored hash, since ``refresh_from_db()`` may have brought in a hash that
    another instance saved (the comparison has to be with the row, not with what was loaded).
    """
    attributes = instance.__dict__
    attributes.pop(_CHANGED, None)
    if raw or (update_fields is not None and "password" not in update_fields):
        return
    if attributes.get("_password") is not None or _STORED not in attributes:
        return  # set_password(): ``_password`` says so; or nothing to compare with
    if not st_settings.revoke_sessions_on_password_change:
        return
    stored, had_password_attribute = attributes[_STORED]
    new = attributes.get("password")
    if new is None or new == stored or instance.pk is None:
        return
    # ``check_password()``'s setter upgrading the hash calls ``set_password()``, then sets
    # ``_password`` back to ``None`` on the instance before saving: the same password, which
    # Django's ``password_changed`` does not count either. An instance that already had a
    # ``_password`` (from an earlier ``set_password()`` and save) cannot tell; it counts.
    if "_password" in attributes and not had_password_attribute:
        return
    rows = sender._base_manager.using(using).filter(pk=instance.pk)
    if rows.exclude(password=new).exists():
        attributes[_CHANGED] = True


def _remember_saved_password(instance: Any, update_fields: Any) -> None:
    attributes = instance.__dict__
    attributes.pop(_CHANGED, None)
    password = attributes.get("password")
    if password is not None and (update_fields is None or "password" in update_fields):
        attributes[_STORED] = (password, "_password" in attributes)


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
    # Django from fast-deleting anything (our own session clean-up included). post_init and
    # pre_save only for them too: post_init runs for every instance a query loads.
    for model in _user_models():
        label = model._meta.label_lower
        pre_delete.connect(
            revoke_on_user_delete,
            sender=model,
            dispatch_uid=f"supertokens_django.user_delete.{label}",
        )
        post_init.connect(
            remember_loaded_password,
            sender=model,
            dispatch_uid=f"supertokens_django.user_init.{label}",
        )
        pre_save.connect(
            check_new_password,
            sender=model,
            dispatch_uid=f"supertokens_django.user_pre_save.{label}",
        )
