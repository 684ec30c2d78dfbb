"""What every attack needs: the browser stand-in signed in through the example project, the
expected outcomes of PROTOCOL.md §5, a database snapshot, token crafting, and the leak guard
that watches every log record and response body of the security suite."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.http import HttpResponse
from django.test import Client
from jwt.algorithms import get_default_algorithms

from supertokens_django import engine
from supertokens_django.keys import keyring
from supertokens_django.models import RevokedSession, SigningKey
from supertokens_django.models import Session as SessionRow
from supertokens_django.tokens import SigningMaterial, sha256_hex
from tests.http_helpers import (
    SIGNOUT,
    Agent,
    assert_cleared_both_modes,
    assert_untouched,
    decode_jwt_payload,
    json_body,
)

HAS_DRF = importlib.util.find_spec("rest_framework") is not None
needs_drf = pytest.mark.skipif(not HAS_DRF, reason="djangorestframework is not installed")

LOGIN = "/api/login"
TRY_REFRESH = {"message": "try refresh token"}
UNAUTHORISED = {"message": "unauthorised"}
THEFT = {"message": "token theft detected"}
SIGNED_OUT = {"status": "OK"}
ANONYMOUS = {"user_id": None}
#: DRF's own answer when no authentication class found credentials (PROTOCOL.md §2: a Bearer
#: value that is not ours is nobody's business but the next authentication class).
DRF_NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
TOKEN_COOKIES = ("sAccessToken", "sRefreshToken", "sIdRefreshToken")
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


# =========================================================================== leak guard


_SQL = re.compile(
    r"\bSELECT\s.+\sFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bsupertokens_django_(session|revokedsession|signingkey)\b"
)
_PRIVATE_JWK = re.compile(r'"(d|p|q|dp|dq|qi|k)"\s*:')


class LeakGuard(logging.Handler):
    """Collects every log record (root logger, DEBUG) and every secret the test handled.

    At the end of each test (``tests/security/conftest.py``) no record may contain a token, a
    refresh-token hash, key material, SQL text or a traceback.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.secrets: set[str] = set()
        #: Tests that provoke a server error on purpose (fail-closed misconfigurations).
        self.server_errors_expected = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def note(self, *values: str | None) -> None:
        """Remember values that must never show up in a log record or a response body."""
        for value in values:
            if value and len(value) >= 16:
                self.secrets.add(value)

    def note_refresh_token(self, token: str | None) -> None:
        if token:
            self.note(token, sha256_hex(token), sha256_hex(sha256_hex(token)))

    def note_keys(self) -> None:
        """The private halves of every key this process signs with."""
        state = keyring._state
        loaded = [k.private for k in state.keys] if state is not None else []
        static = keyring._static() if _static_key_usable() else None
        if static is not None:
            loaded.append(static.private)
        for private in loaded:
            for fragment in private_fragments(private):
                self.note(fragment)

    def problems(self) -> list[str]:
        found = []
        for record in self.records:
            text = self.format(record)
            if "Traceback" in text and not self.server_errors_expected and not _django_4xx(record):
                found.append(f"traceback logged: {text[:300]}")
            if _SQL.search(text):
                found.append(f"SQL logged: {text[:300]}")
            if "-----BEGIN" in text or _PRIVATE_JWK.search(text):
                found.append(f"key material logged: {text[:300]}")
            found += [f"secret {s[:12]}… logged: {text[:200]}" for s in self.secrets if s in text]
        return found


def _django_4xx(record: logging.LogRecord) -> bool:
    """Django's own log line for a 403 it raised as ``PermissionDenied`` carries the exception
    (an operator's log, and the exception says "permission denied", nothing else)."""
    return record.name == "django.request" and getattr(record, "status_code", 500) < 500


def _static_key_usable() -> bool:
    try:
        keyring._static()
    except Exception:  # noqa: BLE001 - a misconfigured static key is what some tests are about
        return False
    return True


def private_fragments(private: Any) -> list[str]:
    """Strings that would betray ``private`` if they appeared somewhere."""
    if isinstance(private, bytes):  # HS256
        return [private.hex(), base64.urlsafe_b64encode(private).rstrip(b"=").decode()]
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    return lines[1:-1] or lines  # the first line is a common ASN.1 prefix, the last is short


GUARD: LeakGuard | None = None


def guard() -> LeakGuard:
    assert GUARD is not None, "the leak guard fixture is not active"
    return GUARD


@contextmanager
def installed_guard() -> Iterator[LeakGuard]:
    global GUARD
    root = logging.getLogger()
    handler = LeakGuard()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    GUARD = handler
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        GUARD = None


def check_body(response: HttpResponse) -> None:
    """No response body ever carries a secret the test has seen, nor a traceback."""
    content = getattr(response, "content", b"")
    assert b"Traceback" not in content
    for secret in guard().secrets:
        assert secret.encode("latin-1", "replace") not in content, f"{secret[:12]}… in the body"


# =========================================================================== the browser


