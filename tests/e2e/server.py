"""The example project as a real server in a subprocess, and a second origin (another port) for
the cross-origin test; the subprocess scaffolding and raw HTTP calls are tests/server_process.py.

A subprocess rather than pytest-django's ``live_server``: it runs the example project exactly
as the README does (its own settings, URLs and static files, independent of tests/settings.py),
on a SQLite file of its own with one connection per request thread, so concurrent refreshes meet
the real locking; and the test process never runs the ORM next to Playwright's event loop.
Settings differ per server (lifetime, blacklisting, anti-CSRF mode, CORS origins) through the
environment variables that example_project/settings.py reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tests.server_process import MANAGE_PY, ServerProcess, free_port

if TYPE_CHECKING:
    from typing import Self

ORM_PROBE = Path(__file__).with_name("orm_probe.py")


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


@dataclass
class ExampleServer(ServerProcess):
    """``manage.py runserver`` (threaded, no reloader) on a fresh SQLite file."""

    config: ServerConfig
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    name: ClassVar[str] = "the example server"
    settings_module: ClassVar[str] = "example_project.settings"
    poll_interval: ClassVar[float] = 0.2
    stop_timeout: ClassVar[float] = 10
    tail_lines: ClassVar[int] = 40

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def environ(self) -> dict[str, str]:
        env = super().environ()
        env.update(self.config.environ())
        env["EXAMPLE_DB_PATH"] = str(self.workdir / "db.sqlite3")
        return env

    def command(self) -> list[str]:
        return [sys.executable, str(MANAGE_PY), "runserver", "--noreload", f"127.0.0.1:{self.port}"]

    def start(self) -> Self:
        """Migrate the server's fresh database and create the demo user, then start it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.manage_output("migrate", "--noinput")
        self.manage_output("example_setup")
        return super().start()

    def orm(self, *args: str) -> Any:
        """Ask the server's database through the ORM (see orm_probe.py for the questions)."""
        done = self.run_script(ORM_PROBE, *args, timeout=60)
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
