"""Every SQL statement of the session store, and the schema they run on.

Table names are checked as SQL identifiers and quoted once, when `build_statements`
formats the templates below; values travel as parameters, written `:name` here and
sent as `$n` (see `db.statements.Statement`). JSONB values cross the wire as text
(asyncpg's default for json/jsonb), so the store decides how JSON is encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ..db.identifiers import TableNames, quote_identifier, unqualified
from ..db.migrations import Migrator, latest_version, load_migrations
from ..db.statements import Statement
from ..defaults import (
    APP_STATE_TABLE,
    EVENTS_TABLE,
    SCHEMA_TABLE,
    SESSION_TABLE,
    USER_STATE_TABLE,
)
from ..errors import ConfigurationError

__all__ = ["SCHEMA_VERSION", "SessionTables", "Statements", "build_statements"]

SCHEMA_VERSION: Final = latest_version("sessions")
"""The schema version this release's migrations bring the tables to."""

_OWNER_DDL_FORBIDDEN = re.compile(r";|--|/\*")


@dataclass(frozen=True)
class SessionTables(TableNames):
    """Names of the session store's tables (unquoted, as configured)."""

    sessions: str = SESSION_TABLE
    events: str = EVENTS_TABLE
    app_states: str = APP_STATE_TABLE
    user_states: str = USER_STATE_TABLE
    schema_versions: str = SCHEMA_TABLE


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

# The tables themselves come from db/migrations/sessions/*.sql.

_RECORD_SCHEMA_VERSION: Final = (
    "INSERT INTO {schema_versions} (version) VALUES (:version) ON CONFLICT (version) DO NOTHING"
)
# NULL when any table is missing: the migrations then start from version 1 (whose DDL
# is all IF NOT EXISTS); UndefinedTableError when the version table itself is.
_GET_SCHEMA_VERSION: Final = """
SELECT max(version) FROM {schema_versions}
WHERE num_nulls(to_regclass('{sessions}'), to_regclass('{events}'),
                to_regclass('{app_states}'), to_regclass('{user_states}')) = 0
"""

# --- sessions -----------------------------------------------------------------------------

_SESSION_COLUMNS: Final = (
    "s.app_name, s.user_id, s.id, s.state, s.create_time, s.update_time, s.revision"
)
_KEY_IS: Final = "s.app_name = :app_name AND s.user_id = :user_id AND s.id = :session_id"
_APP_STATE_OF: Final = "(SELECT a.state FROM {app_states} a WHERE a.app_name = :app_name)"
_USER_STATE_OF: Final = (
    "(SELECT u.state FROM {user_states} u WHERE u.app_name = :app_name AND u.user_id = :user_id)"
)

# Inserts the session and merges the app:/user: parts of its initial state in one
# statement; an existing id inserts nothing and returns no row. update_time NULL: the
# database's clock.
_CREATE_SESSION: Final = """
WITH s AS (
    INSERT INTO {sessions} AS t (app_name, user_id, id, state, update_time{owner_insert_column})
    VALUES (:app_name, :user_id, :session_id, :state::jsonb,
            COALESCE(:update_time::float8, extract(epoch FROM now())){owner_insert_value})
    ON CONFLICT DO NOTHING
    RETURNING t.*
), app_state AS (
    INSERT INTO {app_states} AS t (app_name, state)
    SELECT :app_name, :app_delta::jsonb FROM s WHERE :app_delta::jsonb IS NOT NULL
    ON CONFLICT (app_name) DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
    RETURNING t.state
), user_state AS (
    INSERT INTO {user_states} AS t (app_name, user_id, state)
    SELECT :app_name, :user_id, :user_delta::jsonb FROM s WHERE :user_delta::jsonb IS NOT NULL
    ON CONFLICT (app_name, user_id)
        DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
    RETURNING t.state
)
SELECT {session_columns}{owner_select},
       COALESCE((SELECT state FROM app_state), {app_state_of}) AS app_state,
       COALESCE((SELECT state FROM user_state), {user_state_of}) AS user_state
FROM s
"""

