"""What only our memory service does: ranking ties, thoughts and calls left out,
hostile queries, deletes by session and user, settings, add_memory, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from google.adk.memory.memory_entry import MemoryEntry
from google.genai import types

from fastapi_adk_store import (
    AsyncpgMemoryService,
    ConfigurationError,
    SchemaMissingError,
    open_memory_service,
)
from fastapi_adk_store.memory.records import UserKey
from fastapi_adk_store.memory.terms import indexed_text, query_terms

from ._helpers import PoolOptions
from ._memory import call_event, memory_service, session_of, text_event, texts


@pytest.fixture
async def memory(pool_options: PoolOptions) -> AsyncIterator[AsyncpgMemoryService]:
    async with memory_service(pool_options) as service:
        yield service


async def search(memory: AsyncpgMemoryService, query: str, *, user: str = "u") -> list[str]:
    return texts(await memory.search_memory(app_name="app", user_id=user, query=query))


async def test_newer_breaks_ties(memory: AsyncpgMemoryService) -> None:
    await memory.add_session_to_memory(
        session_of(
            [
                text_event("lunch was pasta", timestamp=10, event_id="old"),
                text_event("lunch was pasta", timestamp=30, event_id="new"),
                text_event("lunch was pasta", timestamp=20, event_id="mid"),
            ]
        )
    )
    found = await memory.search_memory(app_name="app", user_id="u", query="pasta")
    assert [m.id for m in found.memories] == ["new", "mid", "old"]


async def test_stop_word_matches_rank_below_content_matches(
    memory: AsyncpgMemoryService,
) -> None:
    await memory.add_session_to_memory(
        session_of(
            [
                text_event("What is it? It is what it is.", timestamp=9),
                text_event("My favorite color is blue!", timestamp=1),
            ]
        )
    )
    assert (await search(memory, "what is my favorite color"))[0] == "My favorite color is blue!"


async def test_thoughts_and_function_calls_are_not_indexed(memory: AsyncpgMemoryService) -> None:
    await memory.add_session_to_memory(
        session_of(
            [
                text_event("private reasoning zebra", thought=True),
                call_event("zebra_lookup"),
                text_event("visible answer"),
            ]
        )
    )
    assert await search(memory, "zebra") == []
    assert await search(memory, "zebra_lookup") == []
    assert await search(memory, "visible") == ["visible answer"]


HOSTILE = [
    "' OR 1=1 --",
    '"unterminated',
    "a & b | !c <-> d:*",
    "(((",
    "!!!",
    "%",
    "_",
    "%_%",
    "\\",
    "\x00",
    "nul\x00inside",
    "a\x00b",
    ":*",
    "'':*",
    "\ud800 lone surrogate",
    "x" * 100_000,
    " ".join(["word"] * 10_000),
    "🙂" * 1000,
    "select * from pg_user;",
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
async def test_any_query_text_is_safe(memory: AsyncpgMemoryService, query: str) -> None:
    await memory.add_session_to_memory(session_of([text_event("100% sure_thing, a & b")]))
    found = await memory.search_memory(app_name="app", user_id="u", query=query)
    assert len(found.memories) <= 10


async def test_like_wildcards_in_a_query_are_literal(memory: AsyncpgMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("价格是100元"), text_event("其他")]))
    assert await search(memory, "%元") == ["价格是100元"]
    assert await search(memory, "_他") == ["其他"]


async def test_stored_text_may_hold_nul_and_huge_words(memory: AsyncpgMemoryService) -> None:
    big = "y" * 5000
    event = text_event(f"nul\x00here {big} tail words")
    await memory.add_session_to_memory(session_of([event]))
    [entry] = (await memory.search_memory(app_name="app", user_id="u", query="tail")).memories
    assert entry.content == event.content


async def test_cjk_ranks_by_shared_bigrams(memory: AsyncpgMemoryService) -> None:
    await memory.add_session_to_memory(
        session_of(
            [
                text_event("私の名前は太郎です", timestamp=2),
                text_event("私の好きな色は青です", timestamp=1),
            ]
        )
    )
    assert (await search(memory, "私の好きな色は何ですか"))[0] == "私の好きな色は青です"


async def test_delete_session_memories(memory: AsyncpgMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("alpha one")], session_id="s1"))
    await memory.add_session_to_memory(session_of([text_event("alpha two")], session_id="s2"))
    deleted = await memory.delete_session_memories(app_name="app", user_id="u", session_id="s1")
    assert deleted == 1
    assert await search(memory, "alpha") == ["alpha two"]
    await memory.add_session_to_memory(session_of([text_event("alpha one")], session_id="s1"))
    assert sorted(await search(memory, "alpha")) == ["alpha one", "alpha two"]


async def test_delete_user_memories_forgets_only_that_user(memory: AsyncpgMemoryService) -> None:
    gone = text_event("user data", event_id="e1")
    for user in ("alice", "bob"):
        await memory.add_session_to_memory(session_of([gone, text_event("more data")], user=user))
    await memory.delete_memory(app_name="app", user_id="alice", memory_id="e1")
    assert await memory.delete_user_memories(app_name="app", user_id="alice") == 1
    assert await search(memory, "data", user="alice") == []
    assert sorted(await search(memory, "data", user="bob")) == ["more data", "user data"]
    # The tombstones went with the user: a later session of theirs is remembered whole.
    await memory.add_session_to_memory(session_of([gone], user="alice"))
    assert await search(memory, "data", user="alice") == ["user data"]


async def test_add_memory_entries_with_metadata(memory: AsyncpgMemoryService) -> None:
    entry = MemoryEntry(
        content=types.Content(role="user", parts=[types.Part(text="allergic to peanuts")]),
        author="user",
        timestamp="2024-05-01T10:00:00",
        custom_metadata={"source": "form"},
    )
    for _ in range(2):
        await memory.add_memory(
            app_name="app",
            user_id="u",
            memories=[entry],
            custom_metadata={"ttl": 30, "source": "call"},
        )
    [found] = (await memory.search_memory(app_name="app", user_id="u", query="peanuts")).memories
    assert found.content == entry.content and found.author == "user"
    assert found.timestamp == "2024-05-01T10:00:00"
    assert found.custom_metadata == {"ttl": 30, "source": "form"}
    assert found.id
    await memory.delete_memory(app_name="app", user_id="u", memory_id=found.id)
    await memory.add_memory(app_name="app", user_id="u", memories=[entry])
    assert await search(memory, "peanuts") == []


async def test_add_events_keeps_custom_metadata(memory: AsyncpgMemoryService) -> None:
    await memory.add_events_to_memory(
        app_name="app",
        user_id="u",
        session_id="s1",
        events=[text_event("tagged fact")],
        custom_metadata={"topic": "facts"},
    )
    [found] = (await memory.search_memory(app_name="app", user_id="u", query="tagged")).memories
    assert found.custom_metadata == {"topic": "facts"}


async def test_ids_are_stable_across_searches(memory: AsyncpgMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("stable id check")]))
    first = await memory.search_memory(app_name="app", user_id="u", query="stable")
    await memory.add_session_to_memory(session_of([text_event("another stable one")]))
    second = await memory.search_memory(app_name="app", user_id="u", query="check")
    assert first.memories[0].id == second.memories[0].id


async def test_search_limit_setting(pool_options: PoolOptions) -> None:
    async with memory_service(pool_options, memory_search_limit=3) as memory:
        await memory.add_session_to_memory(
            session_of([text_event(f"item {i}", timestamp=i) for i in range(8)])
        )
        assert await search(memory, "item") == ["item 7", "item 6", "item 5"]


async def test_english_configuration_stems(pool_options: PoolOptions) -> None:
    async with memory_service(pool_options, memory_text_search_config="english") as memory:
        await memory.add_session_to_memory(session_of([text_event("I love colors")]))
        assert await search(memory, "what color do I love") == ["I love colors"]


@pytest.mark.parametrize(
    "options",
    [
        {"memory_search_limit": 0},
        {"memory_text_search_config": "english'; DROP TABLE x; --"},
        {"memory_table": "bad name"},
        {"memory_nonsense": 1},
    ],
)
async def test_bad_options_are_refused(pool_options: PoolOptions, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        async with open_memory_service(**pool_options, **options):
            pass


async def test_without_create_tables_a_missing_schema_fails_fast(
    pool_options: PoolOptions,
) -> None:
    with pytest.raises(SchemaMissingError):
        async with open_memory_service(**pool_options, create_tables=False):
            pass


async def test_concurrent_ingestion_of_one_session(memory: AsyncpgMemoryService) -> None:
    events = [text_event(f"turn {i} words", timestamp=i) for i in range(50)]
    sessions = [session_of(events[: 10 + i]) for i in range(0, 41, 5)]
    await asyncio.gather(*(memory.add_session_to_memory(s) for s in sessions * 3))
    assert await memory.store.count(UserKey("app", "u")) == 50


async def test_indexes_exist(memory: AsyncpgMemoryService, pool_options: PoolOptions) -> None:
    connection = await asyncpg.connect(
        pool_options["dsn"], server_settings=pool_options["server_settings"]
    )
    try:
        names = {
            row["indexname"]
            for row in await connection.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            )
        }
        trgm = await connection.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    finally:
        await connection.close()
    assert {"adk_memories_by_time", "adk_memories_search_vector"} <= names
    assert ("adk_memories_search_trgm" in names) == bool(trgm)


def test_query_terms() -> None:
    terms = query_terms("What's my FAVORITE colour? 好きな色 & Python!")
    assert terms.words == ("what", "s", "my", "favorite", "colour", "python")
    assert terms.patterns == ("%好き%", "%きな%", "%な色%")
    assert terms.websearch == "what or s or my or favorite or colour or python"
    assert not query_terms("?! '\x00 ")


def test_indexed_text_spaces_scripts_and_caps_bytes() -> None:
    assert indexed_text("私はPythonを使う", 1000) == "私は Python を使う"
    assert indexed_text("a\x00b", 1000) == "a b"
    assert indexed_text("ééé", 3) == "é"
