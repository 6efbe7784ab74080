"""Every SQL statement of the store, and the schema they run on.

Table names are checked as SQL identifiers and quoted once, when `build_statements`
formats the templates below; values always travel as `$n` parameters. JSONB values
cross the wire as text (asyncpg's default for json/jsonb), so the store decides how
JSON is encoded and decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

from .errors import ConfigurationError

__all__ = [
    "SCHEMA_VERSION",
    "Statements",
    "TableNames",
    "build_statements",
    "quote_identifier",
]

SCHEMA_VERSION: Final = 1

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_OWNER_DDL_FORBIDDEN = re.compile(r";|--|/\*")


def quote_identifier(name: str, *, what: str = "table name") -> str:
    """Return `name` double-quoted, or raise if it is not a plain SQL identifier.

    `schema.table` is accepted; each part must match ``[A-Za-z_][A-Za-z0-9_]*`` and be at
    most 63 characters (PostgreSQL's limit).
    """
    parts = name.split(".") if isinstance(name, str) else [name]
    if not 1 <= len(parts) <= 2 or not all(
        isinstance(part, str) and _IDENTIFIER.fullmatch(part) for part in parts
    ):
        raise ConfigurationError(
            f"invalid {what} {name!r}: use letters, digits and underscores, not starting "
            "with a digit, at most 63 characters (optionally schema-qualified as schema.name)"
        )
    return ".".join(f'"{part}"' for part in parts)


@dataclass(frozen=True)
class TableNames:
    """Names of the store's tables (unquoted, as configured)."""

    sessions: str = "adk_sessions"
    events: str = "adk_events"
    app_states: str = "adk_app_states"
    user_states: str = "adk_user_states"
    schema_versions: str = "adk_store_schema"

    def quoted(self) -> dict[str, str]:
        quoted = {f.name: quote_identifier(getattr(self, f.name)) for f in fields(self)}
        if len(set(quoted.values())) != len(quoted):
            raise ConfigurationError(f"table names must be distinct, got {self!r}")
        return quoted


def _owner_column(ddl: str | None) -> tuple[str, str] | None:
    """Split the owner-id column DDL into (quoted name, full DDL), checking both."""
    if ddl is None:
        return None
    name, _, rest = ddl.strip().partition(" ")
    if not rest.strip() or _OWNER_DDL_FORBIDDEN.search(ddl):
        raise ConfigurationError(
            f"invalid owner_id_column {ddl!r}: expected a column definition such as "
            "'tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE'"
        )
    quoted = quote_identifier(name, what="owner_id_column name")
    return quoted, f"{quoted} {rest.strip()}"


# --- schema -------------------------------------------------------------------------------

_CREATE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS {sessions} (
    app_name    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    state       JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    create_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- epoch seconds: ADK's Session.last_update_time, kept bit-exact
    update_time DOUBLE PRECISION NOT NULL DEFAULT extract(epoch FROM now()),
    revision    BIGINT      NOT NULL DEFAULT 0,{owner_column_ddl}
    PRIMARY KEY (app_name, user_id, id)
) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS {sessions_by_update_index}
    ON {sessions} (app_name, user_id, update_time, id);
CREATE INDEX IF NOT EXISTS {sessions_by_id_index} ON {sessions} (id);

CREATE TABLE IF NOT EXISTS {events} (
    app_name      TEXT        NOT NULL,
    user_id       TEXT        NOT NULL,
    session_id    TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    invocation_id TEXT        NOT NULL DEFAULT '',
    author        TEXT        NOT NULL DEFAULT '',
    -- epoch seconds: ADK's Event.timestamp, exact for ordering and after_timestamp
    timestamp     DOUBLE PRECISION NOT NULL,
    event_data    JSONB       NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id, id),
    FOREIGN KEY (app_name, user_id, session_id)
        REFERENCES {sessions} (app_name, user_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS {events_by_time_index}
    ON {events} (app_name, user_id, session_id, timestamp, id);

CREATE TABLE IF NOT EXISTS {app_states} (
    app_name    TEXT        PRIMARY KEY,
    state       JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    update_time TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {user_states} (
    app_name    TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    state       JSONB       NOT NULL DEFAULT '{{}}'::jsonb,
    update_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_name, user_id)
);

CREATE TABLE IF NOT EXISTS {schema_versions} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

# Serialises schema creation across processes: CREATE TABLE IF NOT EXISTS alone races on
# the catalog when several workers start at once on an empty database.
LOCK_SCHEMA: Final = "SELECT pg_advisory_xact_lock(hashtext($1))"
_RECORD_SCHEMA_VERSION: Final = (
    "INSERT INTO {schema_versions} (version) VALUES ($1) ON CONFLICT (version) DO NOTHING"
)
# NULL when any table is missing: create_tables() then runs its DDL; otherwise it needs
# no CREATE privilege on a database whose schema is already in place.
_GET_SCHEMA_VERSION: Final = """
SELECT max(version) FROM {schema_versions}
WHERE num_nulls(to_regclass('{sessions}'), to_regclass('{events}'),
                to_regclass('{app_states}'), to_regclass('{user_states}')) = 0
"""

# --- sessions -----------------------------------------------------------------------------

_SESSION_COLUMNS: Final = (
    "s.app_name, s.user_id, s.id, s.state, s.create_time, s.update_time, s.revision"
)

# Inserts the session and merges the app:/user: parts of its initial state in one
# statement; an existing id inserts nothing and returns no row.
_CREATE_SESSION: Final = """
WITH s AS (
    INSERT INTO {sessions} AS t (app_name, user_id, id, state, update_time{owner_insert_column})
    VALUES ($1, $2, $3, $4::jsonb,
            COALESCE($7::float8, extract(epoch FROM now())){owner_insert_value})
    ON CONFLICT DO NOTHING
    RETURNING t.*
), app_state AS (
    INSERT INTO {app_states} AS t (app_name, state)
    SELECT $1, $5::jsonb FROM s WHERE $5::jsonb IS NOT NULL
    ON CONFLICT (app_name) DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
    RETURNING t.state
), user_state AS (
    INSERT INTO {user_states} AS t (app_name, user_id, state)
    SELECT $1, $2, $6::jsonb FROM s WHERE $6::jsonb IS NOT NULL
    ON CONFLICT (app_name, user_id)
        DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
    RETURNING t.state
)
SELECT {session_columns}{owner_select},
       COALESCE((SELECT state FROM app_state),
                (SELECT state FROM {app_states} WHERE app_name = $1)) AS app_state,
       COALESCE((SELECT state FROM user_state),
                (SELECT state FROM {user_states} WHERE app_name = $1 AND user_id = $2))
           AS user_state
FROM s
"""

# Newest $5 events (all when NULL) at or after $4 (epoch seconds; no bound when NULL).
_RECENT_EVENTS: Final = """
SELECT e.app_name, e.user_id, e.session_id, e.id, e.invocation_id, e.author, e.timestamp,
       e.event_data
FROM {events} e
WHERE e.app_name = $1 AND e.user_id = $2 AND e.session_id = $3
  AND ($4::float8 IS NULL OR e.timestamp >= $4::float8)
ORDER BY e.timestamp DESC, e.id DESC
LIMIT $5
"""

# The session, its app and user state and its events (their JSON texts, oldest first;
# NULL when none), in one round trip. array_agg rather than json_agg because decoding
# the events one by one measured faster than one array (docs/performance.md); text[]
# because asyncpg decodes it without looking up a type.
_GET_SESSION: Final = """
SELECT {session_columns}{owner_select},
       (SELECT a.state FROM {app_states} a WHERE a.app_name = $1) AS app_state,
       (SELECT u.state FROM {user_states} u WHERE u.app_name = $1 AND u.user_id = $2)
           AS user_state,
       (SELECT array_agg(r.event_data::text ORDER BY r.timestamp, r.id)
        FROM ({recent_events}) r) AS events
FROM {sessions} s
WHERE s.app_name = $1 AND s.user_id = $2 AND s.id = $3
"""

_GET_EVENTS: Final = "SELECT * FROM ({recent_events}) r ORDER BY r.timestamp, r.id"

# Keyset pages of events, oldest first: rows strictly after ($4 timestamp, $5 id).
_GET_EVENTS_PAGE: Final = """
SELECT e.app_name, e.user_id, e.session_id, e.id, e.invocation_id, e.author, e.timestamp,
       e.event_data
FROM {events} e
WHERE e.app_name = $1 AND e.user_id = $2 AND e.session_id = $3
  AND (e.timestamp, e.id) > ($4::float8, $5::text)
ORDER BY e.timestamp, e.id
LIMIT $6
"""

_FIND_SESSION_KEYS: Final = """
SELECT app_name, user_id FROM {sessions}
WHERE id = $1 AND ($2::text IS NULL OR app_name = $2) AND ($3::text IS NULL OR user_id = $3)
ORDER BY app_name, user_id
LIMIT 20
"""

_UPDATE_SESSION_STATE: Final = """
UPDATE {sessions} AS s
   SET state = $4::jsonb, update_time = extract(epoch FROM now()), revision = s.revision + 1
WHERE s.app_name = $1 AND s.user_id = $2 AND s.id = $3
RETURNING {session_columns}{owner_select}
"""

_DELETE_SESSION: Final = "DELETE FROM {sessions} WHERE app_name = $1 AND user_id = $2 AND id = $3"

# Keyset pages: rows strictly after ($3 update_time, $4 id); the first page passes
# -infinity and ''. Oldest first, as ADK's list_sessions orders them.
# One user's sessions: the shared state rows are the same for every row, so they are
# scalar subqueries PostgreSQL runs once (joins were planned per call, twice as slow).
_LIST_USER_SESSIONS: Final = """
SELECT {session_columns}{owner_select},
       (SELECT a.state FROM {app_states} a WHERE a.app_name = $1) AS app_state,
       (SELECT u.state FROM {user_states} u WHERE u.app_name = $1 AND u.user_id = $2)
           AS user_state
FROM {sessions} s
WHERE s.app_name = $1 AND s.user_id = $2 AND (s.update_time, s.id) > ($3, $4)
  AND ($6::text IS NULL OR {owner_filter})
ORDER BY s.update_time, s.id
LIMIT $5
"""

_LIST_APP_SESSIONS: Final = """
SELECT {session_columns}{owner_select}, a.state AS app_state, u.state AS user_state
FROM {sessions} s
LEFT JOIN {app_states} a ON a.app_name = s.app_name
LEFT JOIN {user_states} u ON u.app_name = s.app_name AND u.user_id = s.user_id
WHERE s.app_name = $1 AND (s.update_time, s.user_id, s.id) > ($2, $3, $4)
  AND ($6::text IS NULL OR {owner_filter})
ORDER BY s.update_time, s.user_id, s.id
LIMIT $5
"""

# --- events and state ---------------------------------------------------------------------

# One statement per append. The UPDATE takes the session's row lock and checks the
# revision: of concurrent appends from one revision exactly one matches, the others
# re-check the WHERE after the winner commits and write nothing. The event insert and
# the app/user state merges run only when the UPDATE matched; the last column tells a
# stale copy (row exists) from a missing session (no row).
_APPEND_EVENT: Final = """
WITH s AS (
    UPDATE {sessions} AS t
       SET state = t.state || $5::jsonb,
           revision = t.revision + 1,
           update_time = $6::float8
     WHERE t.app_name = $1 AND t.user_id = $2 AND t.id = $3
       AND ($4::bigint IS NULL OR t.revision = $4::bigint)
 RETURNING t.revision
), event AS (
    INSERT INTO {events}
        (app_name, user_id, session_id, id, invocation_id, author, timestamp, event_data)
    SELECT $1, $2, $3, $7, $8, $9, $6::float8, $10::jsonb FROM s
), app_state AS (
    INSERT INTO {app_states} AS t (app_name, state)
    SELECT $1, $11::jsonb FROM s WHERE $11::jsonb IS NOT NULL
    ON CONFLICT (app_name) DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
), user_state AS (
    INSERT INTO {user_states} AS t (app_name, user_id, state)
    SELECT $1, $2, $12::jsonb FROM s WHERE $12::jsonb IS NOT NULL
    ON CONFLICT (app_name, user_id)
        DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
)
SELECT (SELECT revision FROM s) AS revision,
       EXISTS (SELECT 1 FROM {sessions}
               WHERE app_name = $1 AND user_id = $2 AND id = $3) AS session_exists
"""

_GET_EVENT_DATA: Final = """
SELECT event_data FROM {events}
WHERE app_name = $1 AND user_id = $2 AND session_id = $3 AND id = $4
"""
_GET_USER_STATE: Final = "SELECT state FROM {user_states} WHERE app_name = $1 AND user_id = $2"
_GET_APP_STATE: Final = "SELECT state FROM {app_states} WHERE app_name = $1"


@dataclass(frozen=True)
class Statements:
    """The store's SQL, formatted for one set of table names."""

    create_schema: str
    lock_schema: str
    record_schema_version: str
    get_schema_version: str
    schema_lock_key: str
    create_session: str
    get_session: str
    get_events: str
    get_events_page: str
    find_session_keys: str
    update_session_state: str
    delete_session: str
    list_user_sessions: str
    list_app_sessions: str
    append_event: str
    get_event_data: str
    get_user_state: str
    get_app_state: str
    owner_column: str | None


def build_statements(tables: TableNames, owner_id_column_ddl: str | None = None) -> Statements:
    """Check the names and format every statement for them.

    Raises:
        ConfigurationError: a table name or the owner-id column DDL is invalid.
    """
    names = tables.quoted()
    owner = _owner_column(owner_id_column_ddl)
    bare_sessions = tables.sessions.split(".")[-1]
    parts = {
        **names,
        "sessions_by_update_index": quote_identifier(f"{bare_sessions}_by_update"[:63]),
        "sessions_by_id_index": quote_identifier(f"{bare_sessions}_by_id"[:63]),
        "events_by_time_index": quote_identifier(f"{tables.events.split('.')[-1]}_by_time"[:63]),
        "session_columns": _SESSION_COLUMNS,
        "owner_column_ddl": f"\n    {owner[1]}," if owner else "",
        "owner_insert_column": f", {owner[0]}" if owner else "",
        "owner_insert_value": ", $8" if owner else "",
        "owner_select": f", s.{owner[0]}::text AS owner_id" if owner else "",
        "owner_filter": f"s.{owner[0]}::text = $6" if owner else "false",
    }
    recent_events = _RECENT_EVENTS.format(**parts)
    parts["recent_events"] = recent_events
    return Statements(
        create_schema=_CREATE_SCHEMA.format(**parts),
        lock_schema=LOCK_SCHEMA,
        record_schema_version=_RECORD_SCHEMA_VERSION.format(**parts),
        get_schema_version=_GET_SCHEMA_VERSION.format(**parts),
        schema_lock_key=f"fastapi_adk_store:{tables.sessions}",
        create_session=_CREATE_SESSION.format(**parts),
        get_session=_GET_SESSION.format(**parts),
        get_events=_GET_EVENTS.format(**parts),
        get_events_page=_GET_EVENTS_PAGE.format(**parts),
        find_session_keys=_FIND_SESSION_KEYS.format(**parts),
        update_session_state=_UPDATE_SESSION_STATE.format(**parts),
        delete_session=_DELETE_SESSION.format(**parts),
        list_user_sessions=_LIST_USER_SESSIONS.format(**parts),
        list_app_sessions=_LIST_APP_SESSIONS.format(**parts),
        append_event=_APPEND_EVENT.format(**parts),
        get_event_data=_GET_EVENT_DATA.format(**parts),
        get_user_state=_GET_USER_STATE.format(**parts),
        get_app_state=_GET_APP_STATE.format(**parts),
        owner_column=owner[0] if owner else None,
    )
