"""Importing from google-adk's DatabaseSessionService and sqlspec's asyncpg ADK store.

Each source is written by its own service in a schema of its own, imported into this
test's schema, and read back through our service: every session must equal, field by
field, what the source's service returns for it.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import BaseSessionService
from google.genai import types

from fastapi_adk_store import AsyncpgADKStore, AsyncpgSessionService, ConfigurationError
from fastapi_adk_store.db.pool import FixedPool
from fastapi_adk_store.sessions.importers import ImportCounts, SourceKind, import_sessions
from fastapi_adk_store.sessions.records import SessionLimits
from fastapi_adk_store.sessions.store import SessionStore

from ._helpers import fresh_schema
from ._sources import adk_source, sqlspec_source

APP = "importer"
BASE = 1_700_000_000.0
BIG_TEXT = "x" * (1024 * 1024)  # a 1 MiB text part
PNG = bytes(range(256)) * 4
Key = tuple[str, str, str]


def _rich_events() -> list[Event]:
    """Text, a function call and its response, inline bytes, unicode, metadata, state."""
    call = types.FunctionCall(id="call-1", name="lookup", args={"q": "Zürich", "n": 3})
    answer = types.FunctionResponse(id="call-1", name="lookup", response={"hits": ["€", "✓"]})
    image = types.Part(inline_data=types.Blob(mime_type="image/png", data=PNG))
    return [
        Event(author="user", content=_content("user", types.Part(text="你好 🌍"))),
        Event(author="agent", content=_content("model", types.Part(function_call=call))),
        Event(author="agent", content=_content("user", types.Part(function_response=answer))),
        Event(
            author="agent",
            content=_content("model", types.Part(text="Привет — ok"), image),
            custom_metadata={"trace": {"span": "ab12", "score": 0.25}, "tags": ["a", "ß"]},
            actions=EventActions(
                state_delta={"step": 2, "app:counter": 7, "user:lang": "日本語", "temp:x": 1}
            ),
        ),
        Event(author="agent", content=_content("model", types.Part(text=BIG_TEXT))),
    ]


def _content(role: str, *parts: types.Part) -> types.Content:
    return types.Content(role=role, parts=list(parts))


async def _populate(service: BaseSessionService, *, big: bool = True) -> dict[Key, int]:
    """Five sessions of two users; the first rich. Returns each session's event count."""
    written: dict[Key, int] = {}
    sessions = [("u1", "s1"), ("u1", "s2"), ("u1", "s3"), ("u2", "s4"), ("u2", "s5")]
    clock = BASE
    for number, (user, session_id) in enumerate(sessions):
        state = {"topic": f"topic {number}", "app:theme": "dark", f"user:seen_{number}": True}
        session = await service.create_session(
            app_name=APP, user_id=user, session_id=session_id, state=state
        )
        events = (
            _rich_events()
            if number == 0
            else [Event(author="user", content=_content("user", types.Part(text=f"m{i}")))
                  for i in range(number)]
        )  # fmt: skip
        if not big and number == 0:
            events = events[:-1]
        for event in events:
            clock += 1.25
            event.timestamp = clock
            await service.append_event(session, event)
        written[(APP, user, session_id)] = len(events)
    return written


async def _assert_same(
    source: BaseSessionService, ours: BaseSessionService, keys: Sequence[Key]
) -> None:
    """Every session reads back from ours as the source's service returns it."""
    for app_name, user_id, session_id in keys:
        theirs = await source.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
        mine = await ours.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
        assert theirs is not None and mine is not None, session_id
        assert mine.state == theirs.state, session_id
        assert mine.last_update_time == theirs.last_update_time, session_id
        assert len(mine.events) == len(theirs.events), session_id
        for mine_event, their_event in zip(mine.events, theirs.events, strict=True):
            assert mine_event.model_dump() == their_event.model_dump(), their_event.id
        user_state = await source.get_user_state(app_name=app_name, user_id=user_id)
        assert await ours.get_user_state(app_name=app_name, user_id=user_id) == user_state
    for user_id in {key[1] for key in keys}:
        listed = await ours.list_sessions(app_name=APP, user_id=user_id)
        expected = await source.list_sessions(app_name=APP, user_id=user_id)
        assert sorted(s.id for s in listed.sessions) == sorted(s.id for s in expected.sessions)


