"""Validation of session data and JWT payloads before anything is written."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .exceptions import InvalidSessionData
from .tokens import PROTECTED_CLAIMS

MAX_DEPTH = 32
#: Far beyond what any JSON consumer keeps exactly (2**53), far below what ``json`` refuses.
MAX_INT_BITS = 1024


def _check(value: Any, depth: int, where: str) -> None:
    if depth > MAX_DEPTH:
        raise InvalidSessionData(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        # Beyond int_max_str_digits json.dumps raises a bare ValueError; beyond the cap anyway.
        if value.bit_length() > MAX_INT_BITS:
            raise InvalidSessionData(f"{where} contains an integer too large to store")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidSessionData(f"{where} contains NaN or Infinity, which JSON cannot carry")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidSessionData(f"{where} has a non-string key {key!r}")
            _check_text(key, where)
            _check(item, depth + 1, where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1, where)
    else:
        raise InvalidSessionData(f"{where} contains a {type(value).__name__}, which is not JSON")


def _check_text(text: str, where: str) -> None:
    # PostgreSQL's jsonb refuses NUL; lone surrogates cannot be encoded as UTF-8 anywhere.
    if "\x00" in text:
        raise InvalidSessionData(f"{where} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidSessionData(f"{where} contains a lone surrogate") from exc


def validate_json_object(
    value: Any, *, max_bytes: int, what: str, ascii_escaped: bool = False
) -> dict[str, Any]:
    """Return a plain-dict copy of ``value`` if it is a storable JSON object, else raise.

    The size is that of compact JSON in UTF-8, or with ``ascii_escaped`` as a JWT carries it
    (pyjwt escapes every non-ASCII character as ``\\uXXXX``: "é" costs 6 bytes, not 2).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSessionData(f"{what} must be a JSON object, not {type(value).__name__}")
    _check(value, 0, what)
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_escaped).encode()
    if len(encoded) > max_bytes:
        raise InvalidSessionData(f"{what} is {len(encoded)} bytes; the limit is {max_bytes}")
    # A round trip gives an independent copy with JSON's own types (tuples become lists).
    return json.loads(encoded)  # type: ignore[no-any-return]


def validate_jwt_payload(value: Any, *, max_bytes: int) -> dict[str, Any]:
    # Measured as it is inside the token: the cap exists to keep the token cookie under 4 KB.
    payload = validate_json_object(
        value, max_bytes=max_bytes, what="JWT payload", ascii_escaped=True
    )
    clash = sorted(PROTECTED_CLAIMS.intersection(payload))
    if clash:
        raise InvalidSessionData(f"JWT payload may not set protected claims: {', '.join(clash)}")
    return payload