# Newest :limit events (all when NULL) at or after :after_timestamp (epoch seconds; no
# bound when NULL).
_RECENT_EVENTS: Final = """
SELECT e.app_name, e.user_id, e.session_id, e.id, e.invocation_id, e.author, e.timestamp,
       e.event_data
FROM {events} e
WHERE e.app_name = :app_name AND e.user_id = :user_id AND e.session_id = :session_id
  AND (:after_timestamp::float8 IS NULL OR e.timestamp >= :after_timestamp::float8)
ORDER BY e.timestamp DESC, e.id DESC
LIMIT :limit
"""

# The session, its app and user state and its events (their JSON texts, oldest first;
# NULL when none), in one round trip. array_agg rather than json_agg because decoding
# the events one by one measured faster than one array (docs/performance.md); text[]
# because asyncpg decodes it without looking up a type.
_GET_SESSION: Final = """
SELECT {session_columns}{owner_select},
       {app_state_of} AS app_state,
       {user_state_of} AS user_state,
       (SELECT array_agg(r.event_data::text ORDER BY r.timestamp, r.id)
        FROM ({recent_events}) r) AS events
FROM {sessions} s
WHERE {key_is}
"""

_GET_EVENTS: Final = "SELECT * FROM ({recent_events}) r ORDER BY r.timestamp, r.id"

# Keyset pages of events, oldest first: rows strictly after (:after_time, :after_id).
_GET_EVENTS_PAGE: Final = """
SELECT e.app_name, e.user_id, e.session_id, e.id, e.invocation_id, e.author, e.timestamp,
       e.event_data
FROM {events} e
WHERE e.app_name = :app_name AND e.user_id = :user_id AND e.session_id = :session_id
  AND (e.timestamp, e.id) > (:after_time::float8, :after_id::text)
ORDER BY e.timestamp, e.id
LIMIT :limit
"""

# :owner_id NULL: any owner (and always any when no owner column is configured).
_FIND_SESSION_KEYS: Final = """
SELECT s.app_name, s.user_id FROM {sessions} s
WHERE s.id = :session_id
  AND (:app_name::text IS NULL OR s.app_name = :app_name)
  AND (:user_id::text IS NULL OR s.user_id = :user_id)
  AND (:owner_id::text IS NULL OR {owner_filter})
ORDER BY s.app_name, s.user_id
LIMIT 20
"""

_UPDATE_SESSION_STATE: Final = """
UPDATE {sessions} AS s
   SET state = :state::jsonb, update_time = extract(epoch FROM now()), revision = s.revision + 1
WHERE {key_is}
RETURNING {session_columns}{owner_select}
"""

_DELETE_SESSION: Final = (
    "DELETE FROM {sessions} WHERE app_name = :app_name AND user_id = :user_id AND id = :session_id"
)

# Keyset pages, oldest first as ADK's list_sessions orders them: rows strictly after the
# :after_* position; the first page passes -infinity and ''. :owner_id NULL: any owner.
# One user's sessions: the shared state rows are the same for every row, so they are
# scalar subqueries PostgreSQL runs once (joins were planned per call, twice as slow).
# The rows leave out app_name and user_id, which the caller passed (each text column of
# 100 rows costs the server its output and the client its decoding). {listed} is the
# records' columns, or (the service's listing) only what an ADK Session needs: a
# timestamptz is the costliest column to decode, 0.66 us a row (docs/performance.md).
_LIST_USER_SESSIONS: Final = """
SELECT s.id, {listed},
       {app_state_of} AS app_state,
       {user_state_of} AS user_state
FROM {sessions} s
WHERE s.app_name = :app_name AND s.user_id = :user_id
  AND (s.update_time, s.id) > (:after_time, :after_session_id)
  AND (:owner_id::text IS NULL OR {owner_filter})
ORDER BY s.update_time, s.id
LIMIT :limit
"""

