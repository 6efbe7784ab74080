"""What a session listing returns to the service: the values an ADK Session needs.

A page of 100 sessions is client-bound, so the listing skips the `SessionRecord` (its
model, its `update_time` datetime, its `create_time`) and hands the service plain tuples
with the state already merged (docs/performance.md, issue 17). The seed's record API
(`SessionStore.list_sessions`) still returns records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..db.json import loads
from .records import prefixed_shared_state
from .rows import Row

__all__ = ["ListedSession", "listed_session", "listed_sessions"]


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
    return _listed(row, app_name, user_id, {})


def listed_sessions(rows: Sequence[Row], app_name: str, user_id: str | None) -> list[ListedSession]:
    """A listing's rows, each row's app and user state decoded once per page.

    Every row of a user's listing carries the same shared state texts (those of an
    app-wide listing, one pair per user): a pair of only immutable values is decoded once
    and copied into each row's state, any other pair per row (so no two listed sessions
    share a list or a dict).
    """
    shared: dict[tuple[str | None, str | None], dict[str, Any] | None] = {}
    return [_listed(row, app_name, user_id, shared) for row in rows]


def _listed(
    row: Row,
    app_name: str,
    user_id: str | None,
    shared: dict[tuple[str | None, str | None], dict[str, Any] | None],
) -> ListedSession:
    state: dict[str, Any] = loads(row["state"])
    texts = (row["app_state"], row["user_state"])
    if texts != (None, None):
        prefixed = shared.get(texts, _UNSEEN)
        if prefixed is _UNSEEN:
            prefixed = _prefixed(*texts)
            shared[texts] = prefixed if all(map(_immutable, prefixed.values())) else None
        state.update(prefixed if prefixed is not None else _prefixed(*texts))
    return ListedSession(
        row["id"],
        app_name,
        row["user_id"] if user_id is None else user_id,
        state,
        row["update_time"],
        row["revision"],
    )


_UNSEEN: Any = object()
_IMMUTABLE = (type(None), bool, int, float, str)


def _immutable(value: object) -> bool:
    return isinstance(value, _IMMUTABLE)


def _prefixed(app_state: str | None, user_state: str | None) -> dict[str, Any]:
    """The app and user state texts decoded, keys prefixed as ADK merges them."""
    return prefixed_shared_state(loads(app_state or "{}"), loads(user_state or "{}"))
