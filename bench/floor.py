"""The raw-asyncpg floor: the least work a correct session service can do.

One statement per call, straight `asyncpg` on a pool with no reset query, no store layer,
no record models and no error translation. It still builds real ADK `Session` and `Event`
objects (events decoded one row at a time, the obvious way), so the Python object cost
every contender pays is counted here too. It is the yardstick, not a product: it keeps
ADK's contract for what the benchmark exercises (scoped state, a revision check that
rejects stale copies, newest-N events in order) and nothing more.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session
from typing_extensions import override

__all__ = ["FloorSessionService", "open_floor_service"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS floor_sessions (
    app_name    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    state       JSONB       NOT NULL DEFAULT '{}'::jsonb,
    update_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    revision    BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (app_name, user_id, id)
);
CREATE INDEX IF NOT EXISTS floor_sessions_by_update
    ON floor_sessions (app_name, user_id, update_time, id);
CREATE TABLE IF NOT EXISTS floor_events (
    app_name   TEXT        NOT NULL,
    user_id    TEXT        NOT NULL,
    session_id TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    event_data JSONB       NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id, id),
    FOREIGN KEY (app_name, user_id, session_id)
        REFERENCES floor_sessions (app_name, user_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS floor_events_by_time
    ON floor_events (app_name, user_id, session_id, ts, id);
CREATE TABLE IF NOT EXISTS floor_app_states (
    app_name TEXT PRIMARY KEY,
    state    JSONB NOT NULL
);
CREATE TABLE IF NOT EXISTS floor_user_states (
    app_name TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    state    JSONB NOT NULL,
    PRIMARY KEY (app_name, user_id)
);
"""

CREATE: Final = """
WITH s AS (
    INSERT INTO floor_sessions (app_name, user_id, id, state) VALUES ($1, $2, $3, $4::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING state, update_time, revision
), a AS (
    INSERT INTO floor_app_states AS t (app_name, state)
    SELECT $1, $5::jsonb FROM s WHERE $5::jsonb IS NOT NULL
    ON CONFLICT (app_name) DO UPDATE SET state = t.state || EXCLUDED.state
    RETURNING t.state
), u AS (
    INSERT INTO floor_user_states AS t (app_name, user_id, state)
    SELECT $1, $2, $6::jsonb FROM s WHERE $6::jsonb IS NOT NULL
    ON CONFLICT (app_name, user_id) DO UPDATE SET state = t.state || EXCLUDED.state
    RETURNING t.state
)
SELECT s.state, s.update_time, s.revision,
       COALESCE((SELECT state FROM a),
                (SELECT state FROM floor_app_states WHERE app_name = $1)) AS app_state,
       COALESCE((SELECT state FROM u),
                (SELECT state FROM floor_user_states WHERE app_name = $1 AND user_id = $2))
           AS user_state
FROM s
"""

# One row per event (newest $4 when given), the session columns repeated; no event, one
# row with NULL event_data; no session, no row.
GET: Final = """
SELECT s.state, s.update_time, s.revision,
       (SELECT state FROM floor_app_states WHERE app_name = $1) AS app_state,
       (SELECT state FROM floor_user_states WHERE app_name = $1 AND user_id = $2)
           AS user_state,
       e.event_data
FROM floor_sessions s
LEFT JOIN LATERAL (
    SELECT ev.event_data, ev.ts, ev.id FROM floor_events ev
    WHERE ev.app_name = s.app_name AND ev.user_id = s.user_id AND ev.session_id = s.id
      AND ($5::float8 IS NULL OR ev.ts >= to_timestamp($5::float8))
    ORDER BY ev.ts DESC, ev.id DESC
    LIMIT $4
) e ON true
WHERE s.app_name = $1 AND s.user_id = $2 AND s.id = $3
ORDER BY e.ts, e.id
"""

APPEND: Final = """
WITH s AS (
    UPDATE floor_sessions AS t
       SET state = t.state || $5::jsonb, revision = t.revision + 1,
           update_time = to_timestamp($6::float8)
     WHERE t.app_name = $1 AND t.user_id = $2 AND t.id = $3 AND t.revision = $4
 RETURNING t.revision
), e AS (
    INSERT INTO floor_events (app_name, user_id, session_id, id, ts, event_data)
    SELECT $1, $2, $3, $7, to_timestamp($6::float8), $8::jsonb FROM s
), a AS (
    INSERT INTO floor_app_states AS t (app_name, state)
    SELECT $1, $9::jsonb FROM s WHERE $9::jsonb IS NOT NULL
    ON CONFLICT (app_name) DO UPDATE SET state = t.state || EXCLUDED.state
), u AS (
    INSERT INTO floor_user_states AS t (app_name, user_id, state)
    SELECT $1, $2, $10::jsonb FROM s WHERE $10::jsonb IS NOT NULL
    ON CONFLICT (app_name, user_id) DO UPDATE SET state = t.state || EXCLUDED.state
)
SELECT revision FROM s
"""