def _expected(written: dict[Key, int]) -> ImportCounts:
    return ImportCounts(
        sessions=len(written), events=sum(written.values()), app_states=1, user_states=2
    )


@pytest.mark.parametrize("kind", ["adk-database", "sqlspec"])
async def test_import_round_trips_and_reruns_change_nothing(
    kind: SourceKind, database_dsn: str, store: AsyncpgADKStore, service: AsyncpgSessionService
) -> None:
    """All sessions, events and state arrive equal to the source's; a rerun writes nothing."""
    opener = adk_source if kind == "adk-database" else sqlspec_source
    async with opener(database_dsn) as source:
        written = await _populate(source.service)
        seen: list[tuple[int, int]] = []
        counts = await import_sessions(
            source.pool, store.sessions, kind=kind,
            batch_size=2, progress=lambda done, total: seen.append((done, total)),
        )  # fmt: skip
        assert counts == _expected(written)
        assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
        await _assert_same(source.service, service, list(written))
        again = await import_sessions(source.pool, store.sessions, kind=kind)
        assert again == ImportCounts()
        await _assert_same(source.service, service, list(written))


class _Killed(Exception):
    pass


async def test_killed_import_resumes_with_exact_counts(
    database_dsn: str, store: AsyncpgADKStore, service: AsyncpgSessionService
) -> None:
    """Stopped after the first batch, the rerun writes exactly what was left."""
    async with adk_source(database_dsn) as source:
        written = await _populate(source.service, big=False)

        def kill_after_first_batch(done: int, total: int) -> None:
            if done > 0:
                raise _Killed

        with pytest.raises(_Killed):
            await import_sessions(
                source.pool, store.sessions, kind="adk-database", batch_size=2,
                progress=kill_after_first_batch,
            )  # fmt: skip
        first_two = sorted(written)[:2]
        pool = await store.sessions.get_pool()
        assert await pool.fetchval("SELECT count(*) FROM adk_sessions") == 2
        assert await pool.fetchval("SELECT count(*) FROM adk_events") == sum(
            written[key] for key in first_two
        )
        rest = await import_sessions(source.pool, store.sessions, kind="adk-database", batch_size=2)
        remaining = {key: n for key, n in written.items() if key not in first_two}
        assert rest == ImportCounts(sessions=3, events=sum(remaining.values()))
        await _assert_same(source.service, service, list(written))
        assert (
            await import_sessions(source.pool, store.sessions, kind="adk-database")
            == ImportCounts()
        )


async def test_imported_session_is_live(
    database_dsn: str, store: AsyncpgADKStore, service: AsyncpgSessionService
) -> None:
    """Appending to an imported session works (revision from 0); a rerun keeps the append."""
    async with sqlspec_source(database_dsn) as source:
        written = await _populate(source.service, big=False)
        await import_sessions(source.pool, store.sessions, kind="sqlspec")
        session = await service.get_session(app_name=APP, user_id="u1", session_id="s1")
        assert session is not None and session._storage_update_marker == "0"
        delta = {"after": 1, "app:theme": "light"}
        await service.append_event(
            session, Event(author="user", actions=EventActions(state_delta=delta))
        )
        reloaded = await service.get_session(app_name=APP, user_id="u1", session_id="s1")
        assert reloaded is not None and reloaded._storage_update_marker == "1"
        assert len(reloaded.events) == written[(APP, "u1", "s1")] + 1
        assert reloaded.state["after"] == 1 and reloaded.state["app:theme"] == "light"
        assert reloaded.state["user:lang"] == "日本語" and reloaded.state["step"] == 2
        assert await import_sessions(source.pool, store.sessions, kind="sqlspec") == ImportCounts()
        after_rerun = await service.get_session(app_name=APP, user_id="u1", session_id="s1")
        assert after_rerun is not None and after_rerun.state == reloaded.state
        assert len(after_rerun.events) == len(reloaded.events)


