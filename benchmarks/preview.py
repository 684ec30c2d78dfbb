"""The fast path as the engine will use it, for measuring before it is wired in.

``engine.verify_access_token`` calls ``decode_access_token`` by its module-level name; routing
that name through :func:`fastpath.verify_cached` is exactly the proposed engine change. Once the
engine uses the fast path itself, :func:`wired` is true and nothing is patched.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from supertokens_django import engine, fastpath
from supertokens_django.tokens import AccessToken


def wired() -> bool:
    return "verify_cached" in inspect.getsource(engine.verify_access_token)


def _cached_decode(
    token: str, *, algorithm: str, resolve_key: Any, now: datetime, leeway: timedelta
) -> AccessToken:
    return fastpath.verify_cached(
        token, now=now, algorithm=algorithm, leeway=leeway, resolve_key=resolve_key
    )


def install_fast_path_preview() -> None:
    if not wired():
        engine.decode_access_token = _cached_decode  # type: ignore[assignment]


@contextmanager
def fast_path_preview() -> Iterator[None]:
    original = engine.decode_access_token
    install_fast_path_preview()
    try:
        yield
    finally:
        engine.decode_access_token = original  # type: ignore[assignment]
