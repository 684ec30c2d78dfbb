"""The example project as a real server in a subprocess, raw HTTP calls to it, and a second
origin (another port) for the cross-origin test.

A subprocess rather than pytest-django's ``live_server``: it runs the example project exactly
as the README does (its own settings, URLs and static files, independent of tests/settings.py),
on a SQLite file of its own with one connection per request thread, so concurrent refreshes meet
the real locking; and the test process never runs the ORM next to Playwright's event loop.
Settings differ per server (lifetime, blacklisting, anti-CSRF mode, CORS origins) through the
environment variables that example_project/settings.py reads.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
MANAGE_PY = REPO / "manage.py"
ORM_PROBE = Path(__file__).with_name("orm_probe.py")
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dies_with_us() -> list[str]:
    """A command prefix that SIGTERMs the server when the test process dies, even by SIGKILL,
    so that an interrupted run leaves no server behind (Linux's util-linux; none elsewhere)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


@dataclass(frozen=True)
class ServerConfig:
    """What one example server is started with; equal configs share one server per run."""

    access_token_seconds: int = 3
    blacklisting: bool = False
    anti_csrf: str = "VIA_CUSTOM_HEADER"
    cors_origins: tuple[str, ...] = ()

    def environ(self) -> dict[str, str]:
        return {
            "SUPERTOKENS_ACCESS_TOKEN_SECONDS": str(self.access_token_seconds),
            "SUPERTOKENS_BLACKLISTING": "1" if self.blacklisting else "0",
            "SUPERTOKENS_ANTI_CSRF": self.anti_csrf,
            "EXAMPLE_CORS_ORIGINS": ",".join(self.cors_origins),
        }


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    #: Every Set-Cookie header, in order.
    set_cookies: list[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> RawResponse:
    """One HTTP request outside the browser: an attacker's replay, or a look at a token."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request(method, parts.path or "/", body=body or None, headers=headers or {})
        response = connection.getresponse()
        return RawResponse(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            set_cookies=response.headers.get_all("Set-Cookie") or [],
            body=response.read(),
        )
    finally:
        connection.close()


@dataclass
class ExampleServer:
    """``manage.py runserver`` (threaded, no reloader) on a fresh SQLite file."""

    config: ServerConfig
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def environ(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
        env.update(self.config.environ())
        env.update(
            DJANGO_SETTINGS_MODULE="example_project.settings",
            EXAMPLE_DB_PATH=str(self.workdir / "db.sqlite3"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(MANAGE_PY), *args],
            cwd=REPO,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput")
        self.manage("example_setup")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(MANAGE_PY),
                    "runserver",
                    "--noreload",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=REPO,
                env=self.environ(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the example server exited:\n{self.log_tail()}")
            try:
                # Through the whole stack: middleware, the decorator, the database.
                if raw_request(f"{self.url}/api/optional").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the example server did not answer in time:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def orm(self, *args: str) -> Any:
        """Ask the server's database through the ORM (see orm_probe.py for the questions)."""
        done = subprocess.run(
            [sys.executable, str(ORM_PROBE), *args],
            cwd=REPO,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"orm_probe {' '.join(args)} failed:\n{done.stderr}")
        return json.loads(done.stdout)


class OtherOrigin:
    """A one-page site on its own port that loads the SDK and app.js from the API's origin."""

    def __init__(self) -> None:
        self.html = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path.split("?")[0] != "/":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.html)))
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_page_for(self, api: str) -> None:
        self.html = f"""<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>other origin</title></head>
<body>
<p id="status"></p><pre id="response"></pre><ol id="events"></ol>
<script>window.DEMO_CONFIG = {{"apiDomain": "{api}"}};</script>
<script src="{api}/static/vendor/supertokens.js"></script>
<script src="{api}/static/app.js"></script>
</body></html>""".encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
