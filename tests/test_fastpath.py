"""fastpath.py: the cache of fully verified access tokens.

Tokens are real (signed with pyjwt), the verification behind the cache is the real
``decode_access_token``, and time is passed in as ``now``. Whether an answer came from the
cache is read from the cache's own counters (``info()``), never from timings.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_django import Settings as SettingsWrapper

from supertokens_django import fastpath
from supertokens_django.exceptions import TryRefreshToken
from supertokens_django.fastpath import DEFAULT_SIZE, VerifiedTokenCache
from supertokens_django.keys import KeyRing, generate_private_key, verification_key
from supertokens_django.tokens import (
    AccessToken,
    SigningMaterial,
    decode_access_token,
    encode_access_token,
    sha256_hex,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
LIFETIME = timedelta(hours=1)
LEEWAY = timedelta(seconds=1)
HANDLE = "0b3c8a1e-6f43-4d52-9a57-8f0e2d9c1b7a"
SECOND = timedelta(seconds=1)


class Keys:
    """A resolver over a set of trusted keys that can be retired, counting its calls."""

    def __init__(self) -> None:
        self.trusted: dict[str, Any] = {}
        self.calls = 0

    def add(self, kid: str, algorithm: str = "HS256") -> SigningMaterial:
        private = generate_private_key(algorithm)
        self.trusted[kid] = verification_key(private)
        return SigningMaterial(kid, algorithm, private)

    def __call__(self, kid: str) -> Any | None:
        self.calls += 1
        return self.trusted.get(kid)


@pytest.fixture(autouse=True)
def _empty_process_cache() -> Iterator[None]:
    fastpath.verified_tokens.clear()
    yield
    fastpath.verified_tokens.clear()


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def cache() -> VerifiedTokenCache:
    return VerifiedTokenCache(maxsize=16)


def mint(
    key: SigningMaterial,
    *,
    now: datetime = NOW,
    lifetime: timedelta = LIFETIME,
    parent: str | None = None,
    custom: dict[str, Any] | None = None,
    user_id: str = "user-1",
) -> str:
    return encode_access_token(
        key=key,
        user_id=user_id,
        handle=HANDLE,
        refresh_token_hash1=sha256_hex(f"refresh-{user_id}"),
        parent_refresh_token_hash1=parent,
        anti_csrf_token=None,
        custom_payload=custom or {},
        issuer="/auth",
        now=now,
        lifetime=lifetime,
    ).token


def verify(
    cache: VerifiedTokenCache,
    token: str,
    resolve_key: Callable[[str], Any | None],
    *,
    now: datetime = NOW,
    algorithm: str = "HS256",
) -> AccessToken:
    return cache.verify(token, now=now, algorithm=algorithm, leeway=LEEWAY, resolve_key=resolve_key)


def full(token: str, resolve_key: Callable[[str], Any | None], now: datetime = NOW) -> AccessToken:
    return decode_access_token(
        token, algorithm="HS256", resolve_key=resolve_key, now=now, leeway=LEEWAY
    )


def hits(cache: VerifiedTokenCache) -> int:
    return cache.info().hits


# --------------------------------------------------------------------------- hit and miss


def test_first_use_verifies_in_full_and_later_uses_hit(
    cache: VerifiedTokenCache, keys: Keys
) -> None:
    token = mint(keys.add("k1"), custom={"role": "admin"})
    first = verify(cache, token, keys)
    assert cache.info() == (0, 1, 16, 1)
    second = verify(cache, token, keys, now=NOW + 10 * SECOND)
    assert cache.info() == (1, 1, 16, 1)
    # A hit answers exactly what a full verification answers.
    assert second == first == full(token, keys)
    assert second.payload["role"] == "admin"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA", "HS256"])
def test_every_algorithm(cache: VerifiedTokenCache, keys: Keys, algorithm: str) -> None:
    token = mint(keys.add("k1", algorithm))
    for _ in range(3):
        assert verify(cache, token, keys, algorithm=algorithm).user_id == "user-1"
    assert cache.info()[:2] == (2, 1)


def test_the_algorithm_is_part_of_the_key(cache: VerifiedTokenCache, keys: Keys) -> None:
    token = mint(keys.add("k1"))
    verify(cache, token, keys)
    with pytest.raises(TryRefreshToken, match="unexpected algorithm"):
        verify(cache, token, keys, algorithm="RS256")
    assert hits(cache) == 0


def test_each_hit_returns_a_copy_nobody_can_poison(cache: VerifiedTokenCache, keys: Keys) -> None:
    token = mint(keys.add("k1"), custom={"roles": ["reader"], "org": {"id": 7}})
    first = verify(cache, token, keys)
    first.payload["roles"].append("admin")
    hit = verify(cache, token, keys)
    hit.payload["roles"].append("admin")
    hit.payload["org"]["id"] = 8
    with pytest.raises(TypeError):
        hit.payload["sub"] = "someone-else"  # type: ignore[index]
    again = verify(cache, token, keys)
    assert hits(cache) == 2
    assert again.payload["roles"] == ["reader"]
    assert again.payload["org"] == {"id": 7}
    assert again.payload["sub"] == "user-1"
    assert again == full(token, keys)


def test_a_token_with_scalar_claims_is_shared_and_immutable(
    cache: VerifiedTokenCache, keys: Keys
) -> None:
    token = mint(keys.add("k1"), custom={"role": "reader"})
    verify(cache, token, keys)
    hit, again = verify(cache, token, keys), verify(cache, token, keys)
    assert hits(cache) == 2
    assert hit is again
    with pytest.raises(TypeError):
        hit.payload["role"] = "admin"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.user_id = "someone-else"  # type: ignore[misc]
    assert verify(cache, token, keys).payload["role"] == "reader"
    assert again == full(token, keys)


def test_tokens_with_a_parent_hash_are_never_cached(cache: VerifiedTokenCache, keys: Keys) -> None:
    token = mint(keys.add("k1"), parent=sha256_hex("parent"))
    for _ in range(3):
        assert verify(cache, token, keys).parent_refresh_token_hash1 == sha256_hex("parent")
    assert cache.info() == (0, 3, 16, 0)


# --------------------------------------------------------------------------- time and keys


def test_expiry_is_honoured_with_leeway(cache: VerifiedTokenCache, keys: Keys) -> None:
    token = mint(keys.add("k1"), lifetime=timedelta(seconds=60))
    verify(cache, token, keys)
    # exp = NOW + 60: still accepted up to (excluding) exp + leeway, like the full verification.
    assert verify(cache, token, keys, now=NOW + 60 * SECOND).user_id == "user-1"
    assert hits(cache) == 1
    with pytest.raises(TryRefreshToken, match="expired"):
        verify(cache, token, keys, now=NOW + 61 * SECOND)
    assert len(cache) == 0  # the stale entry is gone, not just skipped


def test_a_clock_stepping_back_before_iat_is_honoured(
    cache: VerifiedTokenCache, keys: Keys
) -> None:
    token = mint(keys.add("k1"))
    verify(cache, token, keys)
    assert verify(cache, token, keys, now=NOW - SECOND).user_id == "user-1"  # within leeway
    with pytest.raises(TryRefreshToken, match="in the future"):
        verify(cache, token, keys, now=NOW - 2 * SECOND)


def test_a_retired_key_is_honoured(cache: VerifiedTokenCache, keys: Keys) -> None:
    old, new = keys.add("old"), keys.add("new")
    old_token, new_token = mint(old), mint(new)
    verify(cache, old_token, keys)
    verify(cache, new_token, keys)
    del keys.trusted["old"]
    with pytest.raises(TryRefreshToken, match="unknown key id"):
        verify(cache, old_token, keys)
    assert verify(cache, new_token, keys).user_id == "user-1"
    assert cache.info()[:2] == (1, 3)


def test_a_key_trust_check_answers_for_hits(cache: VerifiedTokenCache, keys: Keys) -> None:
    token = mint(keys.add("k1"))
    asked: list[str] = []

    def trusted(kid: str) -> bool:
        asked.append(kid)
        return kid in keys.trusted

    def use() -> AccessToken:
        return cache.verify(
            token, now=NOW, algorithm="HS256", leeway=LEEWAY, resolve_key=keys, key_trusted=trusted
        )

    use()
    calls = keys.calls
    use()
    assert (asked, keys.calls, hits(cache)) == (["k1"], calls, 1)  # the hit did not build a key
    del keys.trusted["k1"]
    with pytest.raises(TryRefreshToken, match="unknown key id"):
        use()


@pytest.mark.django_db
def test_the_key_rings_retirement_schedule_is_honoured(keyring: KeyRing) -> None:
    """With the real key ring: a token that outlives its key is refused once the key retires."""
    material = keyring.signing_material(NOW)
    token = mint(material, lifetime=timedelta(days=30))
    cache = VerifiedTokenCache()

    def at(now: datetime) -> AccessToken:
        return cache.verify(
            token,
            now=now,
            algorithm=material.algorithm,
            leeway=LEEWAY,
            resolve_key=lambda kid: keyring.resolve(kid, now),
        )

    at(NOW)
    retired = NOW + timedelta(days=14)  # past signs_until + 2 × the access-token lifetime
    assert keyring.resolve(material.kid, retired) is None
    assert at(retired - timedelta(days=7)).user_id == "user-1"
    with pytest.raises(TryRefreshToken, match="unknown key id"):
        at(retired)
    assert cache.info()[:2] == (1, 2)


def test_replacing_the_static_key_is_honoured(keyring: KeyRing, settings: SettingsWrapper) -> None:
    # No django_db mark: a static key is resolved without the database.
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "a" * 32}
    material = keyring.signing_material(NOW)
    token = mint(material)
    fastpath.verified_tokens.verify(
        token,
        now=NOW,
        algorithm="HS256",
        leeway=LEEWAY,
        resolve_key=lambda kid: keyring.resolve(kid, NOW),
    )
    settings.SUPERTOKENS = {"SIGNING_ALGORITHM": "HS256", "STATIC_SIGNING_KEY": "b" * 32}
    with pytest.raises(TryRefreshToken, match="unknown key id"):
        fastpath.verified_tokens.verify(
            token,
            now=NOW,
            algorithm="HS256",
            leeway=LEEWAY,
            resolve_key=lambda kid: keyring.resolve(kid, NOW),
        )


# --------------------------------------------------------------------------- forgeries


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tampered(token: str) -> list[str]:
    header, claims, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    return [
        f"{header}.{claims}.{flipped}",  # a bad signature
        f"{header}.{_b64({**payload, 'sub': 'admin'})}.{signature}",  # an edited claim
        f"{_b64({'alg': 'none', 'kid': 'k1', 'typ': 'JWT'})}.{claims}.",  # alg=none
        f" {token}",
    ]


def test_a_tampered_token_is_never_served_from_the_cache(
    cache: VerifiedTokenCache, keys: Keys
) -> None:
    token = mint(keys.add("k1"))
    verify(cache, token, keys)
    verify(cache, token, keys)
    for forged in _tampered(token):
        with pytest.raises(TryRefreshToken):
            verify(cache, forged, keys)
    # Nothing was answered from the cache, and no failure was remembered.
    assert hits(cache) == 1
    assert len(cache) == 1
    for forged in _tampered(token):
        with pytest.raises(TryRefreshToken):
            verify(cache, forged, keys)
    assert hits(cache) == 1


def test_another_encoding_of_a_cached_token_is_verified_on_its_own(
    cache: VerifiedTokenCache, keys: Keys
) -> None:
    """pyjwt accepts base64 padding after the signature. Such a string is a token of its own
    to the cache: a miss, verified in full (which refuses it: not a compact JWS), never an
    answer taken from the original's entry."""
    token = mint(keys.add("k1"))
    verify(cache, token, keys)
    padded = f"{token}="
    with pytest.raises(TryRefreshToken):
        verify(cache, padded, keys)
    assert cache.info()[:2] == (0, 2)
    assert verify(cache, token, keys).token == token  # the original is still a hit
    assert cache.info()[:2] == (1, 2)


