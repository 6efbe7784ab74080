"""The statements of `importers.py`: reading another store's tables, writing ours in bulk.

Source tables are those of google-adk's `DatabaseSessionService` ("adk-database": its v1
JSON schema, or its older v0 schema with pickled `actions`) and of sqlspec's asyncpg ADK
store ("sqlspec"). Sources are read by keyset pages; JSON columns are read as text
(`::text`), whatever codecs the caller's pool has. Our tables are written with one
multi-row `INSERT ... SELECT FROM unnest(...)` per table and batch, `ON CONFLICT DO
NOTHING` for sessions and events, and a merge for app and user state that keeps every key
the target has already and reports no row when it adds none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from ..db.identifiers import quote_identifier
from ..db.statements import Statement
from ..errors import ConfigurationError
from .sql import SessionTables

__all__ = [
    "DEFAULT_SOURCE_TABLES",
    "SOURCE_TABLE_ROLES",
    "SourceKind",
    "SourceStatements",
    "TargetStatements",
    "source_statements",
    "target_statements",
]

SourceKind = Literal["adk-database", "sqlspec"]

SOURCE_TABLE_ROLES: Final = ("sessions", "events", "app_states", "user_states")
"""The keys of `source_tables`."""

DEFAULT_SOURCE_TABLES: Final[Mapping[str, Mapping[str, str]]] = {
    # google-adk 2.13, google/adk/sessions/schemas/v0.py and v1.py (__tablename__)
    "adk-database": {
        "sessions": "sessions",
        "events": "events",
        "app_states": "app_states",
        "user_states": "user_states",
    },
    # sqlspec 0.69, sqlspec/extensions/adk/_config_utils.py (the defaults of
    # extension_config["adk"]: session_table, events_table, app_state_table, ...)
    "sqlspec": {
        "sessions": "adk_session",
        "events": "adk_event",
        "app_states": "adk_app_state",
        "user_states": "adk_user_state",
    },
}

# --- the source ---------------------------------------------------------------------------

_TABLE_EXISTS: Final = "SELECT to_regclass(:name) IS NOT NULL"
_COLUMNS: Final = """
SELECT attname FROM pg_attribute
WHERE attrelid = to_regclass(:name) AND attnum > 0 AND NOT attisdropped
"""
_COUNT_SESSIONS: Final = "SELECT count(*) FROM {sessions}"

_ADK_SESSION_COLUMNS: Final = (
    "s.app_name, s.user_id, s.id, s.state::text AS state, s.create_time, s.update_time"
)
_ADK_SESSIONS_FIRST: Final = """
SELECT {columns} FROM {sessions} s ORDER BY s.app_name, s.user_id, s.id LIMIT :limit
"""
_ADK_SESSIONS_AFTER: Final = """
SELECT {columns} FROM {sessions} s
WHERE (s.app_name, s.user_id, s.id) > (:app_name, :user_id, :session_id)
ORDER BY s.app_name, s.user_id, s.id LIMIT :limit
"""
# sqlspec's session id is the whole primary key.
_SQLSPEC_SESSIONS_FIRST: Final = "SELECT {columns} FROM {sessions} s ORDER BY s.id LIMIT :limit"
_SQLSPEC_SESSIONS_AFTER: Final = """
SELECT {columns} FROM {sessions} s WHERE s.id > :session_id ORDER BY s.id LIMIT :limit
"""

# A batch's events, in keyset pages over (app_name, user_id, session_id, id); :first skips
# the position. v1 and sqlspec keep the whole event as JSON; v0 has a column per field.
_ADK_EVENTS: Final = """
SELECT {event_columns}
FROM {events} e
JOIN unnest(:app_names::text[], :user_ids::text[], :session_ids::text[]) AS k(a, u, s)
  ON e.app_name = k.a AND e.user_id = k.u AND e.session_id = k.s
WHERE :first::bool OR (e.app_name, e.user_id, e.session_id, e.id)
                      > (:app_name::text, :user_id::text, :session_id::text, :event_id::text)
