"""The owner-id column: with one configured, `owner_id=` filters every read and write.

`create_session(owner_id=...)` stores it; `list_sessions`, `get_session`, `get_events`,
`append_event`, `update_session_state` and `delete_session` keep to the owner given, and
without `owner_id` act on any owner's session (the key alone decides).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.adk.events.event import Event

from fastapi_adk_store import (
    AsyncpgADKStore,
    AsyncpgConfig,
    ConfigurationError,
    SessionNotFoundError,
    build_store,
)

from ._helpers import PoolOptions, make_settings

OWNER_COLUMN = "tenant_id TEXT NOT NULL"
APP, USER = "app", "u1"
# The other tenant's owner id and the right one, as keyword arguments.
OTHER: dict[str, Any] = {"owner_id": "t2"}
MINE: dict[str, Any] = {"owner_id": "t1"}


@pytest.fixture
async def owned(pool_options: PoolOptions) -> AsyncIterator[AsyncpgADKStore]:
    """A store with the owner column; tenant t1 owns s1, t2 owns s2 (same app and user)."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options), owner_id_column=OWNER_COLUMN)
    await store.create_tables()
    await store.create_session("s1", APP, USER, {"k": "t1"}, owner_id="t1")
    await store.create_session("s2", APP, USER, {"k": "t2"}, owner_id="t2")
    try:
        yield store
    finally:
        await store.close()


async def test_create_stores_the_owner(owned: AsyncpgADKStore) -> None:
    record = await owned.get_session("s1", app_name=APP, user_id=USER)
    assert record is not None
    assert record.owner_id == "t1"
    assert owned.owner_id_column_name == "tenant_id"


async def test_settings_configure_the_owner_column(pool_options: PoolOptions) -> None:
    store = build_store(make_settings(pool_options, owner_id_column=OWNER_COLUMN))
    try:
        await store.create_tables()
        created = await store.create_session("s1", APP, USER, owner_id="t9")
        assert created.owner_id == "t9"
        assert store.owner_id_column_ddl == OWNER_COLUMN
    finally:
        await store.close()


async def test_list_sessions_filters_by_owner(owned: AsyncpgADKStore) -> None:
    mine = await owned.list_sessions(APP, USER, owner_id="t1")
    assert [r.id for r in mine] == ["s1"]
    app_wide = await owned.list_sessions(APP, owner_id="t2")
    assert [r.id for r in app_wide] == ["s2"]
    assert await owned.list_sessions(APP, USER, owner_id="nobody") == []
    # no owner given: every owner's sessions (the filter is opt-in today)
    assert {r.id for r in await owned.list_sessions(APP, USER)} == {"s1", "s2"}


async def test_owner_id_without_a_column_is_refused(store: AsyncpgADKStore) -> None:
    with pytest.raises(ConfigurationError):
        await store.create_session("s1", APP, USER, owner_id="t1")
    with pytest.raises(ConfigurationError):
        await store.list_sessions(APP, USER, owner_id="t1")


async def test_reads_without_an_owner_take_any_owner(owned: AsyncpgADKStore) -> None:
    """Without owner_id the key alone decides: any tenant's session and events are read."""
    other = await owned.get_session("s2", app_name=APP, user_id=USER)
    assert other is not None and other.owner_id == "t2"
    assert len(await owned.get_events("s2", app_name=APP, user_id=USER)) == 0


async def test_get_session_is_filtered_by_owner(owned: AsyncpgADKStore) -> None:
    assert await owned.get_session("s1", app_name=APP, user_id=USER, **OTHER) is None
    mine = await owned.get_session("s1", app_name=APP, user_id=USER, **MINE)
    assert mine is not None and mine.id == "s1"


async def test_get_events_is_filtered_by_owner(owned: AsyncpgADKStore) -> None:
    await owned.append_event(Event(author="user"), session_id="s1", app_name=APP, user_id=USER)
    assert await owned.get_events("s1", app_name=APP, user_id=USER, **OTHER) == []
    assert len(await owned.get_events("s1", app_name=APP, user_id=USER, **MINE)) == 1


async def test_append_event_is_filtered_by_owner(owned: AsyncpgADKStore) -> None:
    with pytest.raises(SessionNotFoundError):
        await owned.append_event(
            Event(author="intruder"), session_id="s1", app_name=APP, user_id=USER, **OTHER
        )
    assert await owned.get_events("s1", app_name=APP, user_id=USER) == []
    await owned.append_event(
        Event(author="user"), session_id="s1", app_name=APP, user_id=USER, **MINE
    )


async def test_delete_session_is_filtered_by_owner(owned: AsyncpgADKStore) -> None:
    await owned.delete_session("s1", app_name=APP, user_id=USER, **OTHER)
    assert await owned.get_session("s1", app_name=APP, user_id=USER) is not None
    await owned.delete_session("s1", app_name=APP, user_id=USER, **MINE)
    assert await owned.get_session("s1", app_name=APP, user_id=USER) is None


async def test_update_session_state_is_filtered_by_owner(owned: AsyncpgADKStore) -> None:
    changed = await owned.update_session_state(
        "s1", {"k": "evil"}, app_name=APP, user_id=USER, **OTHER
    )
    assert changed is None
    record = await owned.get_session("s1", app_name=APP, user_id=USER)
    assert record is not None and record.state == {"k": "t1"}
    mine = await owned.update_session_state("s1", {"k": 2}, app_name=APP, user_id=USER, **MINE)
    assert mine is not None and mine.state == {"k": 2}


async def test_bare_id_lookups_are_filtered_by_owner(owned: AsyncpgADKStore) -> None:
    """Without app/user, the bare-id look-up also keeps to the owner's sessions."""
    assert await owned.get_session("s1", **OTHER) is None
    assert await owned.get_events("s1", **OTHER) == []
