"""Algorithm confusion and key selection, over HTTP (CVE-2022-29217, CVE-2024-33663 and kin).

The verifier must pin the configured algorithm, find the key by ``kid`` only among keys it
already trusts, and never take a key from the token (``jku``, ``x5u``, ``jwk``, ``x5c``) nor
accept critical extensions it does not implement (``crit``). The attacker knows everything public:
the victim's token and the JWKS.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from django.test import Client
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from supertokens_django import engine
from supertokens_django.keys import generate_private_key, keyring
from tests.http_helpers import JWKS
from tests.security.support import (
    attack,
    b64url,
    carry,
    craft,
    json_body,
    our_signing_key,
    parts,
    send,
    signer,
    unchanged_db,
)

if TYPE_CHECKING:
    from pytest_django import Settings as SettingsWrapper

    from tests.conftest import Clock
    from tests.security.conftest import BrowserFactory
    from tests.security.support import Browser

pytestmark = [pytest.mark.urls("tests.security.urls"), pytest.mark.django_db]

CARRIERS = ["cookie", "header"]


@pytest.fixture
def victim(user: object, browser: BrowserFactory) -> Browser:
    return browser("header", sign_in="alice")


def claims_of(agent: Browser) -> dict[str, Any]:
    assert agent.access is not None
    return parts(agent.access)[1]


def header_of(agent: Browser) -> dict[str, Any]:
    assert agent.access is not None
    return parts(agent.access)[0]


# =========================================================================== alg none


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_casing_is_refused(
    client: Client, victim: Browser, alg: str, carrier: str
) -> None:
    header, claims = header_of(victim), claims_of(victim)
    assert victim.access is not None
    signature = victim.access.rsplit(".", 1)[1]
    unsigned = craft({**header, "alg": alg}, claims, None)
    with unchanged_db():
        attack(client, unsigned, carrier)  # "h.p."
        attack(client, unsigned + signature, carrier)  # the genuine signature, alg none
        no_kid = {k: v for k, v in header.items() if k != "kid"}
        attack(client, craft({**no_kid, "alg": alg}, claims, None), carrier)


# ================================================================ public key as HMAC secret


def public_key_secrets(jwk: dict[str, Any]) -> dict[str, bytes]:
    """Every form of the published public key an attacker would try as an HMAC secret."""
    converter = {"RSA": RSAAlgorithm, "EC": ECAlgorithm, "OKP": OKPAlgorithm}[jwk["kty"]]
    public = converter.from_jwk(json.dumps(jwk))
    spki = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forms = {
        "spki-pem": spki,
        "spki-pem-without-newline": spki.rstrip(b"\n"),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":")).encode(),
    }
    if jwk["kty"] == "RSA":
        forms["pkcs1-pem"] = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        forms["modulus"] = jwk["n"].encode()
    else:
        forms["x"] = jwk["x"].encode()
    return forms


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("static", [False, True], ids=["database-keys", "static-key"])
@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_hmac_signed_with_the_published_public_key_is_refused(
    client: Client,
    settings: SettingsWrapper,
    user: object,
    browser: BrowserFactory,
    algorithm: str,
    static: bool,
    carrier: str,
) -> None:
    config: dict[str, Any] = {"SIGNING_ALGORITHM": algorithm}
    if static:
        config["STATIC_SIGNING_KEY"] = (
            generate_private_key(algorithm)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
    settings.SUPERTOKENS = config
    victim = browser("header", sign_in="alice")
    header, claims = header_of(victim), claims_of(victim)
    published = json_body(send(client, "GET", JWKS))["keys"]
    jwk = next(k for k in published if k["kid"] == header["kid"])
    with unchanged_db():
        for name, secret in public_key_secrets(jwk).items():
            for hs in ("HS256", "HS384", "HS512"):
                token = craft({**header, "alg": hs}, claims, signer(hs, secret))
                try:
                    attack(client, token, carrier)
                except AssertionError as exc:
                    raise AssertionError(f"{hs} keyed with the {name}: {exc}") from exc


# =========================================================================== other algorithms


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS384", "PS512"])
def test_our_own_rsa_key_under_another_algorithm_is_refused(
    client: Client, victim: Browser, alg: str, carrier: str
) -> None:
    """The right key, the wrong algorithm: pinned means pinned, not "same family"."""
    ours = our_signing_key()
    assert ours.algorithm == "RS256"
    token = craft(
        {**header_of(victim), "alg": alg}, claims_of(victim), signer(alg, ours.private_key)
    )
    with unchanged_db():
        attack(client, token, carrier)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "HS256", "HS512", "RS256"])
def test_an_attackers_key_under_any_algorithm_is_refused(
    client: Client, victim: Browser, alg: str, carrier: str
) -> None:
    key = (
        b"attacker-chosen-secret-0123456789abcdef"
        if alg.startswith("HS")
        else generate_private_key({"ES384": "ES256"}.get(alg, alg))
    )
    if alg == "ES384":
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP384R1())
    token = craft({**header_of(victim), "alg": alg}, claims_of(victim), signer(alg, key))
    with unchanged_db():
        attack(client, token, carrier)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_the_kid_of_an_hs256_key_from_an_earlier_configuration_is_refused(
    client: Client, settings: SettingsWrapper, user: object, browser: BrowserFactory, carrier: str
) -> None:
    """The deployment once ran HS256: that secret is still in the database (unused). A token
    that names it and claims HS256 must not verify under today's RS256 configuration."""
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256"}
    old = our_signing_key()
    assert isinstance(old.private_key, bytes)
    settings.SUPERTOKENS = {}
    keyring.reset()
    victim = browser("header", sign_in="alice")
    header, claims = header_of(victim), claims_of(victim)
    assert header["alg"] == "RS256" and header["kid"] != old.kid
    with unchanged_db():
        for alg in ("HS256", "RS256"):
            token = craft(
                {**header, "alg": alg, "kid": old.kid}, claims, signer("HS256", old.private_key)
            )
            attack(client, token, carrier)


