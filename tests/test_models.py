"""construct_trusted builds the same objects as pydantic, for the models the store builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.adk.events.event import Event
from google.adk.sessions.session import Session
from pydantic import BaseModel, PrivateAttr

from fastapi_adk_store import SessionRecord
from fastapi_adk_store.sessions.records import EventRecord, construct_trusted

NOW = datetime(2026, 11, 27, 3, 0, 0, 123456, tzinfo=UTC)

SESSION_FIELDS: dict[str, Any] = {
    "id": "s1",
    "app_name": "app",
    "user_id": "user",
    "state": {"k": [1, 2.5], "app:a": "x", "user:u": None},
    "events": [Event(author="user", invocation_id="i1")],
    "last_update_time": 1764212400.123456,
}
RECORD_FIELDS: dict[str, Any] = {
    "id": "s1",
    "app_name": "app",
    "user_id": "user",
    "state": {"k": 1},
    "create_time": NOW,
    "update_time": NOW,
    "last_update_time": NOW.timestamp(),
    "revision": 7,
    "owner_id": "tenant-1",
    "app_state": {"a": 1},
    "user_state": {},
}
EVENT_RECORD_FIELDS: dict[str, Any] = {
    "id": "e1",
    "app_name": "app",
    "user_id": "user",
    "session_id": "s1",
    "invocation_id": "i1",
    "author": "user",
    "timestamp": NOW,
    "event_data": {"id": "e1", "author": "user"},
}


@pytest.mark.parametrize(
    ("model", "fields"),
    [(Session, SESSION_FIELDS), (SessionRecord, RECORD_FIELDS), (EventRecord, EVENT_RECORD_FIELDS)],
    ids=["Session", "SessionRecord", "EventRecord"],
)
def test_same_object_as_validation(model: type[BaseModel], fields: dict[str, Any]) -> None:
    """Equal to the validated model: fields, fields set, dumps, copies."""
    built = construct_trusted(model, dict(fields))
    validated = model.model_validate(fields)
    assert type(built) is model
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set == set(fields)
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_copy(deep=True) == validated


def test_session_private_marker_is_set_and_others_default() -> None:
    """The private storage marker is what the service reads back; it is per instance."""
    first = construct_trusted(Session, dict(SESSION_FIELDS), _storage_update_marker="3")
    second = construct_trusted(Session, dict(SESSION_FIELDS))
    assert first._storage_update_marker == "3"
    assert second._storage_update_marker is None
    second._storage_update_marker = "9"
    assert first._storage_update_marker == "3"


def test_missing_field_falls_back_to_model_construct_defaults() -> None:
    """Fields left out get their defaults, as with model_construct."""
    fields = {key: value for key, value in SESSION_FIELDS.items() if key != "events"}
    built = construct_trusted(Session, fields, _storage_update_marker="1")
    assert built.events == []
    assert built.model_fields_set == set(fields)
    assert built._storage_update_marker == "1"


class _WithMutablePrivate(BaseModel):
    name: str
    _seen: list[str] = PrivateAttr(default_factory=list)


def test_mutable_private_defaults_are_not_shared() -> None:
    """A private default that is a list is a new list per instance."""
    first = construct_trusted(_WithMutablePrivate, {"name": "a"})
    second = construct_trusted(_WithMutablePrivate, {"name": "b"})
    first._seen.append("x")
    assert second._seen == []