# --------------------------------------------------------------------------- the bound


def test_the_bound_is_honoured_least_recently_used_first(keys: Keys) -> None:
    cache = VerifiedTokenCache(maxsize=3)
    key = keys.add("k1")
    tokens = [mint(key, user_id=f"user-{i}") for i in range(5)]
    for token in tokens[:3]:
        verify(cache, token, keys)
    verify(cache, tokens[0], keys)  # now the most recently used
    verify(cache, tokens[3], keys)  # evicts tokens[1]
    verify(cache, tokens[4], keys)  # evicts tokens[2]
    assert len(cache) == 3
    before = hits(cache)
    for token in (tokens[0], tokens[3], tokens[4]):
        verify(cache, token, keys)
    assert hits(cache) == before + 3
    verify(cache, tokens[1], keys)
    assert hits(cache) == before + 3
    assert len(cache) == 3


def test_resizing_trims(keys: Keys) -> None:
    cache = VerifiedTokenCache(maxsize=8)
    key = keys.add("k1")
    for i in range(8):
        verify(cache, mint(key, user_id=f"user-{i}"), keys)
    cache.resize(2)
    assert len(cache) == 2
    cache.resize(0)
    assert len(cache) == 0
    verify(cache, mint(key), keys)
    assert len(cache) == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("warm_keyring")
