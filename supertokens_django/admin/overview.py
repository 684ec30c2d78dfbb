"""The numbers above the sessions list: four counts on indexes, whatever the table size.

Counts beyond ``EXACT_COUNT_LIMIT`` are the planner's estimates on PostgreSQL, as for the
paginator: counting half a million active sessions exactly, on every page of the list, would
take most of the page's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models import RevocationReason, RevokedSession, Session
from .changelist import bounded_count

RECENT_SESSIONS = timedelta(hours=24)
RECENT_THEFTS = timedelta(days=7)


@dataclass(frozen=True)
class Overview:
    active_sessions: int
    active_users: int
    created_recently: int
    thefts_recently: int
    #: Some count is an estimate (more than ``EXACT_COUNT_LIMIT`` rows).
    estimated: bool = False


def compute(now: datetime) -> Overview:
    """Active sessions on the ``expires_at`` index, their users on ``(subject, expires_at)``, the
    last 24 hours on ``created_at``, theft detections on ``revoked_at``.

    Theft detections are counted among the revocation records still stored, and
    ``supertokens_cleanup`` deletes a record once it expires (by default an hour after the
    revocation): theft records must be kept 7 days for this number to cover 7 days.
    """
    active = Session.objects.active(now)
    sessions = bounded_count(active)
    # COUNT over SELECT DISTINCT: PostgreSQL reads the (subject, expires_at) index only, where
    # COUNT(DISTINCT subject) sorts the table's rows (5x slower at a million).
    users = bounded_count(active.order_by().values("subject").distinct())
    created = bounded_count(Session.objects.filter(created_at__gt=now - RECENT_SESSIONS))
    thefts = bounded_count(
        RevokedSession.objects.filter(
            reason=RevocationReason.THEFT, revoked_at__gt=now - RECENT_THEFTS
        )
    )
    return Overview(
        active_sessions=sessions[0],
        active_users=users[0],
        created_recently=created[0],
        thefts_recently=thefts[0],
        estimated=any(c[1] for c in (sessions, users, created, thefts)),
    )
