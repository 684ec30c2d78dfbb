"""Test-only views and URLs for the HTTP-layer tests (``@pytest.mark.urls("tests.http_urls")``).

Every flavour of view an application writes: protected, optional, strict, payload-updating,
revoking, async twins, a class-based view, a login view and an undecorated one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views import View

from supertokens_django import (
    ServiceUnavailable,
    acreate_new_session,
    aget_session,
    arevoke_session,
    create_new_session,
    refresh_session,
    revoke_session,
    verify_session,
)
from supertokens_django.session import Session

V = TypeVar("V", bound=Callable[..., Any])


def exempt(view: V) -> V:
    """Django's ``csrf_exempt`` for sync and async views alike: before Django 5.0 it wrapped an
    async view in a sync function, which then returned an unawaited coroutine."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def _body(request: HttpRequest) -> dict[str, Any]:
    return json.loads(request.body) if request.body else {}


def _describe(request: HttpRequest) -> dict[str, Any]:
    session: Session | None = request.supertokens  # type: ignore[attr-defined]
    if session is None:
        return {"user_id": None}
    return {
        "user_id": session.get_user_id(),
        "handle": session.get_handle(),
        "jwt_payload": session.get_jwt_payload(),
    }


# --------------------------------------------------------------------------- sign-in


@exempt
def login(request: HttpRequest) -> JsonResponse:
    """``{"user_id": ...}`` (a plain id) or ``{"username": ...}`` (a Django user)."""
    body = _body(request)
    if "username" in body:
        who: Any = get_user_model().objects.get(username=body["username"])
    else:
        who = body.get("user_id", "user-1")
    session = create_new_session(
        request, who, jwt_payload=body.get("jwt_payload"), session_data=body.get("session_data")
    )
    return JsonResponse({"user_id": session.get_user_id(), "handle": session.get_handle()})


@exempt
async def alogin(request: HttpRequest) -> JsonResponse:
    body = _body(request)
    session = await acreate_new_session(request, body.get("user_id", "user-1"))
    return JsonResponse({"user_id": session.get_user_id(), "handle": session.get_handle()})


# --------------------------------------------------------------------------- sync views


@verify_session
def protected(request: HttpRequest) -> JsonResponse:
    data = _describe(request)
    data["username"] = getattr(request.user, "username", None)
    return JsonResponse(data)


@verify_session(True)
def csrf_always(request: HttpRequest) -> JsonResponse:
    """``anti_csrf_check=True`` in the seed's positional form: checked even on GET."""
    return JsonResponse(_describe(request))


@verify_session(anti_csrf_check=False)
def csrf_never(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(request))


@verify_session(session_required=False)
def optional(request: HttpRequest) -> JsonResponse:
    data = _describe(request)
    data["is_none"] = request.supertokens is None  # type: ignore[attr-defined]
    return JsonResponse(data)


@verify_session(check_database=True)
def strict(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(request))


@verify_session
def update_payload(request: HttpRequest) -> JsonResponse:
    request.supertokens.update_jwt_payload(_body(request))  # type: ignore[attr-defined]
    return JsonResponse(_describe(request))


@verify_session
def session_data(request: HttpRequest) -> JsonResponse:
    session: Session = request.supertokens  # type: ignore[attr-defined]
    if request.method == "POST":
        session.update_session_data(_body(request))
    return JsonResponse({"data": session.get_session_data()})


@verify_session
def revoke(request: HttpRequest) -> JsonResponse:
    request.supertokens.revoke_session()  # type: ignore[attr-defined]
    return JsonResponse({"revoked": True})


@verify_session
def revoked_elsewhere(request: HttpRequest) -> JsonResponse:
    """The session is revoked behind the view's back, then the view reads its data: the
    library's ``Unauthorised`` escapes the view and the middleware answers it."""
    session: Session = request.supertokens  # type: ignore[attr-defined]
    revoke_session(session.get_handle())
    session.get_session_data()
    return JsonResponse({"unreachable": True})  # pragma: no cover


@verify_session
def unavailable(request: HttpRequest) -> HttpResponse:
    """What a view sees when the database fails under the engine."""
    raise ServiceUnavailable("database unavailable: host db-1.internal refused")


@verify_session
def explode(request: HttpRequest) -> HttpResponse:
    """A server error after the session was verified (and maybe promoted)."""
    raise RuntimeError("boom")


@verify_session
def explode_after_payload_update(request: HttpRequest) -> HttpResponse:
    request.supertokens.update_jwt_payload({"lost": True})  # type: ignore[attr-defined]
    raise RuntimeError("boom")


@exempt
def refresh_then_explode(request: HttpRequest) -> HttpResponse:
    refresh_session(request)
    raise RuntimeError("boom")


@verify_session
def change_password(request: HttpRequest) -> JsonResponse:
    """The README's recipe: Django's ``PasswordChangeForm`` (whose save revokes every session of
    the user, this one included), then a new session for this device that keeps its claims and
    data, as Django's ``update_session_auth_hash`` keeps its own session."""
    session: Session = request.supertokens  # type: ignore[attr-defined]
    payload, data = session.get_jwt_payload(), session.get_session_data()
    form = PasswordChangeForm(request.user, _body(request))  # type: ignore[arg-type]
    if not form.is_valid():
        return JsonResponse({"errors": list(form.errors)}, status=400)
    form.save()
    create_new_session(request, request.user, jwt_payload=payload, session_data=data)
    return JsonResponse({**_describe(request), "previous": session.get_handle()})


@verify_session
def django_logout(request: HttpRequest) -> JsonResponse:
    """A view that signs out with Django's own ``logout()``."""
    logout(request)
    return JsonResponse({"signed_out": True})


