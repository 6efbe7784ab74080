"""JSON encoding of state and events, as ADK's persistent services encode them."""

from __future__ import annotations

from typing import Any

from google.adk.events.event import Event
from google.adk.sessions import _session_util
from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError, from_json, to_json

__all__ = ["dumps_event", "dumps_state", "loads", "loads_events"]

_EVENTS = TypeAdapter(list[Event])


def dumps_state(state: dict[str, Any]) -> str:
    """Encode a state dict; values JSON cannot hold are coerced the way ADK coerces them."""
    try:
        return to_json(state).decode()
    except PydanticSerializationError:
        return to_json(_session_util.make_json_safe_state(state)).decode()


def dumps_event(event: Event) -> str:
    """Encode a whole ADK event (bytes as base64, as pydantic serialises them)."""
    return event.model_dump_json(exclude_none=True)


def loads(text: str | bytes) -> Any:
    """Decode JSON text (floats bit-exact, big integers kept)."""
    return from_json(text)


def loads_events(text: str | bytes) -> list[Event]:
    """Decode a JSON array of events in one pass, cheaper than event by event."""
    return _EVENTS.validate_json(text)
