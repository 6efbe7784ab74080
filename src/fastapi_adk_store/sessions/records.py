"""What the session store takes and returns: keys, positions, deltas and pydantic records.

Nothing here knows ADK's objects; the service turns records into ADK sessions and events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticSerializationError

from ..db.json import dumps, for_jsonb, loads, nests_deeper, unstorable
from ..defaults import (
    EARLIEST_TIMESTAMP,
    JSON_DEPTH_CEILING,
    MAX_EVENT_BYTES,
    MAX_JSON_DEPTH,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
)
from ..errors import ConfigurationError, EventTooLargeError, InvalidValueError

__all__ = [
    "NO_DELTAS",
    "EventCursor",
    "EventLike",
    "EventRecord",
    "NewEvent",
    "OnSessionDelete",
    "Page",
    "SessionCursor",
    "SessionKey",
    "SessionLimits",
    "SessionRecord",
    "StateDeltas",
    "construct_trusted",
    "prefixed_shared_state",
    "trusted_factory",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

_set_attribute = object.__setattr__  # BaseModel.__setattr__ would validate and track
_IMMUTABLE = (type(None), bool, int, float, str, bytes)


def construct_trusted(cls: type[ModelT], fields: dict[str, Any], **private: Any) -> ModelT:
    """`cls.model_construct(**fields)` for values this package built itself, minus its cost.

    `model_construct` walks every field in Python (aliases, defaults); for values that
    name every field that loop is a third of listing 100 sessions. Given exactly the
    model's fields, this sets what `model_construct` would set, else calls it. `private`
    sets private attributes (the rest keep defaults). No validation either way.
    """
    field_names = _shape(cls)[0]
    if not field_names or fields.keys() != field_names:
        return _constructed(cls, fields, private)
    make: Callable[[dict[str, Any], dict[str, Any]], ModelT] = trusted_factory(cls)
    return make(fields, private)


def _constructed(cls: type[ModelT], fields: dict[str, Any], private: dict[str, Any]) -> ModelT:
    instance = cls.model_construct(**fields)
    for name, value in private.items():
        setattr(instance, name, value)
    return instance


@cache
def trusted_factory(cls: type[ModelT]) -> Callable[[dict[str, Any], dict[str, Any]], ModelT]:
    """`construct_trusted` for one model, its shape looked up once (for a loop over rows):
    `make(fields, private)`, `fields` naming exactly the model's fields (unchecked)."""
    field_names, private_defaults = _shape(cls)
    if not field_names:
        return partial(_constructed, cls)
    new = cls.__new__

    def make(fields: dict[str, Any], private: dict[str, Any]) -> ModelT:
        instance = new(cls)
        _set_attribute(instance, "__dict__", fields)
        _set_attribute(instance, "__pydantic_fields_set__", set(field_names))
        _set_attribute(instance, "__pydantic_extra__", None)
        values = None if private_defaults is None else {**private_defaults, **private}
        _set_attribute(instance, "__pydantic_private__", values)
        return instance

    return make


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
        return {**self.state, **prefixed_shared_state(self.app_state, self.user_state)}


