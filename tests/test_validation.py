"""validation.py: what may be stored as session data or a JWT payload."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supertokens_django.exceptions import InvalidSessionData
from supertokens_django.tokens import PROTECTED_CLAIMS
from supertokens_django.validation import MAX_DEPTH, validate_json_object, validate_jwt_payload

CAP = 1024


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def test_invalid_session_data_is_a_value_error() -> None:
    assert issubclass(InvalidSessionData, ValueError)


def test_none_means_empty() -> None:
    assert validate_json_object(None, max_bytes=CAP, what="session data") == {}


def test_returns_an_independent_json_copy() -> None:
    original = {"list": (1, 2), "nested": {"a": [True, None, 1.5, "é"]}}
    clean = validate_json_object(original, max_bytes=CAP, what="session data")
    assert clean == {"list": [1, 2], "nested": {"a": [True, None, 1.5, "é"]}}
    clean["nested"]["a"].append("changed")
    assert original["nested"]["a"] == [True, None, 1.5, "é"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ("text", "must be a JSON object"),
        ({"x": float("nan")}, "NaN"),
        ({"x": [float("inf")]}, "NaN or Infinity"),
        ({"x": -float("inf")}, "NaN or Infinity"),
        ({"x": "a\x00b"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ({"x": "\ud800"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        ({1: "int key"}, "non-string key"),
        ({"x": {1, 2}}, "set"),
        ({"x": b"bytes"}, "bytes"),
        ({"x": object()}, "object"),
    ],
    ids=repr,
)
def test_refused_content(value: Any, message: str) -> None:
    with pytest.raises(InvalidSessionData, match=message):
        validate_json_object(value, max_bytes=CAP, what="session data")


def test_nesting_at_the_limit_is_accepted_one_deeper_is_refused() -> None:
    assert validate_json_object(nested(MAX_DEPTH), max_bytes=CAP, what="session data")
    with pytest.raises(InvalidSessionData, match="nested"):
        validate_json_object(nested(MAX_DEPTH + 1), max_bytes=CAP, what="session data")


def test_huge_integers_are_refused_with_a_clear_error() -> None:
    # json.dumps alone raises a bare ValueError past 4300 digits; the caller gets our error.
    with pytest.raises(InvalidSessionData, match="integer too large"):
        validate_json_object({"x": 10**5000}, max_bytes=10**6, what="session data")
    assert validate_json_object({"x": 2**1000}, max_bytes=CAP, what="session data") == {
        "x": 2**1000
    }


def test_very_deep_nesting_is_refused_without_recursion_error() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(InvalidSessionData, match="nested"):
        validate_json_object({"x": value}, max_bytes=CAP, what="session data")


def test_size_cap_counts_utf8_bytes() -> None:
    # {"x":"…"} is 8 bytes of framing; "é" is two bytes in UTF-8.
    exactly = {"x": "é" * ((CAP - 8) // 2)}
    assert validate_json_object(exactly, max_bytes=CAP, what="session data") == exactly
    with pytest.raises(InvalidSessionData, match="limit is 1024"):
        validate_json_object({"x": "é" * CAP}, max_bytes=CAP, what="session data")


def test_jwt_payload_cap_counts_bytes_as_the_token_carries_them() -> None:
    """pyjwt writes "é" as the six bytes ``\\u00e9``: the cap is about the token's size."""
    assert validate_json_object({"x": "é" * 100}, max_bytes=300, what="session data")
    with pytest.raises(InvalidSessionData, match="limit is 300"):
        validate_jwt_payload({"x": "é" * 100}, max_bytes=300)
    assert validate_jwt_payload({"x": "é" * 40}, max_bytes=300) == {"x": "é" * 40}


def test_the_error_names_what_was_refused() -> None:
    with pytest.raises(InvalidSessionData, match="^JWT payload"):
        validate_jwt_payload({"x": float("nan")}, max_bytes=CAP)


@pytest.mark.parametrize("claim", sorted(PROTECTED_CLAIMS))
def test_protected_claims_are_refused_in_a_jwt_payload(claim: str) -> None:
    with pytest.raises(InvalidSessionData, match=f"protected claims: {claim}"):
        validate_jwt_payload({claim: "x", "fine": 1}, max_bytes=CAP)


def test_protected_claims_are_allowed_in_session_data() -> None:
    assert validate_json_object({"sub": 1}, max_bytes=CAP, what="session data") == {"sub": 1}


def test_iss_may_be_set_in_a_jwt_payload() -> None:
    assert validate_jwt_payload({"iss": "https://other"}, max_bytes=CAP) == {"iss": "https://other"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_any_value_is_stored_as_given_or_refused_with_a_clear_error(value: dict[str, Any]) -> None:
    try:
        clean = validate_json_object(value, max_bytes=CAP, what="session data")
    except InvalidSessionData:
        return
    assert clean == value
