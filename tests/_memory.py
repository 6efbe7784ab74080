"""Builders shared by the memory tests: events, sessions, and the texts of results."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from google.adk.events.event import Event
from google.adk.memory.base_memory_service import SearchMemoryResponse
from google.adk.sessions.session import Session
from google.genai import types

from fastapi_adk_store import open_memory_service
from fastapi_adk_store.memory.service import AsyncpgMemoryService

from ._helpers import PoolOptions


def text_event(
    text: str,
    *,
    author: str = "user",
    timestamp: float = 1_700_000_000.0,
    event_id: str | None = None,
    thought: bool = False,
) -> Event:
    """An event with one text part."""
    part = types.Part(text=text, thought=True) if thought else types.Part(text=text)
    values: dict[str, Any] = {"author": author, "timestamp": timestamp}
    if event_id is not None:
        values["id"] = event_id
    return Event(content=types.Content(role="user", parts=[part]), **values)


def call_event(name: str, *, timestamp: float = 1_700_000_000.0) -> Event:
    """An event whose only part is a function call named `name`."""
    call = types.Part(function_call=types.FunctionCall(name=name, args={"q": name}))
    return Event(
        author="model", timestamp=timestamp, content=types.Content(role="model", parts=[call])
    )


def session_of(
    events: Sequence[Event], *, app: str = "app", user: str = "u", session_id: str = "s1"
) -> Session:
    """A session holding these events."""
    return Session(app_name=app, user_id=user, id=session_id, events=list(events))


def texts(response: SearchMemoryResponse) -> list[str]:
    """The first text part of each result, in order."""
    return [(m.content.parts or [types.Part(text="")])[0].text or "" for m in response.memories]


@asynccontextmanager
async def memory_service(
    pool_options: PoolOptions, **options: Any
) -> AsyncIterator[AsyncpgMemoryService]:
    """Our memory service in the test's schema, through `open_memory_service`."""
    async with open_memory_service(**pool_options, **options) as service:
        yield service


# --- semantic search: deterministic local embedders (no network, no model) ----------------

_WORD = re.compile(r"\w+")

SYNONYMS: dict[str, str] = {
    "automobile": "car",
    "sedan": "car",
    "vehicle": "car",
    "crimson": "red",
    "scarlet": "red",
    "canine": "dog",
    "puppy": "dog",
    "physician": "doctor",
    "appointment": "visit",
}
"""Words the toy embedder reads as the same concept: a stand-in for a model's semantics."""


class HashingEmbedder:
    """A bag of concepts hashed into `dimensions` (L2-normalised): texts that share
    concepts (synonyms included) are near, with no word in common. Counts its calls."""

    def __init__(self, dimensions: int = 64) -> None:
        self.dimensions = dimensions
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> list[float]:
        values = [0.0] * self.dimensions
        for word in _WORD.findall(text.lower()):
            concept = SYNONYMS.get(word, word)
            digest = hashlib.blake2b(concept.encode(), digest_size=4).digest()
            values[int.from_bytes(digest, "big") % self.dimensions] += 1.0
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values] if any(values) else [1.0] + [0.0] * (self.dimensions - 1)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(text) for text in texts]


class TableEmbedder:
    """Vectors looked up by text (exactly these ranks for a test); others get `default`."""

    def __init__(self, table: dict[str, list[float]], default: list[float]) -> None:
        self.dimensions = len(default)
        self.table = table
        self.default = default

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.table.get(text, self.default) for text in texts]
