"""A Django server in a subprocess for the browser and reliability suites, and raw HTTP to it.

``ServerProcess`` owns what every such server shares: a free port on 127.0.0.1, this process's
environment with the server's settings module, ``manage.py`` in that environment, start-and-wait
(the readiness probe goes through ``/api/optional``), stop, and its log. A subclass says how the
server is started (``command()``), what it adds to the environment, and where it logs;
tests/e2e/server.py runs ``manage.py runserver``, tests/reliability/servers.py gunicorn.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from typing import Self

REPO = Path(__file__).resolve().parents[1]
MANAGE_PY = REPO / "manage.py"
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dies_with_us() -> list[str]:
    """A command prefix that SIGTERMs the server when the test process dies, even by SIGKILL,
    so that an interrupted run leaves no server behind (Linux's util-linux; none elsewhere)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


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


class ServerProcess:
    """A server subprocess; subclasses are dataclasses that declare the three fields below."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None

    #: What the server is called in the errors of a failed start.
    name: ClassVar[str]
    #: ``DJANGO_SETTINGS_MODULE`` of the server and of its ``manage.py``.
    settings_module: ClassVar[str]
    #: Seconds between two readiness probes.
    poll_interval: ClassVar[float]
    #: Seconds ``stop()`` waits after SIGTERM before it kills.
    stop_timeout: ClassVar[float]
    #: The default length of ``log_tail()``.
    tail_lines: ClassVar[int]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def command(self) -> list[str]:
        """The server's command line, run in the repository with ``environ()``."""
        raise NotImplementedError

    def environ(self) -> dict[str, str]:
        """This process's environment without its ``DJANGO_*`` variables, the server's settings
        module, the repository importable and output unbuffered; subclasses add their own."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
        env.update(
            DJANGO_SETTINGS_MODULE=self.settings_module,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        return env

    def run_script(
        self, script: Path, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``python SCRIPT ARGS`` as one more process of this deployment (same settings)."""
        return subprocess.run(
            [sys.executable, str(script), *args],
            cwd=REPO,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``manage.py ARGS`` as one more process of this deployment (same settings)."""
        return self.run_script(MANAGE_PY, *args)

    def manage_output(self, *args: str) -> str:
        """What ``manage.py ARGS`` printed; a failure raises with all of its output."""
        done = self.manage(*args)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=REPO, env=self.environ(), stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()
        return self

    def ready(self) -> bool:
        # Through the whole stack: middleware, the decorator, the database.
        return raw_request(f"{self.url}/api/optional").status == 200

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(self.poll_interval)
        raise RuntimeError(f"{self.name} did not answer in time:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int | None = None) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-(self.tail_lines if lines is None else lines) :])