async def test_sqlspec_custom_table_names(
    database_dsn: str, store: AsyncpgADKStore, service: AsyncpgSessionService
) -> None:
    """sqlspec tables renamed through its extension_config import via source_tables."""
    names = {"session_table": "chat_sessions", "events_table": "chat_events",
             "app_state_table": "chat_apps", "user_state_table": "chat_users"}  # fmt: skip
    async with sqlspec_source(database_dsn, names) as source:
        written = await _populate(source.service, big=False)
        tables = {"sessions": "chat_sessions", "events": "chat_events",
                  "app_states": "chat_apps", "user_states": "chat_users"}  # fmt: skip
        with pytest.raises(ConfigurationError, match=r"adk_session.*source_tables\['sessions'\]"):
            await import_sessions(source.pool, store.sessions, kind="sqlspec")
        counts = await import_sessions(
            source.pool, store.sessions, kind="sqlspec", source_tables=tables
        )
        assert counts == _expected(written)
        await _assert_same(source.service, service, list(written))


@pytest.mark.parametrize("kind", ["adk-database", "sqlspec"])
async def test_missing_source_tables_name_the_table_and_the_option(
    kind: SourceKind, database_dsn: str, store: AsyncpgADKStore
) -> None:
    """An empty source schema: one line naming the missing table and source_tables key."""
    async with fresh_schema(database_dsn) as options:
        pool = await asyncpg.create_pool(
            database_dsn, min_size=1, max_size=1, server_settings=options["server_settings"]
        )
        try:
            with pytest.raises(ConfigurationError) as raised:
                await import_sessions(pool, store.sessions, kind=kind)
        finally:
            await pool.close()
    message = str(raised.value)
    assert "\n" not in message and "source_tables['sessions']" in message
    assert ("sessions" if kind == "adk-database" else "adk_session") in message


async def test_event_over_the_targets_limit_is_skipped_and_counted(
    database_dsn: str, store: AsyncpgADKStore
) -> None:
    """The 1 MiB event is over a 512 KiB limit: skipped and counted, the rest imported."""
    limited = SessionStore(
        FixedPool(await store.sessions.get_pool()), limits=SessionLimits(max_event_bytes=512 * 1024)
    )
    async with adk_source(database_dsn) as source:
        written = await _populate(source.service)
        counts = await import_sessions(source.pool, limited, kind="adk-database")
    expected = _expected(written)
    assert counts == ImportCounts(
        sessions=expected.sessions,
        events=expected.events - 1,
        app_states=1,
        user_states=2,
        skipped=1,
    )
    session = await AsyncpgSessionService(limited).get_session(
        app_name=APP, user_id="u1", session_id="s1"
    )
    texts = (
        {p.text for e in session.events if e.content for p in e.content.parts or []}
        if session
        else set()
    )
    assert session is not None and BIG_TEXT not in texts and "你好 🌍" in texts


def _pwned() -> None:  # pragma: no cover - must never run
    os.environ["ADK_IMPORT_PWNED"] = "1"


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (_pwned, ())


async def test_legacy_pickled_schema(
    database_dsn: str,
    store: AsyncpgADKStore,
    service: AsyncpgSessionService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ADK's v0 schema (pickled actions) imports; a pickle naming other code is skipped."""
    from google.adk.sessions.schemas.v0 import Base as BaseV0
    from sqlalchemy.ext.asyncio import create_async_engine

    async with adk_source(database_dsn) as source:
        url = database_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(
            url, connect_args={"server_settings": {"search_path": source.schema}}
        )
        async with engine.begin() as connection:
            await connection.run_sync(BaseV0.metadata.create_all)
        await engine.dispose()
        written = await _populate(source.service, big=False)
        assert (
            await source.pool.fetchval("SELECT count(*) FROM events WHERE actions IS NOT NULL") > 0
        )
        await source.pool.execute(
            "INSERT INTO events (id, app_name, user_id, session_id, invocation_id, author, actions,"
            " timestamp) VALUES ('evil', $1, 'u2', 's5', 'i', 'x', $2, now())",
            APP, pickle.dumps(_Evil()),
        )  # fmt: skip
        counts = await import_sessions(source.pool, store.sessions, kind="adk-database")
        assert "ADK_IMPORT_PWNED" not in os.environ
        assert "skipping event evil" in caplog.text and "refusing to unpickle" in caplog.text
        assert counts == ImportCounts(**{**_expected(written).__dict__, "skipped": 1})
        await source.pool.execute("DELETE FROM events WHERE id = 'evil'")
        await _assert_same(source.service, service, list(written))
