"""Property-based fuzzing (Hypothesis) of the token parsers, the request readers and the
endpoints, the single-character mutations of genuine tokens, and the JSON round trip of
session data and payloads through the database.

The example counts are Hypothesis' (100 per property, fewer where a property is an HTTP or
database round trip); ``make fuzz`` runs the "fuzz" profile, which raises them (see
``tests/conftest.py``). Run the JSON property on every database of the matrix:
``SUPERTOKENS_TEST_DB=postgres|mariadb``.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, assume, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from supertokens_django import engine, fastpath, transport
from supertokens_django.exceptions import InvalidSessionData, TryRefreshToken, Unauthorised
from supertokens_django.keys import generate_private_key, verification_key
from supertokens_django.models import Session as SessionRow
from supertokens_django.tokens import (
    SigningMaterial,
    decode_access_token,
    encode_access_token,
    mint_refresh_token,
    parse_refresh_token,
    sha256_hex,
)
from tests.http_helpers import JWKS, REFRESH, SIGNOUT
from tests.security.support import (
    ANONYMOUS,
    DRF_NO_CREDENTIALS,
    HAS_DRF,
    SIGNED_OUT,
    TRY_REFRESH,
    UNAUTHORISED,
    assert_no_new_tokens,
    b64url,
    db_state,
    json_body,
)

pytestmark = [pytest.mark.urls("tests.security.urls")]

NOW = datetime(2031, 5, 4, 12, 0, tzinfo=timezone.utc)
LEEWAY = timedelta(seconds=1)
HANDLE = "0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a"
SECRET = "fuzzing-secret-key-0123456789"
ALPHABET = string.ascii_letters + string.digits + "-_"
ALGORITHMS = ["RS256", "ES256", "EdDSA", "HS256"]
PRIVATE = {alg: generate_private_key(alg) for alg in ALGORITHMS}


#: The loaded profile's count: 100, or 5000 under ``make fuzz`` (``--hypothesis-profile=fuzz``).
PROFILE_EXAMPLES = hypothesis_settings.default.max_examples
PARSER = hypothesis_settings(max_examples=max(200, PROFILE_EXAMPLES), deadline=None)
#: Properties that make HTTP requests or database round trips run a tenth as many.
SLOW_EXAMPLES = max(60, PROFILE_EXAMPLES // 10)
HTTP = hypothesis_settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def genuine(algorithm: str = "RS256", **custom: Any) -> str:
    return encode_access_token(
        key=SigningMaterial("kid-1", algorithm, PRIVATE[algorithm]),
        user_id="user-1",
        handle=HANDLE,
        refresh_token_hash1=sha256_hex("rt"),
        parent_refresh_token_hash1=None,
        anti_csrf_token=None,
        custom_payload=custom,
        issuer="https://api.example.com/auth",
        now=NOW,
        lifetime=timedelta(hours=1),
    ).token


def resolver(algorithm: str) -> Callable[[str], Any | None]:
    key = verification_key(PRIVATE[algorithm])
    return lambda kid: key if kid == "kid-1" else None


VERIFIERS: dict[str, Callable[..., Any]] = {
    "decode_access_token": decode_access_token,
    "fastpath.verified_tokens.verify": fastpath.verified_tokens.verify,
}


def verify(token: str, algorithm: str = "RS256", verifier: str = "decode_access_token") -> Any:
    return VERIFIERS[verifier](
        token, algorithm=algorithm, resolve_key=resolver(algorithm), now=NOW, leeway=LEEWAY
    )


def accepted(token: str, algorithm: str = "RS256", verifier: str = "decode_access_token") -> bool:
    try:
        verify(token, algorithm, verifier)
    except TryRefreshToken:
        return False
    return True


@pytest.fixture(autouse=True)
def _empty_fast_path_cache() -> Iterator[None]:
    fastpath.verified_tokens.clear()
    yield
    fastpath.verified_tokens.clear()


# =========================================================================== strategies


def json_values(*, exotic: bool) -> st.SearchStrategy[Any]:
    """JSON-ish values; ``exotic`` adds what no database or JSON stores: NUL, lone surrogates,
    NaN and infinities, integers beyond 1024 bits, and nesting beyond the limit."""
    characters = st.characters(exclude_categories=()) if exotic else st.characters()
    text = st.text(characters, max_size=20)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**64), 2**64)
        | st.floats(allow_nan=exotic, allow_infinity=exotic)
        | text
    )
    if exotic:
        scalars |= st.integers(-(2**1100), 2**1100) | st.sampled_from(["\x00", "a\x00b", "\ud800"])
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=25,
    )


def deep(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


b64_segment = st.binary(max_size=200).map(b64url)
json_segment = json_values(exotic=True).map(
    lambda v: b64url(json.dumps(v, allow_nan=True).encode("utf-8", "surrogatepass"))
)
header_segment = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["RS256", "rs256", "none", "HS256", "ES256", "PS256", ""]),
        "kid": st.sampled_from(["kid-1", "kid-2", "", "../kid-1"]) | st.integers(),
        "typ": st.sampled_from(["JWT", "jwt", None]),
        "crit": st.lists(st.text(max_size=5), max_size=2),
        "b64": st.booleans(),
        "jku": st.just("http://127.0.0.1:9/keys"),
    },
).map(lambda h: b64url(json.dumps(h).encode()))
jwt_like = st.tuples(
    header_segment | json_segment | b64_segment, json_segment | b64_segment, b64_segment
).map(".".join)
latin1 = st.binary(max_size=400).map(lambda b: b.decode("latin-1"))
anything = st.text(max_size=400) | latin1 | jwt_like
#: What a WSGI server hands over: header bytes as latin-1 text (UTF-8 arrives as mojibake).
in_headers = anything.map(lambda t: t.encode("utf-8", "surrogatepass").decode("latin-1"))


# =========================================================================== parsers


@PARSER
@given(
    token=anything, algorithm=st.sampled_from(ALGORITHMS), verifier=st.sampled_from(list(VERIFIERS))
)
def test_the_access_token_parsers_refuse_anything_but_ours(
    token: str, algorithm: str, verifier: str
) -> None:
    with pytest.raises(TryRefreshToken):
        verify(token, algorithm, verifier)


@PARSER
@given(
    token=st.text(max_size=300)
    | latin1
    | st.tuples(json_segment | b64_segment, b64_segment).map(".".join)
)
def test_the_refresh_token_parser_refuses_anything_but_ours(token: str) -> None:
    with pytest.raises(Unauthorised):
        parse_refresh_token(token, secrets_=[SECRET])


@PARSER
@given(
    cookie=in_headers,
    authorization=in_headers,
    scheme=st.sampled_from(["", "Bearer ", "bearer ", "Basic "]),
)
def test_the_request_readers_never_raise(cookie: str, authorization: str, scheme: str) -> None:
    request = RequestFactory().get(
        "/", HTTP_COOKIE=cookie, HTTP_AUTHORIZATION=scheme + authorization
    )
    transport.read_access_token(request)
    transport.read_refresh_token(request)
    transport.has_legacy_cookie(request)
    for mode in ("cookie", "header"):
        transport.has_tokens_in(request, mode)  # type: ignore[arg-type]
    assert isinstance(transport.looks_like_access_token(authorization), bool)


# =========================================================================== single changes


def single_changes(token: str, *, exhaustive: bool) -> Iterator[str]:
    """``token`` with one character replaced: at every position by a neighbour in the base64url
    alphabet (the low bit flipped: the subtlest change), by "." and by "="; and in the last four
    characters of each segment, where base64 leaves bits unused, by every character."""
    tails: set[int] = set()
    start = 0
    for segment in token.split("."):
        end = start + len(segment)
        tails.update(range(max(start, end - 4), end))
        start = end + 1
    for i, c in enumerate(token):
        replacements = set(ALPHABET + ".=") if exhaustive or i in tails else {".", "="}
        if c in ALPHABET:
            replacements.add(ALPHABET[ALPHABET.index(c) ^ 1])
        for r in sorted(replacements - {c}):
            yield token[:i] + r + token[i + 1 :]


@pytest.mark.parametrize("verifier", list(VERIFIERS))
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_single_character_change_of_an_access_token_is_accepted(
    algorithm: str, verifier: str
) -> None:
    token = genuine(algorithm)
    assert accepted(token, algorithm, verifier)  # the control, and it fills the fast path
    changed = [
        t for t in single_changes(token, exhaustive=False) if accepted(t, algorithm, verifier)
    ]
    assert changed == []


def test_no_single_character_change_of_a_refresh_token_is_accepted() -> None:
    for parent in (None, sha256_hex("parent")):
        token = mint_refresh_token(
            handle=HANDLE, parent_hash1=parent, anti_csrf_token="csrf", secret=SECRET
        ).token
        assert parse_refresh_token(token, secrets_=[SECRET]).token == token
        survivors = []
        for changed in single_changes(token, exhaustive=True):
            try:
                parse_refresh_token(changed, secrets_=[SECRET])
            except Unauthorised:
                continue
            survivors.append(changed)
        assert survivors == []


# =========================================================================== endpoints


ENDPOINTS: list[tuple[str, str, set[tuple[int, str]]]] = [
    ("GET", "/api/me", {(401, "unauthorised"), (401, "try refresh")}),
    ("POST", "/api/me", {(401, "unauthorised"), (401, "try refresh")}),
    ("GET", "/api/strict", {(401, "unauthorised"), (401, "try refresh")}),
    ("GET", "/api/optional", {(200, "anonymous"), (401, "try refresh")}),
    ("GET", "/api/async/me", {(401, "unauthorised"), (401, "try refresh")}),
    ("POST", REFRESH, {(401, "unauthorised")}),
    ("POST", SIGNOUT, {(200, "signed out"), (401, "try refresh")}),
    ("GET", JWKS, {(200, "jwks")}),
    *(
        [
            (
                "GET",
                "/api/drf/me",
                {(401, "drf no credentials"), (401, "try refresh"), (401, "unauthorised")},
            )
        ]
        if HAS_DRF
        else []
    ),
]
KINDS = {
    "unauthorised": UNAUTHORISED,
    "try refresh": TRY_REFRESH,
    "anonymous": ANONYMOUS,
    "signed out": SIGNED_OUT,
    "drf no credentials": DRF_NO_CREDENTIALS,
}


def kind(response: Any) -> str:
    body = json_body(response)
    if isinstance(body, dict) and set(body) == {"keys"}:
        return "jwks"
    return next(name for name, expected in KINDS.items() if body == expected)


@dataclass(frozen=True)
class Genuine:
    access: str
    refresh: str

    @property
    def fragments(self) -> list[str]:
        """Pieces for the fuzzer to splice: a real header (a real kid), real segments."""
        return [*self.access.split("."), *self.refresh.split("."), self.access, self.refresh]


@pytest.fixture
def genuine_session(db: None, user: object) -> Genuine:
    tokens = engine.create_session(user)
    return Genuine(tokens.access_token.token, tokens.refresh_token.token)


header_values = in_headers | st.sampled_from(["", "session", "cookie", "header"])


@HTTP
@given(data=st.data())
def test_arbitrary_requests_never_cause_a_server_error_or_a_session(
    client: Client, genuine_session: Genuine, data: st.DataObject
) -> None:
    spliced = st.lists(
        st.sampled_from(genuine_session.fragments) | latin1 | st.sampled_from([".", "=", "+/"]),
        max_size=5,
    ).map("".join)
    # A genuine token put back together whole (the fragments include it, and its segments with
    # the dots) is a real session, which the endpoints rightly accept: not arbitrary input.
    genuine = {genuine_session.access, genuine_session.refresh}
    value = data.draw((spliced | in_headers).filter(lambda v: v not in genuine), label="token")
    carrier = data.draw(
        st.sampled_from(["sAccessToken", "sRefreshToken", "sIdRefreshToken", "bearer", "raw"]),
        label="carrier",
    )
    headers: dict[str, str] = {
        "HTTP_RID": data.draw(header_values, label="rid"),
        "HTTP_ANTI_CSRF": data.draw(header_values, label="anti-csrf"),
        "HTTP_ST_AUTH_MODE": data.draw(header_values, label="st-auth-mode"),
    }
    if carrier == "bearer":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {value}"
    elif carrier == "raw":
        headers["HTTP_AUTHORIZATION"] = value
    else:
        headers["HTTP_COOKIE"] = f"{carrier}={value}"
    before = db_state()
    for method, path, allowed in ENDPOINTS:
        client.cookies.clear()
        response = client.generic(method, path, **headers)  # type: ignore[arg-type]
        assert response.status_code < 500
        assert (response.status_code, kind(response)) in allowed, (method, path)
        assert_no_new_tokens(response)
    assert db_state() == before


@HTTP
@given(position=st.integers(min_value=0), replacement=st.sampled_from(ALPHABET + ".="))
def test_a_changed_character_never_opens_a_session_over_http(
    client: Client, genuine_session: Genuine, position: int, replacement: str
) -> None:
    access = genuine_session.access
    position %= len(access)
    assume(access[position] != replacement)
    changed = access[:position] + replacement + access[position + 1 :]
    for headers in (
        {"HTTP_COOKIE": f"sAccessToken={changed}"},
        {"HTTP_AUTHORIZATION": f"Bearer {changed}"},
    ):
        client.cookies.clear()
        response = client.get("/api/me", **headers)  # type: ignore[arg-type]
        assert response.status_code == 401
        assert_no_new_tokens(response)


# =========================================================================== JSON round trip


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values. A number is compared as JSON means it (a decimal): PostgreSQL's
    jsonb keeps numbers as exact decimals and hands ``1e+16`` back as ``10000000000000000``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b if isinstance(a, int) and isinstance(b, int) else float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def storable(value: Any) -> bool:
    """What the validation promises to store (and refuse everything else)."""
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return value.bit_length() <= 1024
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return all(storable(k) and storable(v) for k, v in value.items())


session_data = st.dictionaries(
    st.text(st.characters(exclude_categories=()), max_size=10), json_values(exotic=True), max_size=6
)
payloads = session_data


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=session_data, payload=payloads)
@example(data={"deep": deep(32)}, payload={})
@example(data={"deep": deep(33)}, payload={})
@example(data={"huge": "x" * 70_000}, payload={})
@example(data={"big": 2**1024 - 1, "neg": -(2**1024 - 1)}, payload={"f": 1e308, "g": 5e-324})
@example(data={"bigger": -(2**1024)}, payload={})
@example(data={"nul": "\x00"}, payload={})
@example(data={}, payload={"surrogate": "\udfff"})
@example(data={"nan": math.nan}, payload={})
@example(data={"emoji": "🔑\u2028\u0085"}, payload={"ünï": "çødé", "e": 1.5e300, "z": -0.0})
def test_session_data_and_payloads_round_trip_or_are_refused(
    data: dict[str, Any], payload: dict[str, Any]
) -> None:
    rows = SessionRow.objects.count()
    try:
        tokens = engine.create_session("fuzz", session_data=data, jwt_payload=payload)
    except InvalidSessionData as exc:
        # A clear message that names what was refused, and nothing written.
        assert "session data" in str(exc) or "JWT payload" in str(exc)
        assert SessionRow.objects.count() == rows
        return
    assert storable(data) and storable(payload)
    handle = tokens.session.get_handle()
    assert same_json(engine.get_session_data(handle), data)
    assert same_json(engine.get_jwt_payload(handle), payload)
    assert same_json(tokens.access_token.custom_payload, payload)
    verified = engine.verify_access_token(tokens.access_token.token)
    assert same_json(verified.get_jwt_payload(), payload)
    # And written again through the update API.
    engine.update_session_data(handle, data)
    engine.update_jwt_payload(handle, payload)
    assert same_json(engine.get_session_data(handle), data)
    assert same_json(engine.get_jwt_payload(handle), payload)


REFUSED_EVERYWHERE = {
    "nul": "a\x00b",
    "nul-in-a-key": {"a\x00": 1},
    "lone-surrogate": "\ud800",
    "surrogate-in-a-key": {"\udfff": 1},
    "nan": math.nan,
    "infinity": -math.inf,
    "huge-integer": 2**1100,
    "too-deep": deep(40),
    "not-json": {1, 2},
    "non-string-key": {1: "x"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(REFUSED_EVERYWHERE))
def test_what_some_database_cannot_store_is_refused_on_all_of_them(name: str) -> None:
    """Refused alike on SQLite, PostgreSQL and MariaDB, before anything is written: a value one
    backend happens to accept (SQLite keeps NUL) would break the day the project moves."""
    value = REFUSED_EVERYWHERE[name]
    handle = engine.create_session("fuzz").session.get_handle()
    before = db_state()
    for attempt in (
        lambda: engine.create_session("fuzz", session_data={"v": value}),
        lambda: engine.create_session("fuzz", jwt_payload={"v": value}),
        lambda: engine.update_session_data(handle, {"v": value}),
        lambda: engine.update_jwt_payload(handle, {"v": value}),
    ):
        with pytest.raises(InvalidSessionData):
            attempt()
    assert db_state() == before
