"""`AsyncpgMemoryService`: ADK's `BaseMemoryService` over the `MemoryStore`.

The only room of `memory/` that knows ADK's objects: it turns events and `MemoryEntry`s
into `NewMemory` records (the text parts only: no thoughts, no function calls) and
search results back into `MemoryEntry`s with the original content.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.adk.memory.base_memory_service import BaseMemoryService, SearchMemoryResponse
from google.adk.memory.memory_entry import MemoryEntry
from google.genai import types
from pydantic_core import to_json
from typing_extensions import override

from .._adk import format_memory_timestamp
from ..errors import ConfigurationError
from ..telemetry import instrumented
from .records import (
    ENTRY_SESSION_ID,
    Embedder,
    MemoryKind,
    MemoryRecord,
    NewMemory,
    SearchMode,
    UserKey,
)
from .store import MemoryStore

if TYPE_CHECKING:
    from google.adk.events.event import Event
    from google.adk.sessions.session import Session

__all__ = ["UNKNOWN_SESSION_ID", "AsyncpgMemoryService", "content_text"]

UNKNOWN_SESSION_ID = "__unknown_session_id__"
"""Where `add_events_to_memory` puts events given without a session id (as ADK does)."""

_ENTRY_IDS = uuid.UUID("6f1d3c1e-2b7a-4c55-9d0e-5a1f0b9c8e21")


def content_text(content: types.Content | None) -> str:
    """The text a memory is found by: its text parts, thoughts left out."""
    if content is None or not content.parts:
        return ""
    return "\n".join(part.text for part in content.parts if part.text and not part.thought)


def _metadata_json(metadata: Mapping[str, object] | None) -> str:
    return to_json(dict(metadata or {}), fallback=str).decode()


def _event_memory(event: Event, metadata_json: str) -> NewMemory | None:
    text = content_text(event.content)
    if not text.strip() or event.content is None:
        return None
    return NewMemory(
        memory_id=event.id,
        author=event.author,
        event_time=float(event.timestamp),
        timestamp_text=None,
        content_json=event.content.model_dump_json(exclude_none=True),
        metadata_json=metadata_json,
        text=text,
    )


def _entry_memory(entry: MemoryEntry, metadata: Mapping[str, object] | None) -> NewMemory | None:
    text = content_text(entry.content)
    if not text.strip():
        return None
    content_json = entry.content.model_dump_json(exclude_none=True)
    memory_id = entry.id or str(
        uuid.uuid5(_ENTRY_IDS, f"{entry.author}\x1f{entry.timestamp}\x1f{content_json}")
    )
    return NewMemory(
        memory_id=memory_id,
        author=entry.author,
        event_time=time.time(),
        timestamp_text=entry.timestamp,
        content_json=content_json,
        metadata_json=_metadata_json({**(metadata or {}), **entry.custom_metadata}),
        text=text,
    )


def entry_from_record(record: MemoryRecord) -> MemoryEntry:
    """The `MemoryEntry` of a stored memory: original content, author, ISO timestamp."""
    loaded = json.loads(record.metadata_json)
    metadata: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    return MemoryEntry(
        id=record.memory_id,
        content=types.Content.model_validate_json(record.content_json),
        author=record.author,
        timestamp=(
            format_memory_timestamp(record.event_time)
            if record.kind == MemoryKind.EVENT
            else record.timestamp_text
        ),
        custom_metadata=metadata,
    )


class AsyncpgMemoryService(BaseMemoryService):
    """ADK memory in PostgreSQL: ranked full-text search scoped by app and user, and
    semantic search (pgvector) when given an `embedder`.

    Re-adding a session is idempotent (by app, user, session and event id); a memory
    deleted by id stays deleted when its session is added again.

    Args:
        store: the memory store; with an embedder, one made with its dimensions
            (`MemoryOptions(embedding_dimensions=...)`, as `open_memory_service` does).
        embedder: turns texts into vectors; memories are embedded when added (only the
            new or changed ones) and queries when searched.
        search_mode: with an embedder, "hybrid" (full-text and vector results fused by
            reciprocal rank) or "vector" (nearest only).

    Raises:
        ConfigurationError: the store's dimensions differ from the embedder's, or the
            search mode is unknown.
    """

    def __init__(
        self,
        store: MemoryStore,
        *,
        embedder: Embedder | None = None,
        search_mode: SearchMode = "hybrid",
    ) -> None:
        dimensions = None if embedder is None else embedder.dimensions
        if store.embedding_dimensions != dimensions:
            raise ConfigurationError(
                f"the memory store is made for embeddings of {store.embedding_dimensions} "
                f"dimensions and the embedder gives {dimensions}: build the store with "
                "MemoryOptions(embedding_dimensions=embedder.dimensions)"
            )
        if search_mode not in ("hybrid", "vector"):
            raise ConfigurationError(
                f"memory search_mode must be 'hybrid' or 'vector', got {search_mode!r}"
            )
        self.store = store
        self.embedder = embedder
        self.search_mode: SearchMode = search_mode

    @override
    @instrumented
    async def add_session_to_memory(self, session: Session) -> None:
        await self._add_events(
            UserKey(session.app_name, session.user_id), session.id, session.events, None
        )

    @override
    @instrumented
    async def add_events_to_memory(
        self,
        *,
        app_name: str,
        user_id: str,
        events: Sequence[Event],
        session_id: str | None = None,
        custom_metadata: Mapping[str, object] | None = None,
    ) -> None:
        await self._add_events(
            UserKey(app_name, user_id), session_id or UNKNOWN_SESSION_ID, events, custom_metadata
        )

    async def _add_events(
        self,
        user: UserKey,
        session_id: str,
        events: Sequence[Event],
        custom_metadata: Mapping[str, object] | None,
    ) -> None:
        metadata_json = _metadata_json(custom_metadata)
        memories = [m for e in events if (m := _event_memory(e, metadata_json)) is not None]
        embeddings = await self._embeddings(user, session_id, memories)
        await self.store.upsert(user, session_id, MemoryKind.EVENT, memories, embeddings)

    async def _embeddings(
        self, user: UserKey, session_id: str, memories: Sequence[NewMemory]
    ) -> dict[str, list[float]] | None:
        """Vectors of the memories not yet embedded as they read now (by memory id)."""
        if self.embedder is None or not memories:
            return None
        todo = await self.store.unembedded(user, session_id, memories)
        if not todo:
            return None
        vectors = await self.embedder.embed([m.text for m in todo])
        if len(vectors) != len(todo):
            raise ConfigurationError(
                f"the embedder returned {len(vectors)} vectors for {len(todo)} texts"
            )
        return {m.memory_id: v for m, v in zip(todo, vectors, strict=True)}

    @override
    @instrumented
    async def add_memory(
        self,
        *,
        app_name: str,
        user_id: str,
        memories: Sequence[MemoryEntry],
        custom_metadata: Mapping[str, object] | None = None,
    ) -> None:
        user = UserKey(app_name, user_id)
        new = [m for e in memories if (m := _entry_memory(e, custom_metadata)) is not None]
        embeddings = await self._embeddings(user, ENTRY_SESSION_ID, new)
        await self.store.upsert(user, ENTRY_SESSION_ID, MemoryKind.ENTRY, new, embeddings)

    @override
    @instrumented
    async def search_memory(
        self, *, app_name: str, user_id: str, query: str
    ) -> SearchMemoryResponse:
        user = UserKey(app_name, user_id)
        if self.embedder is None or not query.strip():
            records = await self.store.search(user, query)
        else:
            [vector] = await self.embedder.embed([query])
            records = await self.store.search(user, query, embedding=vector, mode=self.search_mode)
        return SearchMemoryResponse(memories=[entry_from_record(r) for r in records])

    @override
    @instrumented
    async def delete_memory(
        self, *, app_name: str, user_id: str, memory_id: str | None = None
    ) -> None:
        if memory_id:
            await self.store.delete_memory(UserKey(app_name, user_id), memory_id)

    @instrumented
    async def delete_session_memories(self, *, app_name: str, user_id: str, session_id: str) -> int:
        """Delete one session's memories; the number deleted. Adding it again restores them."""
        return await self.store.delete_session(UserKey(app_name, user_id), session_id)

    @instrumented
    async def delete_user_memories(self, *, app_name: str, user_id: str) -> int:
        """Forget a user in an app (memories and tombstones); the number deleted."""
        return await self.store.delete_user(UserKey(app_name, user_id))

    @instrumented
    async def close(self) -> None:
        """Close the store's pool if it opened it."""
        await self.store.close()