_LIST_APP_SESSIONS: Final = """
SELECT s.user_id, s.id, {listed}, a.state AS app_state, u.state AS user_state
FROM {sessions} s
LEFT JOIN {app_states} a ON a.app_name = s.app_name
LEFT JOIN {user_states} u ON u.app_name = s.app_name AND u.user_id = s.user_id
WHERE s.app_name = :app_name
  AND (s.update_time, s.user_id, s.id) > (:after_time, :after_user_id, :after_session_id)
  AND (:owner_id::text IS NULL OR {owner_filter})
ORDER BY s.update_time, s.user_id, s.id
LIMIT :limit
"""

# --- events and state ---------------------------------------------------------------------

# One statement per append. The UPDATE takes the session's row lock and checks the
# revision (:expected_revision NULL: any): of concurrent appends from one revision exactly
# one matches, the others re-check the WHERE after the winner commits and write nothing.
# The event insert and the app/user state merges (NULL delta: none) run only when the
# UPDATE matched; the last column tells a stale copy (row exists) from a missing session,
# and is looked up only then (an initplan runs when the CASE first needs it).
_APPEND_EVENT: Final = """
WITH s AS (
    UPDATE {sessions} AS t
       SET state = t.state || :session_delta::jsonb,
           revision = t.revision + 1,
           update_time = :timestamp::float8
     WHERE t.app_name = :app_name AND t.user_id = :user_id AND t.id = :session_id
       AND (:expected_revision::bigint IS NULL OR t.revision = :expected_revision::bigint)
 RETURNING t.revision
), event AS (
    INSERT INTO {events}
        (app_name, user_id, session_id, id, invocation_id, author, timestamp, event_data)
    SELECT :app_name, :user_id, :session_id, :event_id, :invocation_id, :author,
           :timestamp::float8, :event_data::jsonb
    FROM s
), app_state AS (
    INSERT INTO {app_states} AS t (app_name, state)
    SELECT :app_name, :app_delta::jsonb FROM s WHERE :app_delta::jsonb IS NOT NULL
    ON CONFLICT (app_name) DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
), user_state AS (
    INSERT INTO {user_states} AS t (app_name, user_id, state)
    SELECT :app_name, :user_id, :user_delta::jsonb FROM s WHERE :user_delta::jsonb IS NOT NULL
    ON CONFLICT (app_name, user_id)
        DO UPDATE SET state = t.state || EXCLUDED.state, update_time = now()
)
SELECT (SELECT revision FROM s) AS revision,
       CASE WHEN NOT EXISTS (SELECT FROM s) THEN
           EXISTS (SELECT 1 FROM {sessions}
                   WHERE app_name = :app_name AND user_id = :user_id AND id = :session_id)
       END AS session_exists
"""

_GET_EVENT_DATA: Final = """
SELECT event_data FROM {events}
WHERE app_name = :app_name AND user_id = :user_id AND session_id = :session_id
  AND id = :event_id
"""
_GET_USER_STATE: Final = (
    "SELECT state FROM {user_states} WHERE app_name = :app_name AND user_id = :user_id"
)
_GET_APP_STATE: Final = "SELECT state FROM {app_states} WHERE app_name = :app_name"


@dataclass(frozen=True)
class Statements:
    """The session store's SQL, formatted for one set of table names."""

    migrator: Migrator
    indexes: tuple[str, ...]
    """The secondary indexes the migrations create, qualified as their tables are."""
    create_session: Statement
    get_session: Statement
    get_events: Statement
    get_events_page: Statement
    find_session_keys: Statement
    update_session_state: Statement
    delete_session: Statement
    list_user_sessions: Statement
    list_app_sessions: Statement
    list_user_merged: Statement
    list_app_merged: Statement
    """The listings as `list_merged` reads them (no create_time, no owner column)."""
    append_event: Statement
    get_event_data: Statement
    get_user_state: Statement
    get_app_state: Statement
    owner_column: str | None
    """The quoted owner-id column, or None when not configured."""


def _index_names(tables: SessionTables, parts: dict[str, str]) -> tuple[str, ...]:
    """The secondary indexes, qualified with their table's schema when it has one.

    (Version 3 dropped the index on sessions(id): the primary key serves those lookups.)
    """
    return tuple(
        ".".join([*table.split(".")[:-1], parts[index]])
        for table, index in [
            (tables.sessions, "sessions_by_update_index"),
            (tables.events, "events_by_time_index"),
        ]
    )


