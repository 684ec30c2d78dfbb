#!/usr/bin/env python
"""``make bench``: supertokens_django next to its peers, side by side and interleaved, in one run.

    python benchmarks/run.py            # the full suite (about 9 minutes on 2 cores), writes
                                        # benchmarks/RESULTS.md
    python benchmarks/run.py --smoke    # every case a few times (seconds): CI runs this

Sections (``--sections``, default all):

A  Per-request cost in-process, through Django's WSGI handler with the full middleware stack,
   every case in each round in a shuffled order; plus the verification alone (pyjwt, the full
   ``decode_access_token``, the fast path) and where the time of "ours" goes.
B  HTTP throughput, p50 and p99: gunicorn (2 sync workers) and ``wrk`` on 127.0.0.1, each case
   as a ratio to the bare view of the same round (measured first and last in it).
C  Refresh and create on PostgreSQL at concurrency 1, 8 and 32, RS256 and EdDSA (and EdDSA with
   ``synchronous_commit=off``, a diagnostic of the commit's fsync): one chain of
   refresh tokens per connection (each refresh uses the token the previous one returned), with
   the count of errors and of theft detections (both must be 0).
D  Scale: the sessions admin (the changelist, each filter, the search paths, a session's and a
   user's page) with 1,000,000 sessions in the table, queries and time per page; clean-up of
   1,000,000 expired sessions from among live ones (rows/s, peak memory of the command's
   process); revoke-all for a user with 10,000 sessions; memory over 100,000 verified requests.

Nothing here asserts a time. The run exits 1 when a case answers wrongly (a status other than
200, an error or a theft detection under load): that is what the smoke run in CI guards.

"Ours" verifies through the engine's fast path (``supertokens_django.fastpath``), as deployed.
For a quick before/after of a change to the verification path alone, ``benchmarks/verify_path.py``
runs the relevant part of section A in about twenty seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import importlib.util
import io
import json
import os
import platform
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

BASE_PORT = 18100
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SMOKE_RESULTS = ROOT / "artifacts" / "bench" / "RESULTS-smoke.md"


@dataclass(frozen=True)
class Scale:
    """How much of everything a run does."""

    rounds: int  # in-process rounds
    per_batch: int  # requests per case per in-process round
    after_refresh_batch: int
    micro: int  # iterations of the verification micro-benchmarks
    http_rounds: int
    http_seconds: int  # per wrk run; 0: a few requests with the Python client
    load_seconds: int  # per refresh/create run
    cleanup_rows: int
    revoke_sessions: int
    memory_requests: int
    admin_rows: int  # sessions in the table while the admin pages are timed
    admin_requests: int  # timed requests per admin page (after one untimed)


FULL = Scale(5, 400, 100, 3000, 5, 3, 3, 1_000_000, 10_000, 100_000, 1_000_000, 5)
SMOKE = Scale(1, 10, 5, 50, 1, 0, 0, 2_000, 100, 1_000, 2_000, 1)


# --------------------------------------------------------------------------- setup


def ensure_database() -> None:
    """Create ``supertokens_bench`` when it is missing."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def setup_django(*, migrate: bool) -> None:
    import django

    if migrate:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - load the settings before connecting
        ensure_database()
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def reset_data() -> Any:
    """Empty the tables the cases write to, and the bench's Redis database; return the user."""
    from django.contrib.auth import get_user_model
    from django.core.cache import caches
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE supertokens_django_session, supertokens_django_revokedsession,"
            " knox_authtoken, django_session"
        )
    caches["default"].clear()  # the bench's own Redis database (both aliases live there)
    user, _ = get_user_model()._default_manager.get_or_create(username="bench")
    user.set_password("bench")
    user.save()
    return user


def rss_mb() -> float:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------- the cases


@dataclass
class Case:
    key: str
    label: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    profile: str = "default"
    #: In-process: distinct credentials for each request (n) instead of ``headers``.
    per_request: Callable[[int], list[dict[str, str]]] | None = None
    http_label: str = ""
    group: str = "ours"


def build_cases(user: Any) -> list[Case]:
    import jwt
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends import cached_db, db
    from knox.models import AuthToken
    from rest_framework_simplejwt.tokens import AccessToken as SimpleJWTAccessToken

    from benchmarks.views import RS256AccessToken
    from supertokens_django import engine

    ours = engine.create_session(user)
    at = ours.access_token.token
    cookie = {"Cookie": f"sAccessToken={at}"}
    bearer = {"Authorization": f"Bearer {at}"}

    def refreshed_child_tokens(n: int) -> list[dict[str, str]]:
        """n sessions, each refreshed once: the child access token's first use promotes."""
        out = []
        for _ in range(n):
            created = engine.create_session(user)
            child = engine.refresh_session(created.refresh_token.token)
            out.append({"Cookie": f"sAccessToken={child.access_token.token}"})
        return out

    reused_child = refreshed_child_tokens(1)[0]

    def django_session(store: Any) -> dict[str, str]:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"}

    _, knox_token = AuthToken.objects.create(user)
    pyjwt_token = jwt.encode(
        {"sub": str(user.pk), "exp": datetime.now(timezone.utc) + timedelta(hours=1)},
        settings.SECRET_KEY,
        algorithm="HS256",
    )
    simple_hs = str(SimpleJWTAccessToken.for_user(user))
    simple_rs = str(RS256AccessToken.for_user(user))
    cases = [
        Case("bare", "bare view (no authentication)", "/bare/", group="floor"),
        Case("ours-cookie", "ours, cookie mode", "/ours/", cookie),
        Case("ours-header", "ours, header mode", "/ours/", bearer),
        Case("ours-bl-redis", "ours, blacklisting, Redis", "/ours/", cookie, "bl_redis"),
        Case("ours-bl-db", "ours, blacklisting, database", "/ours/", cookie, "bl_db"),
        Case(
            "ours-bl-bounded",
            "ours, blacklisting, bounded mode (1 s, over Redis)",
            "/ours/",
            cookie,
            "bl_bounded",
        ),
        Case(
            "ours-after-refresh",
            "ours, first call after a refresh (promotion + new token)",
            "/ours/",
            reused_child,
            per_request=refreshed_child_tokens,
            http_label="ours, child token after a refresh, reused (lock + new token each time)",
        ),
        Case("ours-drf", "ours, DRF authentication class", "/ours-drf/", cookie),
    ]
    cases += [
        Case(
            "sessions-db",
            "django.contrib.sessions, db",
            "/peer/sessions-db/",
            django_session(db.SessionStore),
            group="peer",
        ),
        Case(
            "sessions-cached-db",
            "django.contrib.sessions, cached_db on Redis",
            "/peer/sessions-cached-db/",
            django_session(cached_db.SessionStore),
            group="peer",
        ),
        Case(
            "simplejwt-hs256",
            "simplejwt JWTAuthentication, HS256 (loads the user)",
            "/peer/simplejwt-hs256/",
            {"Authorization": f"Bearer {simple_hs}"},
            group="peer",
        ),
        Case(
            "simplejwt-rs256",
            "simplejwt JWTAuthentication, RS256 (loads the user)",
            "/peer/simplejwt-rs256/",
            {"Authorization": f"Bearer {simple_rs}"},
            group="peer",
        ),
        Case(
            "simplejwt-stateless",
            "simplejwt stateless class, HS256",
            "/peer/simplejwt-stateless/",
            {"Authorization": f"Bearer {simple_hs}"},
            group="peer",
        ),
        Case(
            "knox",
            "django-rest-knox",
            "/peer/knox/",
            {"Authorization": f"Token {knox_token}"},
            group="peer",
        ),
        Case(
            "pyjwt",
            "raw pyjwt HS256 in a view",
            "/peer/pyjwt-hs256/",
            {"Authorization": f"Bearer {pyjwt_token}"},
            group="floor",
        ),
    ]
    return cases