ORDER BY e.app_name, e.user_id, e.session_id, e.id
LIMIT :limit
"""
_ADK_V1_EVENT_COLUMNS: Final = (
    "e.app_name, e.user_id, e.session_id, e.id, e.invocation_id, e.timestamp, "
    "e.event_data::text AS event_data"
)
# v0: every column (they vary across the ADK versions that wrote it), JSON ones as text.
_V0_JSON_COLUMNS: Final = (
    "content",
    "grounding_metadata",
    "custom_metadata",
    "usage_metadata",
    "citation_metadata",
    "input_transcription",
    "output_transcription",
)
# sqlspec's events keep app_name/user_id too, but its service reads the session's.
_SQLSPEC_EVENTS: Final = """
SELECT s.app_name, s.user_id, e.session_id, e.id, e.invocation_id, e.timestamp,
       e.event_data::text AS event_data
FROM {events} e JOIN {sessions} s ON s.id = e.session_id
WHERE e.session_id = ANY(:session_ids::text[])
  AND (:first::bool OR (s.app_name, s.user_id, e.session_id, e.id)
                       > (:app_name::text, :user_id::text, :session_id::text, :event_id::text))
ORDER BY s.app_name, s.user_id, e.session_id, e.id
LIMIT :limit
"""

_APP_STATES: Final = """
SELECT a.app_name, a.state::text AS state FROM {app_states} a
WHERE :first::bool OR a.app_name > :app_name::text ORDER BY a.app_name LIMIT :limit
"""
_USER_STATES: Final = """
SELECT u.app_name, u.user_id, u.state::text AS state FROM {user_states} u
WHERE :first::bool OR (u.app_name, u.user_id) > (:app_name::text, :user_id::text)
ORDER BY u.app_name, u.user_id LIMIT :limit
"""


@dataclass(frozen=True)
class SourceStatements:
    """The reads of one source's tables (names quoted)."""

    kind: SourceKind
    tables: Mapping[str, str]
    """Role -> quoted table name."""
    count_sessions: Statement
    sessions_first: Statement
    sessions_after: Statement
    app_states: Statement
    user_states: Statement
    table_exists: Statement
    columns: Statement

    def events(self, event_columns: frozenset[str]) -> tuple[Statement, bool]:
        """The events page statement for the event table's columns, and whether it is v0.

        Raises:
            ConfigurationError: the table has neither `event_data` nor `actions`.
        """
        parts = {**self.tables}
        if self.kind == "sqlspec":
            return Statement.parse(_SQLSPEC_EVENTS.format(**parts)), False
        if "event_data" in event_columns:
            text = _ADK_EVENTS.format(event_columns=_ADK_V1_EVENT_COLUMNS, **parts)
            return Statement.parse(text), False
        if "actions" not in event_columns:
            raise ConfigurationError(
                f"source table {self.tables['events']} has neither event_data (ADK's v1 "
                "schema) nor actions (its v0 schema): set source_tables['events'] to "
                "DatabaseSessionService's events table"
            )
        columns = ", ".join(
            f"e.{name}::text AS {name}" if name in _V0_JSON_COLUMNS else f"e.{name}"
            for name in sorted(event_columns)
        )
        return Statement.parse(_ADK_EVENTS.format(event_columns=columns, **parts)), True


def _quoted_sources(kind: SourceKind, source_tables: Mapping[str, str] | None) -> dict[str, str]:
    unknown = sorted(set(source_tables or {}) - set(SOURCE_TABLE_ROLES))
    if unknown:
        raise ConfigurationError(
            f"unknown source_tables key(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(SOURCE_TABLE_ROLES)}"
        )
    names = {**DEFAULT_SOURCE_TABLES[kind], **(source_tables or {})}
    if kind == "sqlspec":
        # sqlspec writes its names unquoted in its DDL: PostgreSQL folds them to lower case.
        names = {role: name.lower() for role, name in names.items()}
    return {
        role: quote_identifier(names[role], what=f"source_tables[{role!r}]")
        for role in SOURCE_TABLE_ROLES
    }