class Browser(Agent):
    """``tests.http_helpers.Agent`` against the example project: signs in at ``/api/login`` and
    reports every token it sends or receives to the leak guard."""

    def sign_in(self, username: str, password: str | None = None) -> HttpResponse:
        response = self.post(
            LOGIN, {"username": username, "password": password or PASSWORDS[username]}
        )
        assert response.status_code == 200, response.content
        return response

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        rid: bool = True,
        anti_csrf: bool = True,
        **extra: str,
    ) -> HttpResponse:
        note_request({**self.headers(path, rid=rid, anti_csrf=anti_csrf), **extra})
        response = super().call(method, path, data, rid=rid, anti_csrf=anti_csrf, **extra)
        check_body(response)
        return response

    def absorb(self, response: HttpResponse) -> None:
        super().absorb(response)
        g = guard()
        g.note(self.access, self.anti_csrf)
        g.note_refresh_token(self.refresh_token)
        if self.access:
            g.note(decode_jwt_payload(self.access).get("refreshTokenHash1"))

    @property
    def claims(self) -> dict[str, Any]:
        assert self.access is not None
        return decode_jwt_payload(self.access)

    @property
    def handle(self) -> str:
        return str(self.claims["sessionHandle"])


def note_request(headers: dict[str, str]) -> None:
    g = guard()
    for name, value in headers.items():
        if name == "HTTP_COOKIE":
            g.note(*(part.partition("=")[2].strip() for part in value.split(";")))
        elif name == "HTTP_AUTHORIZATION":
            g.note(value.partition(" ")[2].strip())
        elif name == "HTTP_ANTI_CSRF":
            g.note(value)


def note_response(response: HttpResponse) -> None:
    """Every token a response hands out, in either mode."""
    g = guard()
    g.note(response.get("st-access-token"), response.get("anti-csrf"))
    g.note_refresh_token(response.get("st-refresh-token"))
    for name, morsel in response.cookies.items():
        if name == "sRefreshToken":
            g.note_refresh_token(morsel.value)
        else:
            g.note(morsel.value)


def send(client: Client, method: str, path: str, **headers: Any) -> HttpResponse:
    """One raw request (headers as WSGI ``HTTP_*`` keys), watched by the leak guard."""
    note_request(headers)
    client.cookies.clear()
    response = client.generic(method, path, **headers)
    note_response(response)
    check_body(response)
    return response  # type: ignore[no-any-return]


