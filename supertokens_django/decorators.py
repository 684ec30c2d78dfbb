"""``verify_session``: the view decorator (bare, ``@verify_session(True)``, or with options)."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject, empty
from django.utils.log import log_response

from . import transport
from .exceptions import SuperTokensError
from .middleware import in_event_loop
from .requests import aget_session, require_middleware, verify_request
from .session import Session

V = TypeVar("V", bound=Callable[..., Any])


def _require_middleware(request: HttpRequest) -> transport.RequestState:
    return require_middleware(request, "The verify_session decorator")


def _bind_user(request: HttpRequest, session: Session) -> None:
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


# --------------------------------------------------------------------------- Django's CSRF

_csrf_logger = logging.getLogger("django.security.csrf")
#: What Django's CSRF middleware lets through unchecked (RFC 9110's safe methods). Not
#: ``transport.SAFE_METHODS``: the protocol's own check covers HEAD as well.
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF middleware, giving back its reason instead of the HTML failure view (as
    DRF's ``CSRFCheck`` does)."""

    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def _no_response(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise AssertionError("the CSRF check never calls the view")


def _django_csrf(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF check on ``request``, as its middleware would run it on a view that is not
    exempt; ``None`` when it passes, else a 403 in the library's JSON style.

    Decorated views are exempt from the middleware because the protocol's own anti-CSRF check
    protects the SuperTokens session. A request without one may still run as the user of
    Django's session cookie (an administrator signed in to the admin, say); this is then the
    check that cookie needs, as in DRF's ``SessionAuthentication.enforce_csrf``. Besides
    ``request.META`` it reads only ``request.session`` (under ``CSRF_USE_SESSIONS``).
    """
    check = _CsrfCheck(_no_response)
    check.process_request(request)  # sets META["CSRF_COOKIE"], which process_view compares
    # No callback: whether the view is exempt was decided before (see verify_session).
    reason: str | None = check.process_view(request, None, (), {})  # type: ignore[arg-type, assignment]
    if reason is None:
        return None
    response = JsonResponse({"message": f"CSRF Failed: {reason}"}, status=403)
    patch_vary_headers(response, ("Cookie",))
    # Logged as Django logs its own CSRF refusals (and then not again as a 4xx by the handler).
    log_response(
        "Forbidden (%s): %s",
        reason,
        request.path,
        response=response,
        request=request,
        logger=_csrf_logger,
    )
    return response


def _django_user_csrf(request: HttpRequest) -> HttpResponse | None:
    """:func:`_django_csrf` when ``request.user`` (Django's, not a session's) is signed in."""
    if request.method in _SAFE_METHODS:
        return None  # before request.user, which costs a session and a user query
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return _django_csrf(request)


async def _adjango_user_csrf(request: HttpRequest) -> HttpResponse | None:
    """:func:`_django_user_csrf` for the event loop, where the lazy ``request.user`` may not
    be read (it queries the database)."""
    if request.method in _SAFE_METHODS:
        return None
    auser = getattr(request, "auser", None)
    if auser is not None:
        authenticated = (await auser()).is_authenticated
    elif hasattr(request, "user"):  # Django 4.2: AuthenticationMiddleware sets no auser
        authenticated = await sync_to_async(_is_authenticated)(request)
    else:
        return None
    if not authenticated:
        return None
    # Off the loop too: under CSRF_USE_SESSIONS the check reads request.session, whose first
    # read is a query when nothing has loaded it yet.
    return await sync_to_async(_django_csrf)(request)


def _is_authenticated(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated)


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

    A request that brings no session but is signed in through Django's own session cookie
    gets Django's CSRF check (refused with a 403 ``{"message": "CSRF Failed: ..."}``), unless
    the view was marked ``csrf_exempt`` before this decorator.

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
        # Without a SuperTokens session the view may run as the user of Django's session
        # cookie, which this wrapper's csrf_exempt leaves unchecked: Django's check applies
        # then, unless the application exempted the view itself.
        django_csrf = not getattr(fn, "csrf_exempt", False)

        async def arun(request: HttpRequest, args: tuple[Any, ...], kwargs: Any) -> HttpResponse:
            """Verify without blocking the event loop, then run ``fn`` (awaited if it returns
            an awaitable: an async view, or the sync ``dispatch`` of an async class-based view)."""
            _require_middleware(request)
            try:
                session = await averify(request)
            except SuperTokensError as exc:
                return transport.error_response(request, exc)
            if session is not None:
                _bind_user(request, session)
            elif django_csrf:
                refused = await _adjango_user_csrf(request)
                if refused is not None:
                    return refused
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
                    if in_event_loop():
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
                if session is not None:
                    _bind_user(request, session)
                elif django_csrf:
                    refused = _django_user_csrf(request)
                    if refused is not None:
                        return refused
                return fn(*args, **kwargs)  # type: ignore[no-any-return]

            wrapper = sync_wrapper
        # The protocol's own anti-CSRF applies (PROTOCOL.md §6), so Django's middleware is not
        # wanted here; the wrapper runs Django's check itself when no session was verified.
        wrapper.csrf_exempt = True
        return wrapper  # type: ignore[no-any-return]

    return decorator(view) if view is not None else decorator
