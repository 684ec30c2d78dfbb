"""The session engine: create, verify, refresh (rotation with theft detection) and revoke.

Everything here works on tokens and handles; the HTTP layers (``transport``, ``drf``) read
tokens from requests and write the results back. PROTOCOL.md §8 is the specification; in short,
with ``H = sha256_hex`` and the database holding only ``H(H(current refresh token))``:

refresh(RT), as if in one transaction with the session row locked (the common cases take one
statement, without a transaction of their own: see :func:`_rotate` and ``promotion.py``):
  1. RT's MAC fails, or the row is missing or expired     → ``Unauthorised``
  2. ``H(H(RT))`` is stored (RT is current)                → mint a child; row unchanged
  3. ``H(parent(RT))`` is stored (RT is an unused child)   → promote RT, slide the expiry, mint
  4. anything else (a superseded token of a live session)  → revoke, ``TokenTheftDetected``

Step 2 leaves the row alone, so a lost response or N parallel refreshes with the same token are
harmless; the first *use* of a child (its access token, or refreshing with it) promotes it, and
from then on its parent and its siblings are superseded. A token we did not MAC never reaches
step 4, so forgery cannot revoke anybody.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.db import models as dj_models
from django.dispatch import Signal
from django.utils import timezone

from . import blacklist, db, fastpath, promotion
from .conf import settings_cache, st_settings
from .exceptions import TokenTheftDetected, TryRefreshToken, Unauthorised
from .keys import keyring, server_secrets
from .models import RevocationReason, RevokedSession
from .models import Session as SessionRow
from .session import Session
from .signals import session_created, session_refreshed, session_revoked, token_theft_detected
from .tokens import (
    AccessToken,
    encode_access_token,
    mint_refresh_token,
    new_anti_csrf_token,
    parse_refresh_token,
    sha256_hex,
)
from .validation import validate_json_object, validate_jwt_payload

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger("supertokens_django.engine")
security_logger = logging.getLogger("django.security.supertokens")

#: A Django user instance, or a user id: a string, an ``int`` (not a ``bool``) or a ``UUID``
#: (``user.pk``), which means its ``str()``. ``Any``: ``request.user`` is typed as possibly
#: anonymous, and the public functions take it as it is.
UserOrId = Any


#: How long a theft detection stays on the revocation list (and in the admin).
THEFT_RECORD_RETENTION = timedelta(days=7)


def _now() -> datetime:
    """The engine's clock (a seam for tests): ``timezone.now()``.

    Every verified request reads it, and ``timezone.now()`` reads ``settings.USE_TZ`` through
    ``LazySettings`` (half a microsecond): once Django has that setting cached (it has after
    the first request), it is read from the cache directly.
    """
    if settings_cache.get("USE_TZ") is True:
        return datetime.now(dt_timezone.utc)
    return timezone.now()  # (which reads the setting, and so fills the cache)


@dataclass(frozen=True)
class RequestMeta:
    """What a session records about the client that created it."""

    ip_address: str | None = None
    user_agent: str = ""


def _recordable(meta: RequestMeta) -> tuple[str | None, str]:
    """``(ip, user agent)`` as the row can store them on every database.

    Both come from the client or a proxy: an address that does not parse (a misconfigured
    ``X-Forwarded-For`` middleware's ``"a, b"``) is not recorded rather than failing the login
    (PostgreSQL's ``inet`` refuses it), and NUL or lone surrogates are dropped from the agent.
    """
    ip = meta.ip_address or None
    try:
        if ip is not None:
            ipaddress.ip_address(ip)
    except ValueError:
        ip = None
    agent = meta.user_agent.encode("utf-8", "replace").decode().replace("\x00", "")
    return ip, agent[:512]


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionTokens:
    """The result of creating or refreshing a session: everything the response must carry."""

    session: Session
    access_token: AccessToken
    refresh_token: IssuedRefreshToken
    anti_csrf_token: str | None


def resolve_user(user: UserOrId) -> tuple[str, AbstractBaseUser | None]:
    """``(user id string, user instance or None)`` for a Django user or a user id.

    An ``int`` or ``UUID`` id (a primary key, as a developer has it) means its ``str()``, which
    is what ``str(user.pk)`` gives for the user itself: ``1`` and ``"1"`` are the same id. An id
    is never looked up, whatever its type: the session then links no user row (``user`` empty).
    ``bool`` is an ``int`` to Python but no one's id: refused.
    """
    if isinstance(user, dj_models.Model):
        if user.pk is None:
            raise ValueError("the user must be saved before a session can be created for it")
        return str(user.pk), user  # type: ignore[return-value]
    if isinstance(user, (int, uuid.UUID)) and not isinstance(user, bool):
        user = str(user)
    if isinstance(user, str) and user and len(user) <= 255:
        return user, None
    raise ValueError(
        "a user id must be a non-empty string of at most 255 characters, an int or a UUID,"
        " or a user"
    )


def default_issuer() -> str:
    return f"{st_settings.api_domain or ''}{st_settings.api_base_path}"


def _anti_csrf_for_new_tokens() -> str | None:
    return new_anti_csrf_token() if st_settings.anti_csrf == "VIA_TOKEN" else None


def mint_access_token(
    *,
    user_id: str,
    handle: str,
    refresh_token_hash1: str,
    parent_refresh_token_hash1: str | None,
    anti_csrf_token: str | None,
    custom_payload: dict[str, Any],
    issuer: str,
    now: datetime,
) -> AccessToken:
    return encode_access_token(
        key=keyring.signing_material(now),
        user_id=user_id,
        handle=handle,
        refresh_token_hash1=refresh_token_hash1,
        parent_refresh_token_hash1=parent_refresh_token_hash1,
        anti_csrf_token=anti_csrf_token,
        custom_payload=custom_payload,
        issuer=issuer,
        now=now,
        lifetime=st_settings.access_token_lifetime,
    )


# --------------------------------------------------------------------------- create


def create_session(
    user: UserOrId,
    *,
    jwt_payload: dict[str, Any] | None = None,
    session_data: dict[str, Any] | None = None,
    issuer: str | None = None,
    meta: RequestMeta | None = None,
    request: Any = None,
) -> SessionTokens:
    """Start a session for ``user`` (a Django user, or a user id: see :func:`resolve_user`): one
    INSERT, then tokens."""
    user_id, user_obj = resolve_user(user)
    payload = validate_jwt_payload(jwt_payload, max_bytes=st_settings.max_jwt_payload_bytes)
    data = validate_json_object(
        session_data, max_bytes=st_settings.max_session_data_bytes, what="session data"
    )
    issuer = default_issuer() if issuer is None else issuer
    ip_address, user_agent = _recordable(meta or RequestMeta())
    now = _now()
    handle = str(uuid.uuid4())
    anti_csrf = _anti_csrf_for_new_tokens()
    refresh = mint_refresh_token(
        handle=handle, parent_hash1=None, anti_csrf_token=anti_csrf, secret=server_secrets()[0]
    )
    expires_at = now + st_settings.refresh_token_lifetime
    # Sign first: a key problem must not leave a row behind.
    access = mint_access_token(
        user_id=user_id,
        handle=handle,
        refresh_token_hash1=refresh.hash1,
        parent_refresh_token_hash1=None,
        anti_csrf_token=anti_csrf,
        custom_payload=payload,
        issuer=issuer,
        now=now,
    )
    row = {
        "handle": handle,
        "user": user_obj.pk if user_obj is not None else None,
        "subject": user_id,
        "refresh_token_hash_2": refresh.hash2,
        "session_data": data,
        "jwt_payload": payload,
        "created_at": now,
        "last_active_at": now,
        "expires_at": expires_at,
        "ip_address": ip_address,
        "user_agent": user_agent,
    }
    db.run(lambda: db.insert(SessionRow, row), atomic=False)
    session = Session(access, issuer=issuer, user=user_obj)
    _send_on_commit(session_created, handle=handle, user_id=user_id, request=request)
    return SessionTokens(
        session=session,
        access_token=access,
        refresh_token=IssuedRefreshToken(refresh.token, expires_at),
        anti_csrf_token=anti_csrf,
    )


# --------------------------------------------------------------------------- refresh


def refresh_session(
    refresh_token: str,
    *,
    anti_csrf_token: str | None = None,
    check_anti_csrf: bool = False,
    issuer: str | None = None,
    meta: RequestMeta | None = None,
    request: Any = None,
) -> SessionTokens:
    """Rotate ``refresh_token`` (PROTOCOL.md §8). See the module docstring for the algorithm."""
    parsed = parse_refresh_token(refresh_token, secrets_=server_secrets())
    if check_anti_csrf and st_settings.anti_csrf == "VIA_TOKEN":
        if not (
            parsed.anti_csrf_token
            and anti_csrf_token
            and hmac.compare_digest(parsed.anti_csrf_token.encode(), anti_csrf_token.encode())
        ):
            # Not cleared: clearing on a failed CSRF check would hand attackers a logout-CSRF.
            raise Unauthorised("anti-csrf check failed on refresh", clear_tokens=False)
    issuer = default_issuer() if issuer is None else issuer
    now = _now()
    hash1 = parsed.hash1
    outcome, row = _rotate(parsed.handle, parsed.hash2, parsed.parent_hash1, now)
    if outcome == "gone" or row is None:
        raise Unauthorised("session not found or expired")
    user_id, handle = row.subject, parsed.handle
    if outcome == "theft":
        # At once, even inside a caller's transaction: should it roll back, the middleware
        # revokes again after the view (``confirm_theft``), and a signal and a "1" in the cache
        # for a session whose token was stolen err on the safe side.
        _announce_revocation([handle], RevocationReason.THEFT, "", {handle: user_id})
        security_logger.warning(
            "refresh token reuse: session %s of user %s revoked", handle, user_id
        )
        token_theft_detected.send(
            SessionRow, handle=handle, user_id=user_id, request_meta=meta, request=request
        )
        raise TokenTheftDetected(handle=handle, user_id=user_id)

    anti_csrf = _anti_csrf_for_new_tokens()
    child = mint_refresh_token(
        handle=handle, parent_hash1=hash1, anti_csrf_token=anti_csrf, secret=server_secrets()[0]
    )
    access = mint_access_token(
        user_id=user_id,
        handle=handle,
        refresh_token_hash1=child.hash1,
        parent_refresh_token_hash1=hash1,
        anti_csrf_token=anti_csrf,
        custom_payload=dict(row.jwt_payload),
        issuer=issuer,
        now=now,
    )
    _send_on_commit(
        session_refreshed,
        handle=handle,
        user_id=user_id,
        promoted=outcome == "promoted",
        request=request,
    )
    return SessionTokens(
        session=Session(access, issuer=issuer),
        access_token=access,
        refresh_token=IssuedRefreshToken(child.token, now + st_settings.refresh_token_lifetime),
        anti_csrf_token=anti_csrf,
    )


def _rotate(
    handle: str, hash2: str, parent_hash1: str | None, now: datetime
) -> tuple[str, promotion.Claims | None]:
    """Classify a refresh token (steps 1–4 of the module docstring), cheapest first.

    1. A child whose parent is stored: promoted by one conditional UPDATE (``promotion.py``).
    2. Outside a caller's transaction, a plain read answers "gone" and "current": each statement
       then reads the latest committed row, so the answer is the one a locked read would have
       given at that moment, and neither outcome writes anything a lock would protect.
    3. Everything else (a theft, or a row that changed since 1) is decided under the row lock,
       which a revocation needs, and which a caller's transaction needs for any read to be
       fresh (REPEATABLE READ answers from an older snapshot).
    """
    if parent_hash1:
        promoted = _promote(handle, sha256_hex(parent_hash1), hash2, now)
        if promoted is not None:
            return "promoted", promoted
    if not connections[db.write_alias()].in_atomic_block:
        found = db.run(lambda: promotion.read(handle), atomic=False)
        if found is None or found.expires_at <= now:
            return "gone", None
        if hmac.compare_digest(found.refresh_token_hash_2, hash2):
            return "current", found
    return db.run(lambda: _rotate_locked(handle, hash2, parent_hash1, now))


def _rotate_locked(
    handle: str, hash2: str, parent_hash1: str | None, now: datetime
) -> tuple[str, promotion.Claims | None]:
    """Steps 1–4 under the row lock (inside ``db.run``'s transaction, where
    ``promotion.read`` locks the row)."""
    found = promotion.read(handle)
    if found is None or found.expires_at <= now:
        return "gone", None
    stored = found.refresh_token_hash_2
    if hmac.compare_digest(stored, hash2):
        return "current", found
    if parent_hash1 and hmac.compare_digest(stored, sha256_hex(parent_hash1)):
        # The same conditional UPDATE as step 1: belt and braces under the row lock.
        return "promoted", _promote(handle, stored, hash2, now)
    _delete_and_blacklist([(handle, found.subject, found.user_id)], RevocationReason.THEFT, "", now)
    return "theft", found


# --------------------------------------------------------------------------- verify


def verify_access_token(
    token: str,
    *,
    anti_csrf_token: str | None = None,
    check_anti_csrf: bool = False,
    check_database: bool = False,
    issuer: str | Callable[[], str] | None = None,
) -> Session:
    """Verify an access token and return its :class:`Session`.

    Steady state (no parent hash, no revocation check asked for): no database access. The first
    call after a refresh promotes the child refresh token in one transaction and queues a
    replacement access token on the session (``session.new_access_token``).

    ``issuer`` is only needed when a token is minted (a promotion, a re-issue, a later
    ``update_jwt_payload``): a callable is called then, at most once; ``None`` means
    :func:`default_issuer`.
    """
    now = _now()
    config = st_settings.current()
    # Through the per-process cache of tokens already verified in full (fastpath.py).
    access = fastpath.verified_tokens.verify(
        token,
        algorithm=config.signing_algorithm,
        resolve_key=lambda kid: keyring.resolve(kid, now),
        key_trusted=lambda kid: keyring.is_trusted(kid, now, config),
        now=now,
        leeway=config.leeway,
        size=config.verified_token_cache_size,
    )
    if check_anti_csrf and config.anti_csrf == "VIA_TOKEN":
        if not (
            access.anti_csrf_token
            and anti_csrf_token
            and hmac.compare_digest(access.anti_csrf_token.encode(), anti_csrf_token.encode())
        ):
            raise TryRefreshToken("anti-csrf check failed")
    session = Session(access, issuer=default_issuer if issuer is None else issuer)
    if access.parent_refresh_token_hash1 is not None:
        _promote_from_access_token(session, access, now)
    elif check_database:
        _check_row(session, access, now)
    elif config.blacklisting and blacklist.is_revoked(access.handle):
        raise Unauthorised("session revoked")
    return session


def _check_row(session: Session, access: AccessToken, now: datetime) -> None:
    """``check_database``: the row must exist, and a changed payload is re-issued at once."""
    row = db.run(
        lambda: (
            SessionRow.objects.using(db.write_alias())
            .filter(handle=access.handle, expires_at__gt=now)
            .values("jwt_payload")
            .first()
        ),
        atomic=False,
    )
    if row is None:
        raise Unauthorised("session revoked or expired")
    stored = row["jwt_payload"] or {}
    if _payload_differs(stored, access):
        session.reissue(custom_payload=dict(stored), now=now)


def _payload_differs(stored: dict[str, Any], access: AccessToken) -> bool:
    """Whether the token's claims differ from the stored custom payload.

    ``iss`` is ours unless the payload sets it, and ``custom_payload`` never lists it: compare it
    only when it is stored, or a payload with ``iss`` would be re-issued on every check.
    """
    if {k: v for k, v in stored.items() if k != "iss"} != access.custom_payload:
        return True
    return "iss" in stored and stored["iss"] != access.payload.get("iss")


#: A promotion slides the session's expiry only once it would move by at least this share of
#: ``REFRESH_TOKEN_LIFETIME``: a day of the default 100 days (``promotion.expiry_slide`` says why).
EXPIRY_SLIDE_STEP = 0.01


def _promote(
    handle: str, parent_hash2: str, child_hash2: str, now: datetime
) -> promotion.Claims | None:
    """``promotion.promote`` with this deployment's lifetime and slide step."""
    return promotion.promote(
        handle,
        parent_hash2=parent_hash2,
        child_hash2=child_hash2,
        now=now,
        lifetime=st_settings.refresh_token_lifetime,
        step=EXPIRY_SLIDE_STEP,
    )


def _promote_from_access_token(session: Session, access: AccessToken, now: datetime) -> None:
    """The first use of a refreshed access token: promote its refresh token, and queue a
    replacement access token without the parent hash (``session.new_access_token``).

    Cheapest first, as :func:`_rotate`: one conditional UPDATE; when it matches nothing, the row
    moved on already (hashes only move forward), and a plain read outside a caller's transaction
    tells "promoted by a parallel request" (replace) from "a sibling's lineage moved on" (keep
    the token, which stays usable until it expires) and from "gone".
    """
    parent_hash2 = sha256_hex(access.parent_refresh_token_hash1 or "")
    child_hash2 = sha256_hex(access.refresh_token_hash1)
    promoted = _promote(access.handle, parent_hash2, child_hash2, now)
    if promoted is not None:
        session.reissue(custom_payload=promoted.jwt_payload, now=now)
        return

    # (A locking read inside a caller's transaction: see ``promotion.read``.)
    found = db.run(lambda: promotion.read(access.handle), atomic=False)
    if found is None or found.expires_at <= now:
        raise Unauthorised("session revoked or expired")
    if hmac.compare_digest(found.refresh_token_hash_2, child_hash2):
        session.reissue(custom_payload=found.jwt_payload, now=now)


# --------------------------------------------------------------------------- revoke


def _delete_and_blacklist(
    rows: list[tuple[str, str, Any]], reason: str, revoked_by: str, now: datetime
) -> None:
    """Inside a transaction: delete the session rows and record them in the blacklist."""
    handles = [h for h, _s, _u in rows]
    SessionRow.objects.filter(handle__in=handles).delete()
    record_until = now + st_settings.access_token_lifetime + st_settings.leeway
    if reason == RevocationReason.THEFT:
        # Theft records outlive the tokens: the admin's overview reports the last 7 days.
        record_until = max(record_until, now + THEFT_RECORD_RETENTION)
    RevokedSession.objects.bulk_create(
        [
            RevokedSession(
                handle=h,
                subject=s,
                user_id=u,
                reason=reason,
                revoked_at=now,
                revoked_by=revoked_by[:255],
                expires_at=record_until,
            )
            for h, s, u in rows
        ],
        ignore_conflicts=True,
    )


def _remember_revoked(handles: list[str]) -> None:
    # As long as an access token of theirs may still verify.
    blacklist.remember_revoked(handles, st_settings.access_token_lifetime + st_settings.leeway)


def _send_on_commit(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` (sender: the Session model) once the caller's transaction commits, never
    if it rolls back; at once outside one (``db.on_commit``)."""
    db.on_commit(functools.partial(signal.send, SessionRow, **kwargs), db.write_alias())


def _after_revocation(
    handles: list[str], reason: str, revoked_by: str, user_ids: dict[str, str]
) -> None:
    """Tell the cache and send ``session_revoked`` once the revocation commits (at once outside
    a caller's transaction), never if it rolls back: a "1" in the cache would refuse a live
    session for as long as an access token lives.

    The bounded mode's memory of this process is marked at once as well, so that the process
    that revokes refuses at once, from inside the transaction on; should it roll back, the
    handles are refused here for at most ``BLACKLIST_BOUND`` (it fails closed)."""
    alias = db.write_alias()
    if db.in_transaction(alias):
        blacklist.mark_locally(handles)
    db.on_commit(
        functools.partial(_announce_revocation, handles, reason, revoked_by, user_ids), alias
    )


def _announce_revocation(
    handles: list[str], reason: str, revoked_by: str, user_ids: dict[str, str]
) -> None:
    _remember_revoked(handles)
    for handle in handles:
        session_revoked.send(
            SessionRow,
            handle=handle,
            user_id=user_ids[handle],
            reason=reason,
            revoked_by=revoked_by,
        )


def _delete_where(
    filters: dict[str, Any], reason: str, revoked_by: str
) -> list[tuple[str, str, Any]]:
    """Delete and blacklist the matching rows in one transaction; return (handle, subject, user)."""
    now = _now()

    def revoke() -> list[tuple[str, str, Any]]:
        rows = [
            (str(h), s, u)
            for h, s, u in SessionRow.objects.using(db.write_alias())
            .select_for_update()
            .filter(**filters)
            .values_list("handle", "subject", "user_id")
        ]
        if rows:
            _delete_and_blacklist(rows, reason, revoked_by, now)
        return rows

    return db.run(revoke)


def _revoke_where(filters: dict[str, Any], *, reason: str, revoked_by: str = "") -> list[str]:
    rows = _delete_where(filters, reason, revoked_by)
    handles = [h for h, _s, _u in rows]
    _after_revocation(handles, reason, revoked_by, {h: s for h, s, _u in rows})
    return handles


def confirm_theft(handle: str) -> None:
    """Revoke ``handle`` for theft if its row is still there, without signals (they went out
    with the first revocation, which a caller's transaction may have rolled back)."""
    if _delete_where({"handle": handle}, RevocationReason.THEFT, ""):
        _remember_revoked([handle])
        security_logger.warning(
            "session %s revoked again for theft: the first was rolled back", handle
        )


def _handle(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def revoke_session(
    handle: str, *, reason: str = RevocationReason.API, revoked_by: str = ""
) -> bool:
    """Revoke one session; ``False`` if it did not exist (or was already revoked)."""
    valid = _handle(handle)
    if valid is None:
        return False
    return bool(_revoke_where({"handle": valid}, reason=reason, revoked_by=revoked_by))


def revoke_multiple_sessions(
    handles: Iterable[str], *, reason: str = RevocationReason.API, revoked_by: str = ""
) -> list[str]:
    valid = sorted({h for h in map(_handle, handles) if h is not None})
    if not valid:
        return []
    return _revoke_where({"handle__in": valid}, reason=reason, revoked_by=revoked_by)


def revoke_all_sessions_for_user(
    user: UserOrId, *, reason: str = RevocationReason.ALL_FOR_USER, revoked_by: str = ""
) -> list[str]:
    """Revoke every session of ``user`` (a Django user, or a user id: see :func:`resolve_user`);
    return their handles."""
    user_id, _ = resolve_user(user)
    return _revoke_where({"subject": user_id}, reason=reason, revoked_by=revoked_by)


def get_all_session_handles_for_user(user: UserOrId) -> list[str]:
    """Every live session handle of ``user`` (a Django user, or a user id: see
    :func:`resolve_user`), in one query however many there are."""
    user_id, _ = resolve_user(user)
    return db.run(
        lambda: [
            str(h)
            for h in SessionRow.objects.using(db.write_alias())
            .active(_now())
            .for_user(user_id)
            .values_list("handle", flat=True)
        ],
        atomic=False,
    )


# --------------------------------------------------------------------------- data by handle


def _live(handle: str) -> Any:
    valid = _handle(handle)
    if valid is None:
        raise Unauthorised("no such session")
    # Reads as well as writes on the primary (db.write_alias): a replica may still have a row
    # that was revoked, or not yet have one just created.
    return SessionRow.objects.using(db.write_alias()).filter(handle=valid, expires_at__gt=_now())


def get_session_data(handle: str) -> dict[str, Any]:
    row = db.run(lambda: _live(handle).values_list("session_data", flat=True).first(), atomic=False)
    if row is None:
        raise Unauthorised("session revoked or expired")
    return dict(row)


def update_session_data(handle: str, data: dict[str, Any]) -> None:
    clean = validate_json_object(
        data, max_bytes=st_settings.max_session_data_bytes, what="session data"
    )
    if not db.run(lambda: _live(handle).update(session_data=clean), atomic=False):
        raise Unauthorised("session revoked or expired")


def get_jwt_payload(handle: str) -> dict[str, Any]:
    row = db.run(lambda: _live(handle).values_list("jwt_payload", flat=True).first(), atomic=False)
    if row is None:
        raise Unauthorised("session revoked or expired")
    return dict(row)


def update_jwt_payload(handle: str, payload: dict[str, Any]) -> None:
    """Store a new custom payload; clients see it on their next refresh or promotion."""
    clean = validate_jwt_payload(payload, max_bytes=st_settings.max_jwt_payload_bytes)
    if not db.run(lambda: _live(handle).update(jwt_payload=clean), atomic=False):
        raise Unauthorised("session revoked or expired")


# --------------------------------------------------------------------------- async twins
# Reads and single-statement writes use Django's async ORM; operations that need a transaction
# (Django's async ORM has none) run the sync version in the connection's thread.


async def _adb(coro: Any) -> Any:
    from django.db import DatabaseError

    from .exceptions import ServiceUnavailable

    try:
        return await coro
    except DatabaseError as exc:
        raise ServiceUnavailable("database unavailable") from exc


async def aget_session_data(handle: str) -> dict[str, Any]:
    row = await _adb(_live(handle).values_list("session_data", flat=True).afirst())
    if row is None:
        raise Unauthorised("session revoked or expired")
    return dict(row)


async def aupdate_session_data(handle: str, data: dict[str, Any]) -> None:
    clean = validate_json_object(
        data, max_bytes=st_settings.max_session_data_bytes, what="session data"
    )
    if not await _adb(_live(handle).aupdate(session_data=clean)):
        raise Unauthorised("session revoked or expired")


async def aget_jwt_payload(handle: str) -> dict[str, Any]:
    row = await _adb(_live(handle).values_list("jwt_payload", flat=True).afirst())
    if row is None:
        raise Unauthorised("session revoked or expired")
    return dict(row)


async def aupdate_jwt_payload(handle: str, payload: dict[str, Any]) -> None:
    clean = validate_jwt_payload(payload, max_bytes=st_settings.max_jwt_payload_bytes)
    if not await _adb(_live(handle).aupdate(jwt_payload=clean)):
        raise Unauthorised("session revoked or expired")


async def aget_all_session_handles_for_user(user: UserOrId) -> list[str]:
    user_id, _ = resolve_user(user)
    qs = (
        SessionRow.objects.using(db.write_alias())
        .active(_now())
        .for_user(user_id)
        .values_list("handle", flat=True)
    )

    async def collect() -> list[str]:
        return [str(h) async for h in qs]

    return await _adb(collect())  # type: ignore[no-any-return]


acreate_session = sync_to_async(create_session, thread_sensitive=True)
arefresh_session = sync_to_async(refresh_session, thread_sensitive=True)
averify_access_token = sync_to_async(verify_access_token, thread_sensitive=True)
arevoke_session = sync_to_async(revoke_session, thread_sensitive=True)
arevoke_multiple_sessions = sync_to_async(revoke_multiple_sessions, thread_sensitive=True)
arevoke_all_sessions_for_user = sync_to_async(revoke_all_sessions_for_user, thread_sensitive=True)