def prefixed_shared_state(
    app_state: Mapping[str, Any], user_state: Mapping[str, Any]
) -> dict[str, Any]:
    """The app and user state, keys prefixed (`app:`, `user:`) as ADK merges them into a
    session's state."""
    prefixed = {f"app:{key}": value for key, value in app_state.items()}
    prefixed.update({f"user:{key}": value for key, value in user_state.items()})
    return prefixed


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
        """Columns first, then the event's own fields (`record["content"]`; None if unset)."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return self.event_data.get(key)


@dataclass(frozen=True)
class SessionLimits:
    """What the store accepts, so that what it stores can always be read back.

    The defaults (`defaults.py`) are the same through every entry point.

    Raises:
        ConfigurationError: a limit out of its range.
    """

    max_event_bytes: int = MAX_EVENT_BYTES
    max_json_depth: int = MAX_JSON_DEPTH
    min_timestamp: float = MIN_TIMESTAMP
    max_timestamp: float = MAX_TIMESTAMP

    def __post_init__(self) -> None:
        if self.max_event_bytes <= 0:
            raise ConfigurationError(
                f"max_event_bytes must be positive, got {self.max_event_bytes}"
            )
        if not 1 <= self.max_json_depth <= JSON_DEPTH_CEILING:
            raise ConfigurationError(
                f"max_json_depth must be 1 to {JSON_DEPTH_CEILING}, got {self.max_json_depth}"
            )
        if not EARLIEST_TIMESTAMP <= self.min_timestamp < self.max_timestamp <= MAX_TIMESTAMP:
            raise ConfigurationError(
                f"need {EARLIEST_TIMESTAMP} <= min_timestamp < max_timestamp <= "
                f"{MAX_TIMESTAMP}, got {self.min_timestamp} and {self.max_timestamp}"
            )

    def check_timestamp(self, value: float, what: str) -> None:
        """Raise `InvalidValueError` unless `value` is a timestamp within the range."""
        if not self.min_timestamp <= value <= self.max_timestamp:  # NaN fails too
            raise InvalidValueError(
                f"{what} {value!r} is outside {self.min_timestamp}..{self.max_timestamp} "
                "epoch seconds (ADK_STORE_MIN_TIMESTAMP, ADK_STORE_MAX_TIMESTAMP)"
            )

    def json(self, value: Mapping[str, Any], what: str, key_prefix: str = "") -> str:
        """A state (or a part of one) as JSONB text; `what` names it in errors."""
        depth = self.max_json_depth
        return dumps(dict(value), what=what, max_depth=depth, key_prefix=key_prefix)

    def state_json(self, state: StateDeltas, what: str, *, session_key: str) -> dict[str, Any]:
        """A split state's parts as statement arguments: the session's under
        `session_key` ("{}" when empty), `app_delta` and `user_delta` (None when empty)."""
        return {
            session_key: self.json(state.session, what) if state.session else "{}",
            "app_delta": self.json(state.app, what, "app:") if state.app else None,
            "user_delta": self.json(state.user, what, "user:") if state.user else None,
        }

    def event_json(self, event: NewEvent) -> str:
        """The event's JSONB text, once its size, timestamp and nesting are checked.

        Raises:
            EventTooLargeError: over `max_event_bytes`.
            InvalidValueError: a timestamp out of range, or nesting too deep.
        """
        text = for_jsonb(event.json)
        size = len(text.encode())
        if size > self.max_event_bytes:
            raise EventTooLargeError(size, self.max_event_bytes)
        self.check_timestamp(event.timestamp, "event.timestamp")
        if nests_deeper(text, self.max_json_depth):
            raise InvalidValueError(self._too_deep(event.json))
        return text

    def _too_deep(self, event_json: str) -> str:
        try:  # the path, from the parsed event, when the JSON reader can go that deep
            where = unstorable(loads(event_json), what="event", max_depth=self.max_json_depth)
        except ValueError:
            where = None
        return where or (
            f"event: nested deeper than {self.max_json_depth} levels (ADK_STORE_MAX_JSON_DEPTH)"
        )


class OnSessionDelete(Protocol):
    """What runs after a session is deleted (e.g. deleting its artifacts): called with
    the session's key, also when the session was already gone, so a retry completes."""

    def __call__(self, *, app_name: str, user_id: str, session_id: str) -> Awaitable[object]: ...


class SessionKey(NamedTuple):
    """Identity of a session: the same id under another user is another session."""

    app_name: str
    user_id: str
    session_id: str


@dataclass(frozen=True)
class SessionCursor:
    """Keyset position in a session listing: the last row of the previous page."""

    update_time: float
    user_id: str
    session_id: str

    @classmethod
    def after(cls, record: SessionRecord) -> SessionCursor:
        """The cursor for the page that follows `record`."""
        return cls(record.last_update_time, record.user_id, record.id)


@dataclass(frozen=True)
class EventCursor:
    """Keyset position in a session's events: the last event of the previous page."""

    timestamp: float
    event_id: str


@dataclass(frozen=True)
class StateDeltas:
    """A state (or state delta) split by scope, `app:`/`user:` prefixes removed."""

    session: Mapping[str, Any]
    app: Mapping[str, Any]
    user: Mapping[str, Any]


NO_DELTAS = StateDeltas(session={}, app={}, user={})


class EventLike(Protocol):
    """An ADK `Event`, as far as the store needs to know one."""

    id: str
    invocation_id: str
    author: str
    timestamp: float

    def model_dump_json(self, *, exclude_none: bool = ...) -> str: ...


@dataclass(frozen=True)
class NewEvent:
    """An event to store: its indexed columns and its whole JSON text."""

    id: str
    invocation_id: str
    author: str
    timestamp: float
    """Epoch seconds."""
    json: str
    """The whole event as JSON text."""

    @classmethod
    def from_event(cls, event: EventLike, limits: SessionLimits) -> NewEvent:
        """The columns and JSON text of an ADK event (bytes base64, as pydantic writes them).

        Raises:
            InvalidValueError: the event holds what JSON text cannot (a lone surrogate,
                or nesting too deep for the serializer); the message names the field.
        """
        try:
            text = event.model_dump_json(exclude_none=True)
        except PydanticSerializationError as error:
            where = unstorable(event, what="event", max_depth=limits.max_json_depth)
            raise InvalidValueError(where or f"event: {error}") from error
        return cls(event.id, event.invocation_id, event.author, event.timestamp, text)


CursorT = TypeVar("CursorT")
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Page(Generic[ItemT, CursorT]):
    """One page of a keyset listing, and where the next one starts (None: the last page)."""

    items: list[ItemT]
    next: CursorT | None

    @classmethod
    def of(
        cls, items: Sequence[ItemT], limit: int, cursor_of: Callable[[ItemT], CursorT]
    ) -> Page[ItemT, CursorT]:
        """The page from up to `limit + 1` items: one more than `limit` means more follow."""
        if len(items) <= limit:
            return cls(list(items), None)
        kept = list(items[:limit])
        return cls(kept, cursor_of(kept[-1]))
