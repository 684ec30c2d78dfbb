"""``SuperTokensMiddleware``: lazy ``request.supertokens``, token changes onto the response,
library errors into the responses of PROTOCOL.md §5."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.exceptions import SynchronousOnlyOperation
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject

from . import transport
from .exceptions import SuperTokensError


class SuperTokensMiddleware(MiddlewareMixin):
    """Place it after ``AuthenticationMiddleware``. Sync- and async-capable."""

    sync_capable = True
    async_capable = True

    def process_request(self, request: HttpRequest) -> None:
        transport.ensure_state(request, managed=True)

        def load() -> Any:
            from .requests import get_session

            # Only reached when a view reads ``request.supertokens`` without the decorator:
            # an absent session is ``None`` (so the lazy object is falsy; ``is None`` is never
            # true of it); a bad one raises, and process_exception answers.
            if in_event_loop():
                # Verification may need the database (a promotion, a key reload), which an
                # async view cannot do synchronously: fail every time, not only after a refresh.
                raise SynchronousOnlyOperation(
                    "request.supertokens cannot be loaded lazily in an async view: decorate the"
                    " view with @verify_session, or call 'await aget_session(request)' first."
                )
            return get_session(request, session_required=False)

        request.supertokens = SimpleLazyObject(load)  # type: ignore[attr-defined]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, SuperTokensError):
            return transport.error_response(request, exception)
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        state = transport.state_of(request)
        if state is not None and state.theft_to_confirm is not None:
            from .requests import confirm_theft

            # After the view and outside its ATOMIC_REQUESTS transaction (Django wraps the view).
            confirm_theft(state)
        return transport.finalize(request, response)


def in_event_loop() -> bool:
    """Whether this thread runs an event loop (where the ORM may not be used synchronously)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
