"""URLs and views for tests/test_drf.py: every DRF view style behind SuperTokensAuthentication.

Imported only when djangorestframework is installed (the tests use ``@pytest.mark.urls``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, logout
from django.http import HttpRequest
from django.urls import include, path
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from supertokens_django import create_new_session
from supertokens_django.drf import HasJWTClaim, HasSession, SuperTokensAuthentication

AUTH = [SuperTokensAuthentication]


def describe(request: Request) -> dict[str, Any]:
    """What a view saw: the session, the user, and whether both requests share the session."""
    session = request.auth
    http_request: HttpRequest = request._request
    return {
        "user_id": session.get_user_id(),
        "session_handle": session.get_handle(),
        "jwt_payload": session.get_jwt_payload(),
        "same_session": request.supertokens is session and http_request.supertokens is session,  # type: ignore[attr-defined]
        "method": request.method,
    }


class MeView(APIView):
    """``GET /api/me`` (and every unsafe method, to exercise the anti-CSRF check)."""

    authentication_classes = AUTH
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(describe(request))

    post = put = patch = delete = get


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes(AUTH)
@permission_classes([IsAuthenticated])
def me_function(request: Request) -> Response:
    return Response(describe(request))


class NoteViewSet(viewsets.ViewSet):
    """A router-mounted ViewSet whose actions just describe the request."""

    authentication_classes = AUTH
    permission_classes = [IsAuthenticated]

    def list(self, request: Request) -> Response:
        return Response(describe(request))

    def create(self, request: Request) -> Response:
        return Response(describe(request), status=201)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(describe(request))

    def update(self, request: Request, pk: str) -> Response:
        return Response(describe(request))

    def partial_update(self, request: Request, pk: str) -> Response:
        return Response(describe(request))

    def destroy(self, request: Request, pk: str) -> Response:
        return Response(describe(request))


class WhoView(APIView):
    """``GET /api/who``: what ``request.user`` is, without ``IsAuthenticated``."""

    authentication_classes = AUTH
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "user_class": user.__class__.__name__,  # through the lazy proxy
                "user_pk": str(user.pk) if user.is_authenticated else None,
                "authenticated": user.is_authenticated,
                "supertokens": request.supertokens is not None,  # type: ignore[attr-defined]
                "http_supertokens": request._request.supertokens is not None,  # type: ignore[attr-defined]
            }
        )


class HasSessionView(APIView):
    authentication_classes = AUTH
    permission_classes = [HasSession]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class AdminClaimView(APIView):
    """``HasJWTClaim("role", "admin")``, alone."""

    authentication_classes = AUTH
    permission_classes = [HasJWTClaim("role", "admin")]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class ComposedClaimView(APIView):
    """``IsAuthenticated & HasJWTClaim("scope")``: the claim must merely be present."""

    authentication_classes = AUTH
    permission_classes = [IsAuthenticated & HasJWTClaim("scope")]  # type: ignore[operator]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class StaffOnlyView(APIView):
    """An authenticated user who lacks a permission gets 403, not 401."""

    authentication_classes = AUTH
    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class SessionFirstView(APIView):
    """Django's SessionAuthentication first: DRF would turn AuthenticationFailed into 403."""

    authentication_classes = [SessionAuthentication, SuperTokensAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class HeaderUserAuthentication(BaseAuthentication):
    """A stand-in for another scheme: ``X-Test-User: <username>``."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        username = request.headers.get("X-Test-User")
        if not username:
            return None
        return get_user_model()._default_manager.get(username=username), None


class OtherSchemeView(APIView):
    authentication_classes = [SuperTokensAuthentication, HeaderUserAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(
            {
                "username": request.user.get_username(),
                "auth": repr(request.auth),
                "supertokens": request.supertokens,  # type: ignore[attr-defined]
                "http_supertokens": request._request.supertokens,  # type: ignore[attr-defined]
            }
        )


class ThreePerMinute(UserRateThrottle):
    rate = "3/min"


class ThrottledView(APIView):
    authentication_classes = AUTH
    permission_classes = [IsAuthenticated]
    throttle_classes = [ThreePerMinute]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class PayloadView(APIView):
    """``POST /api/payload``: replace the JWT payload with the request body."""

    authentication_classes = AUTH
    permission_classes = [HasSession]

    def post(self, request: Request) -> Response:
        request.auth.update_jwt_payload(dict(request.data))
        return Response(describe(request))


class SessionDataView(APIView):
    """``GET /api/data``: a database read inside a DRF view (fails when the session is gone)."""

    authentication_classes = AUTH
    permission_classes = [HasSession]

    def get(self, request: Request) -> Response:
        return Response(request.auth.get_session_data())


class SignOutView(APIView):
    authentication_classes = AUTH
    permission_classes = [HasSession]

    def post(self, request: Request) -> Response:
        request.auth.revoke_session()
        return Response({"status": "OK"})


class DjangoLogoutView(APIView):
    """Signs out with Django's ``logout()``, given DRF's ``Request``."""

    authentication_classes = AUTH
    permission_classes = [HasSession]

    def post(self, request: Request) -> Response:
        logout(request)
        return Response({"status": "OK"})


class LoginView(APIView):
    """``POST /login`` with ``{"username"}`` or ``{"user_id"}`` (and ``jwt_payload``): a DRF
    login view, so ``create_new_session`` gets a DRF ``Request``. Same body as tests.http_urls."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        who: Any = request.data.get("user_id", "user-1")
        if "username" in request.data:
            who = get_user_model()._default_manager.get(username=request.data["username"])
        session = create_new_session(
            request,  # type: ignore[arg-type]
            who,
            jwt_payload=request.data.get("jwt_payload"),
            session_data=request.data.get("session_data"),
        )
        return Response({"user_id": session.get_user_id(), "handle": session.get_handle()})


router = SimpleRouter(trailing_slash=False)
router.register("api/notes", NoteViewSet, basename="note")

urlpatterns = [
    path("auth/", include("supertokens_django.urls")),
    path("api/me", MeView.as_view()),
    path("api/fn/me", me_function),
    path("api/who", WhoView.as_view()),
    path("api/has-session", HasSessionView.as_view()),
    path("api/admin", AdminClaimView.as_view()),
    path("api/scoped", ComposedClaimView.as_view()),
    path("api/staff", StaffOnlyView.as_view()),
    path("api/session-first", SessionFirstView.as_view()),
    path("api/other-scheme", OtherSchemeView.as_view()),
    path("api/throttled", ThrottledView.as_view()),
    path("api/payload", PayloadView.as_view()),
    path("api/data", SessionDataView.as_view()),
    path("api/signout", SignOutView.as_view()),
    path("api/django-logout", DjangoLogoutView.as_view()),
    path("login", LoginView.as_view()),
    *router.urls,
]
