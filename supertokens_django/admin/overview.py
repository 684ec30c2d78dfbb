"""The numbers above the sessions list: four counts on indexes, whatever the table size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models import RevocationReason, RevokedSession, Session

RECENT_SESSIONS = timedelta(hours=24)
RECENT_THEFTS = timedelta(days=7)


@dataclass(frozen=True)
class Overview:
    active_sessions: int
    active_users: int
    created_recently: int
    thefts_recently: int


def compute(now: datetime) -> Overview:
    """Active sessions on the ``expires_at`` index, their users on ``(subject, expires_at)``, the
    last 24 hours on ``created_at``, theft detections on ``revoked_at``.

    Theft detections are counted among the revocation records still stored, and
    ``supertokens_cleanup`` deletes a record once it expires (by default an hour after the
    revocation): theft records must be kept 7 days for this number to cover 7 days.
    """
    active = Session.objects.active(now)
    sessions = active.count()
    # COUNT over SELECT DISTINCT: PostgreSQL reads the (subject, expires_at) index only, where
    # COUNT(DISTINCT subject) sorts the table's rows (5x slower at a million).
    users = active.order_by().values("subject").distinct().count()
    created = Session.objects.filter(created_at__gt=now - RECENT_SESSIONS).count()
    thefts = RevokedSession.objects.filter(
        reason=RevocationReason.THEFT, revoked_at__gt=now - RECENT_THEFTS
    ).count()
    return Overview(
        active_sessions=sessions,
        active_users=users,
        created_recently=created,
        thefts_recently=thefts,
    )
