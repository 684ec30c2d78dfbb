"""Real processes for the reliability suite: gunicorn serving the example project on the test
database, a TCP proxy that can cut a server off from its database, and process memory.

The servers are subprocesses like the e2e suite's (tests/server_process.py: their own settings
module, a free port picked by the OS), killed with the test process, but run gunicorn with
several threads per worker so that concurrent requests meet the real row locks, and they share
the test process's database (the one pytest-django created) instead of a file of their own: the
test process creates users, revokes, rotates keys and cleans up next to them, like any other
process of a deployment.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tests.server_process import (
    REPO,
    RawResponse,
    ServerProcess,
    dies_with_us,
    free_port,
    raw_request,
)


@dataclass(frozen=True)
class ServerConfig:
    """How one server runs; the database, secret and Redis come from the test run."""

    access_token_seconds: int = 120
    blacklisting: bool = True
    redis: bool = False
    atomic_requests: bool = False
    workers: int = 2
    threads: int = 8


@dataclass(frozen=True)
class Deployment:
    """What every server of one test run shares: the database, the secret, maybe Redis."""

    database: dict[str, Any]
    secret_key: str
    redis_url: str | None = None


@dataclass
class GunicornServer(ServerProcess):
    """``gunicorn --worker-class gthread`` on 127.0.0.1, serving tests.reliability.server_urls."""

    config: ServerConfig
    deployment: Deployment
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    name: ClassVar[str] = "gunicorn"
    settings_module: ClassVar[str] = "tests.reliability.server_settings"
    poll_interval: ClassVar[float] = 0.1
    stop_timeout: ClassVar[float] = 15
    tail_lines: ClassVar[int] = 60

    @property
    def log_path(self) -> Path:
        return self.workdir / f"gunicorn-{self.port}.log"

    def environ(self) -> dict[str, str]:
        env = super().environ()
        config, deployment = self.config, self.deployment
        env.update(
            RELIABILITY_DATABASE=json.dumps(deployment.database),
            RELIABILITY_SECRET_KEY=deployment.secret_key,
            RELIABILITY_ACCESS_TOKEN_SECONDS=str(config.access_token_seconds),
            RELIABILITY_BLACKLISTING="1" if config.blacklisting else "0",
            RELIABILITY_ATOMIC_REQUESTS="1" if config.atomic_requests else "0",
        )
        if config.redis and deployment.redis_url:
            env["RELIABILITY_REDIS_URL"] = deployment.redis_url
        else:
            env.pop("RELIABILITY_REDIS_URL", None)
        return env

    def command(self) -> list[str]:
        return [
            *dies_with_us(),
            sys.executable,
            "-m",
            "gunicorn",
            "example_project.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            "gthread",
            "--workers",
            str(self.config.workers),
            "--threads",
            str(self.config.threads),
            "--backlog",
            "512",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            "--chdir",
            str(REPO),
        ]

    def ready(self) -> bool:
        # Every worker imports Django on its own; wait until all of them answer.
        return super().ready() and len(self.worker_pids()) >= self.config.workers

    def server_errors(self) -> int:
        """How many unhandled exceptions (500s) the server logged, as ``django.request`` does."""
        try:
            return self.log_path.read_text(errors="replace").count("Internal Server Error:")
        except OSError:
            return 0

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children_of(self.process.pid)

    def workers_rss_kib(self) -> int:
        """The resident memory of all workers together."""
        return sum(rss_kib(pid) for pid in self.worker_pids())

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> RawResponse:
        return raw_request(f"{self.url}{path}", method, headers, body)


# --------------------------------------------------------------------------- process memory


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return sorted(found)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- database cut-off


class TcpProxy:
    """``127.0.0.1:port`` forwarded to a database server, which the test can take away.

    ``stop()`` closes the listening socket (new connections are refused, as from a database
    that is down) and cuts every open connection; ``start()`` listens on the same port again.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
