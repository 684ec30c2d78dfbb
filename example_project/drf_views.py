"""The Django REST framework view of the example project (imported only when DRF is installed)."""

from __future__ import annotations

from typing import cast

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from supertokens_django.drf import SuperTokensAuthentication
from supertokens_django.session import Session


class DrfMeView(APIView):
    """``GET /api/drf/me``: the same answer as ``/api/me``, through DRF's authentication."""

    authentication_classes = [SuperTokensAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        session = cast(Session, request.auth)  # IsAuthenticated: there is one
        return Response(
            {
                "user_id": session.get_user_id(),
                "session_handle": session.get_handle(),
                "jwt_payload": session.get_jwt_payload(),
            }
        )
