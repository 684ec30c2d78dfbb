"""The CORS header lists the SDK needs (PROTOCOL.md §10), for django-cors-headers settings::

    from corsheaders.defaults import default_headers
    from supertokens_django.cors import cors_allow_headers, cors_expose_headers

    CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    CORS_ALLOW_CREDENTIALS = True
    CORS_ALLOW_HEADERS = [*default_headers, *cors_allow_headers()]
    CORS_EXPOSE_HEADERS = cors_expose_headers()

Each call returns a new list, so a project may extend it freely.
"""

from __future__ import annotations

from .transport import ALLOWED_HEADERS, EXPOSED_HEADERS


def cors_allow_headers() -> list[str]:
    """Request headers the SDK sends."""
    return list(ALLOWED_HEADERS)


def cors_expose_headers() -> list[str]:
    """Response headers the SDK must be able to read."""
    return list(EXPOSED_HEADERS)