def carry(token: str, carrier: str) -> dict[str, str]:
    """The headers that present ``token`` as an access token in ``carrier`` mode."""
    if carrier == "cookie":
        return {"HTTP_COOKIE": f"sAccessToken={token}"}
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def carry_refresh(token: str, carrier: str) -> dict[str, str]:
    if carrier == "cookie":
        return {"HTTP_COOKIE": f"sRefreshToken={token}", "HTTP_RID": "session"}
    return {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_RID": "session"}


# =========================================================================== outcomes


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    #: Tokens cleared in both modes with ``front-token: remove`` (else: untouched).
    cleared: bool = False


REFUSED_ACCESS = Outcome(401, TRY_REFRESH)
REFUSED_REFRESH = Outcome(401, UNAUTHORISED, cleared=True)
THEFT_DETECTED = Outcome(401, THEFT, cleared=True)


@dataclass(frozen=True)
class Target:
    """A URL of the example project that judges an access token, and what it answers when the
    request carries no token of ours."""

    method: str
    path: str
    without_session: Outcome

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


TARGETS = [
    Target("GET", "/api/me", Outcome(401, UNAUTHORISED)),
    Target("POST", "/api/me", Outcome(401, UNAUTHORISED)),
    Target("GET", "/api/strict", Outcome(401, UNAUTHORISED)),
    Target("GET", "/api/optional", Outcome(200, ANONYMOUS)),
    Target("POST", SIGNOUT, Outcome(200, SIGNED_OUT, cleared=True)),
    Target("GET", "/api/drf/me", Outcome(401, DRF_NO_CREDENTIALS)),
]


def target_params(targets: Iterable[Target] = TARGETS) -> list[Any]:
    return [
        pytest.param(t, id=t.id, marks=[needs_drf] if "/drf/" in t.path else []) for t in targets
    ]


def expect(response: HttpResponse, outcome: Outcome) -> None:
    """Exact status and body, and what happened to the tokens (PROTOCOL.md §5)."""
    assert (response.status_code, json_body(response)) == (outcome.status, outcome.body)
    assert_no_new_tokens(response)
    if outcome.cleared:
        assert_cleared_both_modes(response)
    else:
        assert_untouched(response)


def assert_no_new_tokens(response: HttpResponse) -> None:
    """No token-issuing header or cookie: at most clearing ones."""
    for name, morsel in response.cookies.items():
        assert name in TOKEN_COOKIES, f"unexpected cookie {name}"
        assert morsel.value == "" and str(morsel["max-age"]) == "0", f"{name} was set"
    for header in ("st-access-token", "st-refresh-token", "anti-csrf"):
        assert not response.get(header), f"{header} was issued"
    assert response.get("front-token") in (None, "remove")


def available_targets() -> list[Target]:
    return [t for t in TARGETS if HAS_DRF or "/drf/" not in t.path]


def attack(client: Client, token: str, carrier: str, targets: list[Target] | None = None) -> None:
    """Present ``token`` as an access token to every target: each must refuse it exactly."""
    for target in available_targets() if targets is None else targets:
        headers = carry(token, carrier)
        if target.method != "GET":
            headers["HTTP_RID"] = "anti-csrf"  # so that the token itself is what is judged
        response = send(client, target.method, target.path, **headers)
        try:
            expect(response, expected_access_refusal(target, token, carrier))
        except AssertionError as exc:
            raise AssertionError(
                f"{target.id}: {response.status_code} {response.content[:200]!r} {exc}"
            ) from exc


def expected_access_refusal(target: Target, token: str, carrier: str) -> Outcome:
    """A refused access token is "try refresh token"; a Bearer value that is not even shaped like
    one of ours is ignored (PROTOCOL.md §2), so the request is one without a session."""
    if carrier == "header" and not bearer_is_ours(token):
        return target.without_session
    if carrier == "cookie" and not token:
        return target.without_session
    return REFUSED_ACCESS


_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")


def bearer_is_ours(value: str) -> bool:
    """PROTOCOL.md §2 "a Bearer value that parses as one of our access tokens": a compact JWT
    whose header names a ``kid`` and whose claims carry our session claims."""
    if len(value) > 8192 or not _JWT_SHAPE.match(value):
        return False
    try:
        header, claims = (json.loads(unb64url(part)) for part in value.split(".")[:2])
    except ValueError:
        return False
    return (
        isinstance(header, dict)
        and isinstance(header.get("kid"), str)
        and isinstance(claims, dict)
        and all(
            isinstance(claims.get(c), str) for c in ("sub", "sessionHandle", "refreshTokenHash1")
        )
    )


# =========================================================================== the database


def db_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row the library owns, field by field (only the key material left out)."""
    return {
        "sessions": sorted(
            SessionRow.objects.values_list(
                "handle",
                "subject",
                "user_id",
                "refresh_token_hash_2",
                "session_data",
                "jwt_payload",
                "created_at",
                "last_active_at",
                "expires_at",
                "ip_address",
                "user_agent",
            ),
            key=lambda row: str(row[0]),
        ),
        "revoked": sorted(
            RevokedSession.objects.values_list(
                "handle", "subject", "reason", "revoked_at", "expires_at"
            ),
            key=lambda row: str(row[0]),
        ),
        "keys": sorted(
            SigningKey.objects.values_list(
                "kid", "generation", "algorithm", "signs_from", "signs_until", "verifies_until"
            )
        ),
    }


@contextmanager
def unchanged_db() -> Iterator[None]:
    before = db_state()
    yield
    assert db_state() == before


def live_handles() -> set[str]:
    return {str(h) for h in SessionRow.objects.values_list("handle", flat=True)}


# =========================================================================== crafting tokens


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload)), signature


def edit_claims(token: str, **changes: object) -> str:
    """New claims under the *old* signature."""
    header, payload, signature = token.split(".")
    claims = {**json.loads(unb64url(payload)), **changes}
    return f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"


Signer = Callable[[bytes], bytes]


def craft(header: dict[str, Any], payload: dict[str, Any], sign: Signer | None) -> str:
    """A compact JWT assembled by hand, so that it can be anything an attacker can send."""
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    signature = b64url(sign(signing_input.encode())) if sign is not None else ""
    return f"{signing_input}.{signature}"


def signer(algorithm: str, key: Any) -> Signer:
    """Sign with pyjwt's implementation of ``algorithm`` (asymmetric keys, or HMAC secrets)."""
    if algorithm.startswith("HS"):
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        secret = key if isinstance(key, bytes) else str(key).encode()
        return lambda message: hmac.new(secret, message, digest[algorithm]).digest()
    implementation = get_default_algorithms()[algorithm]
    prepared = implementation.prepare_key(key)
    return lambda message: implementation.sign(message, prepared)  # type: ignore[no-any-return]


def our_signing_key() -> SigningMaterial:
    """The key the deployment signs with right now (created if there is none yet)."""
    return keyring.signing_material(engine._now())


def resign(
    token: str,
    *,
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    drop: Iterable[str] = (),
    key: SigningMaterial | None = None,
) -> str:
    """``token`` with header fields and claims changed, signed again with *our* key: what an
    attacker cannot do, so what the claim checks must refuse on their own."""
    material = key or our_signing_key()
    old_header, old_payload, _ = parts(token)
    new_header = {**old_header, "kid": material.kid, "alg": material.algorithm, **(header or {})}
    new_payload = {k: v for k, v in {**old_payload, **(payload or {})}.items() if k not in drop}
    return craft(new_header, new_payload, signer(material.algorithm, material.private_key))
