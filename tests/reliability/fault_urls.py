"""URLs of the in-process fault tests: the HTTP-layer test views (tests/http_urls.py), plus
views that touch nothing but the library (so that a database fault reaches the library first)
and application views that refresh in ways the package's own endpoint does not."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from supertokens_django import refresh_session, verify_session
from supertokens_django.session import Session
from tests import http_urls


@verify_session
def me(request: HttpRequest) -> JsonResponse:
    session: Session = request.supertokens  # type: ignore[attr-defined]
    return JsonResponse({"user_id": session.get_user_id(), "handle": session.get_handle()})


@csrf_exempt
def refresh_propagating(request: HttpRequest) -> JsonResponse:
    """An application's own refresh view that lets the library's errors reach the middleware."""
    refresh_session(request)
    return JsonResponse({})


@csrf_exempt
def refresh_then_404(request: HttpRequest) -> JsonResponse:
    """Refreshes, then finds something missing: Django answers 404 (not a server error)."""
    refresh_session(request)
    raise Http404("no such thing")


@verify_session
def promote_then_404(request: HttpRequest) -> JsonResponse:
    raise Http404("no such thing")


urlpatterns = [
    *http_urls.urlpatterns,
    path("me", me),
    path("refresh-propagating", refresh_propagating),
    path("refresh-then-404", refresh_then_404),
    path("promote-then-404", promote_then_404),
]
