#!/usr/bin/env python
"""Instructions per request, counted by valgrind: ``python benchmarks/instructions.py``.

Timings on a shared machine spread by tens of percent between rounds (see RESULTS.md); the
number of instructions a request executes does not depend on what else the machine is doing.
For each case this runs the same in-process requests as section A of ``run.py`` under
``valgrind --tool=callgrind`` twice, with 0 and with N measured requests after the same set-up
and warm-up, and divides the difference by N: set-up, imports and warm-up cancel out.

It prints the instructions per request of each case and its overhead over the bare view, in
instructions and as a share of the bare request. Multiply that share by the bare view's time
on a machine to estimate the overhead in µs there. Not part of ``make bench``: each case takes
a few minutes under valgrind. ``make bench-instructions`` runs it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Not the bounded blacklisting mode: under valgrind a request takes ~50 times as long, so its
# one-second local memory expires every few requests and the count measures Redis round trips.
# "bare-cookie" is the bare view sent ours's cookie: what carrying the token costs Django (its
# cookie parsing) before anything of ours runs.
CASES = ("bare", "bare-cookie", "ours-cookie", "ours-header")
WARM_UP = 50


def child(key: str, n: int) -> None:
    """``--child KEY N``: set up, warm up, then answer ``n`` requests of case ``key``."""
    from benchmarks import run

    run.setup_django(migrate=False)
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler

    from supertokens_django import engine

    # No run.build_cases(): it creates the peers' keys, and RSA key generation executes a
    # different number of instructions each time.
    user, _ = get_user_model()._default_manager.get_or_create(username="bench")
    token = engine.create_session(user).access_token.token
    cookie = {"Cookie": f"sAccessToken={token}"}
    cases = {
        "bare": run.Case("bare", "", "/bare/"),
        "bare-cookie": run.Case("bare-cookie", "", "/bare/", cookie),
        "ours-cookie": run.Case("ours-cookie", "", "/ours/", cookie),
        "ours-header": run.Case("ours-header", "", "/ours/", {"Authorization": f"Bearer {token}"}),
    }
    case = cases[key]
    handler = WSGIHandler()
    env = run.environ(case.path, case.headers)
    with run.case_context(case):
        for _ in range(WARM_UP):
            if run.call(handler, env) != "200 OK":
                raise SystemExit(f"{key}: the warm-up request was not answered 200")
        for _ in range(n):
            run.call(handler, env)


def count(valgrind: str, key: str, n: int) -> int:
    """Instructions of one child process run under callgrind."""
    proc = subprocess.run(  # noqa: S603
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(Path(__file__)),
            "--child",
            key,
            str(n),
        ],
        capture_output=True,
        text=True,
        check=False,
        # Fixed string hashing: dictionaries then do the same work in every run.
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)},
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"{key}: valgrind failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per case")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    from benchmarks import run

    run.setup_django(migrate=True)  # creates the benchmark database if it is missing
    per_request: dict[str, float] = {}
    for key in CASES:
        measured, baseline = count(valgrind, key, args.requests), count(valgrind, key, 0)
        per_request[key] = (measured - baseline) / args.requests
        print(f"  {key}: {per_request[key]:,.0f} instructions per request", flush=True)
    bare = per_request["bare"]
    print(f"\n{'case':<18} {'instructions':>13} {'over bare':>11} {'share of bare':>14}")
    for key, value in per_request.items():
        print(f"{key:<18} {value:>13,.0f} {value - bare:>+11,.0f} {(value - bare) / bare:>+13.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