@contextmanager
def case_context(case: Case) -> Iterator[None]:
    from django.test.utils import override_settings

    from benchmarks.settings import PROFILES

    with override_settings(SUPERTOKENS=dict(PROFILES[case.profile])):
        yield


# --------------------------------------------------------------------------- A: in-process


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        print(f"  !! {message}", flush=True)
        self.items.append(message)


def environ(path: str, headers: dict[str, str], method: str = "GET") -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def call(handler: Any, env: dict[str, Any]) -> str:
    status: list[str] = []
    response = handler(dict(env), lambda s, h, exc_info=None: status.append(s))
    b"".join(response)
    response.close()
    return status[0]


def timed_batch(handler: Any, case: Case, n: int, failures: Failures) -> float:
    """Mean µs per request over ``n`` requests of ``case``."""
    if case.per_request is not None:
        envs = [environ(case.path, h) for h in case.per_request(n)]
    else:
        envs = [environ(case.path, case.headers)] * n
    gc.collect()
    bad = 0
    start = time.perf_counter_ns()
    for env in envs:
        if call(handler, env) != "200 OK":
            bad += 1
    elapsed = time.perf_counter_ns() - start
    if bad:
        failures.add(f"in-process {case.key}: {bad} of {n} requests were not 200")
    return elapsed / n / 1000


def section_a(cases: list[Case], scale: Scale, failures: Failures) -> dict[str, Any]:
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    rng = random.Random(6)
    samples: dict[str, list[float]] = {c.key: [] for c in cases}
    for case in cases:  # warm every path: keys loaded, connections open, caches filled
        with case_context(case):
            timed_batch(handler, case, 3 if case.per_request else 20, failures)
    for number in range(scale.rounds):
        order = cases[:]
        rng.shuffle(order)
        for case in order:
            n = scale.after_refresh_batch if case.per_request else scale.per_batch
            with case_context(case):
                samples[case.key].append(timed_batch(handler, case, n, failures))
        print(f"  A round {number + 1}/{scale.rounds} done", flush=True)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    bare = medians["bare"]
    rows = [
        {
            "key": c.key,
            "label": c.label,
            "us": medians[c.key],
            "overhead": medians[c.key] - bare,
            "ratio": bare / medians[c.key],
            "spread": (min(samples[c.key]), max(samples[c.key])),
        }
        for c in cases
    ]
    return {"rows": rows, "bare": bare}


def _per_call(fn: Callable[[], Any], n: int) -> float:
    for _ in range(min(n, 200)):
        fn()
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def section_a2(user: Any, scale: Scale) -> list[tuple[str, float]]:
    """The verification alone, for the same RS256 token "ours" uses."""
    import jwt
    from django.conf import settings
    from django.test.utils import override_settings

    from supertokens_django import engine, fastpath, tokens
    from supertokens_django.conf import st_settings
    from supertokens_django.keys import keyring

    access = engine.create_session(user).access_token
    token = access.token
    now = engine._now()
    leeway = st_settings.leeway
    kid = jwt.get_unverified_header(token)["kid"]
    public = keyring.resolve(kid, now)
    hs_token = jwt.encode(
        {"sub": "1", "exp": int(time.time()) + 3600}, settings.SECRET_KEY, algorithm="HS256"
    )
    n = scale.micro
    cache = fastpath.VerifiedTokenCache()

    def resolve(k: str) -> Any:
        return keyring.resolve(k, now)

    def full() -> Any:
        return tokens.decode_access_token(
            token, algorithm="RS256", resolve_key=resolve, now=now, leeway=leeway
        )

    def hit() -> Any:
        return cache.verify(token, now=now, algorithm="RS256", leeway=leeway, resolve_key=resolve)

    rows = [
        (
            f"pyjwt decode, HS256, {len(hs_token)}-byte token (the floor of a pyjwt design)",
            _per_call(lambda: jwt.decode(hs_token, settings.SECRET_KEY, algorithms=["HS256"]), n),
        ),
        (
            f"pyjwt decode, RS256, our {len(token)}-byte token",
            _per_call(lambda: jwt.decode(token, public, algorithms=["RS256"]), n),
        ),
        ("tokens.decode_access_token (full verification, RS256)", _per_call(full, n)),
        ("fastpath hit (VerifiedTokenCache.verify, RS256)", _per_call(hit, n * 10)),
        (
            "  of which keyring.resolve (the key trust check)",
            _per_call(lambda: resolve(kid), n * 10),
        ),
    ]
    with override_settings(SUPERTOKENS={"COOKIE_SECURE": False}):
        rows.append(
            (
                "engine.verify_access_token (fast path hit)",
                _per_call(lambda: engine.verify_access_token(token, issuer="x"), n * 10),
            )
        )
    return rows


