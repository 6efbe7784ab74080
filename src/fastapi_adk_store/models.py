"""Pydantic records the store returns: a session row and an event row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.adk.events.event import Event
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventRecord", "SessionRecord"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def __getitem__(self, key: str) -> Any:
        """Dict-style access, so code written against the seed's dict records keeps working."""
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)


class SessionRecord(_Record):
    """One row of the sessions table, with the app and user state that apply to it."""

    id: str
    app_name: str
    user_id: str
    state: dict[str, Any] = Field(default_factory=dict)
    create_time: datetime
    update_time: datetime
    last_update_time: float = Field(description="update_time as exact epoch seconds")
    revision: int = 0
    owner_id: str | None = None
    app_state: dict[str, Any] = Field(default_factory=dict)
    user_state: dict[str, Any] = Field(default_factory=dict)

    def merged_state(self) -> dict[str, Any]:
        """Session state plus `app:`- and `user:`-prefixed shared state, as ADK returns it."""
        merged = dict(self.state)
        merged.update({f"app:{key}": value for key, value in self.app_state.items()})
        merged.update({f"user:{key}": value for key, value in self.user_state.items()})
        return merged


class EventRecord(_Record):
    """One row of the events table; `event_data` is the whole ADK event as JSON."""

    id: str
    app_name: str
    user_id: str
    session_id: str
    invocation_id: str = ""
    author: str = ""
    timestamp: datetime
    event_data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        """Columns first, then the event's own fields (`record["content"]`)."""
        if key in type(self).model_fields:
            return getattr(self, key)
        if key in self.event_data:
            return self.event_data[key]
        if key in Event.model_fields:
            return None
        raise KeyError(key)

    def to_event(self) -> Event:
        """The ADK event this row stores."""
        return Event.model_validate(self.event_data)
