"""`AsyncpgSessionService`: ADK's `BaseSessionService` over the keyed `SessionStore`.

The only room of `sessions/` that knows ADK's objects: it turns records and event texts
into `Session`s and `Event`s, and ADK events into what the store writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.adk.events.event import Event
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session
from google.adk.sessions.state import State
from typing_extensions import override

from .._adk import extract_state_delta
from ..errors import SessionNotFoundError, StaleSessionError
from ..telemetry import count_retry, instrumented
from .listing import ListedSession
from .records import (
    EventCursor,
    EventRecord,
    NewEvent,
    OnSessionDelete,
    Page,
    SessionCursor,
    SessionKey,
    SessionRecord,
    StateDeltas,
    construct_trusted,
    trusted_factory,
)
from .seed import AsyncpgADKStore
from .store import SessionStore

__all__ = [
    "APPEND_ATTEMPTS",
    "AsyncpgSessionService",
    "OnSessionDelete",
    "event_from_record",
    "session_from_record",
]

APPEND_ATTEMPTS = 3
"""Tries of `append_to_latest` when a concurrent writer makes the reloaded copy stale."""


def _split_state(state: Mapping[str, Any] | None) -> StateDeltas:
    """Split by `app:`/`user:` prefix; `temp:` keys are dropped, never persisted."""
    parts = extract_state_delta(dict(state or {}))
    return StateDeltas(session=parts["session"], app=parts["app"], user=parts["user"])


def session_from_record(record: SessionRecord, events: list[Event] | None = None) -> Session:
    """The ADK session for a stored record (merged state), appendable by the service."""
    return construct_trusted(
        Session,
        {
            "id": record.id,
            "app_name": record.app_name,
            "user_id": record.user_id,
            "state": record.merged_state(),
            "events": events if events is not None else [],
            "last_update_time": record.last_update_time,
        },
        _storage_update_marker=str(record.revision),
    )


def _session_from_listed(listed: ListedSession) -> Session:
    """The ADK session (without events) for one row of a listing, appendable."""
    return _make_session(
        {
            "id": listed.id,
            "app_name": listed.app_name,
            "user_id": listed.user_id,
            "state": listed.state,
            "events": [],
            "last_update_time": listed.last_update_time,
        },
        {"_storage_update_marker": str(listed.revision)},
    )


# A page builds 100 sessions: no shape lookup per row.
_make_session: Callable[[dict[str, Any], dict[str, Any]], Session] = trusted_factory(Session)


def _cursor(listed: ListedSession) -> SessionCursor:
    return SessionCursor(listed.last_update_time, listed.user_id, listed.id)


def event_from_record(record: EventRecord) -> Event:
    """The ADK event an events row stores."""
    return Event.model_validate(record.event_data)


def _events_from_texts(texts: Sequence[str]) -> list[Event]:
    """Decode events one by one: measured faster than one JSON array of them."""
    validate = Event.model_validate_json
    return [validate(text) for text in texts]


def _revision(session: Session) -> int | None:
    """The stored revision this copy was loaded at; None for sessions we did not load."""
    marker = session._storage_update_marker
    return int(marker) if marker is not None and marker.isdigit() else None


def _key(session: Session) -> SessionKey:
    return SessionKey(session.app_name, session.user_id, session.id)


class AsyncpgSessionService(BaseSessionService):
    """ADK sessions in PostgreSQL: one statement per append and per get.

    Stale copies are detected across processes by a revision counter checked in the
    statement that writes: of concurrent appends from one revision exactly one wins,
    the others raise `StaleSessionError`. Takes the keyed `SessionStore`, or the seed's
    `AsyncpgADKStore` (whose `.sessions` it then uses). `on_delete` runs after each
    `delete_session` (the composition root passes the artifact service's
    `delete_session_artifacts` when ADK_STORE_ARTIFACTS_DELETE_WITH_SESSION is on).
    """

    def __init__(
        self, store: SessionStore | AsyncpgADKStore, *, on_delete: OnSessionDelete | None = None
    ) -> None:
        self._store = store.sessions if isinstance(store, AsyncpgADKStore) else store
        self._on_delete = on_delete

    @property
    def store(self) -> SessionStore:
        return self._store

    @override
    @instrumented
    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        record = await self._store.create(
            SessionKey(app_name, user_id, _new_id(session_id)),
            _split_state(state),
            update_time=platform_time.get_time(),  # ADK's clock, as its event timestamps
        )
        return session_from_record(record)

    @override
    @instrumented
    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        loaded = await self._store.load(
            SessionKey(app_name, user_id, session_id.strip()),
            num_recent_events=config.num_recent_events if config else None,
            after_timestamp=config.after_timestamp if config else None,
        )
        if loaded is None:
            return None
        return session_from_record(loaded.record, _events_from_texts(loaded.event_texts))

    @override
    @instrumented
    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        listed = await self._store.list_merged(app_name, user_id)
        return ListSessionsResponse(sessions=[_session_from_listed(item) for item in listed])

    @override
    @instrumented
    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete the session and its events, then run `on_delete` (if given)."""
        key = SessionKey(app_name, user_id, session_id.strip())
        await self._store.delete(key)
        if self._on_delete is not None:
            await self._on_delete(app_name=app_name, user_id=user_id, session_id=key.session_id)

    @override
    @instrumented
    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self._store.user_state(app_name, user_id)

    @override
    @instrumented
    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        # temp: keys reach the caller's copy only once the append is stored (trimming
        # replaces the delta dict, so `untrimmed` keeps them).
        untrimmed = event.actions.state_delta if event.actions else None
        event = self._trim_temp_delta_state(event)
        revision = await self._store.append(
            _key(session),
            NewEvent.from_event(event, self._store.limits),
            expected_revision=_revision(session),
            deltas=_split_state(event.actions.state_delta if event.actions else None),
        )
        if revision is None:  # the same event was stored before: nothing to apply
            return event
        session.state.update(_temp_only(untrimmed))
        return self._committed(session, event, revision)

    def _committed(self, session: Session, event: Event, revision: int) -> Event:
        session._storage_update_marker = str(revision)
        session.last_update_time = event.timestamp
        return self._commit_event_to_session(session, event)

    # --- beyond BaseSessionService: what the router needs ---------------------------------

    @instrumented
    async def create_session_with_events(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
        events: Sequence[Event] = (),
    ) -> Session:
        """Create a session and append `events` in one transaction: all or nothing.

        Raises:
            AlreadyExistsError: the session exists, or two events share an id.
            EventTooLargeError: an event is over the store's limit.
        """
        kept = [event for event in events if not event.partial]
        limits = self._store.limits
        untrimmed = [_delta(event) for event in kept]  # trimming replaces the delta dicts
        trimmed = [self._trim_temp_delta_state(event) for event in kept]
        record, revision = await self._store.create_with_events(
            SessionKey(app_name, user_id, _new_id(session_id)),
            _split_state(state),
            [
                (NewEvent.from_event(event, limits), _split_state(_delta(event)))
                for event in trimmed
            ],
            update_time=platform_time.get_time(),
        )
        session = session_from_record(record)
        for delta, stored in zip(untrimmed, trimmed, strict=True):
            session.state.update(_temp_only(delta))
            self._committed(session, stored, revision)
        return session

    @instrumented
    async def append_to_latest(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        make_event: Callable[[], Event],
        config: GetSessionConfig | None = None,
    ) -> tuple[Session, Event]:
        """Load the session and append `make_event()`, reloading if another writer won.

        For appends that do not depend on what was read (a state PATCH, an event POST).
        `config` limits the events loaded. Returns the session after the append.

        Raises:
            SessionNotFoundError: the session does not exist.
            StaleSessionError: other writers won `APPEND_ATTEMPTS` times in a row.
        """
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            session = await self.get_session(
                app_name=app_name, user_id=user_id, session_id=session_id, config=config
            )
            if session is None:
                raise SessionNotFoundError(f"Session {session_id} not found.")
            try:
                return session, await self.append_event(session, make_event())
            except StaleSessionError:
                if attempt == APPEND_ATTEMPTS:
                    raise
                count_retry("sessions", "append_to_latest")
        raise AssertionError("unreachable")

    @instrumented
    async def list_sessions_page(
        self,
        *,
        app_name: str,
        user_id: str | None,
        limit: int,
        after: SessionCursor | None = None,
    ) -> Page[Session, SessionCursor]:
        """Up to `limit` sessions (without events), least recently updated first."""
        listed = await self._store.list_merged(app_name, user_id, limit=limit + 1, after=after)
        page = Page.of(listed, limit, _cursor)
        return Page([_session_from_listed(item) for item in page.items], page.next)

    @instrumented
    async def list_events_page(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        limit: int,
        after: EventCursor | None = None,
        after_timestamp: float | None = None,
    ) -> Page[Event, EventCursor] | None:
        """Up to `limit` events, oldest first (timestamp, then id); None: no such session."""
        key = SessionKey(app_name, user_id, session_id)
        records = await self._store.events_page(
            key, limit=limit + 1, after=after, after_timestamp=after_timestamp
        )
        if not records and await self._store.load(key, num_recent_events=0) is None:
            return None
        events = [event_from_record(record) for record in records]
        return Page.of(events, limit, lambda event: EventCursor(event.timestamp, event.id))


def _new_id(session_id: str | None) -> str:
    """The requested id without surrounding blanks, or a new one (as ADK's services)."""
    session_id = session_id.strip() if session_id else None
    return session_id or platform_uuid.new_uuid()


def _temp_only(delta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `temp:` keys of a delta: kept on the in-memory session, never stored."""
    temp = State.TEMP_PREFIX
    return {key: value for key, value in (delta or {}).items() if key.startswith(temp)}


def _delta(event: Event) -> dict[str, Any] | None:
    return event.actions.state_delta if event.actions else None