def profile_ours(cases: list[Case], scale: Scale) -> list[tuple[str, float, int]]:
    """Where a request of "ours, cookie mode" (with the fast path) spends its time: each of our
    functions' cumulative time as a share of the request."""
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    case = next(c for c in cases if c.key == "ours-cookie")
    env = environ(case.path, case.headers)
    n = max(scale.per_batch * 5, 50)
    with case_context(case):
        call(handler, env)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            call(handler, env)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = 0.0
    out = []
    for (filename, _line, name), (_cc, ncalls, _tt, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.endswith("benchmarks/run.py") and name == "call":
            total = cumtime
        elif "supertokens_django" in filename and ncalls >= n:
            short = filename.split("supertokens_django/")[-1]
            out.append((f"{short} {name}", cumtime, ncalls // n))
    out.sort(key=lambda r: -r[1])
    return [(name, 100 * cum / total, calls) for name, cum, calls in out[:14]]


# --------------------------------------------------------------------------- servers and clients


class Servers:
    """gunicorn processes, one per settings profile, 2 sync workers each."""

    def __init__(self, workers: int, tmp: Path) -> None:
        self.workers = workers
        self.tmp = tmp
        self.procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def port(self, profile: str) -> int:
        key = profile
        if key not in self.procs:
            port = BASE_PORT + len(self.procs)
            env = {
                **os.environ,
                "BENCH_PROFILE": profile,
                "PYTHONPATH": str(ROOT),
            }
            log = open(self.tmp / f"gunicorn-{port}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "benchmarks.wsgi:application",
                    "--workers",
                    str(self.workers),
                    "--worker-class",
                    "sync",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                    "--chdir",
                    str(ROOT),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.procs[key] = (proc, port)
        return self.procs[key][1]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        for profile, (proc, port) in self.procs.items():
            while True:
                if proc.poll() is not None:
                    log = (self.tmp / f"gunicorn-{port}.log").read_text()
                    raise RuntimeError(f"gunicorn {profile} exited:\n{log}")
                try:
                    if request(port, "GET", "/bare/", {})[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn {profile} did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        for proc, _port in self.procs.values():
            proc.terminate()
        for proc, _port in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def request(
    port: int, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    thefts: int = 0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    seconds: int,
    connections: int,
    threads: int,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> Load:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(  # noqa: S603
        cmd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    # gunicorn's sync workers close every connection: wrk may count a read error when it
    # races the close; connect errors and timeouts are real failures.
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket:
        errors += int(socket.group(1)) + int(socket.group(4))
    bench = re.search(r"BENCH errors=(\d+) thefts=(\d+)", out)
    thefts = 0
    if bench:
        errors += int(bench.group(1))
        thefts = int(bench.group(2))
    return Load(rps, p50, p99, total, errors, thefts)


def py_load(
    port: int,
    *,
    concurrency: int,
    count: int,
    step: Callable[[dict[str, Any]], tuple[str, str, dict[str, str]]],
    seen: Callable[[dict[str, Any], int, dict[str, str], bytes], tuple[bool, bool]],
    states: list[dict[str, Any]] | None = None,
) -> Load:
    """A small threaded client (smoke runs, or no ``wrk``): ``count`` requests per worker."""
    latencies: list[float] = []
    errors = thefts = 0
    lock = threading.Lock()
    states = states or [{} for _ in range(concurrency)]

    def worker(state: dict[str, Any]) -> None:
        nonlocal errors, thefts
        for _ in range(count):
            method, path, headers = step(state)
            start = time.perf_counter()
            try:
                status, response_headers, body = request(port, method, path, headers)
                ok, theft = seen(state, status, response_headers, body)
            except OSError:
                ok, theft = False, False
            with lock:
                latencies.append(time.perf_counter() - start)
                errors += not ok
                thefts += theft

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(s,)) for s in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Load(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1000,
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        len(latencies),
        errors,
        thefts,
    )


def simple_get(port: int, path: str, headers: dict[str, str], concurrency: int, count: int) -> Load:
    return py_load(
        port,
        concurrency=concurrency,
        count=count,
        step=lambda state: ("GET", path, headers),
        seen=lambda state, status, h, body: (status == 200, False),
    )


# --------------------------------------------------------------------------- B: HTTP


def section_b(
    cases: list[Case], servers: Servers, scale: Scale, failures: Failures, use_wrk: bool
) -> dict[str, Any]:
    rng = random.Random(7)
    for case in cases:
        servers.port(case.profile)
    servers.wait_ready()
    for case in cases:  # warm up every worker: keys loaded, connections open
        port = servers.port(case.profile)
        load = simple_get(port, case.path, case.headers, 2, 10)
        if load.errors:
            failures.add(
                f"HTTP {case.key}: {load.errors} of {load.requests} warm-up requests failed"
            )

    def measure(case: Case) -> Load:
        port = servers.port(case.profile)
        if use_wrk:
            return wrk(
                port, case.path, case.headers, seconds=scale.http_seconds, connections=8, threads=2
            )
        return simple_get(port, case.path, case.headers, 2, 10)

    per_round: list[dict[str, Load]] = []
    bare_case = next(c for c in cases if c.key == "bare")
    for number in range(scale.http_rounds):
        order = [c for c in cases if c.key != "bare"]
        rng.shuffle(order)
        results: dict[str, Load] = {}
        first = measure(bare_case)
        for case in order:
            results[case.key] = measure(case)
            if results[case.key].errors:
                failures.add(f"HTTP {case.key}: {results[case.key].errors} failed requests")
        last = measure(bare_case)
        results["bare"] = Load(
            (first.rps + last.rps) / 2,
            (first.p50_ms + last.p50_ms) / 2,
            (first.p99_ms + last.p99_ms) / 2,
            first.requests + last.requests,
            first.errors + last.errors,
        )
        per_round.append(results)
        print(
            f"  B round {number + 1}/{scale.http_rounds} done "
            f"(bare {first.rps:.0f} then {last.rps:.0f} req/s)",
            flush=True,
        )
    rows = []
    for case in cases:
        ratios = [r[case.key].rps / r["bare"].rps for r in per_round]
        rows.append(
            {
                "key": case.key,
                "label": case.http_label or case.label,
                "rps": statistics.median(r[case.key].rps for r in per_round),
                "p50": statistics.median(r[case.key].p50_ms for r in per_round),
                "p99": statistics.median(r[case.key].p99_ms for r in per_round),
                "ratio": statistics.median(ratios),
                "ratios": ratios,
            }
        )
    return {"rows": rows}


# --------------------------------------------------------------------------- C: refresh, create

REFRESH_LUA = """
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local threads = {}
local counter = 0
-- BENCH_CHAIN=0: every request presents the same (current) refresh token.
local chain = os.getenv("BENCH_CHAIN") ~= "0"
function setup(thread)
  counter = counter + 1
  thread:set("rt", tokens[counter])
  table.insert(threads, thread)
end
function init(args)
  errors = 0
  thefts = 0
end
function request()
  return wrk.format("POST", "/auth/session/refresh", {["Authorization"] = "Bearer " .. rt}, "")
end
function response(status, headers, body)
  if status == 200 and headers["st-refresh-token"] then
    if chain then rt = headers["st-refresh-token"] end
  else
    errors = errors + 1
    if body and string.find(body, "theft") then thefts = thefts + 1 end
  end
end
function done(summary, latency, requests)
  local e, t = 0, 0
  for _, thread in ipairs(threads) do
    e = e + thread:get("errors")
    t = t + thread:get("thefts")
  end
  io.write(string.format("BENCH errors=%d thefts=%d\\n", e, t))
end
"""

CREATE_LUA = """
wrk.method = "POST"
wrk.body = ""
"""

#: The operations of section C, per algorithm and concurrency.
OPS = ("refresh", "refresh, current token", "create")
CREATE_PATHS = {
    "create": "/bench/create/",
    "create, user id only": "/bench/create-for-user-id/",
    "sign-in without a session": "/bench/sign-in-without-session/",
}


def _refresh_token_for(user: Any, *, current: bool) -> str:
    """A refresh token for a new session of ``user``: with ``current``, a refreshed child whose
    access token was used (so it was promoted and is the stored token, with a parent hash), which
    is what the browser SDK presents at its next refresh; else the session's first token."""
    from supertokens_django import engine

    tokens = engine.create_session(user)
    if not current:
        return tokens.refresh_token.token
    child = engine.refresh_session(tokens.refresh_token.token)
    engine.verify_access_token(child.access_token.token)  # its first use promotes it
    return child.refresh_token.token


def section_c(
    user: Any, servers: Servers, scale: Scale, failures: Failures, use_wrk: bool, tmp: Path
) -> dict[str, Any]:
    from supertokens_django.models import RevokedSession

    refresh_lua = tmp / "refresh.lua"
    refresh_lua.write_text(REFRESH_LUA)
    create_lua = tmp / "create.lua"
    create_lua.write_text(CREATE_LUA)
    algorithms = {
        "RS256": "default",
        "EdDSA": "eddsa",
        # What the same costs when a commit does not wait for the disk (a diagnostic).
        "EdDSA, synchronous_commit=off": "eddsa_async_commit",
    }
    for profile in algorithms.values():
        servers.port(profile)
    servers.wait_ready()
    levels = (1, 8, 32)
    thefts_before = RevokedSession.objects.filter(reason="theft").count()
    rows = []

    def run(port: int, op: str, c: int) -> Load:
        if op == "bare":
            if use_wrk:
                return wrk(port, "/bare/", {}, seconds=scale.load_seconds, connections=c, threads=c)
            return simple_get(port, "/bare/", {}, c, 3)
        if op in CREATE_PATHS:
            path = CREATE_PATHS[op]
            if use_wrk:
                return wrk(
                    port,
                    path,
                    {},
                    seconds=scale.load_seconds,
                    connections=c,
                    threads=c,
                    script=create_lua,
                )
            return py_load(
                port,
                concurrency=c,
                count=3,
                step=lambda s: ("POST", path, {"Content-Length": "0"}),
                seen=lambda s, status, h, b: (status == 200, False),
            )
        chain = op == "refresh"
        tokens = [_refresh_token_for(user, current=not chain) for _ in range(c)]
        if use_wrk:
            token_file = tmp / "tokens.txt"
            token_file.write_text("\n".join(tokens) + "\n")
            return wrk(
                port,
                "/auth/session/refresh",
                {},
                seconds=scale.load_seconds,
                connections=c,
                threads=c,
                script=refresh_lua,
                env={"BENCH_TOKENS": str(token_file), "BENCH_CHAIN": "1" if chain else "0"},
            )

        def step(state: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
            return (
                "POST",
                "/auth/session/refresh",
                {"Authorization": f"Bearer {state['rt']}", "Content-Length": "0"},
            )

        def seen(
            state: dict[str, Any], status: int, headers: dict[str, str], body: bytes
        ) -> tuple[bool, bool]:
            if status == 200 and headers.get("st-refresh-token"):
                if chain:
                    state["rt"] = headers["st-refresh-token"]
                return True, False
            return False, b"theft" in body

        return py_load(
            port, concurrency=c, count=3, step=step, seen=seen, states=[{"rt": t} for t in tokens]
        )

    bare: dict[int, Load] = {}
    for c in levels:
        bare[c] = run(servers.port("default"), "bare", c)

    def measure(algorithm: str, profile: str, op: str, c: int) -> None:
        load = run(servers.port(profile), op, c)
        if load.errors or load.thefts:
            failures.add(
                f"{op} {algorithm} c={c}: {load.errors} errors, {load.thefts} theft detections"
            )
        rows.append(
            {
                "algorithm": algorithm,
                "op": op,
                "c": c,
                "load": load,
                "ratio": load.rps / bare[c].rps,
            }
        )

    for algorithm, profile in algorithms.items():
        # The current-token refresh (the SDK's usual one) reads and writes nothing: it is
        # measured where signing is the question, not in the commit diagnostic.
        ops = OPS if profile != "eddsa_async_commit" else ("refresh", "create")
        for c in levels:
            for op in ops:
                measure(algorithm, profile, op, c)
        print(f"  C {algorithm} done", flush=True)
    # What part of "create" is ours, at concurrency 8: the session alone with each algorithm,
    # and Django's part alone (it signs nothing, so one algorithm's server is as good as another).
    measure("RS256", "default", "create, user id only", 8)
    measure("EdDSA", "eddsa", "create, user id only", 8)
    measure("–", "default", "sign-in without a session", 8)
    theft_rows = RevokedSession.objects.filter(reason="theft").count() - thefts_before
    if theft_rows:
        failures.add(f"{theft_rows} sessions were revoked for theft during the load runs")
    return {"rows": rows, "bare": bare, "theft_rows": theft_rows}


# --------------------------------------------------------------------------- D: scale


def insert_sessions(n: int, *, subject: str, expired: bool) -> None:
    from django.db import connection

    expires = (
        "now() - interval '1 day' - g * interval '1 second'"
        if expired
        else ("now() + interval '30 days'")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO supertokens_django_session
              (handle, user_id, subject, refresh_token_hash_2, session_data, jwt_payload,
               created_at, last_active_at, expires_at, ip_address, user_agent)
            SELECT gen_random_uuid(), NULL, %s, md5(g::text) || md5((g + 1)::text),
                   '{{}}'::jsonb, '{{}}'::jsonb, now() - interval '200 days',
                   now() - interval '101 days', {expires}, '127.0.0.1', 'bench'
            FROM generate_series(1, %s) AS g
            """,  # noqa: S608 - a constant expression, no input
            [subject, n],
        )
        cursor.execute("ANALYZE supertokens_django_session")


#: The admin rows' user agents: the device column parses each listed row's.
ADMIN_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
]


def insert_admin_sessions(n: int) -> int:
    """Insert ``n`` sessions shaped like a busy site's, set-based; return the number of users.

    Three in four belong to one of ``n // 1000`` users (``bench-user-<k>``, created here; the
    session's user id is theirs), the rest to API clients without a user row. Creation dates
    spread over two years; half the sessions expired within the last 30 days, the other half
    expire 1 to 31 days from now (so none expires while section D runs). Every row has its own
    IP address.
    """
    from django.db import connection

    users = max(10, n // 1000)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            SELECT '!', false, 'bench-user-' || k, '', '', 'bench-user-' || k || '@example.com',
                   false, true, now()
            FROM generate_series(1, %s) AS k
            ON CONFLICT (username) DO NOTHING
            """,
            [users],
        )
        # Multiplying by primes scatters the dates without random(): the same rows every run.
        cursor.execute(
            """
            WITH bench_users AS (
              SELECT array_agg(id ORDER BY substr(username, 12)::int) AS ids FROM auth_user
              WHERE username ~ '^bench-user-[0-9]+$' AND substr(username, 12)::int <= %(users)s
            ), numbered AS (
              SELECT g,
                     CASE WHEN g %% 4 = 0 THEN NULL
                          ELSE ids[1 + g / 4 %% cardinality(ids)] END AS user_id,
                     now() - (g * 7919 %% 63072000) * interval '1 second' AS created_at
              FROM generate_series(1::bigint, %(n)s) AS g, bench_users
            )
            INSERT INTO supertokens_django_session
              (handle, user_id, subject, refresh_token_hash_2, session_data, jwt_payload,
               created_at, last_active_at, expires_at, ip_address, user_agent)
            SELECT gen_random_uuid(), user_id, coalesce(user_id::text, 'api-client-' || g %% 20000),
                   md5(g::text) || md5((g + 1)::text), '{}'::jsonb, '{}'::jsonb, created_at,
                   created_at,
                   CASE WHEN g %% 10 < 5
                        THEN now() - interval '1 second'
                             - (g * 104729 %% 2592000) * interval '1 second'
                        ELSE now() + interval '1 day'
                             + (g * 104729 %% 2592000) * interval '1 second' END,
                   ('10.' || g %% 256 || '.' || g / 256 %% 256 || '.' || g / 65536 %% 256)::inet,
                   (%(agents)s::text[])[1 + g %% 3]
            FROM numbered
            """,
            {"users": users, "n": n, "agents": ADMIN_USER_AGENTS},
        )
        # Autovacuum has long since visited a table this size in production (PostgreSQL 13+
        # vacuums after inserts too); right after a bulk insert there is no visibility map, and
        # every index-only scan (the overview's counts) would read the table as well.
        cursor.execute("VACUUM (ANALYZE) supertokens_django_session")
        cursor.execute("ANALYZE auth_user")
    return users


def admin_pages(scale: Scale, failures: Failures) -> list[dict[str, Any]]:
    """Time the sessions changelist (every filter, the search paths) and the pages around it.

    A superuser logged in with Django's test client; per page one untimed request (templates,
    caches), ``scale.admin_requests`` timed ones, and one whose SQL queries are counted.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.urls import reverse
    from django.utils import timezone as dj_timezone
    from django.utils.http import urlencode

    from benchmarks.settings import ADMIN_MIDDLEWARE
    from supertokens_django.models import Session

    user = get_user_model()._default_manager.get(username="bench-user-1")
    sample = Session.objects.filter(subject=str(user.pk)).first()
    if sample is None:
        failures.add("admin: bench-user-1 has no session to look up")
        return []
    created = dj_timezone.localtime(sample.created_at)
    year, month, day = str(created.year), str(created.month), str(created.day)
    changelist = reverse("admin:supertokens_django_session_changelist")
    filters: list[tuple[str, dict[str, str]]] = [
        ("the list, first page", {}),
        ("status: active", {"status": "active"}),
        ("status: expired", {"status": "expired"}),
        ("has user: yes", {"has_user": "yes"}),
        ("has user: no", {"has_user": "no"}),
        ("created: a year", {"created_at__year": year}),
        ("created: a month", {"created_at__year": year, "created_at__month": month}),
        (
            "created: a day",
            {"created_at__year": year, "created_at__month": month, "created_at__day": day},
        ),
        ("a user's sessions (link from the user's page)", {"subject": str(user.pk)}),
        ("search: username", {"q": user.username}),
        ("search: email", {"q": user.email}),
        ("search: user id without a user row", {"q": "api-client-4"}),
        ("search: IP address", {"q": str(sample.ip_address)}),
        ("search: session handle", {"q": str(sample.handle)}),
    ]
    pages = [(label, f"{changelist}?{urlencode(q)}" if q else changelist) for label, q in filters]
    pages += [
        (
            "a session's page",
            reverse("admin:supertokens_django_session_change", args=[sample.handle]),
        ),
        (
            "a user's page (their sessions inline)",
            reverse("admin:auth_user_change", args=[user.pk]),
        ),
    ]
    admin, _ = get_user_model()._default_manager.get_or_create(username="bench-admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    rows: list[dict[str, Any]] = []
    # The stock admin stack (MessageMiddleware added): see benchmarks/settings.py.
    with override_settings(MIDDLEWARE=ADMIN_MIDDLEWARE):
        client = Client()
        client.force_login(admin)
        for label, url in pages:
            statuses = {client.get(url).status_code}
            times = []
            for _ in range(scale.admin_requests):
                t0 = time.perf_counter()
                statuses.add(client.get(url).status_code)
                times.append(time.perf_counter() - t0)
            with CaptureQueriesContext(connection) as queries:
                statuses.add(client.get(url).status_code)
            if statuses != {200}:
                failures.add(f"admin page {url} answered {sorted(statuses)}")
            rows.append(
                {
                    "label": label,
                    "url": url,
                    "queries": len(queries.captured_queries),
                    "sql_ms": sum(float(q["time"]) for q in queries.captured_queries) * 1000,
                    "ms": statistics.median(times) * 1000,
                    "spread": (min(times) * 1000, max(times) * 1000),
                }
            )
    return rows


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the process that spawned us, so
    a child of this (large) benchmark process would report the parent's size.
    """
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def child_cleanup() -> None:
    """``--child cleanup``: run the management command; print time and memory as JSON."""
    setup_django(migrate=False)
    from django.core.management import call_command
    from django.db import connection

    connection.ensure_connection()
    baseline = rss_mb()
    start = time.perf_counter()
    out = io.StringIO()
    call_command("supertokens_cleanup", stdout=out)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "baseline_mb": baseline,
                "peak_mb": peak,
                "output": out.getvalue().strip(),
            }
        )
    )


def section_d(cases: list[Case], scale: Scale, failures: Failures) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone as dj_timezone

    from supertokens_django import engine
    from supertokens_django.models import Session

    result: dict[str, Any] = {}
    # The admin pages, on a table of scale.admin_rows sessions.
    t0 = time.perf_counter()
    users = insert_admin_sessions(scale.admin_rows)
    result["admin"] = {
        "rows": scale.admin_rows,
        "users": users,
        "insert_seconds": time.perf_counter() - t0,
        "requests": scale.admin_requests,
        "pages": admin_pages(scale, failures),
    }
    print("  D admin done", flush=True)

    # Clean-up, in a process of its own so that its peak memory is its own: the admin's expired
    # sessions, topped up to scale.cleanup_rows, deleted from among the live ones.
    expired = Session.objects.filter(expires_at__lte=dj_timezone.now())
    t0 = time.perf_counter()
    insert_sessions(max(0, scale.cleanup_rows - expired.count()), subject="expired", expired=True)
    result["insert_seconds"] = time.perf_counter() - t0
    stale, total = expired.count(), Session.objects.count()
    proc = subprocess.run(  # noqa: S603
        [sys.executable, str(Path(__file__)), "--child", "cleanup"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode:
        failures.add(f"cleanup failed: {proc.stderr[-2000:]}")
    else:
        cleanup = json.loads(proc.stdout.strip().splitlines()[-1])
        cleanup["rows"], cleanup["table_rows"] = stale, total
        cleanup["rows_per_s"] = stale / cleanup["seconds"]
        result["cleanup"] = cleanup
        left = Session.objects.count()
        if left != total - stale:
            failures.add(f"cleanup left {left} of {total} sessions, expected {total - stale}")
        if expired.exists():
            failures.add("cleanup left expired sessions")
    print("  D cleanup done", flush=True)

    # Revoke-all for one user with many sessions.
    insert_sessions(scale.revoke_sessions, subject="many-sessions", expired=False)
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        revoked = engine.revoke_all_sessions_for_user("many-sessions")
        seconds = time.perf_counter() - t0
    if len(revoked) != scale.revoke_sessions:
        failures.add(f"revoke-all revoked {len(revoked)} of {scale.revoke_sessions}")
    result["revoke"] = {
        "sessions": scale.revoke_sessions,
        "seconds": seconds,
        "queries": len(queries.captured_queries),
    }
    print("  D revoke-all done", flush=True)

    # Memory over many verified requests, through the handler.
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    memory: dict[str, list[tuple[int, float]]] = {}
    for key in ("ours-cookie",):
        case = next((c for c in cases if c.key == key), None)
        if case is None:
            continue
        env = environ(case.path, case.headers)
        points = []
        with case_context(case):
            call(handler, env)
            gc.collect()
            points.append((0, rss_mb()))
            step = scale.memory_requests // 4
            bad = 0
            for done in range(1, scale.memory_requests + 1):
                if call(handler, env) != "200 OK":
                    bad += 1
                if done % step == 0:
                    points.append((done, rss_mb()))
            if bad:
                failures.add(f"memory run {key}: {bad} requests were not 200")
        memory[case.label] = points
    result["memory"] = memory
    print("  D memory done", flush=True)
    return result


# --------------------------------------------------------------------------- the report


def versions() -> dict[str, str]:
    from importlib.metadata import version

    from django.db import connection

    out = {"Python": platform.python_version()}
    for dist in (
        "Django",
        "PyJWT",
        "cryptography",
        "djangorestframework",
        "djangorestframework-simplejwt",
        "django-rest-knox",
        "gunicorn",
        "psycopg",
        "redis",
        "supertokens-django",
    ):
        try:
            out[dist] = version(dist)
        except Exception:  # noqa: BLE001
            out[dist] = "not installed"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        out["PostgreSQL"] = cursor.fetchone()[0]
    try:
        import redis

        out["Redis server"] = redis.Redis.from_url(
            os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
        ).info()["redis_version"]
    except Exception:  # noqa: BLE001
        out["Redis server"] = "unknown"
    wrk_path = shutil.which("wrk")
    if wrk_path:
        first = subprocess.run([wrk_path, "-v"], capture_output=True, text=True)  # noqa: S603
        out["wrk"] = (first.stdout or first.stderr).split("\n")[0].split(" [")[0]
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB, Linux {platform.release()}"


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}"


def report(
    args: argparse.Namespace, scale: Scale, data: dict[str, Any], failures: Failures, started: float
) -> str:
    lines: list[str] = []
    w = lines.append
    w("# Benchmark results" + (" (smoke run: numbers mean nothing)" if args.smoke else ""))
    w("")
    w(
        f"Produced by `{' '.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}` "
        f"(`make bench`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"in {time.monotonic() - started:.0f} s."
    )
    w("")
    w(f"- Machine: {machine()}")
    start_load, end_load = data["load"], os.getloadavg()[0]
    w(
        f"- Load average (1 min) at the start and the end of the run: {start_load:.1f} and "
        f"{end_load:.1f}; anything above 0 is other work sharing the cores, and widens the "
        "spread between rounds."
    )
    w("- Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()))
    w("- Ours verifies through the engine's fast path (`supertokens_django.fastpath`).")
    w(
        "- Every case: the same middleware stack (Security, Session, Common, Csrf, Authentication, "
        "SuperTokens, XFrameOptions), `GET`, a view answering `200 ok`. PostgreSQL with persistent "
        "connections; Redis for the caches. Ours signs RS256 unless stated."
    )
    w("")
    if "a" in data:
        a = data["a"]
        w("## A. Per-request cost in-process (Django's WSGI handler, middleware included)")
        w("")
        w(
            f"{scale.rounds} rounds × {scale.per_batch} requests per case "
            f"({scale.after_refresh_batch} for the after-refresh case, each with its own freshly "
            "refreshed session), cases shuffled in each round; the median of the rounds' means."
        )
        w("")
        w("| case | µs / request | overhead vs bare (µs) | × bare (throughput) | rounds (µs) |")
        w("|---|---:|---:|---:|---:|")
        for r in a["rows"]:
            lo, hi = r["spread"]
            w(
                f"| {r['label']} | {r['us']:.1f} | {r['overhead']:+.1f} | {_fmt_ratio(r['ratio'])} "
                f"| {lo:.1f}–{hi:.1f} |"
            )
        w("")
    if "a2" in data:
        w("### The verification alone (in-process, µs per call)")
        w("")
        w("| what | µs |")
        w("|---|---:|")
        for label, us in data["a2"]:
            w(f"| {label} | {us:.2f} |")
        w("")
    if data.get("profile"):
        w('### Where a request of "ours, cookie mode" spends its time in our code')
        w("")
        w(
            "cProfile: cumulative time of each of our functions as a share of the whole request "
            "(handler included); the profiler inflates small calls, so read it as an order."
        )
        w("")
        w("| function | % of the request | calls / request |")
        w("|---|---:|---:|")
        for name, share, calls in data["profile"]:
            w(f"| `{name}` | {share:.1f} | {calls} |")
        w("")
    if "b" in data:
        tool = "wrk -t2 -c8" if data["use_wrk"] else "the Python client (2 threads)"
        w("## B. HTTP: gunicorn (2 sync workers) and " + tool + " on 127.0.0.1")
        w("")
        w(
            f"{scale.http_rounds} rounds of {scale.http_seconds} s per case, cases shuffled, the "
            "bare view measured first and last in each round; × bare is the median over rounds of "
            "(case req/s) / (bare req/s of the same round)."
        )
        w("")
        w("| case | req/s | p50 ms | p99 ms | × bare | per round |")
        w("|---|---:|---:|---:|---:|---|")
        for r in data["b"]["rows"]:
            w(
                f"| {r['label']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                f"{_fmt_ratio(r['ratio'])} | {', '.join(_fmt_ratio(x) for x in r['ratios'])} |"
            )
        w("")
    if "c" in data:
        c = data["c"]
        w("## C. Refresh and create on PostgreSQL")
        w("")
        w(
            "Each connection refreshes its own session. `refresh`: in a chain (every refresh "
            "presents the token the previous one returned, so every refresh after the first "
            "promotes a child: one conditional `UPDATE`, one commit). `refresh, current token`: "
            "always the same token, a refreshed child whose access token was used, which is what "
            "the browser SDK presents at its next refresh (the promotion's `UPDATE` matches "
            "nothing, a read finds the token current: nothing is written). `create` loads the "
            "user by primary key and creates a session (`user_logged_in` updates `last_login`, "
            "then the session's `INSERT`: two commits). × bare: the bare view at the same "
            "concurrency with the same client. A commit waits for PostgreSQL to flush its WAL to "
            "disk; the rows with `synchronous_commit=off` are a diagnostic of how much of the "
            "time that flush is (not a setting to run with: a crash would lose the last "
            "promotions, and their sessions' next refresh would look like theft). The last three "
            "rows are diagnostics of `create` at concurrency 8: creating the session alone, for "
            "a user id (no user row read, no `last_login`), with each algorithm; and Django's "
            "part alone (load the user, `user_logged_in`), without a session."
        )
        w("")
        w(
            "| algorithm | operation | concurrency | req/s | p50 ms | p99 ms | × bare | errors "
            "| thefts |"
        )
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for level, load in c["bare"].items():
            w(
                f"| – | bare view | {level} | {load.rps:.0f} | {load.p50_ms:.2f} | "
                f"{load.p99_ms:.2f} | 1.00 | {load.errors} | – |"
            )
        for r in c["rows"]:
            load = r["load"]
            w(
                f"| {r['algorithm']} | {r['op']} | {r['c']} | {load.rps:.0f} | {load.p50_ms:.2f} | "
                f"{load.p99_ms:.2f} | {_fmt_ratio(r['ratio'])} | {load.errors} | {load.thefts} |"
            )
        w("")
        w(f"Sessions revoked for theft in the database during these runs: {c['theft_rows']}.")
        w("")
    if "d" in data:
        d = data["d"]
        w("## D. Scale")
        w("")
        if "cleanup" in d:
            cl = d["cleanup"]
            w(
                f"- Clean-up (`manage.py supertokens_cleanup`, default batch size) of "
                f"{cl['rows']:,} expired sessions in a table of {cl['table_rows']:,} (the live "
                f"ones stay): {cl['seconds']:.1f} s, "
                f"**{cl['rows_per_s']:,.0f} rows/s**; peak RSS of the command's process "
                f"**{cl['peak_mb']:.0f} MB** ({cl['baseline_mb']:.0f} MB before the command ran, "
                f"so {cl['peak_mb'] - cl['baseline_mb']:.0f} MB for the work). "
                f"(Topping the admin's expired sessions up to that number took "
                f"{d['insert_seconds']:.1f} s.)"
            )
        rv = d["revoke"]
        w(
            f"- Revoke-all for a user with {rv['sessions']:,} sessions: "
            f"{rv['seconds'] * 1000:.0f} ms ({rv['sessions'] / rv['seconds']:,.0f} sessions/s), "
            f"{rv['queries']} queries."
        )
        for label, points in d["memory"].items():
            w(
                f"- Memory (RSS, MB) over verified requests, {label}: "
                + ", ".join(f"{n:,}: {mb:.1f}" for n, mb in points)
            )
        w("")
        ad = d["admin"]
        w(f"### The sessions admin with {ad['rows']:,} sessions in the table")
        w("")
        w(
            f"{ad['users']:,} users own three sessions in four, the rest belong to API clients "
            "without a user row; half are expired; creation dates span two years (inserted in "
            f"{ad['insert_seconds']:.0f} s). A superuser logged in with Django's test client, "
            "through the stack above plus `MessageMiddleware` (as `startproject` has it). Per "
            f"page: the median of {ad['requests']} requests after an untimed one, and the SQL "
            "queries of one more request with the time the database took to answer them (the "
            "login's session and user lookups included)."
        )
        w("")
        w("| page | URL | queries | SQL ms | median ms | range ms |")
        w("|---|---|---:|---:|---:|---:|")
        for r in ad["pages"]:
            lo, hi = r["spread"]
            w(
                f"| {r['label']} | `{r['url']}` | {r['queries']} | {r['sql_ms']:.0f} "
                f"| {r['ms']:.0f} | {lo:.0f}–{hi:.0f} |"
            )
        w("")
    w("## Correctness during the run")
    w("")
    if failures.items:
        for item in failures.items:
            w(f"- FAILED: {item}")
    else:
        w("- Every request answered as expected; no errors, no theft detections.")
    w("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every case a few times (CI)")
    parser.add_argument("--sections", default="ABCD", help="which sections to run (default ABCD)")
    parser.add_argument("--output", type=Path, help="where to write the Markdown report")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "cleanup":
        child_cleanup()
        return 0
    missing = [
        name
        for name in ("rest_framework_simplejwt", "knox", "gunicorn", "psycopg", "redis")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        print(
            f"missing benchmark dependencies ({', '.join(missing)}): "
            f"{sys.executable} -m pip install -r benchmarks/requirements.txt",
            file=sys.stderr,
        )
        return 2
    scale = SMOKE if args.smoke else FULL
    sections = args.sections.upper()
    started = time.monotonic()
    failures = Failures()
    tmp = Path(tempfile.mkdtemp(prefix="supertokens-bench-"))
    # simplejwt's RS256 key pair, shared with the servers.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "simplejwt.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.environ["BENCH_SIMPLEJWT_RSA_KEY"] = str(tmp / "simplejwt.pem")

    setup_django(migrate=True)
    user = reset_data()
    cases = build_cases(user)
    data: dict[str, Any] = {"versions": versions(), "load": os.getloadavg()[0]}
    use_wrk = bool(shutil.which("wrk")) and scale.http_seconds > 0
    print(f"{len(cases)} cases; {'smoke' if args.smoke else 'full'} run", flush=True)
    if "A" in sections:
        data["a"] = section_a(cases, scale, failures)
        data["a2"] = section_a2(user, scale)
        if not args.smoke:
            data["profile"] = profile_ours(cases, scale)
    servers = Servers(workers=2, tmp=tmp)
    try:
        if "B" in sections:
            data["use_wrk"] = use_wrk
            data["b"] = section_b(cases, servers, scale, failures, use_wrk)
        if "C" in sections:
            data["c"] = section_c(user, servers, scale, failures, use_wrk, tmp)
    finally:
        servers.stop()
    if "D" in sections:
        data["d"] = section_d(cases, scale, failures)
    text = report(args, scale, data, failures, started)
    output = args.output or (SMOKE_RESULTS if args.smoke else RESULTS)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"written to {output}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures.items else 0


if __name__ == "__main__":
    sys.exit(main())
