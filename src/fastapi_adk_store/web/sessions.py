"""`sessions_router(...)`: ADK api_server-compatible session routes, plus pagination.

The routes and JSON are those of `adk api_server` (camelCase, `None` fields left out,
credential secrets redacted), so ADK's web UI and clients work against them. Extensions:
`limit`/`page_token` on lists (next token in the `X-Next-Page-Token` header, the body
stays ADK's JSON array), `num_recent_events`/`after_timestamp` on get, paged
`.../sessions/{session_id}/events` and the user state at `.../users/{user_id}/state`.

Every route calls the session service only; errors become HTTP in `web.errors`.
"""

# No `from __future__ import annotations`: FastAPI evaluates the route closures'
# annotations at runtime, and they use aliases local to the functions that add them.

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from starlette.responses import Response

from .._adk import CLIENT_FUNCTION_CALL_NAMES, mark_restored
from ..defaults import MAX_PAGE_SIZE
from ..errors import ConfigurationError, SessionNotFoundError
from ..sessions.records import EventCursor, SessionCursor
from ..sessions.service import AsyncpgSessionService
from .adk_json import EventBody, event_json, session_json
from .deps import get_session_service
from .errors import Failure, StoreRoute, invalid, store_route
from .models import NEXT_PAGE_TOKEN_HEADER, CreateSessionRequest, ErrorCode, UpdateSessionRequest
from .paging import decode_token, page_headers

__all__ = ["guarded_router", "identity_guard", "sessions_router"]

USER_PATH = "/apps/{app_name}/users/{user_id}"
SESSION_PATH = USER_PATH + "/sessions/{session_id}"

Service = Annotated[AsyncpgSessionService, Depends(get_session_service)]
PageToken = Annotated[
    str | None,
    Query(description=f"The `{NEXT_PAGE_TOKEN_HEADER}` header of the previous page."),
]
AfterTimestamp = Annotated[
    float | None,
    Query(allow_inf_nan=False, description="Only events at or after it (epoch seconds)."),
]
NumRecentEvents = Annotated[int | None, Query(ge=0, description="Only the newest N events.")]


