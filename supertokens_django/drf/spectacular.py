"""The drf-spectacular extension that documents ``SuperTokensAuthentication`` in OpenAPI.

Imported by ``supertokens_django.drf`` only when drf-spectacular is installed. Two alternative
schemes: the ``sAccessToken`` cookie, which on unsafe methods also needs the anti-CSRF header
of the ``ANTI_CSRF`` mode (PROTOCOL.md §6), and an ``Authorization: Bearer`` access token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .. import transport
from ..conf import st_settings

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

COOKIE = "supertokensCookieAuth"
BEARER = "supertokensBearerAuth"
ANTI_CSRF = "supertokensAntiCsrf"
_UNSAFE_FOR_PROTOCOL = frozenset({"POST", "PUT", "PATCH", "DELETE", "HEAD"})


class SuperTokensScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "supertokens_django.drf.SuperTokensAuthentication"
    match_subclasses = True

    def __init__(self, target: Any) -> None:
        super().__init__(target)  # type: ignore[no-untyped-call]
        # Per schema generation, so the anti-CSRF scheme follows the ANTI_CSRF setting.
        self.name = [COOKIE, BEARER]
        if st_settings.anti_csrf != "NONE":
            self.name.append(ANTI_CSRF)

    def get_security_requirement(self, auto_schema: AutoSchema) -> list[dict[str, list[Any]]]:
        cookie: dict[str, list[Any]] = {COOKIE: []}
        if st_settings.anti_csrf != "NONE" and auto_schema.method in _UNSAFE_FOR_PROTOCOL:
            cookie[ANTI_CSRF] = []  # AND: the cookie together with the anti-CSRF header
        return [cookie, {BEARER: []}]

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict[str, Any]]:
        definitions: list[dict[str, Any]] = [
            {
                "type": "apiKey",
                "in": "cookie",
                "name": transport.ACCESS_COOKIE,
                "description": (
                    "SuperTokens session, cookie mode: the access token in an httpOnly cookie, "
                    f"refreshed with POST {transport.refresh_path()}."
                ),
            },
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    "SuperTokens session, header mode: the access token as a Bearer token, "
                    f"refreshed with POST {transport.refresh_path()}."
                ),
            },
        ]
        if st_settings.anti_csrf == "VIA_TOKEN":
            definitions.append(
                {
                    "type": "apiKey",
                    "in": "header",
                    "name": transport.ANTI_CSRF,
                    "description": "Cookie mode, unsafe methods: the anti-csrf token the server "
                    "sent in the anti-csrf response header.",
                }
            )
        elif st_settings.anti_csrf == "VIA_CUSTOM_HEADER":
            definitions.append(
                {
                    "type": "apiKey",
                    "in": "header",
                    "name": "rid",
                    "description": "Cookie mode, unsafe methods: any value (the SuperTokens SDK "
                    "sends one); a custom header proves the request is not a cross-site form.",
                }
            )
        return definitions
