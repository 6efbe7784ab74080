"""Semantic memory search (pgvector): an embedder the user brings, vector and hybrid
(reciprocal rank fusion) ranking, the embedding column's migration, and the clear
error on a server without pgvector. Runs where pgvector is (the test server or the
embedded one); skipped, with the reason, where neither has it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from google.adk.memory.memory_entry import MemoryEntry
from google.genai import types

from fastapi_adk_store import (
    ADKStore,
    AsyncpgMemoryService,
    ConfigurationError,
    Embedder,
    open_memory_service,
)
from fastapi_adk_store.memory.store import RRF_K
from fastapi_adk_store.web.deps import MEMORY_SERVICE_STATE_KEY

from ._helpers import PoolOptions, make_app, make_settings
from ._memory import HashingEmbedder, TableEmbedder, memory_service, session_of, text_event, texts


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
async def semantic(
    vector_pool_options: PoolOptions, embedder: HashingEmbedder
) -> AsyncIterator[AsyncpgMemoryService]:
    async with memory_service(vector_pool_options, embedder=embedder) as service:
        yield service


async def search(service: AsyncpgMemoryService, query: str) -> list[str]:
    return texts(await service.search_memory(app_name="app", user_id="u", query=query))


def test_the_toy_embedders_are_embedders(embedder: HashingEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert isinstance(TableEmbedder({}, [1.0]), Embedder)


async def test_semantic_search_finds_a_memory_sharing_no_word(
    semantic: AsyncpgMemoryService, vector_pool_options: PoolOptions
) -> None:
    await semantic.add_session_to_memory(
        session_of(
            [
                text_event("I parked the sedan downtown", timestamp=1),
                text_event("the weather was sunny all week", timestamp=2),
            ]
        )
    )
    async with memory_service(vector_pool_options) as text_only:
        assert await search(text_only, "automobile location?") == []
    assert (await search(semantic, "automobile location?"))[0] == "I parked the sedan downtown"


async def test_hybrid_ranking_is_reciprocal_rank_fusion(vector_pool_options: PoolOptions) -> None:
    # Full-text list: A (both words), C (one). Vector list: B, C, D, E, A.
    # RRF (k=60): C 2/62 > A 1/61 + 1/65 > B 1/61 > D 1/63 > E 1/64.
    table = {
        "alpha beta": [1.0, 0.0, 0.0],
        "B": [1.0, 0.0, 0.0],
        "C alpha": [0.9, 0.43589, 0.0],
        "D": [0.8, 0.6, 0.0],
        "E": [0.7, 0.71414, 0.0],
        "A alpha beta": [0.0, 0.0, 1.0],
    }
    embedder = TableEmbedder(table, default=[0.0, 1.0, 0.0])
    events = [text_event(text, timestamp=i) for i, text in enumerate(table) if text != "alpha beta"]
    async with memory_service(vector_pool_options, embedder=embedder) as hybrid:
        await hybrid.add_session_to_memory(session_of(events))
        assert await search(hybrid, "alpha beta") == ["C alpha", "A alpha beta", "B", "D", "E"]
    async with memory_service(
        vector_pool_options, embedder=embedder, search_mode="vector"
    ) as vector:
        assert await search(vector, "alpha beta") == ["B", "C alpha", "D", "E", "A alpha beta"]
    async with memory_service(vector_pool_options) as text_only:
        assert await search(text_only, "alpha beta") == ["A alpha beta", "C alpha"]
    assert 2 / (RRF_K + 2) > 1 / (RRF_K + 1) + 1 / (RRF_K + 5)


async def test_vector_mode_ranks_by_distance_alone(vector_pool_options: PoolOptions) -> None:
    embedder = HashingEmbedder()
    async with memory_service(
        vector_pool_options, embedder=embedder, search_mode="vector"
    ) as service:
        await service.add_session_to_memory(
            session_of(
                [
                    text_event("my puppy chews shoes", timestamp=1),
                    text_event("the physician appointment is on monday", timestamp=2),
                ]
            )
        )
        assert await search(service, "doctor visit") == [
            "the physician appointment is on monday",
            "my puppy chews shoes",
        ]


async def test_adding_a_session_again_embeds_only_what_changed(
    semantic: AsyncpgMemoryService, embedder: HashingEmbedder
) -> None:
    first = [text_event("red car", event_id="e1"), text_event("blue sky", event_id="e2")]
    await semantic.add_session_to_memory(session_of(first))
    await semantic.add_session_to_memory(session_of(first))
    changed = [text_event("red car", event_id="e1"), text_event("grey sky", event_id="e2")]
    await semantic.add_session_to_memory(session_of(changed))
    assert embedder.calls == [["red car", "blue sky"], ["grey sky"]]
    assert (await search(semantic, "scarlet automobile"))[0] == "red car"


async def test_deleted_memories_are_not_embedded_again(
    semantic: AsyncpgMemoryService, embedder: HashingEmbedder
) -> None:
    events = [text_event("crimson sedan", event_id="e1")]
    await semantic.add_session_to_memory(session_of(events))
    await semantic.delete_memory(app_name="app", user_id="u", memory_id="e1")
    await semantic.add_session_to_memory(session_of(events))
    assert embedder.calls == [["crimson sedan"]]
    assert await search(semantic, "red car") == []


async def test_add_memory_entries_are_searched_semantically(
    semantic: AsyncpgMemoryService,
) -> None:
    entry = MemoryEntry(content=types.Content(parts=[types.Part(text="my canine is named Rex")]))
    await semantic.add_memory(app_name="app", user_id="u", memories=[entry])
    assert await search(semantic, "puppy") == ["my canine is named Rex"]
    other = await semantic.search_memory(app_name="app", user_id="other", query="puppy")
    assert other.memories == []


async def test_the_embedding_column_has_an_ann_index(
    semantic: AsyncpgMemoryService, vector_pool_options: PoolOptions
) -> None:
    connection = await asyncpg.connect(
        vector_pool_options["dsn"], server_settings=vector_pool_options["server_settings"]
    )
    try:
        method = await connection.fetchval(
            "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam "
            "WHERE i.indrelid = 'adk_memories'::regclass AND am.amname IN ('hnsw', 'ivfflat')"
        )
    finally:
        await connection.close()
    assert method in {"hnsw", "ivfflat"}


async def test_another_embedder_size_is_a_clear_error(
    semantic: AsyncpgMemoryService, vector_pool_options: PoolOptions
) -> None:
    with pytest.raises(ConfigurationError, match="64 dimensions; this embedder makes 8"):
        async with memory_service(vector_pool_options, embedder=HashingEmbedder(8)):
            pass


async def test_a_wrong_vector_from_the_embedder_is_a_clear_error(
    vector_pool_options: PoolOptions,
) -> None:
    embedder = TableEmbedder({"bad": [1.0, float("nan")]}, default=[1.0, 0.0])
    async with memory_service(vector_pool_options, embedder=embedder) as service:
        with pytest.raises(ConfigurationError, match="expected 2 finite numbers"):
            await service.add_session_to_memory(session_of([text_event("bad")]))


async def test_the_plugin_passes_its_embedder_to_the_memory_service(
    vector_pool_options: PoolOptions, embedder: HashingEmbedder
) -> None:
    settings = make_settings(vector_pool_options, memory_enabled=True)
    app = make_app(ADKStore(settings, memory_embedder=embedder))
    async with LifespanManager(app):
        service: AsyncpgMemoryService = getattr(app.state, MEMORY_SERVICE_STATE_KEY)
        assert service.embedder is embedder
        await service.add_session_to_memory(session_of([text_event("the sedan is red")]))
        assert await search(service, "automobile") == ["the sedan is red"]


async def test_an_embedder_without_pgvector_is_a_clear_error(
    database_dsn: str, pool_options: PoolOptions
) -> None:
    connection = await asyncpg.connect(database_dsn)
    try:
        available = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')"
        )
    finally:
        await connection.close()
    if available:
        pytest.skip("the test server has pgvector: the missing-extension path needs one without")
    with pytest.raises(ConfigurationError, match="needs the pgvector extension"):
        async with open_memory_service(**pool_options, embedder=HashingEmbedder()):
            pass
    async with open_memory_service(**pool_options) as service:
        await service.add_session_to_memory(session_of([text_event("still works")]))
        assert await search(service, "works") == ["still works"]


async def test_a_role_that_may_not_create_pgvector_gets_a_clear_error(vector_dsn: str) -> None:
    name = f"novector_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(vector_dsn)
    await admin.execute(f"CREATE ROLE {name} LOGIN")
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        setup = await asyncpg.connect(vector_dsn, database=name)
        try:
            await setup.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
        finally:
            await setup.close()
        options: dict[str, Any] = {
            "database": name,
            "user": name,
            "server_settings": {"search_path": name},
        }
        with pytest.raises(ConfigurationError, match="this role may not create it"):
            async with open_memory_service(vector_dsn, embedder=HashingEmbedder(), **options):
                pass
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {name}")
        await admin.close()