@exempt
def django_logout_unverified(request: HttpRequest) -> JsonResponse:
    """Django's ``logout()`` where nothing asked for the SuperTokens session."""
    logout(request)
    return JsonResponse({"signed_out": True})


@verify_session
@login_required
def needs_django_login(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"username": request.user.get_username()})


@verify_session
def public_cache(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(_describe(request))
    response["Cache-Control"] = "public, max-age=600"
    return response


# --------------------------------------------------------------------------- undecorated views


def django_csrf_protected(request: HttpRequest) -> JsonResponse:
    """Not exempt: Django's CSRF middleware refuses its cookie-less POSTs when enforcing."""
    return JsonResponse({"ok": True})


@exempt
def untouched(request: HttpRequest) -> JsonResponse:
    """Never looks at ``request.supertokens``: must cost nothing whatever the tokens."""
    return JsonResponse({"ok": True})


@exempt
def lazy(request: HttpRequest) -> JsonResponse:
    """Reads the middleware's lazy ``request.supertokens`` without the decorator."""
    session = request.supertokens  # type: ignore[attr-defined]
    if not session:
        return JsonResponse({"user_id": None})
    return JsonResponse({"user_id": session.get_user_id()})


# --------------------------------------------------------------------------- async views


@verify_session
async def aprotected(request: HttpRequest) -> JsonResponse:
    user = await request.auser()  # type: ignore[attr-defined]
    data = _describe(request)
    data["username"] = getattr(user, "username", None)
    return JsonResponse(data)


@verify_session(session_required=False)
async def aoptional(request: HttpRequest) -> JsonResponse:
    data = _describe(request)
    data["is_none"] = request.supertokens is None  # type: ignore[attr-defined]
    return JsonResponse(data)


@verify_session(check_database=True)
async def astrict(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(request))


@verify_session
async def aupdate_payload(request: HttpRequest) -> JsonResponse:
    await request.supertokens.aupdate_jwt_payload(_body(request))  # type: ignore[attr-defined]
    return JsonResponse(_describe(request))


@verify_session
async def asession_data(request: HttpRequest) -> JsonResponse:
    session: Session = request.supertokens  # type: ignore[attr-defined]
    if request.method == "POST":
        await session.aupdate_session_data(_body(request))
    return JsonResponse({"data": await session.aget_session_data()})


@verify_session
async def arevoke(request: HttpRequest) -> JsonResponse:
    await request.supertokens.arevoke_session()  # type: ignore[attr-defined]
    return JsonResponse({"revoked": True})


@verify_session
async def arevoked_elsewhere(request: HttpRequest) -> JsonResponse:
    session: Session = request.supertokens  # type: ignore[attr-defined]
    await arevoke_session(session.get_handle())
    await session.aget_session_data()
    return JsonResponse({"unreachable": True})  # pragma: no cover


@exempt
async def alazy(request: HttpRequest) -> JsonResponse:
    """Reads the lazy ``request.supertokens`` in an async view: refused with a clear error."""
    return JsonResponse({"user_id": bool(request.supertokens)})  # type: ignore[attr-defined]


@exempt
async def alazy_after_aget_session(request: HttpRequest) -> JsonResponse:
    session = await aget_session(request, session_required=False)
    assert request.supertokens is session  # type: ignore[attr-defined]
    return JsonResponse({"user_id": session.get_user_id() if session else None})


@verify_session
async def django_alogout(request: HttpRequest) -> JsonResponse:
    """An async view that signs out with Django's ``alogout()`` (Django 5.0+)."""
    from django.contrib.auth import alogout  # imported here: Django 4.2 has none

    await alogout(request)
    return JsonResponse({"signed_out": True})


@exempt
async def auntouched(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


# --------------------------------------------------------------------------- class-based view


@method_decorator(verify_session, name="dispatch")
class ProfileView(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(_describe(request))

    def post(self, request: HttpRequest) -> JsonResponse:
        request.supertokens.update_session_data(_body(request))  # type: ignore[attr-defined]
        return JsonResponse(_describe(request))


@method_decorator(verify_session(session_required=False), name="dispatch")
class OptionalProfileView(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(_describe(request))


urlpatterns = [
    path("auth/", include("supertokens_django.urls")),
    path("login", login),
    path("alogin", alogin),
    path("protected", protected),
    path("csrf-always", csrf_always),
    path("csrf-never", csrf_never),
    path("optional", optional),
    path("strict", strict),
    path("payload", update_payload),
    path("session-data", session_data),
    path("revoke", revoke),
    path("revoked-elsewhere", revoked_elsewhere),
    path("unavailable", unavailable),
    path("explode", explode),
    path("explode-after-payload-update", explode_after_payload_update),
    path("refresh-then-explode", refresh_then_explode),
    path("change-password", change_password),
    path("django-logout", django_logout),
    path("django-logout-unverified", django_logout_unverified),
    path("needs-django-login", needs_django_login),
    path("public-cache", public_cache),
    path("django-csrf-protected", django_csrf_protected),
    path("untouched", untouched),
    path("lazy", lazy),
    path("async/protected", aprotected),
    path("async/optional", aoptional),
    path("async/strict", astrict),
    path("async/payload", aupdate_payload),
    path("async/session-data", asession_data),
    path("async/revoke", arevoke),
    path("async/revoked-elsewhere", arevoked_elsewhere),
    path("async/lazy", alazy),
    path("async/lazy-after-aget-session", alazy_after_aget_session),
    path("async/untouched", auntouched),
    path("async/django-logout", django_alogout),
    path("cbv/profile", ProfileView.as_view()),
    path("cbv/optional", OptionalProfileView.as_view()),
]
