"""The library's errors; the HTTP layers map them to the responses of PROTOCOL.md §5."""

from __future__ import annotations

from typing import Any


class SuperTokensError(Exception):
    """Base class. ``clear_tokens`` tells the transport to clear the client's tokens."""

    clear_tokens = False
    message = "unauthorised"

    def __init__(self, detail: str = "") -> None:
        # ``detail`` is for logs and developers only; it never reaches a response body.
        super().__init__(detail or self.message)
        self.detail = detail


class Unauthorised(SuperTokensError):
    """No usable session: missing, malformed or forged refresh token, or the session is gone."""

    def __init__(self, detail: str = "", *, clear_tokens: bool = True) -> None:
        super().__init__(detail)
        self.clear_tokens = clear_tokens


class TryRefreshToken(SuperTokensError):
    """The access token cannot be used as it is (expired, bad signature, anti-CSRF failed...)."""

    message = "try refresh token"


class TokenTheftDetected(SuperTokensError):
    """A superseded refresh token was presented again: the session has been revoked."""

    clear_tokens = True
    message = "token theft detected"

    def __init__(self, *, handle: str, user_id: str) -> None:
        super().__init__(f"refresh token reuse for session {handle}")
        self.handle = handle
        self.user_id = user_id


class InvalidClaim(SuperTokensError):
    """A claim check on the access-token payload failed (answered 403, tokens untouched)."""

    message = "invalid claim"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("claim validation failed")
        self.errors = errors


class ServiceUnavailable(SuperTokensError):
    """The database (or the cache and the database) could not answer: fail closed with a 503."""

    message = "service unavailable"


class InvalidSessionData(ValueError):
    """Session data or a JWT payload that cannot be stored.

    Not a JSON object, too big, not representable in every database, or a protected claim.
    """