def test_the_jwks_never_publishes_a_symmetric_key(
    client: Client, settings: SettingsWrapper, user: object, browser: BrowserFactory
) -> None:
    for config in (
        {"SIGNING_ALGORITHM": "HS256"},
        {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "s" * 48},
    ):
        settings.SUPERTOKENS = config
        keyring.reset()
        browser("header", sign_in="alice")
        assert json_body(send(client, "GET", JWKS)) == {"keys": []}


# =========================================================================== kid


KIDS: dict[str, Any] = {
    "nowhere": "00000000deadbeef",
    "empty": "",
    "path-traversal": "../../../../etc/passwd",
    "absolute-path": "/dev/null",
    "file-url": "file:///etc/passwd",
    "sql-quote": "' OR '1'='1",
    "sql-union": "x' UNION SELECT private_key FROM supertokens_django_signingkey --",
    "sql-comment": "1; DROP TABLE supertokens_django_session; --",
    "nul": "abc\x00def",
    "crlf": "abc\r\nSet-Cookie: injected=1",
    "very-long": "k" * 4000,
    "unicode": "ключ-🔑",
    "static-kid-prefix": "s-",
    "integer": 1,
    "null": None,
    "list": ["kid"],
    "object": {"kid": "x"},
}


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("kid", list(KIDS), ids=list(KIDS))
def test_a_kid_that_names_no_trusted_key_is_refused(
    client: Client, victim: Browser, kid: str, carrier: str
) -> None:
    """Signed with *our* key, so only the ``kid`` lookup can refuse it: a kid we do not know is
    not a reason to try every key, nor a path, a URL or SQL to follow."""
    ours = our_signing_key()
    token = craft(
        {**header_of(victim), "kid": KIDS[kid]},
        claims_of(victim),
        signer("RS256", ours.private_key),
    )
    with unchanged_db():
        attack(client, token, carrier)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_a_kid_that_names_another_of_our_keys_is_refused(
    client: Client, victim: Browser, carrier: str
) -> None:
    old = our_signing_key()
    new = keyring.ensure_keys(engine._now(), force=True)
    assert new.kid != old.kid
    header, claims = header_of(victim), claims_of(victim)
    # Both keys verify: a token signed by the old key still works as it is...
    assert send(client, "GET", "/api/me", **carry(victim.access or "", carrier)).status_code == 200
    with unchanged_db():
        # ...but not under the other key's kid, either way round.
        attack(
            client,
            craft({**header, "kid": new.kid}, claims, signer("RS256", old.private_key)),
            carrier,
        )
        attack(
            client, craft({**header, "kid": old.kid}, claims, signer("RS256", new.private)), carrier
        )


