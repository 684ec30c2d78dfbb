"""``verify_session``: the view decorator (bare, ``@verify_session(True)``, or with options)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from . import transport
from .exceptions import SuperTokensError
from .requests import aget_session, require_middleware, verify_request
from .session import Session

V = TypeVar("V", bound=Callable[..., Any])


def _require_middleware(request: HttpRequest) -> transport.RequestState:
    return require_middleware(request, "The verify_session decorator")


def _bind_user(request: HttpRequest, session: Session | None) -> None:
    if session is None:
        return
    AnonymousUser = _anonymous_user()  # noqa: N806

    request.user = _LazyUser(lambda: session.get_user() or AnonymousUser())  # type: ignore[assignment]

    async def auser() -> Any:
        return await session.aget_user() or AnonymousUser()

    request.auser = auser


class _LazyUser(SimpleLazyObject):
    """``request.user`` under the decorator: the session's user, loaded on first use."""

    def __init__(self, func: Callable[[], Any]) -> None:
        # What SimpleLazyObject.__init__ does, without its detour through LazyObject's
        # ``__getattribute__`` and ``__setattr__`` (four Python calls, on every request of a
        # decorated view). Copies are plain SimpleLazyObjects of the same function.
        attributes = object.__getattribute__(self, "__dict__")
        attributes["_setupfunc"] = func
        attributes["_wrapped"] = empty


@functools.cache
def _anonymous_user() -> type:
    # Imported on first use (this module may be imported before the apps are ready), once.
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _request_of(args: tuple[Any, ...]) -> HttpRequest:
    # Function views get the request first; methods decorated with method_decorator too.
    for arg in args[:2]:
        if isinstance(arg, HttpRequest):
            return arg
    raise TypeError("verify_session must decorate a view that receives the request")


@overload
def verify_session(view: V, /) -> V: ...
@overload
def verify_session(
    anti_csrf_check: bool | None = None,
    /,
    *,
    session_required: bool = True,
    check_database: bool = False,
) -> Callable[[V], V]: ...
@overload
def verify_session(
    *,
    anti_csrf_check: bool | None = None,
    session_required: bool = True,
    check_database: bool = False,
) -> Callable[[V], V]: ...
def verify_session(
    view: Any = None,
    /,
    *,
    anti_csrf_check: bool | None = None,
    session_required: bool = True,
    check_database: bool = False,
) -> Any:
    """Verify the session before the view runs; the view finds it in ``request.supertokens``.

    ``anti_csrf_check`` forces the check on (or off) whatever the method; by default unsafe
    methods are checked. ``session_required=False`` lets anonymous requests through with
    ``request.supertokens = None``. ``check_database=True`` checks revocation and payload
    freshness on this view even when blacklisting is off.

    Async views are verified off the event loop; so are async class-based views decorated
    through ``method_decorator(verify_session, name="dispatch")``, whose sync ``dispatch``
    Django calls in the loop (the wrapper then returns a coroutine, as such a ``dispatch`` does).
    """
    if isinstance(view, bool):  # the seed's positional form: @verify_session(True)
        anti_csrf_check, view = view, None

    async def averify(request: HttpRequest) -> Session | None:
        return await aget_session(
            request,
            session_required=session_required,
            anti_csrf_check=anti_csrf_check,
            check_database=check_database,
        )

    def decorator(fn: V) -> V:
        async def arun(request: HttpRequest, args: tuple[Any, ...], kwargs: Any) -> HttpResponse:
            """Verify without blocking the event loop, then run ``fn`` (awaited if it returns
            an awaitable: an async view, or the sync ``dispatch`` of an async class-based view)."""
            _require_middleware(request)
            try:
                session = await averify(request)
            except SuperTokensError as exc:
                return transport.error_response(request, exc)
            _bind_user(request, session)
            response = fn(*args, **kwargs)
            if inspect.isawaitable(response):
                response = await response
            return response  # type: ignore[no-any-return]

        if iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
                return await arun(_request_of(args), args, kwargs)

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
                request: HttpRequest
                if args and type(args[0]) is WSGIRequest:
                    request = args[0]
                else:
                    request = _request_of(args)
                    if _in_event_loop():
                        # An async class-based view under method_decorator: its ``dispatch`` is
                        # sync, but Django calls it in the event loop and awaits what it returns.
                        # Verifying here would touch the database from the loop (a promotion,
                        # blacklisting, check_database, a key reload): SynchronousOnlyOperation.
                        return arun(request, args, kwargs)  # type: ignore[return-value]
                state = transport.state_of(request)
                if state is None or not state.managed:
                    state = _require_middleware(request)
                try:
                    session = verify_request(
                        request, state, session_required, anti_csrf_check, check_database
                    )
                except SuperTokensError as exc:
                    return transport.error_response(request, exc)
                _bind_user(request, session)
                return fn(*args, **kwargs)  # type: ignore[no-any-return]

            wrapper = sync_wrapper
        # The protocol's own anti-CSRF applies (PROTOCOL.md §6), so Django's is not wanted here.
        wrapper.csrf_exempt = True
        return wrapper  # type: ignore[no-any-return]

    return decorator(view) if view is not None else decorator
