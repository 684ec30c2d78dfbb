"""``manage.py supertokens_revoke --user ID | --handle H [H ...]``: revoke sessions.

Revocation goes through the engine, so it is recorded in the blacklist (reason "admin", revoked
by "manage.py"), the blacklist cache is told, and ``session_revoked`` is sent, exactly as for a
revocation from the admin or the API. Without ``BLACKLISTING`` the sessions' access tokens keep
working until they expire (at most ``ACCESS_TOKEN_LIFETIME``); their refresh tokens never work
again.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from supertokens_django import engine
from supertokens_django.exceptions import ServiceUnavailable
from supertokens_django.models import RevocationReason

REVOKED_BY = "manage.py"


class Command(BaseCommand):
    help = "Revoke every session of a user, or the sessions with the given handles."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--user",
            metavar="ID",
            help="The user id the sessions carry (for Django users, the primary key).",
        )
        target.add_argument(
            "--handle",
            action="extend",
            nargs="+",
            metavar="HANDLE",
            help="A session handle; give several, or repeat the option.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["user"] is not None:
                try:
                    # call_command(user=user.pk) passes the primary key as it is, which the
                    # engine takes (an int or a UUID means its str()); a bool is refused.
                    revoked = engine.revoke_all_sessions_for_user(
                        options["user"], reason=RevocationReason.ADMIN, revoked_by=REVOKED_BY
                    )
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
            else:
                values = options["handle"]
                # call_command(handle="...") passes one string as it is, not a list of them.
                values = [values] if isinstance(values, str) else values
                handles = [_handle(str(value)) for value in values]
                revoked = engine.revoke_multiple_sessions(
                    handles, reason=RevocationReason.ADMIN, revoked_by=REVOKED_BY
                )
        except ServiceUnavailable as exc:
            raise CommandError(f"The database is unavailable: {exc.__cause__ or exc}") from exc
        if options["verbosity"] >= 1:
            self.stdout.write(f"Revoked {len(revoked)} session{'' if len(revoked) == 1 else 's'}.")
        if options["verbosity"] >= 2:
            for handle in revoked:
                self.stdout.write(handle)


def _handle(value: str) -> str:
    # A typo must not read as "0 revoked": unknown handles do, malformed ones are an error.
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"{value!r} is not a session handle (a UUID).") from None