def test_a_retired_key_verifies_nothing(client: Client, victim: Browser, clock: Clock) -> None:
    """A key past ``verifies_until`` is refused even for a token whose own times are fine."""
    old = our_signing_key()
    header, claims = header_of(victim), claims_of(victim)
    clock.advance(dt.timedelta(days=7, hours=3))  # rotation interval + 2 x lifetime, and then some
    now = int(clock.now.timestamp())
    token = craft(
        header, {**claims, "iat": now, "exp": now + 3600}, signer("RS256", old.private_key)
    )
    with unchanged_db():
        for carrier in CARRIERS:
            attack(client, token, carrier)


# =========================================================================== keys from the token


@dataclass
class AttackerServer:
    """An HTTP server of the attacker's that would hand out the attacker's keys."""

    url: str
    jwks: dict[str, Any] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def attacker_server() -> Iterator[AttackerServer]:
    state = AttackerServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            state.hits.append(self.path)
            body = json.dumps(state.jwks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def self_signed_certificate(private: Any) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    import base64

    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("which_kid", ["attackers-kid", "our-kid"])
@pytest.mark.parametrize("header_name", ["jku", "x5u", "jwk", "x5c"])
def test_keys_named_or_embedded_in_the_token_are_never_used(
    client: Client,
    victim: Browser,
    attacker_server: AttackerServer,
    header_name: str,
    which_kid: str,
    carrier: str,
) -> None:
    private = generate_private_key("RS256")
    attacker_kid = "attacker-key-1"
    jwk = {**json.loads(RSAAlgorithm.to_jwk(private.public_key())), "kid": attacker_kid}
    attacker_server.jwks = {"keys": [jwk]}
    values = {
        "jku": f"{attacker_server.url}/jwks.json",
        "x5u": f"{attacker_server.url}/cert.pem",
        "jwk": jwk,
        "x5c": [self_signed_certificate(private)],
    }
    header = header_of(victim)
    kid = attacker_kid if which_kid == "attackers-kid" else header["kid"]
    token = craft(
        {**header, "kid": kid, header_name: values[header_name]},
        claims_of(victim),
        signer("RS256", private),
    )
    with unchanged_db():
        attack(client, token, carrier)
    assert attacker_server.hits == []


@pytest.mark.parametrize("header_name", ["jku", "x5u"])
def test_a_url_in_the_header_of_a_genuine_token_is_ignored_not_fetched(
    client: Client, victim: Browser, attacker_server: AttackerServer, header_name: str
) -> None:
    """Only ``kid`` is ever read from the header: a token we signed stays ours, and its other
    header fields are neither honoured nor fetched."""
    ours = our_signing_key()
    token = craft(
        {**header_of(victim), header_name: f"{attacker_server.url}/keys"},
        claims_of(victim),
        signer("RS256", ours.private_key),
    )
    response = send(client, "GET", "/api/me", **carry(token, "cookie"))
    assert response.status_code == 200
    assert json_body(response)["user_id"] == claims_of(victim)["sub"]
    assert attacker_server.hits == []


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize(
    "extension",
    [
        {"crit": ["exp"]},
        {"crit": []},
        {"crit": ["b64"], "b64": False},
        {"crit": ["https://example.com/unknown"], "https://example.com/unknown": True},
    ],
    ids=["crit-exp", "crit-empty", "crit-b64", "crit-unknown"],
)
def test_critical_extensions_are_refused_even_on_our_own_signature(
    client: Client, victim: Browser, extension: dict[str, Any], carrier: str
) -> None:
    ours = our_signing_key()
    token = craft(
        {**header_of(victim), **extension}, claims_of(victim), signer("RS256", ours.private_key)
    )
    with unchanged_db():
        attack(client, token, carrier)


def test_an_unencoded_payload_is_refused(client: Client, victim: Browser) -> None:
    """RFC 7797 ``b64: false`` without ``crit``: the payload segment is not what was signed."""
    ours = our_signing_key()
    header = {**header_of(victim), "b64": False}
    header_segment = b64url(json.dumps(header).encode())
    raw_claims = json.dumps(claims_of(victim))
    signature = b64url(signer("RS256", ours.private_key)(f"{header_segment}.{raw_claims}".encode()))
    tokens = [
        f"{header_segment}..{signature}",
        f"{header_segment}.{b64url(raw_claims.encode())}.{signature}",
    ]
    with unchanged_db():
        for token in tokens:
            for carrier in CARRIERS:
                attack(client, token, carrier)
