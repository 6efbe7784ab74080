"""Source rows as ADK events, built as each source's own session service builds them.

For `importers.py`: google-adk's `DatabaseSessionService` (its v1 JSON `event_data`, and
its v0 schema's column per field with pickled `actions`) and sqlspec's asyncpg ADK store.

Pickled `actions` are loaded by a restricted unpickler: it resolves only plain data types
and the pydantic models and enums `EventActions`' fields can hold (the rule of ADK's own
loader for this schema); any other global (a callable in a `state_delta`, say) fails the
event, which the importer then skips, counts and logs.
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal, get_args

from google.adk.auth.auth_tool import AuthConfig
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.genai import types
from pydantic import BaseModel

from ..db.json import loads

__all__ = ["aware", "decoded", "epoch", "json_event", "legacy_event", "restricted_loads"]


def decoded(value: Any) -> Any:
    """A JSON column's value: text (JSONB read as text) decoded; None stays None."""
    return loads(value) if isinstance(value, str) else value


def aware(value: datetime) -> datetime:
    """ADK writes naive UTC datetimes (`timestamp without time zone`)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def epoch(value: datetime) -> float:
    """Epoch seconds, as ADK's and sqlspec's services compute `last_update_time`."""
    return aware(value).timestamp()


def json_event(row: Mapping[str, Any], kind: Literal["adk-database", "sqlspec"]) -> Event:
    """ADK v1's `StorageEvent.to_event`, or sqlspec's `record_to_event`."""
    data = dict(decoded(row["event_data"]) or {})
    if kind == "sqlspec":
        if data.get("actions") is None:
            data.pop("actions", None)
        data.setdefault("id", row["id"])
        data.setdefault("invocation_id", row["invocation_id"])
        data.setdefault("timestamp", epoch(row["timestamp"]))
        return Event.model_validate(data)
    timestamp = data.get("timestamp")
    if timestamp is None:
        timestamp = epoch(row["timestamp"])
    return Event.model_validate(
        {**data, "id": row["id"], "invocation_id": row["invocation_id"], "timestamp": timestamp}
    )


def _model(row: Mapping[str, Any], column: str, model: type[BaseModel]) -> Any:
    """ADK v0's `decode_model`: a JSON object as `model`; anything else None."""
    data = decoded(row.get(column))
    return model.model_validate(data) if isinstance(data, dict) else None


def legacy_event(row: Mapping[str, Any]) -> Event:
    """ADK v0's `StorageEvent.to_event`, its pickled actions through `restricted_loads`."""
    actions = restricted_loads(row["actions"]) if row.get("actions") is not None else None
    if actions is not None and not isinstance(actions, BaseModel):
        raise ValueError(f"pickled actions are a {type(actions).__name__}, not EventActions")
    tool_ids = row.get("long_running_tool_ids_json")
    return Event(
        id=row["id"],
        invocation_id=row["invocation_id"],
        author=row["author"],
        branch=row.get("branch"),
        actions=EventActions.model_validate(actions.model_dump()) if actions else EventActions(),
        timestamp=epoch(row["timestamp"]),
        long_running_tool_ids=set(json.loads(tool_ids)) if tool_ids else set(),
        partial=row.get("partial"),
        turn_complete=row.get("turn_complete"),
        error_code=row.get("error_code"),
        error_message=row.get("error_message"),
        interrupted=row.get("interrupted"),
        custom_metadata=decoded(row.get("custom_metadata")),
        content=_model(row, "content", types.Content),
        grounding_metadata=_model(row, "grounding_metadata", types.GroundingMetadata),
        usage_metadata=_model(row, "usage_metadata", types.GenerateContentResponseUsageMetadata),
        citation_metadata=_model(row, "citation_metadata", types.CitationMetadata),
        input_transcription=_model(row, "input_transcription", types.Transcription),
        output_transcription=_model(row, "output_transcription", types.Transcription),
    )


# --- pickles: only the data types EventActions can hold -----------------------------------

_PLAIN_GLOBALS = frozenset(
    [("builtins", name) for name in ("dict", "list", "set", "frozenset", "tuple", "str")]
    + [("builtins", name) for name in ("bytes", "bytearray", "int", "float", "bool")]
    + [("builtins", "complex"), ("collections", "OrderedDict"), ("decimal", "Decimal")]
    + [("datetime", name) for name in ("date", "datetime", "time", "timedelta", "timezone")]
    + [("uuid", "UUID")]
)


@cache
def _allowed_globals() -> frozenset[tuple[str, str]]:
    """Plain data types, and every pydantic model and enum EventActions' fields can hold.

    The same rule as ADK's own loader for this schema: resolving one of these only builds
    data (a model's `__setstate__`, an enum's constructor), never calls chosen code.
    """
    allowed, seen = set(_PLAIN_GLOBALS), set()
    stack: list[Any] = [EventActions, AuthConfig]
    while stack:
        annotation = stack.pop()
        try:
            if annotation in seen:
                continue
            seen.add(annotation)
        except TypeError:  # an unhashable annotation, e.g. a Literal of a list
            continue
        if args := get_args(annotation):
            stack.extend(args)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel | Enum):
            allowed.add((annotation.__module__, annotation.__qualname__))
            if issubclass(annotation, BaseModel):
                stack.extend(f.annotation for f in annotation.model_fields.values())
    return frozenset(allowed)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _allowed_globals():
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: not a type EventActions can hold "
            "(a callable in state_delta, or not written by ADK)"
        )


def restricted_loads(data: bytes) -> Any:
    return _RestrictedUnpickler(io.BytesIO(data)).load()
