"""The Django admin for sessions, the revocation list and signing keys (``admin.site``).

Importing this package (Django's admin autodiscovery does) registers ``SessionAdmin``,
``RevokedSessionAdmin`` and ``SigningKeyAdmin``, and adds ``UserSessionsInline`` to the
registered ``UserAdmin`` on the first request (see :mod:`.users`).
"""

from .revoked import RevokedSessionAdmin
from .sessions import SessionAdmin
from .signing_keys import SigningKeyAdmin
from .users import UserSessionsInline, attach_to_user_admin

__all__ = [
    "RevokedSessionAdmin",
    "SessionAdmin",
    "SigningKeyAdmin",
    "UserSessionsInline",
    "attach_to_user_admin",
]