def _route(
    router: APIRouter,
    method: str,
    path: str,
    name: str,
    model: Any,
    *statuses: int,
    deprecated: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`store_route`; the routes render ADK's JSON themselves (`adk_json`)."""
    return store_route(router, method, path, name, model, *statuses, deprecated=deprecated or None)


def _page_size(max_page_size: int) -> Any:
    return Query(ge=1, le=max_page_size, description="Page size; the default is the largest.")


def _check_restored_events(events: Sequence[Event]) -> None:
    """Refuse events a client could use to fake ADK's own actions (as ADK's api_server)."""
    for index, event in enumerate(events):
        loc = ("body", "events", index)
        if event.long_running_tool_ids:
            invalid(loc, "a restored event cannot include long-running tool ids", None)
        if event.actions != EventActions():
            invalid(loc, "a restored event cannot include actions", None)
        names = [call.name for call in event.get_function_calls()]
        names += [response.name for response in event.get_function_responses()]
        if any(name in CLIENT_FUNCTION_CALL_NAMES for name in names):
            invalid(loc, "a restored event cannot include ADK protocol function calls", None)


def identity_guard(identity: Callable[..., Any]) -> Callable[..., Awaitable[None]]:
    """A router dependency: 403 unless `identity` (a dependency) returns the path's user."""

    async def guard(user_id: str, caller: Annotated[Any, Depends(identity)]) -> None:
        if str(caller) != user_id:
            raise Failure(
                403, ErrorCode.FORBIDDEN_USER, "this user's sessions belong to another caller"
            )

    return guard


def guarded_router(identity: Callable[..., Any] | None, prefix: str) -> APIRouter:
    """A router of `StoreRoute`s under `prefix`, each behind `identity_guard(identity)`
    when an identity is given: how every router of this package starts."""
    return APIRouter(
        prefix=prefix,
        route_class=StoreRoute,
        dependencies=[Depends(identity_guard(identity))] if identity is not None else [],
    )


def _found(session: Session | None) -> Session:
    if session is None:
        raise SessionNotFoundError("Session not found")
    return session


def _add_list_sessions(router: APIRouter, max_page_size: int) -> None:
    Limit = Annotated[int, _page_size(max_page_size)]

    @_route(router, "get", USER_PATH + "/sessions", "list_sessions", list[Session], 403)
    async def list_sessions(
        app_name: str,
        user_id: str,
        service: Service,
        limit: Limit = max_page_size,
        page_token: PageToken = None,
    ) -> Response:
        """The user's sessions without events, least recently updated first.

        A full page sets `X-Next-Page-Token`; pass it as `page_token` for the next one.
        Sessions present for the whole walk appear exactly once.
        """
        after = decode_token(page_token, SessionCursor) if page_token is not None else None
        page = await service.list_sessions_page(
            app_name=app_name, user_id=user_id, limit=limit, after=after
        )
        return JSONResponse(
            [session_json(session) for session in page.items], headers=page_headers(page.next)
        )


def _add_create_session(router: APIRouter) -> None:
    @_route(router, "post", USER_PATH + "/sessions", "create_session", Session, 403, 409, 413)
    async def create_session(
        app_name: str,
        user_id: str,
        service: Service,
        body: Annotated[CreateSessionRequest | None, Body()] = None,
    ) -> Response:
        """Create a session, optionally with an id, a state and events to restore.

        The session and its restored events are stored in one transaction.
        """
        body = body or CreateSessionRequest()
        if body.options:
            invalid(("body", "options"), "this session service takes no options", body.options)
        events = body.events or []
        _check_restored_events(events)
        session = await service.create_session_with_events(
            app_name=app_name,
            user_id=user_id,
            state=body.state,
            session_id=body.session_id,
            events=[mark_restored(event) for event in events],
        )
        return JSONResponse(session_json(session))


def _add_create_session_with_id(router: APIRouter) -> None:
    @_route(
        router, "post", SESSION_PATH, "create_session_with_id", Session, 403, 409, deprecated=True
    )
    async def create_session_with_id(
        app_name: str,
        user_id: str,
        session_id: str,
        service: Service,
        state: Annotated[dict[str, Any] | None, Body()] = None,
    ) -> Response:
        """Create a session with this id; the body is its state (ADK's deprecated form)."""
        session = await service.create_session(
            app_name=app_name, user_id=user_id, state=state, session_id=session_id
        )
        return JSONResponse(session_json(session))


def _add_get_session(router: APIRouter) -> None:
    @_route(router, "get", SESSION_PATH, "get_session", Session, 403, 404)
    async def get_session(
        app_name: str,
        user_id: str,
        session_id: str,
        service: Service,
        num_recent_events: NumRecentEvents = None,
        after_timestamp: AfterTimestamp = None,
    ) -> Response:
        """The session with its merged state and its events, oldest first."""
        config = None
        if num_recent_events is not None or after_timestamp is not None:
            config = GetSessionConfig(
                num_recent_events=num_recent_events, after_timestamp=after_timestamp
            )
        session = await service.get_session(
            app_name=app_name, user_id=user_id, session_id=session_id, config=config
        )
        return JSONResponse(session_json(_found(session)))


def _add_update_session(router: APIRouter) -> None:
    @_route(router, "patch", SESSION_PATH, "update_session", Session, 403, 404, 409, 413)
    async def update_session(
        app_name: str, user_id: str, session_id: str, service: Service, body: UpdateSessionRequest
    ) -> Response:
        """Apply a state delta without running the agent: it is stored as a user event."""

        def state_event() -> Event:
            return Event(
                invocation_id=f"p-{uuid.uuid4()}",
                author="user",
                actions=EventActions(state_delta=body.state_delta),
            )

        session, _ = await service.append_to_latest(
            app_name=app_name, user_id=user_id, session_id=session_id, make_event=state_event
        )
        return JSONResponse(session_json(session))


def _add_delete_session(router: APIRouter) -> None:
    @_route(router, "delete", SESSION_PATH, "delete_session", None, 403)
    async def delete_session(
        app_name: str, user_id: str, session_id: str, service: Service
    ) -> Response:
        """Delete the session and its events; a missing session is no error (as ADK)."""
        await service.delete_session(app_name=app_name, user_id=user_id, session_id=session_id)
        return JSONResponse(None)


def _add_list_events(router: APIRouter, max_page_size: int) -> None:
    Limit = Annotated[int, _page_size(max_page_size)]

    @_route(router, "get", SESSION_PATH + "/events", "list_events", list[Event], 403, 404)
    async def list_events(
        app_name: str,
        user_id: str,
        session_id: str,
        service: Service,
        limit: Limit = max_page_size,
        page_token: PageToken = None,
        after_timestamp: AfterTimestamp = None,
    ) -> Response:
        """The session's events, oldest first (by timestamp, then id), a page at a time."""
        after = decode_token(page_token, EventCursor) if page_token is not None else None
        page = await service.list_events_page(
            app_name=app_name,
            user_id=user_id,
            session_id=session_id,
            limit=limit,
            after=after,
            after_timestamp=after_timestamp,
        )
        if page is None:
            raise SessionNotFoundError("Session not found")
        return JSONResponse(
            [event_json(event) for event in page.items], headers=page_headers(page.next)
        )


def _add_append_event(router: APIRouter) -> None:
    @_route(router, "post", SESSION_PATH + "/events", "append_event", Event, 403, 404, 409, 413)
    async def append_event(
        app_name: str, user_id: str, session_id: str, service: Service, event: EventBody
    ) -> Response:
        """Append an event (its state delta applies); a partial event is not stored."""
        _, stored = await service.append_to_latest(
            app_name=app_name,
            user_id=user_id,
            session_id=session_id,
            make_event=lambda: event.model_copy(deep=True),
            config=GetSessionConfig(num_recent_events=0),
        )
        return JSONResponse(event_json(stored))


def _add_user_state(router: APIRouter) -> None:
    @_route(router, "get", USER_PATH + "/state", "get_user_state", dict[str, Any], 403)
    async def get_user_state(app_name: str, user_id: str, service: Service) -> Response:
        """State shared by the user's sessions of the app (keys without `user:`)."""
        return JSONResponse(await service.get_user_state(app_name=app_name, user_id=user_id))


def sessions_router(
    *,
    identity: Callable[..., Any] | None = None,
    prefix: str = "",
    max_page_size: int = MAX_PAGE_SIZE,
) -> APIRouter:
    """The ADK-compatible session routes, for `app.include_router(...)`.

    Args:
        identity: a FastAPI dependency returning the caller's user id; a request whose
            path `user_id` differs gets 403. None: no check (put auth in front).
        prefix: a path prefix for every route.
        max_page_size: the largest `limit` accepted, and the default one.

    Raises:
        ConfigurationError: `max_page_size` is below 1.

    The routes use `get_session_service`, so `app.dependency_overrides` can swap the
    service.
    """
    if max_page_size < 1:
        raise ConfigurationError(f"max_page_size must be at least 1, got {max_page_size}")
    router = guarded_router(identity, prefix)
    _add_list_sessions(router, max_page_size)
    _add_create_session(router)
    _add_create_session_with_id(router)
    _add_get_session(router)
    _add_update_session(router)
    _add_delete_session(router)
    _add_list_events(router, max_page_size)
    _add_append_event(router)
    _add_user_state(router)
    return router
