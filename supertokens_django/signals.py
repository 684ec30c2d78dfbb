"""Signals sent by the engine (after the change has committed)."""

from django.dispatch import Signal

#: sender=Session model; kwargs: handle, user_id, request (or None)
session_created = Signal()
#: sender=Session model; kwargs: handle, user_id, promoted (bool), request
session_refreshed = Signal()
#: sender=Session model; kwargs: handle, user_id, reason, revoked_by
session_revoked = Signal()
#: sender=Session model; kwargs: handle, user_id, request_meta (ip, user agent)
token_theft_detected = Signal()
