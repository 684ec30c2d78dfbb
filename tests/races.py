"""Threads released together at a barrier, for the race tests of the engine and of real servers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def race(workers: int, target: Callable[[int], Any], *, timeout: float = 120) -> list[Any]:
    """``target(i)`` in ``workers`` threads released together: each result or raised exception.

    Threads that used the ORM close their own connections at the end.
    """
    barrier = threading.Barrier(workers)
    outcomes: list[Any] = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            outcomes[index] = target(index)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcomes[index] = exc
        finally:
            connections.close_all()  # this thread's connections only

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
        assert not thread.is_alive(), "a racer is stuck (deadlock?)"
    return outcomes
