"""Django REST framework: ``SuperTokensAuthentication``, ``HasSession`` and ``HasJWTClaim``.

The only part of the package that imports ``rest_framework``. Errors become responses here, with
the statuses and bodies of PROTOCOL.md §5 (``transport`` does the same for plain Django views):

* no credentials          → ``None``: the next authentication class runs;
* a bad or expired token  → 401 ``{"message": "try refresh token"}`` (the SDK refreshes);
* the session is gone     → 401 ``{"message": "unauthorised"}``, tokens cleared in both modes
  and ``front-token: remove`` (the SDK signs out);
* a claim check failed    → 403 ``{"message": "invalid claim", "claimValidationErrors": [...]}``.

A library error is raised as :class:`SessionException`, an ``APIException`` that is deliberately
*not* an ``AuthenticationFailed``: DRF turns those into 403 whenever the view's first
authentication class has no ``WWW-Authenticate`` scheme, and a 403 would stop the SDK from
refreshing. Token changes (a replacement access token, clearing) are written onto the response by
``SuperTokensMiddleware``, so they reach the client whatever ``EXCEPTION_HANDLER`` does.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ImproperlyConfigured
from django.db.models.manager import EmptyManager
from django.utils.functional import SimpleLazyObject
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission, OperationHolderMixin

from .. import transport
from ..conf import st_settings
from ..exceptions import InvalidClaim, SuperTokensError, Unauthorised

if TYPE_CHECKING:
    from django.contrib.auth.models import Group, Permission
    from django.http import HttpRequest
    from rest_framework.request import Request
    from rest_framework.views import APIView

    from ..session import Session

__all__ = [
    "HasJWTClaim",
    "HasSession",
    "SessionException",
    "SuperTokensAuthentication",
    "TokenUser",
]

logger = logging.getLogger("supertokens_django.drf")

UserMode = Literal["auto", "django", "token"]
#: ``SUPERTOKENS["DRF_USER"]``: what ``request.user`` is for an authenticated session.
USER_SETTING = "DRF_USER"
USER_MODES: tuple[UserMode, ...] = ("auto", "django", "token")
DEFAULT_AUTH_HEADER = 'Bearer realm="api"'


def user_mode() -> UserMode:
    value = st_settings.raw.get(USER_SETTING, "auto")
    if value not in USER_MODES:
        raise ImproperlyConfigured(
            f'SUPERTOKENS["{USER_SETTING}"] is {value!r}; expected one of {", ".join(USER_MODES)}.'
        )
    return value  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- errors


class SessionException(exceptions.APIException):
    """A library error on its way to becoming a DRF response.

    ``detail`` is the protocol's JSON body itself (not DRF's ``{"detail": ...}``), kept as plain
    JSON values so that claim reasons keep their types; ``error`` is the library exception.
    DRF's default exception handler answers it with exactly that body and status.
    """

    def __init__(self, error: SuperTokensError, *, auth_header: str = DEFAULT_AUTH_HEADER) -> None:
        self.error = error
        self.body = transport.error_body(error)
        self.status_code = transport.error_status(error)
        self.default_code = str(self.body["message"]).replace(" ", "_")
        super().__init__(code=self.default_code)
        # Bypass APIException's conversion of every leaf into a string (None -> "None").
        self.detail = self.body
        # RFC 9110: a 401 carries a challenge. Other statuses (403 claims, 503) do not.
        self.auth_header = auth_header if self.status_code == 401 else None

    def __str__(self) -> str:
        return str(self.body["message"])

    def get_codes(self) -> str:
        return str(self.default_code)

    def get_full_details(self) -> dict[str, Any]:
        return {**self.body, "code": self.default_code}


def _refuse(
    http_request: HttpRequest, error: SuperTokensError, *, auth_header: str | None = None
) -> SessionException:
    """Turn ``error`` into the exception DRF answers; queue the token clearing §5 asks for."""
    logger.info("session request refused: %s", error.detail or error.message)
    if error.clear_tokens:
        _clear_tokens_on_response(http_request)
    return SessionException(error, auth_header=auth_header or DEFAULT_AUTH_HEADER)


def _clear_tokens_on_response(http_request: HttpRequest) -> None:
    # ``transport.finalize`` (run by the middleware on every response, whatever produced it)
    # then clears the tokens in both modes and sends ``front-token: remove``, so an error
    # response built by a project's own EXCEPTION_HANDLER gets the clearing too.
    state = transport.ensure_state(http_request)
    state.clear_tokens = True
    state.verified = False  # a later get_session() on this request verifies (and fails) again


def _bind(request: Request, session: Session | None) -> None:
    # The same object on both requests, so permissions, throttles, the view and any
    # middleware after the view see one session.
    request.supertokens = session  # type: ignore[attr-defined]
    request._request.supertokens = session  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- users


class TokenUser:
    """``request.user`` for a session whose user id is not a Django user: the id, and no row.

    Authenticated, but with no staff flags, groups or model permissions, like an
    ``AnonymousUser`` turned inside out; authorise it from the JWT payload (:class:`HasJWTClaim`).
    """

    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False
    is_authenticated = True

    def __init__(self, user_id: str) -> None:
        self.id = self.pk = self.username = user_id

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"<TokenUser {self.id!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenUser) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def get_username(self) -> str:
        return self.id

    @property
    def groups(self) -> EmptyManager[Group]:
        from django.contrib.auth.models import Group

        return EmptyManager(Group)

    @property
    def user_permissions(self) -> EmptyManager[Permission]:
        from django.contrib.auth.models import Permission

        return EmptyManager(Permission)

    def get_user_permissions(self, obj: object = None) -> set[str]:
        return set()

    def get_group_permissions(self, obj: object = None) -> set[str]:
        return set()

    def get_all_permissions(self, obj: object = None) -> set[str]:
        return set()

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False


class _LazyUser(SimpleLazyObject):
    """The session's Django user (or a :class:`TokenUser`), loaded on first real use.

    Both outcomes are authenticated, so ``IsAuthenticated`` (which asks ``bool(user)`` and
    ``user.is_authenticated``) is answered without the query: the steady state stays at zero.
    """

    is_authenticated = True
    is_anonymous = False

    def __bool__(self) -> bool:
        return True


# --------------------------------------------------------------------------- authentication


class SuperTokensAuthentication(BaseAuthentication):
    """Authenticate by the access token in ``sAccessToken`` or ``Authorization: Bearer``.

    Returns ``(user, session)``: ``request.auth`` and ``request.supertokens`` are the
    :class:`~supertokens_django.session.Session`. Cookie-mode unsafe requests must pass the
    protocol's anti-CSRF check (DRF views are exempt from Django's CSRF middleware). Subclass to
    change the options below for some views.
    """

    #: The realm of the ``WWW-Authenticate`` challenge that makes DRF answer 401, not 403.
    www_authenticate_realm = "api"
    #: Force the anti-CSRF check on (``True``) or off (``False``); by default unsafe methods.
    anti_csrf_check: bool | None = None
    #: Check that the session row still exists (and re-issue a changed payload) on every call.
    check_database: bool = False

    def authenticate(self, request: Request) -> tuple[Any, Session] | None:
        from ..requests import get_session, require_middleware

        http_request = request._request
        require_middleware(http_request, "SuperTokensAuthentication")
        try:
            session = get_session(
                http_request,
                session_required=False,
                anti_csrf_check=self.anti_csrf_check,
                check_database=self.check_database,
            )
        except SuperTokensError as exc:
            _bind(request, None)
            raise _refuse(http_request, exc, auth_header=self.authenticate_header(request)) from exc
        _bind(request, session)
        if session is None:
            return None
        try:
            user = self.get_user(session)
        except SuperTokensError as exc:
            _bind(request, None)
            raise _refuse(http_request, exc, auth_header=self.authenticate_header(request)) from exc
        return user, session

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'

    def get_user(self, session: Session) -> Any:
        """``request.user`` for ``session``, as ``SUPERTOKENS["DRF_USER"]`` chooses.

        ``"auto"`` (default): the Django user with that id, or a :class:`TokenUser` when there is
        none, loaded lazily (no query unless the view reads the user). ``"django"``: the Django
        user, which must exist and be active (one query per request; else 401, tokens cleared).
        ``"token"``: always a :class:`TokenUser` (never a query).
        """
        mode = user_mode()
        if mode == "token":
            return TokenUser(session.get_user_id())
        if mode == "django":
            user = session.get_user()
            if user is None or not getattr(user, "is_active", True):
                raise Unauthorised("the session's user does not exist or is inactive")
            return user
        return _LazyUser(lambda: session.get_user() or TokenUser(session.get_user_id()))


# --------------------------------------------------------------------------- permissions


def _session_or_refuse(request: Request, view: APIView) -> Session:
    from ..session import Session

    session = request.auth
    if isinstance(session, Session):
        return session
    error = Unauthorised("no session", clear_tokens=False)
    raise _refuse(request._request, error, auth_header=view.get_authenticate_header(request))


class HasSession(BasePermission):
    """Requires a SuperTokens session: otherwise 401 ``{"message": "unauthorised"}``.

    Unlike ``IsAuthenticated`` it answers with the protocol's body whatever the view's
    authentication classes, and a user authenticated by another class does not pass. It raises
    rather than returning ``False``, so combine it with ``&`` (or list it), not ``|`` or ``~``.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        _session_or_refuse(request, view)
        return True