def source_statements(
    kind: SourceKind, source_tables: Mapping[str, str] | None
) -> SourceStatements:
    """The reads for a source of `kind` whose tables are named by `source_tables`.

    Raises:
        ConfigurationError: an unknown kind, role or an invalid table name.
    """
    if kind not in DEFAULT_SOURCE_TABLES:
        raise ConfigurationError(
            f"unknown source kind {kind!r}; expected one of {', '.join(DEFAULT_SOURCE_TABLES)}"
        )
    tables = _quoted_sources(kind, source_tables)
    parts = {**tables, "columns": _ADK_SESSION_COLUMNS}
    first, after = (
        (_SQLSPEC_SESSIONS_FIRST, _SQLSPEC_SESSIONS_AFTER)
        if kind == "sqlspec"
        else (_ADK_SESSIONS_FIRST, _ADK_SESSIONS_AFTER)
    )
    return SourceStatements(
        kind=kind,
        tables=tables,
        count_sessions=Statement.parse(_COUNT_SESSIONS.format(**parts)),
        sessions_first=Statement.parse(first.format(**parts)),
        sessions_after=Statement.parse(after.format(**parts)),
        app_states=Statement.parse(_APP_STATES.format(**parts)),
        user_states=Statement.parse(_USER_STATES.format(**parts)),
        table_exists=Statement.parse(_TABLE_EXISTS),
        columns=Statement.parse(_COLUMNS),
    )


# --- the target ---------------------------------------------------------------------------

_INSERT_SESSIONS: Final = """
INSERT INTO {sessions} (app_name, user_id, id, state, create_time, update_time)
SELECT r.a, r.u, r.s, r.state::jsonb, r.created, r.updated
FROM unnest(:app_names::text[], :user_ids::text[], :session_ids::text[], :states::text[],
            :create_times::timestamptz[], :update_times::float8[])
     AS r(a, u, s, state, created, updated)
ON CONFLICT DO NOTHING
"""
_INSERT_EVENTS: Final = """
INSERT INTO {events}
    (app_name, user_id, session_id, id, invocation_id, author, timestamp, event_data)
SELECT r.a, r.u, r.s, r.id, r.inv, r.author, r.ts, r.data::jsonb
FROM unnest(:app_names::text[], :user_ids::text[], :session_ids::text[], :event_ids::text[],
            :invocation_ids::text[], :authors::text[], :timestamps::float8[],
            :event_datas::text[])
     AS r(a, u, s, id, inv, author, ts, data)
ON CONFLICT DO NOTHING
"""
# The target's keys win: a rerun, or a key a live session has changed since, writes nothing.
_MERGE_APP_STATES: Final = """
INSERT INTO {app_states} AS t (app_name, state)
SELECT r.a, r.state::jsonb FROM unnest(:app_names::text[], :states::text[]) AS r(a, state)
ON CONFLICT (app_name) DO UPDATE SET state = EXCLUDED.state || t.state, update_time = now()
WHERE EXCLUDED.state || t.state IS DISTINCT FROM t.state
"""
_MERGE_USER_STATES: Final = """
INSERT INTO {user_states} AS t (app_name, user_id, state)
SELECT r.a, r.u, r.state::jsonb
FROM unnest(:app_names::text[], :user_ids::text[], :states::text[]) AS r(a, u, state)
ON CONFLICT (app_name, user_id)
    DO UPDATE SET state = EXCLUDED.state || t.state, update_time = now()
WHERE EXCLUDED.state || t.state IS DISTINCT FROM t.state
"""


@dataclass(frozen=True)
class TargetStatements:
    """The bulk writes into our tables."""

    insert_sessions: Statement
    insert_events: Statement
    merge_app_states: Statement
    merge_user_states: Statement


def target_statements(tables: SessionTables) -> TargetStatements:
    """The writes for our tables named by `tables`."""
    names = tables.quoted()
    return TargetStatements(
        insert_sessions=Statement.parse(_INSERT_SESSIONS.format(**names)),
        insert_events=Statement.parse(_INSERT_EVENTS.format(**names)),
        merge_app_states=Statement.parse(_MERGE_APP_STATES.format(**names)),
        merge_user_states=Statement.parse(_MERGE_USER_STATES.format(**names)),
    )
