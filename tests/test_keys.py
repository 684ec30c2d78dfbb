"""keys.py: signing keys created on first use, encrypted at rest, rotated on a schedule, JWKS.

The rotation timeline is driven by the ``now`` arguments of the key ring, never by the clock.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries
from pytest_django import Settings as SettingsWrapper

from supertokens_django import keys
from supertokens_django.exceptions import ServiceUnavailable, TryRefreshToken
from supertokens_django.keys import (
    FORCED_KEY_NOTICE,
    NEW_KEY_BACKDATE,
    KeyRing,
    announce_period,
    decrypt_private_key,
    generate_private_key,
    load_static_key,
    private_to_bytes,
)
from supertokens_django.models import SigningKey
from supertokens_django.tokens import SigningMaterial, decode_access_token, encode_access_token

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=timezone.utc)
#: The first key, created because none signs, starts a little before it is created.
START = T0 - NEW_KEY_BACKDATE
INTERVAL = timedelta(days=7)  # the default
LIFETIME = timedelta(hours=1)  # the default
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
ASYMMETRIC = ["RS256", "ES256", "EdDSA"]


def sign(material: SigningMaterial, now: datetime) -> str:
    return encode_access_token(
        key=material,
        user_id="u",
        handle="0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a",
        refresh_token_hash1="0" * 64,
        parent_refresh_token_hash1=None,
        anti_csrf_token=None,
        custom_payload={},
        issuer="/auth",
        now=now,
        lifetime=LIFETIME,
    ).token


def verify_with(ring: KeyRing, token: str, now: datetime, algorithm: str = "RS256") -> Any:
    return decode_access_token(
        token,
        algorithm=algorithm,
        resolve_key=lambda kid: ring.resolve(kid, now),
        now=now,
        leeway=timedelta(seconds=1),
    )


def use_algorithm(settings: SettingsWrapper, algorithm: str, **more: Any) -> None:
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": algorithm, **more}


# --------------------------------------------------------------------------- creation


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA", "HS256"])
def test_key_created_on_first_use(
    keyring: KeyRing, settings: SettingsWrapper, algorithm: str
) -> None:
    use_algorithm(settings, algorithm)
    assert not SigningKey.objects.exists()
    material = keyring.signing_material(T0)
    row = SigningKey.objects.get()
    assert (row.kid, row.algorithm, row.generation) == (material.kid, algorithm, 1)
    assert row.signs_from == START
    assert row.signs_until == START + INTERVAL
    assert row.verifies_until == START + INTERVAL + 2 * LIFETIME
    # Later calls use the loaded key: no second key, and no query within a second; a day later,
    # one query reads the keys again (another process may have rotated), and finds the same.
    with CaptureQueriesContext(connection) as queries:
        assert keyring.signing_material(T0 + timedelta(milliseconds=999)).kid == material.kid
    assert len(queries) == 0
    with CaptureQueriesContext(connection) as queries:
        assert keyring.signing_material(T0 + timedelta(days=1)).kid == material.kid
    assert len(queries) == 1
    assert SigningKey.objects.count() == 1
    assert verify_with(keyring, sign(material, T0), T0, algorithm).user_id == "u"


@pytest.mark.django_db
def test_a_second_process_uses_the_key_of_the_first(keyring: KeyRing) -> None:
    first = keyring.signing_material(T0)
    other_process = KeyRing()
    assert other_process.signing_material(T0 + timedelta(minutes=5)).kid == first.kid
    assert SigningKey.objects.count() == 1


# --------------------------------------------------------------------------- at rest


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA", "HS256"])
def test_private_key_is_encrypted_at_rest(
    keyring: KeyRing, settings: SettingsWrapper, algorithm: str
) -> None:
    use_algorithm(settings, algorithm)
    material = keyring.signing_material(T0)
    stored = SigningKey.objects.values_list("private_key", flat=True).get()
    raw = private_to_bytes(material.private_key)
    assert stored.startswith("v1:")
    assert "PRIVATE" not in stored and "BEGIN" not in stored
    blob = base64.b64decode(stored[3:])
    assert raw not in blob
    # Not even the base64 body of the PEM appears anywhere in the column.
    for line in raw.splitlines()[1:-1]:
        assert line.decode("latin-1") not in stored
    assert decrypt_private_key(material.kid, stored) == raw


@pytest.mark.django_db
def test_ciphertext_is_bound_to_its_kid(keyring: KeyRing) -> None:
    material = keyring.signing_material(T0)
    stored = SigningKey.objects.values_list("private_key", flat=True).get()
    with pytest.raises(ImproperlyConfigured):
        decrypt_private_key("another-kid", stored)
    assert material.kid


@pytest.mark.django_db
def test_public_key_column_holds_only_the_public_half(keyring: KeyRing) -> None:
    keyring.signing_material(T0)
    public = SigningKey.objects.values_list("public_key", flat=True).get()
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    serialization.load_pem_public_key(public.encode())


@pytest.mark.django_db
def test_keys_decrypt_with_secret_key_fallbacks_after_rotation(
    keyring: KeyRing, settings: SettingsWrapper
) -> None:
    token = sign(keyring.signing_material(T0), T0)
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation"
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    keyring.reset()  # a fresh process
    assert verify_with(keyring, token, T0).user_id == "u"
    assert keyring.signing_material(T0).kid == SigningKey.objects.get().kid


@pytest.mark.django_db
def test_keys_without_the_secret_that_encrypted_them_are_skipped_and_logged(
    keyring: KeyRing, settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    """``SECRET_KEY`` replaced without the old one as a fallback: the old key verifies nothing
    (its tokens get "try refresh token", not a server error) and a new key signs."""
    old = keyring.signing_material(T0)
    token = sign(old, T0)
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation"
    settings.SECRET_KEY_FALLBACKS = []
    keyring.reset()

    assert keyring.resolve(old.kid, T0) is None
    with pytest.raises(TryRefreshToken, match="unknown key id"):
        verify_with(keyring, token, T0)
    new = keyring.signing_material(T0)
    assert new.kid != old.kid
    assert verify_with(keyring, sign(new, T0), T0).user_id == "u"
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and old.kid in errors[0] and "SECRET_KEY_FALLBACKS" in errors[0]


# --------------------------------------------------------------------------- rotation


@pytest.mark.django_db
def test_rotation_timeline(keyring: KeyRing) -> None:
    """Successor announced before it signs; the old key verifies interval + 2 × lifetime."""
    announce = announce_period(INTERVAL)
    assert announce == timedelta(hours=1)
    first = keyring.signing_material(T0)
    switch = START + INTERVAL

    # Before the announce window: one key, nothing announced.
    before = switch - announce - timedelta(seconds=1)
    assert keyring.signing_material(before).kid == first.kid
    assert [k["kid"] for k in keyring.jwks(before)["keys"]] == [first.kid]

    # Inside the window: the old key still signs, its successor is published.
    inside = switch - announce + timedelta(seconds=1)
    assert keyring.signing_material(inside).kid == first.kid
    successor = SigningKey.objects.get(generation=2)
    assert successor.signs_from == switch
    assert successor.signs_until == switch + INTERVAL
    published = {k["kid"] for k in keyring.jwks(inside)["keys"]}
    assert published == {first.kid, successor.kid}
    late_token = sign(first, switch - timedelta(seconds=1))

    # At the switch the successor signs; the old key still verifies...
    second = keyring.signing_material(switch)
    assert second.kid == successor.kid
    assert verify_with(keyring, late_token, switch).user_id == "u"
    assert verify_with(keyring, sign(second, switch), switch).user_id == "u"
    # ...for the interval plus twice the access-token lifetime, past every token it signed.
    retire = START + INTERVAL + 2 * LIFETIME
    assert keyring.resolve(first.kid, retire - timedelta(seconds=1)) is not None
    assert keyring.resolve(first.kid, retire) is None
    assert {k["kid"] for k in keyring.jwks(retire)["keys"]} == {successor.kid}
    assert SigningKey.objects.count() == 2


@pytest.mark.django_db
def test_expired_key_is_refused_even_for_a_fresh_process(keyring: KeyRing) -> None:
    first = keyring.signing_material(T0)
    token = sign(first, T0)
    keyring.reset()
    after = START + INTERVAL + 2 * LIFETIME
    assert keyring.resolve(first.kid, after) is None
    with pytest.raises(Exception, match="unknown key id"):
        verify_with(keyring, token, after)


@pytest.mark.django_db
def test_quiet_server_creates_a_new_key_when_the_old_one_stopped_signing(keyring: KeyRing) -> None:
    first = keyring.signing_material(T0)
    later = START + INTERVAL + timedelta(days=1)
    second = keyring.signing_material(later)
    assert second.kid != first.kid
    assert SigningKey.objects.get(kid=second.kid).signs_from == later - NEW_KEY_BACKDATE


@pytest.mark.django_db
def test_forced_rotation_publishes_first_and_keeps_the_old_key_verifying(
    keyring: KeyRing,
) -> None:
    first = keyring.signing_material(T0)
    token = sign(first, T0)
    rotated_at = T0 + timedelta(minutes=1)
    rotated = keyring.ensure_keys(rotated_at, force=True)
    assert rotated.kid != first.kid
    assert rotated.signs_from == rotated_at + FORCED_KEY_NOTICE
    # Published (in the JWKS, so every server can load it) before anything signs with it.
    assert rotated.kid in {k["kid"] for k in keyring.jwks(rotated_at)["keys"]}
    assert keyring.signing_material(rotated.signs_from - timedelta(microseconds=1)).kid == first.kid
    assert keyring.signing_material(rotated.signs_from).kid == rotated.kid
    assert verify_with(keyring, token, rotated.signs_from).user_id == "u"


@pytest.mark.django_db
def test_a_rotation_forced_by_another_process_signs_here_from_its_start(
    keyring: KeyRing,
) -> None:
    """``supertokens_rotate_keys --force`` runs in a process of its own: every running process
    must sign with the new key from its ``signs_from``, not only after a restart or once it
    happens to see a token signed with it."""
    first = keyring.signing_material(T0)
    rotated_at = T0 + timedelta(minutes=1)
    # This process last read the keys just before the command stored the new one.
    assert keyring.signing_material(rotated_at - timedelta(milliseconds=1)).kid == first.kid
    rotated = KeyRing().ensure_keys(rotated_at, force=True)  # the command's process
    assert keyring.signing_material(rotated.signs_from - timedelta(microseconds=1)).kid == first.kid
    second = keyring.signing_material(rotated.signs_from)
    assert second.kid == rotated.kid
    # And tokens signed with either key verify here.
    assert verify_with(keyring, sign(second, rotated.signs_from), rotated.signs_from).user_id == "u"
    assert verify_with(keyring, sign(first, rotated_at), rotated.signs_from).user_id == "u"


@pytest.mark.django_db
@pytest.mark.parametrize("learns_by", ["signing", "a token of the new key"])
def test_a_retirement_in_another_process_reaches_this_one(
    keyring: KeyRing, monotonic: SimpleNamespace, learns_by: str
) -> None:
    """``--force --retire-old`` in the command's process: this process, which holds the old key
    and trusts a token of it, refuses that token from the switch on once it reads the keys
    again, which its next signature or the first token of the new key makes it do."""
    first = keyring.signing_material(T0)
    old_token = sign(first, T0)
    rotated_at = T0 + timedelta(minutes=1)
    assert verify_with(keyring, old_token, rotated_at).user_id == "u"
    other_process = KeyRing()
    rotated = other_process.ensure_keys(rotated_at, force=True, retire_old=True)
    switch = rotated.signs_from
    assert verify_with(keyring, old_token, switch - timedelta(microseconds=1)).user_id == "u"
    monotonic.now += FORCED_KEY_NOTICE.total_seconds()  # time passes on this process's clock too
    if learns_by == "signing":
        assert keyring.signing_material(switch).kid == rotated.kid
    else:
        new_token = sign(other_process.signing_material(switch), switch)
        assert verify_with(keyring, new_token, switch).user_id == "u"
    assert keyring.resolve(first.kid, switch) is None
    assert not keyring.is_trusted(first.kid, switch)
    with pytest.raises(Exception, match="unknown key id"):
        verify_with(keyring, old_token, switch)


@pytest.mark.django_db
def test_retiring_keeps_the_earlier_end_of_a_key_and_spares_the_new_one(keyring: KeyRing) -> None:
    first = keyring.signing_material(T0)
    rotated = keyring.ensure_keys(T0 + timedelta(minutes=1), force=True, retire_old=True)
    again = keyring.ensure_keys(T0 + timedelta(minutes=2), force=True, retire_old=True)
    ends = {k.kid: (k.signs_until, k.verifies_until) for k in SigningKey.objects.all()}
    assert ends[first.kid] == (rotated.signs_from, rotated.signs_from)  # not moved later
    assert ends[rotated.kid] == (again.signs_from, again.signs_from)
    assert ends[again.kid] == (again.signs_until, again.verifies_until)
    assert again.verifies_until > again.signs_until > again.signs_from


@pytest.mark.django_db
def test_retire_old_without_force_is_refused(keyring: KeyRing) -> None:
    keyring.signing_material(T0)
    with pytest.raises(ValueError, match="retire_old goes with force"):
        keyring.ensure_keys(T0, retire_old=True)
    assert SigningKey.objects.count() == 1


@pytest.mark.django_db
def test_signing_reads_the_keys_at_most_once_a_second(keyring: KeyRing) -> None:
    keyring.signing_material(T0)
    with CaptureQueriesContext(connection) as queries:
        for ms in range(0, 1000, 100):
            keyring.signing_material(T0 + timedelta(milliseconds=ms))
    assert len(queries) == 0
    with CaptureQueriesContext(connection) as queries:
        for ms in range(1000, 2000, 100):
            keyring.signing_material(T0 + timedelta(milliseconds=ms))
    assert len(queries) == 1


@pytest.mark.django_db
def test_forcing_with_no_key_at_all_signs_at_once(keyring: KeyRing) -> None:
    first = keyring.ensure_keys(T0, force=True)
    assert first.signs_from == START
    assert keyring.signing_material(T0).kid == first.kid
    assert SigningKey.objects.count() == 1


def after_the_first_load(
    monkeypatch: pytest.MonkeyPatch, ring: KeyRing, other: Callable[[datetime], Any]
) -> list[Any]:
    """Run ``other(now)``, another process's key ring, once right after ``ring`` has read the
    keys a decision of its rests on (so that ``ring`` decides on a stale view and collides);
    the list receives what ``other`` returned."""
    real_load, done = KeyRing._load, []

    def load_then_interleave(self: KeyRing, now: datetime, algorithm: str) -> Any:
        state = real_load(self, now, algorithm)
        if self is ring and not done:
            done.append(other(now))
        return state

    monkeypatch.setattr(KeyRing, "_load", load_then_interleave)
    return done


@pytest.mark.django_db
def test_a_rotation_that_loses_the_race_returns_the_winners_key(
    keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the same top generation; the other inserts first, with its own (later) clock."""
    keyring.signing_material(T0)
    rotated_at = T0 + timedelta(minutes=1)
    winner = after_the_first_load(
        monkeypatch,
        keyring,
        lambda now: KeyRing().ensure_keys(now + timedelta(seconds=1), force=True),
    )
    mine = keyring.ensure_keys(rotated_at, force=True)

    assert SigningKey.objects.count() == 2
    assert mine.kid == winner[0].kid
    assert mine.signs_from == rotated_at + timedelta(seconds=1) + FORCED_KEY_NOTICE


