"""URLs of a reliability server: the example project's, plus a few test-only endpoints that do
what another worker of the same deployment would do (create a session for a plain user id,
rotate the signing key in this process, revoke a handle, name this process's signing key)."""

from __future__ import annotations

import json
import os

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from example_project.urls import urlpatterns as example_urlpatterns
from supertokens_django import create_new_session, revoke_session
from supertokens_django.keys import keyring
from tests.reliability.client import sleep_until


@csrf_exempt
@require_POST
def login(request: HttpRequest) -> JsonResponse:
    """A session for a user id: one INSERT, no user lookup (so a fault hits the library)."""
    body = json.loads(request.body or b"{}")
    session = create_new_session(request, str(body.get("user_id", "user-1")))
    return JsonResponse({"handle": session.get_handle(), "pid": os.getpid()})


@csrf_exempt
@require_POST
def rotate_keys(request: HttpRequest) -> JsonResponse:
    """What ``supertokens_rotate_keys --force`` does, in this worker's own key ring; then, unless
    ``?wait=0``, wait until the new key signs (``FORCED_KEY_NOTICE`` later)."""
    signer = keyring.ensure_keys(timezone.now(), force=True)
    if request.GET.get("wait") != "0":
        sleep_until(signer.signs_from)
    return JsonResponse(
        {
            "kid": signer.kid,
            "generation": signer.generation,
            "signs_from": signer.signs_from.isoformat(),
            "pid": os.getpid(),
        }
    )


@require_GET
def signing_key(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"kid": keyring.signing_material(timezone.now()).kid, "pid": os.getpid()})


@csrf_exempt
@require_POST
def revoke(request: HttpRequest) -> JsonResponse:
    """An admin-style revocation by handle, through the engine of this server."""
    body = json.loads(request.body or b"{}")
    return JsonResponse({"revoked": revoke_session(str(body["handle"]))})


urlpatterns = [
    *example_urlpatterns,
    path("t/login", login),
    path("t/rotate-keys", rotate_keys),
    path("t/signing-key", signing_key),
    path("t/revoke", revoke),
]