_PRESENT: Any = object()


def _same(actual: Any, expected: Any) -> bool:
    # JSON true is not 1: a boolean claim only matches a boolean.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    return bool(actual == expected)


class HasJWTClaim(OperationHolderMixin, BasePermission):
    """Requires a claim in the access-token payload: ``HasJWTClaim("role", "admin")``.

    Passes when the claim equals ``value``, or is a list that contains it; without ``value`` the
    claim must merely be present (and not null). A failure answers 403
    (``INVALID_CLAIM_STATUS_CODE``) with ``{"message": "invalid claim", "claimValidationErrors":
    [{"id": claim, "reason": {...}}]}``, so the SDK fires ``API_INVALID_CLAIM``; no session
    answers 401 as :class:`HasSession` does.
    Use the instance itself in ``permission_classes`` (DRF "instantiates" it by calling it);
    it composes with ``&``.
    """

    def __init__(self, claim: str, value: Any = _PRESENT) -> None:
        self.claim = claim
        self.value = value

    def __call__(self) -> HasJWTClaim:
        return self  # stateless: one instance serves every request

    def __repr__(self) -> str:
        value = "" if self.value is _PRESENT else f", {self.value!r}"
        return f"HasJWTClaim({self.claim!r}{value})"

    def validate(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The claim validation errors for ``payload`` (empty when it passes); no I/O."""
        actual = payload.get(self.claim)
        if actual is None:
            reason: dict[str, Any] = {"message": "value does not exist", "actualValue": None}
            if self.value is not _PRESENT:
                reason["expectedValue"] = self.value
            return [{"id": self.claim, "reason": reason}]
        if self.value is _PRESENT or _same(actual, self.value):
            return []
        if isinstance(actual, list) and not isinstance(self.value, list):
            if any(_same(item, self.value) for item in actual):
                return []
            reason = {
                "message": "wrong value",
                "expectedToInclude": self.value,
                "actualValue": actual,
            }
        else:
            reason = {"message": "wrong value", "expectedValue": self.value, "actualValue": actual}
        return [{"id": self.claim, "reason": reason}]

    def has_permission(self, request: Request, view: APIView) -> bool:
        session = _session_or_refuse(request, view)
        errors = self.validate(session.get_access_token_payload())
        if errors:
            raise _refuse(request._request, InvalidClaim(errors))
        return True


def _register_openapi_extension() -> None:
    if importlib.util.find_spec("drf_spectacular") is not None:
        from . import spectacular  # noqa: F401  (drf-spectacular registers extensions on import)


_register_openapi_extension()