def _beside(table: str, name: str) -> str:
    """`name` (max 63 characters) quoted, in `table`'s schema when it names one."""
    return quote_identifier(".".join([*table.split(".")[:-1], name[:63]]))


def _parts(tables: SessionTables, owner: tuple[str, str] | None) -> dict[str, str]:
    """What the templates' placeholders stand for: quoted names and SQL fragments."""
    names = tables.quoted()
    parts = {
        **names,
        "sessions_by_update_index": quote_identifier(
            f"{unqualified(tables.sessions)}_by_update"[:63]
        ),
        "sessions_by_id_index": quote_identifier(f"{unqualified(tables.sessions)}_by_id"[:63]),
        "sessions_by_id_index_qualified": _beside(
            tables.sessions, f"{unqualified(tables.sessions)}_by_id"
        ),
        "delete_events_function": _beside(
            tables.sessions, f"{unqualified(tables.sessions)}_delete_events"
        ),
        "delete_events_trigger": quote_identifier(
            f"{unqualified(tables.sessions)}_delete_events"[:63]
        ),
        "events_by_time_index": quote_identifier(f"{unqualified(tables.events)}_by_time"[:63]),
        "session_columns": _SESSION_COLUMNS,
        "key_is": _KEY_IS,
        "owner_column_ddl": f"\n    {owner[1]}," if owner else "",
        "owner_insert_column": f", {owner[0]}" if owner else "",
        "owner_insert_value": ", :owner_id" if owner else "",
        "owner_select": f", s.{owner[0]}::text AS owner_id" if owner else "",
        "owner_filter": f"s.{owner[0]}::text = :owner_id" if owner else "false",
    }
    parts["app_state_of"] = _APP_STATE_OF.format(**parts)
    parts["user_state_of"] = _USER_STATE_OF.format(**parts)
    parts["recent_events"] = _RECENT_EVENTS.format(**parts)
    return parts


def build_statements(tables: SessionTables, owner_id_column_ddl: str | None = None) -> Statements:
    """Check the names and format every statement for them.

    Raises:
        ConfigurationError: a table name or the owner-id column DDL is invalid.
    """
    owner = _owner_column(owner_id_column_ddl)
    parts = _parts(tables, owner)

    def statement(template: str, **more: str) -> Statement:
        return Statement.parse(template.format(**parts, **more))

    listed = {"listed": f"s.state, s.create_time, s.update_time, s.revision{parts['owner_select']}"}
    merged = {"listed": "s.state, s.update_time, s.revision"}

    return Statements(
        migrator=Migrator(
            load_migrations("sessions", parts),
            version_sql=statement(_GET_SCHEMA_VERSION).text,
            record_sql=statement(_RECORD_SCHEMA_VERSION).text,
            lock_key=f"fastapi_adk_store:{tables.sessions}",
        ),
        indexes=_index_names(tables, parts),
        create_session=statement(_CREATE_SESSION),
        get_session=statement(_GET_SESSION),
        get_events=statement(_GET_EVENTS),
        get_events_page=statement(_GET_EVENTS_PAGE),
        find_session_keys=statement(_FIND_SESSION_KEYS),
        update_session_state=statement(_UPDATE_SESSION_STATE),
        delete_session=statement(_DELETE_SESSION),
        list_user_sessions=statement(_LIST_USER_SESSIONS, **listed),
        list_app_sessions=statement(_LIST_APP_SESSIONS, **listed),
        list_user_merged=statement(_LIST_USER_SESSIONS, **merged),
        list_app_merged=statement(_LIST_APP_SESSIONS, **merged),
        append_event=statement(_APPEND_EVENT),
        get_event_data=statement(_GET_EVENT_DATA),
        get_user_state=statement(_GET_USER_STATE),
        get_app_state=statement(_GET_APP_STATE),
        owner_column=owner[0] if owner else None,
    )