def test_the_setting_sizes_the_process_cache(settings: SettingsWrapper) -> None:
    from supertokens_django import engine

    token = engine.create_session("user-1").access_token.token
    others = {k: v for k, v in (settings.SUPERTOKENS or {}).items() if k != fastpath.SETTING}

    def use(access_token: str = token) -> None:
        engine.verify_access_token(access_token)

    settings.SUPERTOKENS = others
    use()
    assert fastpath.verified_tokens.maxsize == DEFAULT_SIZE
    settings.SUPERTOKENS = {**others, fastpath.SETTING: 0}
    use()
    use()
    assert len(fastpath.verified_tokens) == 0
    assert fastpath.verified_tokens.info().hits == 0
    settings.SUPERTOKENS = {**others, fastpath.SETTING: 1}
    use()
    use()
    use()
    assert fastpath.verified_tokens.info().hits == 2
    use(engine.create_session("other").access_token.token)
    assert len(fastpath.verified_tokens) == 1


# --------------------------------------------------------------------------- threads


def test_concurrent_use_from_threads(keys: Keys) -> None:
    """Threads verifying overlapping tokens through a cache smaller than their working set:
    every answer is right, every forgery refused, and the bound holds throughout."""
    cache = VerifiedTokenCache(maxsize=8)
    key = keys.add("k1")
    tokens = {f"user-{i}": mint(key, user_id=f"user-{i}") for i in range(24)}
    forged = _tampered(tokens["user-0"])[:2]
    errors: list[str] = []
    sizes: list[int] = []
    start = threading.Barrier(6)

    def worker(offset: int) -> None:
        start.wait()
        for round_ in range(150):
            for i, (user_id, token) in enumerate(tokens.items()):
                if (i + offset + round_) % 3:
                    continue
                if verify(cache, token, keys).user_id != user_id:
                    errors.append(f"{user_id} got someone else's token")
            for bad in forged:
                try:
                    verify(cache, bad, keys)
                    errors.append("a forgery was accepted")
                except TryRefreshToken:
                    pass
            sizes.append(len(cache))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert max(sizes) <= 8
    info = cache.info()
    assert info.hits + info.misses == 6 * 150 * (8 + 2)
    assert info.hits > 0


