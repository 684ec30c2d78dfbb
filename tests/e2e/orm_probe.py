"""Answer a question about an example server's database through the ORM, as JSON on stdout.

Run by ``ExampleServer.orm()`` in the server's environment (same settings, same SQLite file):

    orm_probe.py user USERNAME        {"id": "<pk>"}
    orm_probe.py session HANDLE       {"exists": bool, "user": username | null, "subject": ...}
    orm_probe.py revoked HANDLE       {"revoked": bool, "reason": ... | null}
    orm_probe.py sessions USERNAME    {"handles": [live handles of that user]}
"""

from __future__ import annotations

import json
import sys
from typing import Any


def answer(question: str, argument: str) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from supertokens_django.models import RevokedSession, Session

    if question == "user":
        user = get_user_model()._default_manager.get_by_natural_key(argument)
        return {"id": str(user.pk)}
    if question == "session":
        row = Session.objects.select_related("user").filter(handle=argument).first()
        if row is None:
            return {"exists": False, "user": None, "subject": None}
        username = row.user.get_username() if row.user is not None else None
        return {"exists": True, "user": username, "subject": row.subject}
    if question == "revoked":
        revoked = RevokedSession.objects.filter(handle=argument).first()
        return {"revoked": revoked is not None, "reason": revoked.reason if revoked else None}
    if question == "sessions":
        user = get_user_model()._default_manager.get_by_natural_key(argument)
        handles = (
            Session.objects.active().filter(subject=str(user.pk)).values_list("handle", flat=True)
        )
        return {"handles": sorted(str(handle) for handle in handles)}
    raise SystemExit(f"unknown question {question!r}")


def main() -> None:
    import django

    django.setup()
    question, argument = sys.argv[1:3]
    json.dump(answer(question, argument), sys.stdout)


if __name__ == "__main__":
    main()
