"""The ``a``-prefixed async twins of the engine, the ``Session`` object and the blacklist.

pytest-asyncio is not a dependency: each test drives its coroutine with ``async_to_sync``, which
runs thread-sensitive ORM calls on this (the test's) thread, inside the test's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from pytest_django import Settings as SettingsWrapper

import supertokens_django
from supertokens_django import blacklist, engine
from supertokens_django.exceptions import (
    InvalidSessionData,
    ServiceUnavailable,
    TokenTheftDetected,
    Unauthorised,
)
from supertokens_django.models import RevocationReason, RevokedSession
from supertokens_django.models import Session as SessionRow

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("warm_keyring")]
T = TypeVar("T")


def run(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    return async_to_sync(coroutine_function)()


def test_public_async_names_are_exported() -> None:
    for name in (
        "arevoke_session",
        "arevoke_multiple_sessions",
        "arevoke_all_sessions_for_user",
        "aget_all_session_handles_for_user",
        "aget_session_data",
        "aupdate_session_data",
        "aget_jwt_payload",
        "aupdate_jwt_payload",
    ):
        assert getattr(supertokens_django, name) is getattr(engine, name)


def test_create_refresh_verify_and_theft() -> None:
    async def scenario() -> None:
        tokens = await engine.acreate_session("user-1", jwt_payload={"a": 1})
        child = await engine.arefresh_session(tokens.refresh_token.token)
        session = await engine.averify_access_token(child.access_token.token)
        assert session.new_access_token is not None
        with pytest.raises(TokenTheftDetected):
            await engine.arefresh_session(tokens.refresh_token.token)

    run(scenario)
    assert RevokedSession.objects.get().reason == RevocationReason.THEFT


def test_data_by_handle() -> None:
    handle = engine.create_session("user-1", session_data={"a": 1}).session.get_handle()

    async def scenario() -> None:
        assert await engine.aget_session_data(handle) == {"a": 1}
        await engine.aupdate_session_data(handle, {"b": 2})
        assert await engine.aget_session_data(handle) == {"b": 2}
        assert await engine.aget_jwt_payload(handle) == {}
        await engine.aupdate_jwt_payload(handle, {"c": 3})
        assert await engine.aget_jwt_payload(handle) == {"c": 3}
        with pytest.raises(InvalidSessionData):
            await engine.aupdate_jwt_payload(handle, {"exp": 1})
        with pytest.raises(InvalidSessionData):
            await engine.aupdate_session_data(handle, {"x": float("nan")})

    run(scenario)
    assert SessionRow.objects.values_list("session_data", "jwt_payload").get() == (
        {"b": 2},
        {"c": 3},
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda h: engine.aget_session_data(h),
        lambda h: engine.aupdate_session_data(h, {}),
        lambda h: engine.aget_jwt_payload(h),
        lambda h: engine.aupdate_jwt_payload(h, {}),
    ],
    ids=["get-data", "update-data", "get-payload", "update-payload"],
)
def test_data_of_a_revoked_session_is_unauthorised(call: Callable[[str], Awaitable[Any]]) -> None:
    handle = engine.create_session("user-1").session.get_handle()
    engine.revoke_session(handle)

    async def scenario() -> None:
        for candidate in (handle, "garbage"):
            with pytest.raises(Unauthorised):
                await call(candidate)

    run(scenario)


def test_revoke_and_list(user: User) -> None:
    handles = [engine.create_session(user).session.get_handle() for _ in range(4)]
    other = engine.create_session("someone-else").session.get_handle()

    async def scenario() -> None:
        assert sorted(await engine.aget_all_session_handles_for_user(user)) == sorted(handles)
        assert await engine.arevoke_session(handles[0]) is True
        assert await engine.arevoke_session(handles[0]) is False
        assert await engine.arevoke_multiple_sessions([handles[1], "x"]) == [handles[1]]
        assert sorted(await engine.arevoke_all_sessions_for_user(user)) == sorted(handles[2:])
        assert await engine.aget_all_session_handles_for_user(str(user.pk)) == []

    run(scenario)
    assert list(SessionRow.objects.values_list("handle", flat=True).all()) == [
        SessionRow.objects.get().handle
    ]
    assert str(SessionRow.objects.get().handle) == other


def test_async_functions_take_a_primary_key(user: User) -> None:
    async def scenario() -> list[str]:
        created = await engine.acreate_session(user.pk)
        handles = await engine.aget_all_session_handles_for_user(user.pk)
        assert handles == [created.session.get_handle()]
        assert await engine.arevoke_all_sessions_for_user(user.pk) == handles
        with pytest.raises(ValueError, match="an int or a UUID"):
            await engine.aget_all_session_handles_for_user(True)
        return handles

    handles = run(scenario)
    assert RevokedSession.objects.get().subject == str(user.pk)
    assert str(RevokedSession.objects.get().handle) == handles[0]


def test_database_fault_is_service_unavailable() -> None:
    handle = engine.create_session("user-1").session.get_handle()

    def fail(*args: Any) -> None:
        raise OperationalError("injected")

    async def scenario() -> None:
        for call in (
            lambda: engine.aget_session_data(handle),
            lambda: engine.aupdate_jwt_payload(handle, {}),
            lambda: engine.aget_all_session_handles_for_user("user-1"),
        ):
            with pytest.raises(ServiceUnavailable):
                await call()

    with transaction.atomic(), connection.execute_wrapper(fail):
        run(scenario)


def test_session_object_twins(user: User) -> None:
    tokens = engine.create_session(user, jwt_payload={"r": 1}, session_data={"d": 1})
    session = engine.verify_access_token(tokens.access_token.token)

    async def scenario() -> None:
        assert await session.aget_user() == user
        assert await session.aget_session_data() == {"d": 1}
        await session.aupdate_session_data({"d": 2})
        assert await session.aget_session_data() == {"d": 2}
        await session.aupdate_jwt_payload({"r": 2})
        assert session.new_access_token is not None
        assert session.get_jwt_payload() == {"r": 2}
        await session.arevoke_session()
        assert session.revoked
        with pytest.raises(Unauthorised):
            await session.aget_session_data()

    run(scenario)
    assert RevokedSession.objects.get().reason == RevocationReason.LOGOUT


def test_async_blacklist_check(settings: SettingsWrapper) -> None:
    settings.SUPERTOKENS = {"BLACKLISTING": True}
    handle = engine.create_session("user-1").session.get_handle()

    async def check() -> bool:
        return await blacklist.ais_revoked(handle)

    assert run(check) is False
    engine.revoke_session(handle)
    assert run(check) is True
