"""`AsyncpgSessionService`: ADK's `BaseSessionService` over `AsyncpgADKStore`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from google.adk.events.event import Event
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session
from typing_extensions import override

from .config import ADK_EXTENSION_KEYS, AsyncpgConfig
from .embedded import embedded_dsn
from .models import SessionRecord, construct_trusted
from .store import AsyncpgADKStore, StateDeltas

__all__ = ["AsyncpgSessionService", "open_session_service", "session_from_record"]


def _split_state(state: Mapping[str, Any] | None) -> StateDeltas:
    """Split by `app:`/`user:` prefix; `temp:` keys are dropped, never persisted."""
    parts = _session_util.extract_state_delta(dict(state or {}))
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


def _revision(session: Session) -> int | None:
    """The stored revision this copy was loaded at; None for sessions we did not load."""
    marker = session._storage_update_marker
    return int(marker) if marker is not None and marker.isdigit() else None


class AsyncpgSessionService(BaseSessionService):
    """ADK sessions in PostgreSQL: one statement per append and per get.

    Stale copies are detected across processes by a revision counter checked in the
    statement that writes: of concurrent appends from one revision exactly one wins,
    the others raise `StaleSessionError`.
    """

    def __init__(self, store: AsyncpgADKStore) -> None:
        self._store = store

    @property
    def store(self) -> AsyncpgADKStore:
        return self._store

    @override
    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        session_id = session_id.strip() if session_id else None
        deltas = _split_state(state)
        record = await self._store.create_session(
            session_id or platform_uuid.new_uuid(),
            app_name,
            user_id,
            deltas.session,
            app_state=deltas.app,
            user_state=deltas.user,
            update_time=platform_time.get_time(),  # ADK's clock, as its event timestamps
        )
        return session_from_record(record)

    @override
    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        loaded = await self._store.get_session_with_events(
            app_name,
            user_id,
            session_id.strip(),
            num_recent_events=config.num_recent_events if config else None,
            after_timestamp=config.after_timestamp if config else None,
        )
        return session_from_record(*loaded) if loaded is not None else None

    @override
    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        records = await self._store.list_sessions(app_name, user_id)
        return ListSessionsResponse(sessions=[session_from_record(record) for record in records])

    @override
    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        await self._store.delete_session(session_id.strip(), app_name=app_name, user_id=user_id)

    @override
    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self._store.get_user_state(app_name, user_id)

    @override
    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        revision = await self._store.append_event_and_update_state(
            session.app_name,
            session.user_id,
            session.id,
            event,
            expected_revision=_revision(session),
            deltas=_split_state(event.actions.state_delta if event.actions else None),
        )
        if revision is None:  # the same event was stored before: nothing to apply
            return event
        session._storage_update_marker = str(revision)
        session.last_update_time = event.timestamp
        return self._commit_event_to_session(session, event)


@asynccontextmanager
async def open_session_service(
    dsn: str | None = None, *, create_tables: bool = True, **options: Any
) -> AsyncIterator[AsyncpgSessionService]:
    """Open a pool, create the tables (idempotent) and yield the session service.

    `options` are the seed's pool options (`min_size`, `max_size`, `command_timeout`,
    `statement_cache_size`, ...) and the table settings of `extension_config["adk"]`
    (`session_table`, `events_table`, `owner_id_column`, ...). With no `dsn` (and no
    `host`), an embedded PostgreSQL is started (the `embedded` extra). The pool is closed
    on exit.
    """
    adk = {key: options.pop(key) for key in list(options) if key in ADK_EXTENSION_KEYS}
    async with embedded_dsn(dsn is None and "host" not in options) as server_dsn:
        if server_dsn or dsn:
            options["dsn"] = server_dsn or dsn
        config = AsyncpgConfig(pool_config=options, extension_config={"adk": adk})
        async with AsyncpgADKStore(config).opened(create_tables=create_tables) as store:
            yield AsyncpgSessionService(store)