# --------------------------------------------------------------------------- the hot path around it


def test_the_settings_snapshot_follows_override_settings(settings: SettingsWrapper) -> None:
    from django.test import override_settings

    from supertokens_django.conf import st_settings

    settings.SUPERTOKENS = {"LEEWAY": timedelta(seconds=3)}
    assert st_settings.leeway == timedelta(seconds=3)
    with override_settings(SUPERTOKENS={"LEEWAY": timedelta(seconds=5)}):
        assert st_settings.leeway == timedelta(seconds=5)
        assert st_settings.signing_algorithm == "RS256"  # the defaults fill the rest
    assert st_settings.leeway == timedelta(seconds=3)


def test_the_settings_snapshot_notices_a_replaced_dict_without_a_signal(
    settings: SettingsWrapper,
) -> None:
    from django.conf import settings as django_settings

    from supertokens_django.conf import st_settings

    settings.SUPERTOKENS = {"DATABASE_RETRIES": 1}
    assert st_settings.database_retries == 1
    # Bypass setting_changed: the snapshot still sees that the dict is another one.
    django_settings._wrapped.SUPERTOKENS = {"DATABASE_RETRIES": 2}  # type: ignore[attr-defined]
    django_settings.__dict__.pop("SUPERTOKENS", None)  # LazySettings' own attribute cache
    assert st_settings.database_retries == 2


