"""What the memory store takes and returns: plain values and JSON texts, no ADK types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from ..defaults import MEMORY_MAX_TEXT_BYTES, MEMORY_SEARCH_LIMIT, MEMORY_TEXT_SEARCH_CONFIG
from ..errors import ConfigurationError

__all__ = [
    "ENTRY_SESSION_ID",
    "Embedder",
    "MemoryKind",
    "MemoryOptions",
    "MemoryRecord",
    "NewMemory",
    "SearchMode",
    "UserKey",
]

ENTRY_SESSION_ID = ""
"""The session id of memories written directly (`add_memory`), not from a session."""


SearchMode = Literal["hybrid", "vector"]
"""How a service with an embedder searches: full-text and vector lists fused by
reciprocal rank ("hybrid"), or by vector distance alone ("vector")."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors for semantic memory search; you implement it.

    Any object with these two members will do (a model in the process, or a client of an
    embedding API). The memory service calls `embed` with the texts of new or changed
    memories when they are added and with the query when it searches.
    """

    dimensions: int
    """The length of every vector `embed` returns (the embedding column's size)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of `dimensions` floats per text, in the same order."""
        ...


class MemoryKind:
    """Where a memory came from."""

    EVENT = "event"
    ENTRY = "entry"


class UserKey(NamedTuple):
    """The scope of every memory: nothing crosses apps or users."""

    app_name: str
    user_id: str


class NewMemory(NamedTuple):
    """One memory to write: its id, JSON texts and the text to index."""

    memory_id: str
    author: str | None
    event_time: float
    timestamp_text: str | None
    content_json: str
    metadata_json: str
    text: str


class MemoryRecord(NamedTuple):
    """One search result, with how it matched."""

    session_id: str
    memory_id: str
    kind: str
    author: str | None
    event_time: float
    timestamp_text: str | None
    content_json: str
    metadata_json: str
    matched: int
    rank: float


class MemoryOptions(NamedTuple):
    """The memory store's settings."""

    search_limit: int = MEMORY_SEARCH_LIMIT
    text_search_config: str = MEMORY_TEXT_SEARCH_CONFIG
    max_text_bytes: int = MEMORY_MAX_TEXT_BYTES
    embedding_dimensions: int | None = None
    """The embedder's dimensions: semantic search's column; None without an embedder."""

    def checked(self) -> MemoryOptions:
        """These options, or ConfigurationError naming the bad one."""
        if not isinstance(self.search_limit, int) or self.search_limit < 1:
            raise ConfigurationError(
                f"memory_search_limit must be a positive integer, got {self.search_limit!r}"
            )
        if not isinstance(self.max_text_bytes, int) or self.max_text_bytes < 1:
            raise ConfigurationError(
                f"memory_max_text_bytes must be a positive integer, got {self.max_text_bytes!r}"
            )
        dimensions = self.embedding_dimensions
        if dimensions is not None and (
            not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
        ):
            raise ConfigurationError(
                f"the embedder's dimensions must be a positive integer, got {dimensions!r}"
            )
        return self
