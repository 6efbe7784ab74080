"""Pydantic records the store returns: a session row and an event row."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from google.adk.events.event import Event
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventRecord", "SessionRecord", "construct_trusted"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_set_attribute = object.__setattr__  # BaseModel.__setattr__ would validate and track
_IMMUTABLE = (type(None), bool, int, float, str, bytes)


def construct_trusted(cls: type[ModelT], fields: dict[str, Any], **private: Any) -> ModelT:
    """`cls.model_construct(**fields)` for values this package built itself, minus its cost.

    `model_construct` walks every field in Python (aliases, defaults); for values that
    name every field that loop is a third of listing 100 sessions. Given exactly the
    model's fields, this sets what `model_construct` would set; otherwise it falls back
    to `model_construct`. `private` sets private attributes (the rest keep defaults).
    No validation either way: callers pass values read from our own tables.
    """
    field_names, private_defaults = _shape(cls)
    if fields.keys() != field_names:
        instance = cls.model_construct(**fields)
        for name, value in private.items():
            setattr(instance, name, value)
        return instance
    instance = cls.__new__(cls)
    _set_attribute(instance, "__dict__", fields)
    _set_attribute(instance, "__pydantic_fields_set__", set(fields))
    _set_attribute(instance, "__pydantic_extra__", None)
    _set_attribute(
        instance,
        "__pydantic_private__",
        {**private_defaults, **private} if private_defaults is not None else None,
    )
    return instance


@cache
def _shape(cls: type[BaseModel]) -> tuple[frozenset[str], dict[str, Any] | None]:
    """A model's field names and its private attributes' defaults (None when it has none)."""
    if cls.__pydantic_root_model__ or cls.model_config.get("extra") == "allow":
        return frozenset(), None  # never matches: such models go through model_construct
    private = {name: attr.get_default() for name, attr in cls.__private_attributes__.items()}
    if not all(isinstance(value, _IMMUTABLE) for value in private.values()):
        return frozenset(), None  # defaults to copy per instance: model_construct does that
    return frozenset(cls.__pydantic_fields__), private or None


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