LIST: Final = """
SELECT s.id, s.state, s.update_time, s.revision,
       (SELECT state FROM floor_app_states WHERE app_name = $1) AS app_state,
       (SELECT state FROM floor_user_states WHERE app_name = $1 AND user_id = $2)
           AS user_state
FROM floor_sessions s
WHERE s.app_name = $1 AND s.user_id = $2
ORDER BY s.update_time, s.id
LIMIT $3
"""

DELETE: Final = "DELETE FROM floor_sessions WHERE app_name = $1 AND user_id = $2 AND id = $3"


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing to reset: the floor leaves no session state on a connection."""


def _json_or_none(state: dict[str, Any]) -> str | None:
    return json.dumps(state) if state else None


def _merged(row: asyncpg.Record) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(row["state"])
    if row["app_state"] is not None:
        state.update({f"app:{k}": v for k, v in json.loads(row["app_state"]).items()})
    if row["user_state"] is not None:
        state.update({f"user:{k}": v for k, v in json.loads(row["user_state"]).items()})
    return state


def _session(
    app_name: str, user_id: str, session_id: str, row: asyncpg.Record, events: list[Event]
) -> Session:
    session = Session(
        id=session_id,
        app_name=app_name,
        user_id=user_id,
        state=_merged(row),
        events=events,
        last_update_time=row["update_time"].timestamp(),
    )
    session._storage_update_marker = str(row["revision"])
    return session


class FloorSessionService(BaseSessionService):
    """ADK's session service in the fewest moves: one pool checkout and one statement."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @override
    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        session_id = (session_id or "").strip() or str(uuid.uuid4())
        parts = _session_util.extract_state_delta(dict(state or {}))
        row = await self.pool.fetchrow(
            CREATE,
            app_name,
            user_id,
            session_id,
            json.dumps(parts["session"]),
            _json_or_none(parts["app"]),
            _json_or_none(parts["user"]),
        )
        if row is None:
            raise AlreadyExistsError(f"Session with id {session_id} already exists.")
        return _session(app_name, user_id, session_id, row, [])

    @override
    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        limit = config.num_recent_events if config else None
        after = config.after_timestamp if config else None
        rows = await self.pool.fetch(GET, app_name, user_id, session_id, limit, after)
        if not rows:
            return None
        events = [
            Event.model_validate_json(row["event_data"])
            for row in rows
            if row["event_data"] is not None
        ]
        return _session(app_name, user_id, session_id, rows[0], events)

    @override
    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        if user_id is None:
            raise NotImplementedError("the floor lists one user's sessions")
        return ListSessionsResponse(sessions=await self.list_page(app_name, user_id, None))

    async def list_page(self, app_name: str, user_id: str, limit: int | None) -> list[Session]:
        """The oldest `limit` sessions of a user (all when None), without events."""
        rows = await self.pool.fetch(LIST, app_name, user_id, limit)
        return [_session(app_name, user_id, row["id"], row, []) for row in rows]

    @override
    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        await self.pool.execute(DELETE, app_name, user_id, session_id)

    @override
    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        delta = event.actions.state_delta if event.actions else {}
        parts = _session_util.extract_state_delta(dict(delta or {}))
        revision = await self.pool.fetchval(
            APPEND,
            session.app_name,
            session.user_id,
            session.id,
            int(session._storage_update_marker or 0),
            json.dumps(parts["session"]),
            event.timestamp,
            event.id,
            event.model_dump_json(exclude_none=True),
            _json_or_none(parts["app"]),
            _json_or_none(parts["user"]),
        )
        if revision is None:
            raise ValueError("stale or missing session: reload it before appending")
        session._storage_update_marker = str(revision)
        session.last_update_time = event.timestamp
        return self._commit_event_to_session(session, event)


@asynccontextmanager
async def open_floor_service(
    dsn: str, *, pool_size: int = 10
) -> AsyncIterator[FloorSessionService]:
    """A pool of `pool_size` connections on `dsn`, the floor's tables, and the service."""
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size, reset=_no_reset)
    try:
        await pool.execute(SCHEMA)
        yield FloorSessionService(pool)
    finally:
        await pool.close()
