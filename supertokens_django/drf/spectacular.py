"""The drf-spectacular extension that documents ``SuperTokensAuthentication`` in OpenAPI.

Imported by ``supertokens_django.drf`` only when drf-spectacular is installed. Two alternative
schemes: the ``sAccessToken`` cookie, which on unsafe methods also needs the anti-CSRF header
of the ``ANTI_CSRF`` mode (PROTOCOL.md §6), and an ``Authorization: Bearer`` access token.
A subclass (``anti_csrf_check = True`` for some views) shares the same schemes; its
``anti_csrf_check`` decides which methods need the anti-CSRF header.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, cast

from drf_spectacular import plumbing
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import ResolvedComponent

from .. import transport
from ..conf import st_settings

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

COOKIE = "supertokensCookieAuth"
BEARER = "supertokensBearerAuth"
ANTI_CSRF = "supertokensAntiCsrf"
#: drf-spectacular 0.28+. Before, it compared components by class only and never warned about a
#: subclass's: there is nothing to share.
_ComponentIdentity: Any = getattr(plumbing, "ComponentIdentity", None)


class _SubclassOf:
    """Equal to a class and to each of its subclasses: the identity of our security schemes.

    drf-spectacular (0.28+) registers a scheme under the authentication class it met on the view,
    and warns ("2 components with identical names ... and different identities") when another
    class brings a scheme of the same name, which ``--fail-on-warn`` turns into a failure. The
    schemes depend on the settings only, so ``SuperTokensAuthentication`` and its subclasses
    bring the same ones: registered first under this identity, a subclass's are found equal.
    """

    def __init__(self, base: type) -> None:
        self.base = base

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _SubclassOf):
            return other.base is self.base
        return inspect.isclass(other) and issubclass(other, self.base)


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
        if self._needs_anti_csrf(auto_schema.method):
            cookie[ANTI_CSRF] = []  # AND: the cookie together with the anti-CSRF header
        return [cookie, {BEARER: []}]

    def _needs_anti_csrf(self, method: str) -> bool:
        # As transport.anti_csrf_required: the class's anti_csrf_check forces the check on or off
        # for every method; by default (None) every method but the protocol's safe ones (HEAD
        # is not one) needs it.
        if st_settings.anti_csrf == "NONE":
            return False
        check: bool | None = getattr(self.target, "anti_csrf_check", None)
        return method not in transport.SAFE_METHODS if check is None else check

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict[str, Any]]:
        definitions = self._definitions()
        # Registered before drf-spectacular registers them under the view's class (which it then
        # skips, finding them equal): see _SubclassOf.
        if _ComponentIdentity is not None:
            # (target_class is our class by now: drf-spectacular imported it to match the view's)
            shared = _ComponentIdentity(_SubclassOf(cast("type", self.target_class)))
            for name, definition in zip(self.name, definitions, strict=True):
                auto_schema.registry.register_on_missing(
                    ResolvedComponent(  # type: ignore[no-untyped-call]
                        name=name,
                        type=ResolvedComponent.SECURITY_SCHEMA,
                        object=shared,
                        schema=definition,
                    )
                )
        return definitions

    def _definitions(self) -> list[dict[str, Any]]:
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
