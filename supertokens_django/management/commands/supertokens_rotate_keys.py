"""``manage.py supertokens_rotate_keys``: make sure a signing key is current, or rotate now.

Without options this does what the first signature of a process would do: create the first key
if there is none, and publish the successor once the current key is within its announce period
(see :mod:`supertokens_django.keys`). Running it from cron, more often than that period, means
the successor is always published in the JWKS before any worker signs with it.

``--force`` creates a key that signs two seconds from now (``keys.FORCED_KEY_NOTICE``: every
server can load it before it sees a token signed with it, and every running process reads the
keys again before it signs, at most a second after its last read, so all of them sign with the
new key from then on). The previous key is not withdrawn: it keeps verifying until its
``verifies_until``, so the access tokens it signed stay valid until they expire.

``--force --retire-old`` is for a key that may have leaked: every other key also stops signing
and verifying when the new one starts, so every access token they signed is refused from then on
and its client refreshes (refresh tokens do not depend on the signing keys). Each process learns
it when it next reads the keys: before its next signature, or on the first token of the new key
it sees; restart the workers to be sure of one that does neither.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from supertokens_django import db, engine
from supertokens_django.conf import st_settings
from supertokens_django.exceptions import ServiceUnavailable
from supertokens_django.keys import announce_period, keyring
from supertokens_django.models import SigningKey


class Command(BaseCommand):
    help = (
        "Ensure a current signing key exists and its successor is announced in time; "
        "--force rotates now. Prints the current key id and algorithm."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Create a new key that signs two seconds from now (the old one keeps verifying).",
        )
        parser.add_argument(
            "--retire-old",
            action="store_true",
            help=(
                "With --force: every other key stops verifying when the new one starts signing,"
                " so the access tokens they signed are refused (their clients refresh). For a"
                " key that may have leaked."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = engine._now()
        # Silent at --verbosity 0, as cron wants it: only errors then reach stderr.
        write = self.stdout.write if options["verbosity"] >= 1 else _discard
        retire_old = options["retire_old"]
        if retire_old and not options["force"]:
            raise CommandError("--retire-old goes with --force: it retires the keys it replaces.")
        try:
            if st_settings.static_signing_key:
                material = keyring.signing_material(now)
                write(
                    f"STATIC_SIGNING_KEY is set: nothing to rotate. Current key {material.kid} "
                    f"({material.algorithm})."
                )
                return
            signer = keyring.ensure_keys(now, force=options["force"], retire_old=retire_old)
            # Only the report of a current key names its successor (a new key has none yet).
            successor = None
            if not retire_old and signer.signs_from <= now:
                successor = (
                    # The primary, where the key ring just looked: a replica may not have it yet.
                    SigningKey.objects.using(db.write_alias(SigningKey))
                    .filter(
                        algorithm=signer.algorithm,
                        generation__gt=signer.generation,
                        verifies_until__gt=now,
                    )
                    .order_by("generation")
                    .first()
                )
        except ServiceUnavailable as exc:
            raise CommandError(f"The database is unavailable: {exc.__cause__ or exc}") from exc
        except (ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if retire_old:
            write(
                f"New signing key {signer.kid} ({signer.algorithm}) signs from "
                f"{max(signer.signs_from, now).isoformat(timespec='seconds')}; every other key "
                "stops verifying then."
            )
            return
        if signer.signs_from > now:
            write(
                f"New signing key {signer.kid} ({signer.algorithm}) is published and signs from "
                f"{signer.signs_from.isoformat(timespec='seconds')} until "
                f"{signer.signs_until.isoformat(timespec='seconds')}."
            )
            return
        write(
            f"Current signing key {signer.kid} ({signer.algorithm}), signs until "
            f"{signer.signs_until.isoformat(timespec='seconds')}."
        )
        if successor is not None:
            write(
                f"Next key {successor.kid} is published and signs from "
                f"{successor.signs_from.isoformat(timespec='seconds')}."
            )
        else:
            announce = signer.signs_until - announce_period(
                st_settings.signing_key_rotation_interval
            )
            write(f"The next key will be published from {announce.isoformat(timespec='seconds')}.")


def _discard(message: str) -> None:
    pass
