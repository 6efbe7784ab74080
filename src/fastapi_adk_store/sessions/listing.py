"""What a session listing returns to the service: the values an ADK Session needs.

A page of 100 sessions is client-bound, so the listing skips the `SessionRecord` (its
model, its `update_time` datetime, its `create_time`) and hands the service plain tuples
with the state already merged (docs/performance.md, issue 17). The seed's record API
(`SessionStore.list_sessions`) still returns records.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..db.json import loads
from .records import Row

__all__ = ["ListedSession", "listed_session"]


class ListedSession(NamedTuple):
    """One listed session: the session's own state merged with its app and user state."""

    id: str
    app_name: str
    user_id: str
    state: dict[str, Any]
    """Session state, then `app:`- and `user:`-prefixed shared state, as ADK returns it."""
    last_update_time: float
    """Epoch seconds, exact."""
    revision: int


def listed_session(row: Row, app_name: str, user_id: str | None) -> ListedSession:
    """A listing's row as a `ListedSession`; `user_id` None: the row has that column."""
    state: dict[str, Any] = loads(row["state"])
    shared = row["app_state"]
    if shared is not None:
        state.update({f"app:{key}": value for key, value in loads(shared).items()})
    shared = row["user_state"]
    if shared is not None:
        state.update({f"user:{key}": value for key, value in loads(shared).items()})
    return ListedSession(
        row["id"],
        app_name,
        row["user_id"] if user_id is None else user_id,
        state,
        row["update_time"],
        row["revision"],
    )
