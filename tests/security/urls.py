"""The example project's URLs, plus one async view so that the ASGI isolation test exercises the
async path of ``verify_session`` as well as the sync views."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from example_project.urls import urlpatterns as example_urlpatterns
from supertokens_django import verify_session


@verify_session
async def ame(request: HttpRequest) -> JsonResponse:
    session = request.supertokens  # type: ignore[attr-defined]
    return JsonResponse({"user_id": session.get_user_id(), "session_handle": session.get_handle()})


urlpatterns = [*example_urlpatterns, path("api/async/me", ame)]
