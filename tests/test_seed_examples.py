"""The seed's snippets (shared/seed/asyncpg-backend.md), with our imports.

Each test is one snippet, changed only where it cannot work as printed: the event
snippet passes `session_id=` (an ADK Event carries no session), drops `actions=[]`
(not an EventActions) and moves `grounding_metadata={"sources": ...}` (not a
GroundingMetadata) into custom_metadata. Every config also carries the test schema's
`server_settings`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
import pytest
from google.adk.events.event import Event
from google.genai import types

from fastapi_adk_store import (
    SCHEMA_VERSION,
    AmbiguousSessionError,
    AsyncpgADKStore,
    AsyncpgConfig,
    AsyncpgSessionService,
    event_from_record,
)

from ._helpers import PoolOptions


def _seed_config(pool_options: PoolOptions, **pool_config: Any) -> AsyncpgConfig:
    return AsyncpgConfig(
        pool_config={
            "dsn": pool_options["dsn"],
            "server_settings": pool_options["server_settings"],
            **pool_config,
        }
    )


async def test_basic_configuration(pool_options: PoolOptions) -> None:
    """Quick start: config, store, create_tables, service, create_session."""
    config = _seed_config(pool_options, min_size=5, max_size=20, command_timeout=60.0)
    store = AsyncpgADKStore(config)
    try:
        await store.create_tables()
        service = AsyncpgSessionService(store)
        session = await service.create_session(
            app_name="assistant_bot",
            user_id="user_123",
            state={"conversation_context": "greeting", "language": "en"},
        )
        assert session.id
        assert session.state == {"conversation_context": "greeting", "language": "en"}
    finally:
        await store.close()


async def test_connection_by_individual_parameters(pool_options: PoolOptions) -> None:
    """host/port/user/password/database instead of a DSN."""
    url = urlparse(pool_options["dsn"])
    config = AsyncpgConfig(
        pool_config={
            "host": url.hostname or parse_qs(url.query)["host"][0],
            "port": url.port or 5432,
            "user": url.username,
            "password": url.password or "",
            "database": url.path.lstrip("/"),
            "server_settings": pool_options["server_settings"],
        }
    )
    store = AsyncpgADKStore(config)
    try:
        await store.create_tables()
        assert await store.schema_version() == SCHEMA_VERSION
    finally:
        await store.close()


async def test_full_pool_configuration(pool_options: PoolOptions) -> None:
    """Every pool key of the seed is accepted and reaches the connection."""
    config = _seed_config(
        pool_options,
        min_size=2,
        max_size=4,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        command_timeout=60.0,
        connect_timeout=10.0,
        statement_cache_size=100,
        max_cached_statement_lifetime=300,
        max_cacheable_statement_size=1024 * 15,
    )
    config.pool_config["server_settings"] = {
        **pool_options["server_settings"],
        "jit": "off",
        "application_name": "ai_agent",
    }
    store = AsyncpgADKStore(config)
    try:
        pool = await store.get_pool()
        assert await pool.fetchval("SHOW application_name") == "ai_agent"
        assert await pool.fetchval("SHOW jit") == "off"
        assert store.pool_stats().max_size == 4
    finally:
        await store.close()


async def test_pool_monitoring(store: AsyncpgADKStore) -> None:
    """pool.get_size()/get_idle_size() and the store's pool_stats() agree."""
    pool = await store.get_pool()
    stats = store.pool_stats()
    assert (stats.size, stats.idle) == (pool.get_size(), pool.get_idle_size())
    async with pool.acquire():
        assert store.pool_stats().in_use == 1


async def test_custom_table_names(pool_options: PoolOptions) -> None:
    """session_table/events_table keyword arguments name the tables."""
    store = AsyncpgADKStore(
        _seed_config(pool_options),
        session_table="production_sessions",
        events_table="production_events",
    )
    try:
        await store.create_tables()
        await store.create_session("s", "app", "user", {})
        pool = await store.get_pool()
        tables = {r[0] for r in await pool.fetch("SELECT tablename FROM pg_tables")}
        assert {"production_sessions", "production_events"} <= tables
        assert store.session_table == "production_sessions"
        assert store.events_table == "production_events"
    finally:
        await store.close()


async def test_extension_config_with_owner_id_column(pool_options: PoolOptions) -> None:
    """extension_config['adk'] names the tables and adds the owner-id column."""
    setup = await asyncpg.connect(
        pool_options["dsn"], server_settings=pool_options["server_settings"]
    )
    try:
        await setup.execute("CREATE TABLE tenants (id INTEGER PRIMARY KEY)")
        await setup.execute("INSERT INTO tenants VALUES (1), (2)")
    finally:
        await setup.close()
    owner = "tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE"
    config = AsyncpgConfig(
        pool_config={
            "dsn": pool_options["dsn"],
            "server_settings": pool_options["server_settings"],
        },
        extension_config={
            "adk": {
                "session_table": "my_sessions",
                "events_table": "my_events",
                "owner_id_column": owner,
            }
        },
    )
    store = AsyncpgADKStore(config)
    try:
        await store.create_tables()
        assert store.owner_id_column_ddl == owner
        assert store.owner_id_column_name == "tenant_id"
        await store.create_session("s1", "app", "user", {}, owner_id=1)
        await store.create_session("s2", "app", "user", {}, owner_id=2)
        only_first = await store.list_sessions("app", "user", owner_id=1)
        assert [(record.id, record.owner_id) for record in only_first] == [("s1", "1")]
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await store.create_session("s3", "app", "user", {}, owner_id=99)
    finally:
        await store.close()


