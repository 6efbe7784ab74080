"""Errors raised by fastapi_adk_store.

Exception
├── StoreError                       anything this package raises on purpose
│   ├── SchemaMissingError           tables absent: run create_tables() / migrate
│   ├── SchemaOutdatedError          tables at another version: fastapi-adk-store migrate
│   ├── ConfigurationError(ValueError)  bad table name, pool option or setting
│   ├── AmbiguousSessionError(LookupError)  a bare session id matches several sessions
│   ├── EventTooLargeError(ValueError)      an event over the configured byte limit
│   ├── ArtifactTooLargeError(ValueError)   an artifact over the configured byte limit
│   ├── InvalidValueError(ValueError)       PostgreSQL refused a value (e.g. U+0000 in an id)
│   ├── StoreUnavailableError        PostgreSQL cannot be reached
│   ├── EmbeddedServerError          the embedded PostgreSQL cannot start
│   └── StaleSessionError            also ADK's StaleSessionError (a ValueError)
└── ADK's own, raised where ADK's services raise them:
    AlreadyExistsError, raised as its subclasses SessionAlreadyExistsError (a duplicate
    session id) and EventAlreadyExistsError (a duplicate event id), both StoreErrors too;
    SessionNotFoundError (append to a missing session).
"""

from __future__ import annotations

from collections.abc import Sequence

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError

from ._adk import ADKStaleSessionError

__all__ = [
    "AlreadyExistsError",
    "AmbiguousSessionError",
    "ArtifactTooLargeError",
    "ConfigurationError",
    "EmbeddedServerError",
    "EventAlreadyExistsError",
    "EventTooLargeError",
    "InvalidValueError",
    "SchemaMissingError",
    "SchemaOutdatedError",
    "SessionAlreadyExistsError",
    "SessionNotFoundError",
    "StaleSessionError",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(Exception):
    """Base class of the errors this package raises on purpose."""


class SchemaMissingError(StoreError):
    """The store's tables do not exist in the connected database."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"table {table} does not exist: run `fastapi-adk-store migrate`, call "
            "`await store.create_tables()`, or start the app with ADK_STORE_CREATE_TABLES=true"
        )
        self.table = table


class SchemaOutdatedError(StoreError):
    """The tables are at another schema version than this release's migrations end at."""

    def __init__(self, table: str, found: int, expected: int) -> None:
        if found < expected:
            fix = "run `fastapi-adk-store migrate` (or start with ADK_STORE_CREATE_TABLES=true)"
        else:
            fix = "upgrade fastapi-adk-store: the database was migrated by a newer release"
        super().__init__(
            f"the tables of {table} are at schema version {found}, this release needs "
            f"{expected}: {fix}"
        )
        self.table = table
        self.found = found
        self.expected = expected


class ConfigurationError(StoreError, ValueError):
    """A setting, pool option or table name is invalid."""


class AmbiguousSessionError(StoreError, LookupError):
    """A bare session id matches sessions of several apps or users."""

    def __init__(self, session_id: str, candidates: Sequence[tuple[str, str]]) -> None:
        listed = ", ".join(f"app_name={app!r} user_id={user!r}" for app, user in candidates)
        super().__init__(
            f"session id {session_id!r} exists under several apps/users ({listed}); "
            "pass app_name= and user_id= to choose one"
        )
        self.session_id = session_id
        self.candidates = list(candidates)


class EventTooLargeError(StoreError, ValueError):
    """An event's JSON is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"event is {size} bytes of JSON, over the limit of {limit} bytes "
            "(ADK_STORE_MAX_EVENT_BYTES)"
        )
        self.size = size
        self.limit = limit


class InvalidValueError(StoreError, ValueError):
    """PostgreSQL refused a value, e.g. U+0000 in an id or a number out of range."""


class StoreUnavailableError(StoreError):
    """PostgreSQL could not be reached."""


class EmbeddedServerError(StoreError):
    """The embedded PostgreSQL server could not be started."""


class StaleSessionError(StoreError, ADKStaleSessionError):
    """The session was changed in storage since this copy was loaded; reload it."""


class SessionAlreadyExistsError(StoreError, AlreadyExistsError):
    """A session with this key exists already."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session with id {session_id} already exists.")
        self.session_id = session_id


class EventAlreadyExistsError(StoreError, AlreadyExistsError):
    """The session already holds a different event with this id."""


class ArtifactTooLargeError(StoreError, ValueError):
    """An artifact's payload is larger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"artifact is at least {size} bytes, over the limit of {limit} bytes "
            "(ADK_STORE_MAX_ARTIFACT_BYTES)"
        )
        self.size = size
        self.limit = limit
