"""Admin search that stays on indexes: exact matches only, the user table resolved first.

Django's default search (``icontains`` over every field, OR-ed, joined to the user table) scans
the whole session table. Here a search term is matched *exactly* against:

* the user id (``subject``, indexed with ``expires_at``);
* the username and the email of a user: looked up in the user table first (one query, on the
  ``USERNAME_FIELD``'s unique index; the email as typed and lower-cased, so an index on it is
  used when the project has one), and the matching ids added to the user-id match;
* the session handle, when the term is a UUID (the primary key);
* the IP address, when the term is one (``ip_address``; it needs its own index).

The branches are OR-ed, each on its own index, and never join the user table, so the database
can combine index scans instead of reading every row.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet

#: At most this many users match one term (usernames are unique; emails nearly so).
MAX_MATCHING_USERS = 50


def matching_user_ids(term: str) -> list[str]:
    """Ids (as the tokens carry them: ``str(pk)``) of users whose username or email is ``term``."""
    user_model: Any = get_user_model()
    query = Q(**{user_model.USERNAME_FIELD: term})
    if "@" in term:
        email_field = user_model.get_email_field_name()
        try:
            user_model._meta.get_field(email_field)
        except FieldDoesNotExist:
            pass
        else:
            query |= Q(**{f"{email_field}__in": sorted({term, term.lower()})})
    pks = user_model._default_manager.filter(query).values_list("pk", flat=True)
    return [str(pk) for pk in pks[:MAX_MATCHING_USERS]]


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def as_ip(term: str) -> str | None:
    try:
        return str(ipaddress.ip_address(term))
    except ValueError:
        return None


def search_sessions(
    queryset: QuerySet[Any], term: str, *, ip_field: str | None = None
) -> QuerySet[Any]:
    """``queryset`` narrowed to rows matching ``term`` exactly (see the module docstring).

    Works for ``Session`` and ``RevokedSession``: both have ``handle`` and ``subject``.
    """
    term = term.strip()
    if not term:
        return queryset
    condition = Q(subject__in=sorted({term[:255], *matching_user_ids(term)}))
    handle = as_uuid(term)
    if handle is not None:
        condition |= Q(handle=handle)
    address = as_ip(term)
    if ip_field and address is not None:
        condition |= Q(**{ip_field: address})
    narrowed: QuerySet[Any] = queryset.filter(condition)
    return narrowed
