"""Fixtures of the attack suite: the leak guard on every test, an empty key ring, and two users
(alice, the victim, and bob, another user) signed in through the example project's login."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from django.test import Client

from tests.security.support import Browser, LeakGuard, installed_guard

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from supertokens_django.keys import KeyRing


@pytest.fixture(autouse=True)
def leak_guard(request: pytest.FixtureRequest, keyring: KeyRing) -> Iterator[LeakGuard]:
    """Every log record of every security test, checked at the end: no token, refresh-token
    hash, key material, SQL or traceback (the key ring's keys are collected before the
    ``keyring`` fixture empties it)."""
    with installed_guard() as guard:
        # A known bug (xfail) may end in a server error: its logged traceback is the bug itself.
        guard.server_errors_expected = request.node.get_closest_marker("xfail") is not None
        yield guard
        guard.note_keys()
    problems = guard.problems()
    assert not problems, "\n".join(problems)


BrowserFactory = Callable[..., Browser]


@pytest.fixture
def browser(client: Client) -> BrowserFactory:
    """``browser("cookie")`` or ``browser("header", sign_in="alice")``."""

    def make(mode: str = "cookie", *, sign_in: str | None = None) -> Browser:
        agent = Browser(client, mode)  # type: ignore[arg-type]
        if sign_in is not None:
            agent.sign_in(sign_in)
        return agent

    return make


@pytest.fixture
def alice(user: User, browser: BrowserFactory, mode: str) -> Browser:
    """The victim, signed in in this test's mode."""
    return browser(mode, sign_in="alice")


@pytest.fixture
def bob(other_user: User, browser: BrowserFactory, mode: str) -> Browser:
    """Another user with a session of his own, signed in in the same mode."""
    return browser(mode, sign_in="bob")
