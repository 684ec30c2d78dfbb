#!/usr/bin/env python
"""The verified-request hot path alone, in a few seconds: ``python benchmarks/verify_path.py``.

Section A of ``run.py`` restricted to the bare view and "ours" (cookie, header, bounded
blacklisting), plus ``engine.verify_access_token`` by itself: the quick before/after check for a
change to the hot path. Same project, database and interleaving as ``run.py``; prints a table.

Besides the median of the rounds it prints their minimum: on a machine shared with other work
(a load average above the core count) the minimum is the steadier estimate of what the code
itself costs, since other work only ever adds time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import run  # noqa: E402

KEYS = ("bare", "ours-cookie", "ours-header", "ours-bl-bounded")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    run.setup_django(migrate=True)
    user = run.reset_data()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from supertokens_django import engine

    cases = [c for c in run.build_cases(user) if c.key in KEYS]
    handler = WSGIHandler()
    failures = run.Failures()
    samples: dict[str, list[float]] = {c.key: [] for c in cases}
    for case in cases:
        with run.case_context(case):
            run.timed_batch(handler, case, 50, failures)
    rng = random.Random(6)
    for _ in range(args.rounds):
        order = cases[:]
        rng.shuffle(order)
        for case in order:
            with run.case_context(case):
                samples[case.key].append(run.timed_batch(handler, case, args.requests, failures))
    bare, bare_min = statistics.median(samples["bare"]), min(samples["bare"])
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")
    print(f"{'case':<52} {'median':>7} {'over':>6} {'min':>7} {'over':>6} {'× bare':>6}")
    for case in cases:
        us, low = statistics.median(samples[case.key]), min(samples[case.key])
        print(
            f"{case.label:<52} {us:7.1f} {us - bare:+6.1f} {low:7.1f} {low - bare_min:+6.1f}"
            f" {bare_min / low:6.2f}"
        )
    token = engine.create_session(user).access_token.token
    with override_settings(SUPERTOKENS={"COOKIE_SECURE": False}):
        calls = [
            run._per_call(lambda: engine.verify_access_token(token, issuer="x"), 5000)
            for _ in range(7)
        ]
    print(
        f"{'engine.verify_access_token, cached token (µs/call)':<52} "
        f"{statistics.median(calls):7.2f} {'':>6} {min(calls):7.2f}"
    )
    return 1 if failures.items else 0


if __name__ == "__main__":
    sys.exit(main())
