"""The ``Session`` object: what ``request.supertokens`` is, with the 2020 seed API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.utils.module_loading import import_string

from .conf import st_settings
from .models import RevocationReason
from .tokens import AccessToken
from .validation import validate_jwt_payload

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

_UNRESOLVED: Any = object()


def load_user(user_id: str) -> AbstractBaseUser | None:
    """Resolve a user id with ``USER_GETTER``, or by primary key of ``AUTH_USER_MODEL``.

    By primary key, an inactive user is no user, as for Django's ``ModelBackend.get_user``: an
    access token issued before the deactivation stays valid until it expires (or until the
    blacklist refuses it), and meanwhile must not make ``request.user`` a user whose
    ``is_staff`` still says yes. A project that lets inactive users in
    (``AllowAllUsersModelBackend``) sets ``USER_GETTER``.
    """
    getter = st_settings.user_getter
    if getter:
        return import_string(getter)(user_id)  # type: ignore[no-any-return]
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from django.db import DatabaseError

    from .exceptions import ServiceUnavailable

    model = get_user_model()
    try:
        user = model._default_manager.filter(pk=user_id).first()
    except (ValueError, TypeError, ValidationError):
        return None  # an id that is not a primary key of this model (e.g. an external id)
    except DatabaseError as exc:
        raise ServiceUnavailable("the user could not be loaded") from exc
    # ModelBackend.user_can_authenticate: a model without the field has only active users.
    is_active = getattr(user, "is_active", None)
    return user if is_active or is_active is None else None


class Session:
    """One verified session, bound to the access token the request carried.

    ``get_user_id``, ``get_handle`` and ``get_jwt_payload`` never touch the database; the data
    methods always do. Token changes (a re-issued access token, a revocation) are queued here and
    written to the response by the transport.
    """

    def __init__(
        self,
        access_token: AccessToken,
        *,
        issuer: str | Callable[[], str],
        user: Any = _UNRESOLVED,
    ) -> None:
        self.access_token = access_token
        #: The issuer of tokens this session mints, or the callable that computes it on first
        #: use: a verified request mints nothing in the steady state, and the issuer of an HTTP
        #: request costs a ``get_host()`` (several µs).
        self._issuer = issuer
        #: A new access token the response must carry, if any.
        self.new_access_token: AccessToken | None = None
        #: True once ``revoke_session()`` ran: the response clears the client's tokens.
        self.revoked = False
        self._user = user

    @property
    def issuer(self) -> str:
        issuer = self._issuer
        if not isinstance(issuer, str):
            self._issuer = issuer = issuer()
        return issuer

    @issuer.setter
    def issuer(self, value: str) -> None:
        self._issuer = value

    def __repr__(self) -> str:
        return f"<Session {self.get_handle()} of user {self.get_user_id()!r}>"

    # -- no database

    def get_user_id(self) -> str:
        return self.access_token.user_id

    def get_handle(self) -> str:
        return self.access_token.handle

    def get_jwt_payload(self) -> dict[str, Any]:
        """The application's claims of the current access token (a copy)."""
        return self.access_token.custom_payload

    def get_access_token_payload(self) -> dict[str, Any]:
        """Every claim of the current access token, protected ones included."""
        return dict(self.access_token.payload)

    def get_expiry(self) -> datetime:
        """When the current access token expires."""
        return self.access_token.expires_at

    def get_time_created(self) -> datetime:
        """When the current access token was issued."""
        return self.access_token.issued_at

    # -- database

    def get_session_data(self) -> dict[str, Any]:
        from . import engine

        return engine.get_session_data(self.get_handle())

    def update_session_data(self, data: dict[str, Any]) -> None:
        from . import engine

        engine.update_session_data(self.get_handle(), data)

    def update_jwt_payload(self, payload: dict[str, Any]) -> None:
        """Replace the custom claims, store them and issue a new access token for this request."""
        from . import engine

        clean = validate_jwt_payload(payload, max_bytes=st_settings.max_jwt_payload_bytes)
        engine.update_jwt_payload(self.get_handle(), clean)
        self.reissue(custom_payload=clean)

    def revoke_session(self) -> None:
        """Delete the session, blacklist it, and clear the client's tokens in this response."""
        from . import engine

        engine.revoke_session(self.get_handle(), reason=RevocationReason.LOGOUT)
        self.revoked = True

    def get_user(self) -> AbstractBaseUser | None:
        """The Django user (``USER_GETTER``), resolved on first call."""
        if self._user is _UNRESOLVED:
            self._user = load_user(self.get_user_id())
        return self._user  # type: ignore[no-any-return]

    # -- async twins

    async def aget_session_data(self) -> dict[str, Any]:
        from . import engine

        return await engine.aget_session_data(self.get_handle())

    async def aupdate_session_data(self, data: dict[str, Any]) -> None:
        from . import engine

        await engine.aupdate_session_data(self.get_handle(), data)

    async def aupdate_jwt_payload(self, payload: dict[str, Any]) -> None:
        from . import engine

        clean = validate_jwt_payload(payload, max_bytes=st_settings.max_jwt_payload_bytes)
        await engine.aupdate_jwt_payload(self.get_handle(), clean)
        await sync_to_async(self.reissue)(custom_payload=clean)

    async def arevoke_session(self) -> None:
        from . import engine

        await engine.arevoke_session(self.get_handle(), reason=RevocationReason.LOGOUT)
        self.revoked = True

    async def aget_user(self) -> AbstractBaseUser | None:
        if self._user is _UNRESOLVED:
            self._user = await sync_to_async(load_user)(self.get_user_id())
        return self._user  # type: ignore[no-any-return]

    # -- used by the engine

    def reissue(self, *, custom_payload: dict[str, Any], now: datetime | None = None) -> None:
        """Replace the current access token: no parent hash, the claims of ``custom_payload``."""
        from . import engine

        current = self.access_token
        self.access_token = self.new_access_token = engine.mint_access_token(
            user_id=current.user_id,
            handle=current.handle,
            refresh_token_hash1=current.refresh_token_hash1,
            parent_refresh_token_hash1=None,
            anti_csrf_token=current.anti_csrf_token,
            custom_payload=custom_payload,
            issuer=self.issuer,
            now=now or engine._now(),
        )