def test_the_settings_snapshot_refuses_unknown_names() -> None:
    from supertokens_django.conf import st_settings

    with pytest.raises(KeyError):
        st_settings.get("NO_SUCH_SETTING")


@pytest.mark.django_db
@pytest.mark.usefixtures("warm_keyring")
def test_a_verified_request_computes_no_issuer_until_a_token_is_minted() -> None:
    from supertokens_django import engine

    created = engine.create_session("user-1", issuer="https://api.example.com/auth")
    calls: list[str] = []

    def issuer() -> str:
        calls.append("issuer")
        return "https://api.example.com/auth"

    session = engine.verify_access_token(created.access_token.token, issuer=issuer)
    assert calls == []  # steady state: nothing minted, no get_host()
    session.reissue(custom_payload={"role": "admin"})
    assert calls == ["issuer"]
    assert session.new_access_token is not None
    assert session.new_access_token.payload["iss"] == "https://api.example.com/auth"
    session.reissue(custom_payload={"role": "user"})
    assert calls == ["issuer"]  # computed once
    session.issuer = "https://other.example.com/auth"  # still assignable, like any Session
    assert session.issuer == "https://other.example.com/auth"


@pytest.mark.django_db
@pytest.mark.usefixtures("warm_keyring")
def test_the_first_use_of_a_child_token_mints_with_the_lazy_issuer() -> None:
    from supertokens_django import engine

    created = engine.create_session("user-1", issuer="https://api.example.com/auth")
    child = engine.refresh_session(created.refresh_token.token)
    calls: list[str] = []

    def issuer() -> str:
        calls.append("issuer")
        return "https://api.example.com/auth"

    session = engine.verify_access_token(child.access_token.token, issuer=issuer)
    assert calls == ["issuer"]
    assert session.new_access_token is not None
    assert session.new_access_token.payload["iss"] == "https://api.example.com/auth"


@pytest.mark.django_db
@pytest.mark.usefixtures("warm_keyring")
def test_is_known_only_after_a_full_verification() -> None:
    from supertokens_django import engine

    token = engine.create_session("user-1").access_token.token
    assert fastpath.is_known(token) is False
    engine.verify_access_token(token)
    assert fastpath.is_known(token) is True
    assert fastpath.is_known(token[:-2] + "AA") is False
