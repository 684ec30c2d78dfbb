"""What the browser SDK does, over real HTTP, and a thread to race a request against a lock.

A :class:`Tokens` is what one client holds; the functions send it the way ``supertokens-website``
does (header mode: ``Authorization: Bearer``; cookie mode: the ``Cookie`` header with ``rid``)
and read the new tokens off the response. Connections are kept alive per :class:`Http` (one per
thread), so that a long soak does not exhaust the ephemeral ports.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any, Literal
from urllib.parse import urlsplit

from django.db import connections
from django.utils import timezone

from tests.server_process import RawResponse

Mode = Literal["header", "cookie"]
REFRESH = "/auth/session/refresh"
SIGNOUT = "/auth/signout"
TOKEN_HEADERS = ("front-token", "st-access-token", "st-refresh-token", "anti-csrf")
TOKEN_COOKIES = ("sAccessToken", "sRefreshToken")
UNAUTHORISED = "unauthorised"
TRY_REFRESH = "try refresh token"
THEFT = "token theft detected"


class Http:
    """Keep-alive connections to any number of servers (use one per thread)."""

    def __init__(self, timeout: float = 60) -> None:
        self.timeout = timeout
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def request(
        self,
        url: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> RawResponse:
        parts = urlsplit(url)
        for attempt in range(2):
            connection = self._connections.get(url)
            fresh = connection is None
            if connection is None:
                connection = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout
                )
                self._connections[url] = connection
            try:
                connection.request(method, path, body=body or None, headers=headers or {})
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                del self._connections[url]
                # A kept-alive connection the server closed while idle: the request never
                # arrived, so sending it again is safe. On a fresh one it is a real failure.
                if fresh or attempt:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                del self._connections[url]
            return RawResponse(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                set_cookies=response.headers.get_all("Set-Cookie") or [],
                body=data,
            )
        raise AssertionError("unreachable")

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@dataclass(frozen=True)
class Tokens:
    """The tokens one client holds."""

    access: str
    refresh: str
    mode: Mode = "header"

    @property
    def claims(self) -> dict[str, Any]:
        """The access token's claims, unverified (what any client could read)."""
        return _b64json(self.access.split(".")[1])  # type: ignore[no-any-return]

    @property
    def handle(self) -> str:
        return str(self.claims["sessionHandle"])

    @property
    def kid(self) -> str:
        return str(_b64json(self.access.split(".")[0])["kid"])

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])

    def absorb(self, response: RawResponse) -> Tokens:
        """The tokens after ``response``: replaced where the response sends new ones."""
        access, refresh = self.access, self.refresh
        if self.mode == "header":
            access = response.headers.get("st-access-token") or access
            refresh = response.headers.get("st-refresh-token") or refresh
        else:
            cookies = set_cookies(response)
            access = cookies.get("sAccessToken") or access
            refresh = cookies.get("sRefreshToken") or refresh
        return replace(self, access=access, refresh=refresh)


def set_cookies(response: RawResponse) -> dict[str, str]:
    """``name -> value`` of every cookie the response sets (an empty value clears)."""
    found: dict[str, str] = {}
    for header in response.set_cookies:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        found.update({name: morsel.value for name, morsel in jar.items()})
    return found


def message(response: RawResponse) -> str | None:
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    return body.get("message") if isinstance(body, dict) else None


def token_changes(response: RawResponse) -> set[str]:
    """Every token header and token cookie the response sets or clears."""
    headers = {name for name in TOKEN_HEADERS if name in response.headers}
    return headers | (set(set_cookies(response)) & set(TOKEN_COOKIES))


def clears_tokens(response: RawResponse) -> bool:
    return response.headers.get("front-token") == "remove"


def request_headers(tokens: Tokens | None, path: str, mode: Mode = "header") -> dict[str, str]:
    """What the SDK sends: ``rid``, ``fdi-version``, ``st-auth-mode`` and the token for ``path``."""
    mode = tokens.mode if tokens is not None else mode
    headers = {
        "rid": "session" if path == REFRESH else "anti-csrf",
        "fdi-version": "4.1",
        "st-auth-mode": mode,
    }
    if tokens is None:
        return headers
    if mode == "header":
        headers["Authorization"] = f"Bearer {tokens.refresh if path == REFRESH else tokens.access}"
    elif path == REFRESH:
        headers["Cookie"] = f"sAccessToken={tokens.access}; sRefreshToken={tokens.refresh}"
    else:
        headers["Cookie"] = f"sAccessToken={tokens.access}"
    return headers


class Agent:
    """One client of one deployment: sends with its tokens, to whichever server it is told."""

    def __init__(self, http: Http | None = None) -> None:
        self.http = http or Http()

    def send(
        self,
        url: str,
        method: str,
        path: str,
        tokens: Tokens | None = None,
        body: Any = None,
        *,
        mode: Mode = "header",
    ) -> RawResponse:
        headers = request_headers(tokens, path, mode)
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.http.request(url, method, path, headers, data)

    def login(
        self,
        url: str,
        user_id: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        mode: Mode = "header",
    ) -> Tokens:
        """``POST /t/login`` for a plain user id, or the example's ``/api/login`` for a user."""
        if username is not None:
            response = self.send(
                url,
                "POST",
                "/api/login",
                body={"username": username, "password": password},
                mode=mode,
            )
        else:
            response = self.send(url, "POST", "/t/login", body={"user_id": user_id}, mode=mode)
        assert response.status == 200, (response.status, response.body)
        tokens = Tokens("", "", mode).absorb(response)
        assert tokens.access and tokens.refresh, response.headers
        return tokens

    def refresh(self, url: str, tokens: Tokens) -> tuple[RawResponse, Tokens | None]:
        """The new tokens on a 200, else ``None``."""
        response = self.send(url, "POST", REFRESH, tokens)
        if response.status != 200:
            return response, None
        new = tokens.absorb(response)
        assert new.refresh != tokens.refresh and "front-token" in response.headers
        return response, new

    def call(
        self, url: str, method: str, path: str, tokens: Tokens, body: Any = None
    ) -> tuple[RawResponse, Tokens]:
        """A protected call; the tokens come back replaced when the server re-issued them."""
        response = self.send(url, method, path, tokens, body)
        return response, tokens.absorb(response) if response.status < 300 else tokens


# --------------------------------------------------------------------------- threads


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``target`` in a thread; the list receives its result or exception."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(target())
        except BaseException as exc:  # noqa: BLE001
            box.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def sleep_until(moment: datetime) -> None:
    """Sleep until the wall-clock ``moment`` (the servers run on this machine's clock): a key
    from a forced rotation signs ``FORCED_KEY_NOTICE`` after it is stored."""
    delay = (moment - timezone.now()).total_seconds()
    if delay > 0:
        threading.Event().wait(delay)
