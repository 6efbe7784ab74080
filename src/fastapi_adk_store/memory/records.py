"""What the memory store takes and returns: plain values and JSON texts, no ADK types."""

from __future__ import annotations

from typing import NamedTuple

from ..defaults import MEMORY_MAX_TEXT_BYTES, MEMORY_SEARCH_LIMIT, MEMORY_TEXT_SEARCH_CONFIG
from ..errors import ConfigurationError

__all__ = [
    "ENTRY_SESSION_ID",
    "MemoryKind",
    "MemoryOptions",
    "MemoryRecord",
    "NewMemory",
    "UserKey",
]

ENTRY_SESSION_ID = ""
"""The session id of memories written directly (`add_memory`), not from a session."""


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
        return self
