"""Driving the demo page: what it sent and got (NetworkLog), and what the SDK saw (DemoPage)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.server_process import RawResponse, raw_request

if TYPE_CHECKING:  # only for annotations: importing this module must not need Playwright
    from playwright.sync_api import BrowserContext, Page, Request, Response

DEMO_USER = ("demo", "demo-password")
#: The SDK's own cookies (PROTOCOL.md §11), readable by page scripts.
FRONT_TOKEN_COOKIE = "sFrontToken"
LAST_UPDATE_COOKIE = "st-last-access-token-update"


@dataclass
class Exchange:
    """One request the page made, and its response once it came."""

    request: Request
    response: Response | None = None
    #: The body arrived in full; Chromium never finishes one that the page does not read (the
    #: SDK drops the bodies of its refresh probe and of the 401s it retries).
    finished: bool = False

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return urlsplit(self.request.url).path

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    def response_header(self, name: str) -> str | None:
        return self.response.headers.get(name) if self.response is not None else None

    def json(self) -> Any:
        # Asking Playwright for a body that never finishes would wait forever.
        assert self.finished, f"{self!r}: the page did not read this body"
        assert self.response is not None
        return self.response.json()

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} → {self.status}>"


@dataclass
class NetworkLog:
    """Every request of a page to one origin, in the order they were sent."""

    origin: str
    exchanges: list[Exchange] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("requestfinished", self._on_finished)

    def _on_request(self, request: Request) -> None:
        if request.url.startswith(self.origin + "/") and request.resource_type in ("fetch", "xhr"):
            self.exchanges.append(Exchange(request))

    def _on_response(self, response: Response) -> None:
        for exchange in reversed(self.exchanges):
            if exchange.request is response.request:
                exchange.response = response
                return

    def _on_finished(self, request: Request) -> None:
        for exchange in reversed(self.exchanges):
            if exchange.request is request:
                exchange.finished = True
                return

    def clear(self) -> None:
        self.exchanges.clear()

    def wait_finished(self, page: Page, exchange: Exchange, timeout_ms: int = 5000) -> None:
        """Let Playwright deliver ``requestfinished``: it may trail the page's own reaction."""
        waited = 0
        while not exchange.finished and waited < timeout_ms:
            page.wait_for_timeout(25)
            waited += 25

    def calls(self, path: str | None = None, method: str | None = None) -> list[Exchange]:
        return [
            exchange
            for exchange in self.exchanges
            if (path is None or exchange.path == path)
            and (method is None or exchange.method == method)
        ]

    def refreshes(self) -> list[Exchange]:
        return self.calls("/auth/session/refresh")


@dataclass
class DemoPage:
    """The demo page (or a page loading its app.js) with the SDK initialised in ``mode``."""

    page: Page
    context: BrowserContext
    api: str
    mode: str
    log: NetworkLog

    def wait_ready(self) -> None:
        self.page.wait_for_function("window.__ready === true")

    # -- what the SDK saw

    def events(self) -> list[dict[str, Any]]:
        """Every ``onHandleEvent`` call so far, as ``{action, sessionExpiredOrRevoked?}``."""
        events: list[dict[str, Any]] = self.page.evaluate("window.__events")
        return [{key: value for key, value in event.items() if key != "at"} for event in events]

    def actions(self) -> list[str]:
        return [event["action"] for event in self.events()]

    def sdk(self, expression: str) -> Any:
        """Evaluate (and await) an expression such as ``supertokens.doesSessionExist()``."""
        return self.page.evaluate(f"async () => await {expression}")

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.sdk("supertokens.getAccessTokenPayloadSecurely()")
        return payload

    # -- what the page asks the API (through the SDK's fetch interception)

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """``{status, body}`` of ``fetch(api + path)``, after the SDK's refreshes and retries."""
        result: dict[str, Any] = self.page.evaluate(
            "([method, path, body]) => demo.call(method, path, body === null ? undefined : body)",
            [method, path, body],
        )
        return result

    def login(self, username: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> str:
        result = self.call("POST", "/api/login", {"username": username, "password": password})
        assert result["status"] == 200, result
        user_id: str = result["body"]["user_id"]
        return user_id

    # -- what the browser holds

    def cookies(self) -> dict[str, dict[str, Any]]:
        """The browser's cookies for the API's host, whatever their path."""
        # Not context.cookies(api): that keeps only the cookies sent to "/", which leaves out
        # sRefreshToken (Path=/auth/session/refresh).
        host = urlsplit(self.api).hostname
        return {
            cookie["name"]: dict(cookie)
            for cookie in self.context.cookies()
            if cookie["domain"].lstrip(".") == host
        }

    def front_token(self) -> dict[str, Any]:
        """The decoded ``sFrontToken`` cookie: ``{ate, uid, up}`` (PROTOCOL.md §4)."""
        value = self.cookies()[FRONT_TOKEN_COOKIE]["value"]
        decoded: dict[str, Any] = json.loads(base64.b64decode(value))
        return decoded

    def access_token(self) -> str:
        name = "sAccessToken" if self.mode == "cookie" else "st-access-token"
        return str(self.cookies()[name]["value"])

    def refresh_token(self) -> str:
        name = "sRefreshToken" if self.mode == "cookie" else "st-refresh-token"
        return str(self.cookies()[name]["value"])

    def wait_until_access_token_expired(self, timeout: float = 20.0) -> RawResponse:
        """Sleep past the access token's ``exp``, then until the server refuses it (leeway).

        The server is asked with a raw GET carrying only the access token, so neither the SDK
        nor the page notices; a steady-state token is verified without touching the database.
        Returns the refusal.
        """
        expires_at = self.front_token()["up"]["exp"]
        time.sleep(max(0.0, expires_at - time.time()))
        token = self.access_token()
        if self.mode == "cookie":
            headers = {"Cookie": f"sAccessToken={token}", "st-auth-mode": "cookie"}
        else:
            headers = {"Authorization": f"Bearer {token}", "st-auth-mode": "header"}
        deadline = time.monotonic() + timeout
        while (answer := raw_request(f"{self.api}/api/me", headers=headers)).status != 401:
            assert time.monotonic() < deadline, "the server kept accepting an expired access token"
            time.sleep(0.2)
        return answer


def refresh_with(
    api: str,
    mode: str,
    refresh_token: str,
    *,
    rid: str | None = "session",
    anti_csrf: str | None = None,
) -> RawResponse:
    """A refresh call from outside the browser (an attacker replaying a stolen token)."""
    headers = {"fdi-version": "4.1", "st-auth-mode": mode}
    if rid is not None:
        headers["rid"] = rid
    if anti_csrf is not None:
        headers["anti-csrf"] = anti_csrf
    if mode == "cookie":
        headers["Cookie"] = f"sRefreshToken={refresh_token}"
    else:
        headers["Authorization"] = f"Bearer {refresh_token}"
    return raw_request(f"{api}/auth/session/refresh", method="POST", headers=headers)
