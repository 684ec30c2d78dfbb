"""``SessionMiddleware`` for both ``django.contrib.sessions`` peers in one process: the
``cached_db`` store (on Redis) under ``/peer/sessions-cached-db/``, the ``db`` store elsewhere."""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.backends import cached_db, db
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest

CACHED_DB_PREFIX = "/peer/sessions-cached-db/"


class SessionMiddleware(DjangoSessionMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        store = (
            cached_db.SessionStore if request.path.startswith(CACHED_DB_PREFIX) else db.SessionStore
        )
        request.session = store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
