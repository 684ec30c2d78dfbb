"""Signals sent by the engine, after the change has committed.

Inside a caller's transaction (``ATOMIC_REQUESTS``, ``transaction.atomic``) they go out through
``transaction.on_commit``: once it commits, never if it rolls back. Outside one, at once. (The
atomic blocks Django's ``TestCase`` wraps each test in count as outside, as they do for
``atomic(durable=True)``.) ``token_theft_detected``, and the ``session_revoked`` of a theft, go
out at once: a theft's revocation that rolls back with the view is made again after it, by the
middleware.
"""

from django.dispatch import Signal

#: sender=Session model; kwargs: handle, user_id, request (or None)
session_created = Signal()
#: sender=Session model; kwargs: handle, user_id, promoted (bool), request
session_refreshed = Signal()
#: sender=Session model; kwargs: handle, user_id, reason, revoked_by
session_revoked = Signal()
#: sender=Session model; kwargs: handle, user_id, request_meta (ip, user agent)
token_theft_detected = Signal()
