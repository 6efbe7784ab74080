"""Rows of the session tables as records: what `SessionStore` reads, decoded.

The listing's rows skip the records (`listing.py`); every other read comes through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ..db.json import loads
from .records import EventRecord, SessionRecord, construct_trusted

__all__ = ["LoadedSession", "Row", "event_record", "session_record"]

Row = Mapping[str, Any]
"""A database row: asyncpg's Record, or any mapping with the same columns."""


class LoadedSession(NamedTuple):
    """A session row and its events' JSON texts, oldest first."""

    record: SessionRecord
    event_texts: list[str]


def session_record(
    row: Row, app_name: str | None = None, user_id: str | None = None
) -> SessionRecord:
    """A session row (with its app_state and user_state columns, if any) as a record.

    `app_name` and `user_id`, when given, stand for the row's columns of those names (a
    listing of one user's sessions does not fetch them).
    """
    app_state = row.get("app_state")
    user_state = row.get("user_state")
    return construct_trusted(
        SessionRecord,
        {
            "id": row["id"],
            "app_name": row["app_name"] if app_name is None else app_name,
            "user_id": row["user_id"] if user_id is None else user_id,
            "state": loads(row["state"]),
            "create_time": row["create_time"],
            "update_time": datetime.fromtimestamp(row["update_time"], UTC),
            "last_update_time": row["update_time"],
            "revision": row["revision"],
            "owner_id": row.get("owner_id"),
            "app_state": loads(app_state) if app_state is not None else {},
            "user_state": loads(user_state) if user_state is not None else {},
        },
    )


def event_record(row: Row) -> EventRecord:
    """An event row as a record, its JSON decoded."""
    return construct_trusted(
        EventRecord,
        {
            "id": row["id"],
            "app_name": row["app_name"],
            "user_id": row["user_id"],
            "session_id": row["session_id"],
            "invocation_id": row["invocation_id"],
            "author": row["author"],
            "timestamp": datetime.fromtimestamp(row["timestamp"], UTC),
            "event_data": loads(row["event_data"]),
        },
    )
