"""SuperTokens-style sessions for Django: short-lived JWT access tokens, rotating refresh tokens
with theft detection, and the SuperTokens browser SDK's wire protocol, with no external service.

The public API is importable from here; it is loaded on first use so that importing the package
does not import models before Django's app registry is ready.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

_EXPORTS = {
    # handle-level engine API
    "revoke_session": "engine",
    "arevoke_session": "engine",
    "revoke_multiple_sessions": "engine",
    "arevoke_multiple_sessions": "engine",
    "revoke_all_sessions_for_user": "engine",
    "arevoke_all_sessions_for_user": "engine",
    "get_all_session_handles_for_user": "engine",
    "aget_all_session_handles_for_user": "engine",
    "get_session_data": "engine",
    "aget_session_data": "engine",
    "update_session_data": "engine",
    "aupdate_session_data": "engine",
    "get_jwt_payload": "engine",
    "aget_jwt_payload": "engine",
    "update_jwt_payload": "engine",
    "aupdate_jwt_payload": "engine",
    "SessionTokens": "engine",
    "RequestMeta": "engine",
    # request-level API (the HTTP layer)
    "create_new_session": "requests",
    "acreate_new_session": "requests",
    "get_session": "requests",
    "aget_session": "requests",
    "refresh_session": "requests",
    "arefresh_session": "requests",
    "verify_session": "decorators",
    # objects and errors
    "Session": "session",
    "SuperTokensError": "exceptions",
    "Unauthorised": "exceptions",
    "TryRefreshToken": "exceptions",
    "TokenTheftDetected": "exceptions",
    "InvalidClaim": "exceptions",
    "ServiceUnavailable": "exceptions",
    "InvalidSessionData": "exceptions",
}

__all__ = [
    "InvalidClaim",
    "InvalidSessionData",
    "RequestMeta",
    "ServiceUnavailable",
    "Session",
    "SessionTokens",
    "SuperTokensError",
    "TokenTheftDetected",
    "TryRefreshToken",
    "Unauthorised",
    "acreate_new_session",
    "aget_all_session_handles_for_user",
    "aget_jwt_payload",
    "aget_session",
    "aget_session_data",
    "arefresh_session",
    "arevoke_all_sessions_for_user",
    "arevoke_multiple_sessions",
    "arevoke_session",
    "aupdate_jwt_payload",
    "aupdate_session_data",
    "create_new_session",
    "get_all_session_handles_for_user",
    "get_jwt_payload",
    "get_session",
    "get_session_data",
    "refresh_session",
    "revoke_all_sessions_for_user",
    "revoke_multiple_sessions",
    "revoke_session",
    "update_jwt_payload",
    "update_session_data",
    "verify_session",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from .decorators import verify_session
    from .engine import (
        RequestMeta,
        SessionTokens,
        aget_all_session_handles_for_user,
        aget_jwt_payload,
        aget_session_data,
        arevoke_all_sessions_for_user,
        arevoke_multiple_sessions,
        arevoke_session,
        aupdate_jwt_payload,
        aupdate_session_data,
        get_all_session_handles_for_user,
        get_jwt_payload,
        get_session_data,
        revoke_all_sessions_for_user,
        revoke_multiple_sessions,
        revoke_session,
        update_jwt_payload,
        update_session_data,
    )
    from .exceptions import (
        InvalidClaim,
        InvalidSessionData,
        ServiceUnavailable,
        SuperTokensError,
        TokenTheftDetected,
        TryRefreshToken,
        Unauthorised,
    )
    from .requests import (
        acreate_new_session,
        aget_session,
        arefresh_session,
        create_new_session,
        get_session,
        refresh_session,
    )
    from .session import Session