async def test_session_management(store: AsyncpgADKStore) -> None:
    """Create, get by bare id, replace state, list, delete."""
    await store.create_session(
        session_id="sess_abc123",
        app_name="chatbot",
        user_id="user_789",
        state={
            "conversation_context": "product_inquiry",
            "user_preferences": {"language": "en", "theme": "dark"},
            "cart_items": [],
        },
    )
    retrieved = await store.get_session("sess_abc123")
    assert retrieved is not None
    assert retrieved["state"]["conversation_context"] == "product_inquiry"

    new_state = {
        "conversation_context": "checkout",
        "user_preferences": {"language": "en", "theme": "dark"},
        "cart_items": ["item1", "item2"],
    }
    await store.update_session_state("sess_abc123", new_state)
    updated = await store.get_session("sess_abc123")
    assert updated is not None and updated["state"] == new_state

    sessions = await store.list_sessions("chatbot", "user_789")
    assert [session["id"] for session in sessions] == ["sess_abc123"]
    assert isinstance(sessions[0]["update_time"], datetime)

    await store.delete_session("sess_abc123")
    assert await store.get_session("sess_abc123") is None


async def test_event_management(store: AsyncpgADKStore) -> None:
    """Append ADK events to a session by bare id; read all, since a time, and the latest N."""
    await store.create_session(
        session_id="sess_xyz", app_name="assistant", user_id="user_456", state={}
    )
    user_event = Event(
        id="evt_user_1",
        invocation_id="inv_123",
        author="user",
        branch="main",
        timestamp=datetime.now(UTC).timestamp(),
        content=types.Content(parts=[types.Part(text="Hello!")]),
        partial=False,
        turn_complete=True,
    )
    await store.append_event(user_event, session_id="sess_xyz")
    assistant_event = Event(
        id="evt_asst_1",
        invocation_id="inv_123",
        author="assistant",
        branch="main",
        timestamp=datetime.now(UTC).timestamp(),
        content=types.Content(parts=[types.Part(text="Hi! How can I help?")]),
        custom_metadata={
            "sources": ["knowledge_base_v2"],
            "confidence": 0.95,
            "model": "gemini-pro",
        },
        partial=False,
        turn_complete=True,
    )
    await store.append_event(assistant_event, session_id="sess_xyz")

    events = await store.get_events("sess_xyz")
    assert [event["author"] for event in events] == ["user", "assistant"]
    assert events[0]["content"] == {"parts": [{"text": "Hello!"}]}
    assert [event_from_record(event) for event in events] == [user_event, assistant_event]

    recent_time = datetime.now(UTC) - timedelta(hours=1)
    assert len(await store.get_events("sess_xyz", after_timestamp=recent_time)) == 2
    latest_1 = await store.get_events("sess_xyz", limit=1)
    assert [event["id"] for event in latest_1] == ["evt_asst_1"]


async def test_service_integration(store: AsyncpgADKStore) -> None:
    """The service over the store: create, append, get with full history."""
    service = AsyncpgSessionService(store)
    session = await service.create_session(
        app_name="support_bot", user_id="user_123", state={"ticket_id": "TKT-456"}
    )
    user_event = Event(author="user", content=types.Content(parts=[types.Part(text="Help")]))
    await service.append_event(session, user_event)
    full_session = await service.get_session(
        app_name="support_bot", user_id="user_123", session_id=session.id
    )
    assert full_session is not None and len(full_session.events) == 1


async def test_jsonb_state_without_manual_serialization(store: AsyncpgADKStore) -> None:
    """Nested dicts, arrays and nulls go in and come out as Python objects."""
    await store.create_session("sess_id", "app", "user", {})
    state = {
        "complex": {"nested": {"data": [1, 2, 3]}},
        "arrays": [{"id": 1}, {"id": 2}],
        "nulls": None,
    }
    await store.update_session_state("sess_id", state)
    record = await store.get_session("sess_id")
    assert record is not None and record.state == state


async def test_bare_id_under_two_users_is_ambiguous(store: AsyncpgADKStore) -> None:
    """A bare id shared by two users raises, naming both; app_name/user_id pick one."""
    await store.create_session("shared", "app", "alice", {"who": "alice"})
    await store.create_session("shared", "app", "bob", {"who": "bob"})
    with pytest.raises(AmbiguousSessionError, match=r"alice.*bob"):
        await store.get_session("shared")
    bob = await store.get_session("shared", app_name="app", user_id="bob")
    assert bob is not None and bob.state == {"who": "bob"}
    only_alice = await store.get_session("shared", user_id="alice")
    assert only_alice is not None and only_alice.state == {"who": "alice"}