@pytest.mark.django_db
def test_a_rotation_that_loses_to_an_announced_successor_still_rotates(
    keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key that won the insert only announces the successor, which starts when the current
    key ends: that is not a rotation, so the worker tries again."""
    current = keyring.ensure_keys(T0)
    after_the_first_load(
        monkeypatch,
        keyring,
        lambda _now: KeyRing().ensure_keys(START + INTERVAL - timedelta(minutes=30)),
    )
    rotated = keyring.ensure_keys(T0, force=True)

    successor = SigningKey.objects.get(generation=current.generation + 1)
    assert successor.signs_from == START + INTERVAL
    assert rotated.generation == current.generation + 2
    assert rotated.signs_from == T0 + FORCED_KEY_NOTICE


@pytest.mark.django_db
def test_changing_the_algorithm_creates_a_key_of_the_new_algorithm(
    keyring: KeyRing, settings: SettingsWrapper
) -> None:
    rsa = keyring.signing_material(T0)
    use_algorithm(settings, "EdDSA")
    eddsa = keyring.signing_material(T0)
    assert (rsa.algorithm, eddsa.algorithm) == ("RS256", "EdDSA")
    assert eddsa.kid != rsa.kid
    # An RS256 token is no longer accepted once EdDSA is configured: the algorithm is pinned.
    with pytest.raises(Exception, match="unexpected algorithm"):
        verify_with(keyring, sign(rsa, T0), T0, "EdDSA")


# --------------------------------------------------------------------------- unknown kid


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A hand-moved ``time.monotonic`` for the key ring's reload throttle."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(keys, "time", SimpleNamespace(monotonic=lambda: fake.now))
    return fake


@pytest.mark.django_db
def test_unknown_kid_reloads_at_most_once_per_second(
    keyring: KeyRing,
    monotonic: SimpleNamespace,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    keyring.signing_material(T0)
    with django_assert_num_queries(0):
        for _ in range(5):
            assert keyring.resolve("unknown", T0) is None
    monotonic.now += 0.999
    with django_assert_num_queries(0):
        assert keyring.resolve("unknown", T0) is None
    monotonic.now += 0.001
    with django_assert_num_queries(1):
        for _ in range(5):
            assert keyring.resolve("unknown", T0) is None
    monotonic.now += 1.0
    with django_assert_num_queries(1):
        assert keyring.resolve("unknown", T0) is None
        assert keyring.resolve("unknown-2", T0) is None


@pytest.mark.django_db
def test_known_kid_never_queries(
    keyring: KeyRing,
    monotonic: SimpleNamespace,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    kid = keyring.signing_material(T0).kid
    monotonic.now += 3600
    with django_assert_num_queries(0):
        assert keyring.resolve(kid, T0) is not None


@pytest.mark.django_db
def test_unknown_kid_finds_a_key_another_process_created(
    keyring: KeyRing, monotonic: SimpleNamespace
) -> None:
    keyring.signing_material(T0)
    other = KeyRing().ensure_keys(T0 + timedelta(minutes=1), force=True)
    token = sign(
        SigningMaterial(other.kid, other.algorithm, other.private), T0 + timedelta(minutes=1)
    )
    monotonic.now += 1.0
    assert verify_with(keyring, token, T0 + timedelta(minutes=1)).user_id == "u"


@pytest.mark.django_db
def test_reloads_do_not_decrypt_known_keys_again(
    keyring: KeyRing, monotonic: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.signing_material(T0)
    KeyRing().ensure_keys(T0 + timedelta(minutes=1), force=True)  # another process rotates
    decrypted: list[str] = []
    real = keys.decrypt_private_key

    def counting(kid: str, stored: str) -> bytes:
        decrypted.append(kid)
        return real(kid, stored)

    monkeypatch.setattr(keys, "decrypt_private_key", counting)
    for _ in range(3):
        monotonic.now += 1.0
        keyring.resolve("unknown", T0 + timedelta(minutes=1))
    assert len(decrypted) == 1  # only the other process's new key, once


@pytest.mark.django_db
def test_key_loading_fault_is_service_unavailable(keyring: KeyRing) -> None:
    def fail(*args: Any) -> None:
        raise OperationalError("connection lost")

    with connection.execute_wrapper(fail), pytest.raises(ServiceUnavailable):
        keyring.resolve("any", T0)


# --------------------------------------------------------------------------- JWKS


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_jwks_publishes_public_keys_that_verify(
    keyring: KeyRing, settings: SettingsWrapper, algorithm: str
) -> None:
    use_algorithm(settings, algorithm)
    material = keyring.signing_material(T0)
    jwks = keyring.jwks(T0)
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == material.kid
    assert jwk["alg"] == algorithm
    assert jwk["use"] == "sig"
    assert PRIVATE_JWK_MEMBERS.isdisjoint(jwk)
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        sign(material, T0),
        public,
        algorithms=[algorithm],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "u"


@pytest.mark.django_db
def test_jwks_never_contains_an_hs256_key(keyring: KeyRing, settings: SettingsWrapper) -> None:
    use_algorithm(settings, "HS256")
    keyring.signing_material(T0)
    assert keyring.jwks(T0) == {"keys": []}


@pytest.mark.django_db
def test_jwks_creates_the_first_key(keyring: KeyRing) -> None:
    assert len(keyring.jwks(T0)["keys"]) == 1
    assert SigningKey.objects.count() == 1


# --------------------------------------------------------------------------- static keys


def static_value(algorithm: str) -> str:
    if algorithm == "HS256":
        return "a-static-hmac-secret-of-at-least-32-bytes"
    return private_to_bytes(generate_private_key(algorithm)).decode()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA", "HS256"])
def test_static_key_signs_and_verifies_without_the_database(
    keyring: KeyRing, settings: SettingsWrapper, algorithm: str
) -> None:
    # No django_db mark: any query would fail the test.
    use_algorithm(settings, algorithm, STATIC_SIGNING_KEY=static_value(algorithm))
    material = keyring.signing_material(T0)
    assert material.kid.startswith("s-")
    assert material.algorithm == algorithm
    token = sign(material, T0)
    assert verify_with(keyring, token, T0, algorithm).user_id == "u"
    assert keyring.resolve("other", T0) is None
    # The same key gives the same kid in every process.
    assert KeyRing().signing_material(T0 + timedelta(days=400)).kid == material.kid
    jwks = keyring.jwks(T0)["keys"]
    if algorithm == "HS256":
        assert jwks == []
    else:
        assert [k["kid"] for k in jwks] == [material.kid]
        assert PRIVATE_JWK_MEMBERS.isdisjoint(jwks[0])


def test_static_key_is_parsed_once(keyring: KeyRing, settings: SettingsWrapper) -> None:
    """Loading an RSA key validates it (milliseconds): not on every signature and verification."""
    use_algorithm(settings, "RS256", STATIC_SIGNING_KEY=static_value("RS256"))
    keys._static_key.cache_clear()
    kid = keyring.signing_material(T0).kid
    for _ in range(5):
        keyring.signing_material(T0)
        assert keyring.resolve(kid, T0) is not None
    assert keys._static_key.cache_info().misses == 1


@pytest.mark.parametrize(
    ("algorithm", "value", "message"),
    [
        ("HS256", "too-short", "at least 32 bytes"),
        ("RS256", "ES256", "not a RS256 private key"),
        ("ES256", "EdDSA", "not a ES256 private key"),
        ("EdDSA", "RS256", "not a EdDSA private key"),
    ],
)
def test_static_key_that_does_not_match_the_algorithm_is_refused(
    algorithm: str, value: str, message: str
) -> None:
    if value in ASYMMETRIC:
        value = static_value(value)
    with pytest.raises(ValueError, match=message):
        load_static_key(algorithm, value)


def test_small_rsa_and_wrong_curve_static_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    with pytest.raises(ValueError, match="2048"):
        load_static_key("RS256", private_to_bytes(small).decode())
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        load_static_key("ES256", private_to_bytes(p384).decode())


# --------------------------------------------------------------------------- concurrency


def race(workers: int, target: Callable[[int], Any]) -> list[Any]:
    """Run ``target(i)`` in ``workers`` threads released at once; re-raise the first failure."""
    from django.db import connections

    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_workers_creating_the_first_key_at_once_make_exactly_one(round_: int) -> None:
    """Each thread is a separate process (its own key ring) taking its own clock reading."""
    from django.utils import timezone

    kids = race(6, lambda _i: KeyRing().signing_material(timezone.now()).kid)
    assert SigningKey.objects.count() == 1
    assert set(kids) == {SigningKey.objects.get().kid}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_workers_announcing_the_successor_at_once_make_exactly_one(round_: int) -> None:
    first = KeyRing().signing_material(T0)
    inside = START + INTERVAL - timedelta(minutes=30)
    kids = race(6, lambda i: KeyRing().signing_material(inside + timedelta(seconds=i)).kid)
    assert set(kids) == {first.kid}
    assert SigningKey.objects.count() == 2
    successor = SigningKey.objects.get(generation=2)
    assert successor.signs_from == START + INTERVAL
