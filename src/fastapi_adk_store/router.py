"""`sessions_router(...)`: ADK api_server-compatible session routes, plus pagination.

The routes and JSON are those of `adk api_server` (camelCase, `None` fields left out,
credential secrets redacted), so ADK's web UI and clients work against them. Extensions:
`limit`/`page_token` on lists (next token in the `X-Next-Page-Token` header, the body
stays ADK's JSON array), `num_recent_events`/`after_timestamp` on get, paged
`.../sessions/{session_id}/events` and the user state at `.../users/{user_id}/state`.

This is the only module that turns store errors into HTTP answers; see `ErrorCode`.
"""

# No `from __future__ import annotations`: FastAPI evaluates the route closures'
# annotations at runtime, and they use aliases local to `sessions_router`.

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Body, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from google.adk.auth.auth_credential import _redact_credential_secrets
from google.adk.events._internal_metadata import mark_restored, public_event, public_session
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from google.adk.utils._function_call_names import CLIENT_FUNCTION_CALL_NAMES
from starlette.requests import Request
from starlette.responses import Response

from ._deps import get_session_service
from .api_models import (
    NEXT_PAGE_TOKEN_HEADER,
    CreateSessionRequest,
    ErrorCode,
    ErrorModel,
    UpdateSessionRequest,
)
from .errors import (
    AlreadyExistsError,
    ConfigurationError,
    EventTooLargeError,
    InvalidValueError,
    SchemaMissingError,
    SessionNotFoundError,
    StaleSessionError,
    StoreUnavailableError,
)
from .service import AsyncpgSessionService, session_from_record
from .settings import DEFAULT_MAX_PAGE_SIZE
from .store import SessionCursor

__all__ = ["RETRY_AFTER_SECONDS", "ErrorCode", "ErrorModel", "sessions_router"]

RETRY_AFTER_SECONDS = 5
# A state PATCH or an event POST reads the session and appends to it; a concurrent
# writer in between makes the append stale, and retrying is safe because the request
# did not depend on what was read.
_APPEND_ATTEMPTS = 3

_ERROR_DESCRIPTIONS: Mapping[int, str] = {
    403: "The path's user is not the caller (`identity` dependency).",
    404: "No such session.",
    409: "The session (or event) exists already, or a concurrent write won.",
    413: "The event is larger than `ADK_STORE_MAX_EVENT_BYTES`.",
    503: "PostgreSQL cannot be reached, or the tables are missing; retry after `Retry-After`.",
}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorModel, "description": _ERROR_DESCRIPTIONS[status]}
        for status in (*statuses, 503)
    }


class _Failure(Exception):
    """An error answer; `_StoreRoute` renders it as an `ErrorModel` body."""

    def __init__(
        self, status: int, code: ErrorCode, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body = ErrorModel(detail=self.detail, code=self.code).model_dump(mode="json")
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _failure(error: Exception) -> _Failure | None:
    """The answer to an error any route may meet, or None for a bug (a 500)."""
    if isinstance(error, _Failure):
        return error
    if isinstance(error, StoreUnavailableError):
        return _Failure(
            503,
            ErrorCode.STORE_UNAVAILABLE,
            "the session store cannot reach PostgreSQL; retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, SchemaMissingError):
        return _Failure(
            503,
            ErrorCode.SCHEMA_MISSING,
            (
                "the session store's tables are missing: start the app with "
                "ADK_STORE_CREATE_TABLES=true or call `await store.create_tables()` once"
            ),
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, StaleSessionError):
        return _Failure(409, ErrorCode.STALE_SESSION, str(error))
    if isinstance(error, EventTooLargeError):
        return _Failure(413, ErrorCode.EVENT_TOO_LARGE, str(error))
    if isinstance(error, SessionNotFoundError):
        return _Failure(404, ErrorCode.SESSION_NOT_FOUND, "Session not found")
    return None


def _invalid(loc: Sequence[str | int], message: str, value: Any) -> NoReturn:
    """Raise a 422 shaped like FastAPI's own validation errors."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": tuple(loc), "msg": message, "input": value}]
    )


class _StoreRoute(APIRoute):
    """Renders `_Failure` and store errors; PostgreSQL refusing a value is a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except InvalidValueError as error:
                # e.g. a NUL character in a path id, which PostgreSQL text cannot hold
                detail: dict[str, Any] = {
                    "type": "value_error",
                    "loc": [],
                    "input": None,
                    "msg": str(error),
                }
                return JSONResponse({"detail": [detail]}, status_code=422)
            except Exception as error:
                failure = _failure(error)
                if failure is None:
                    raise
                return failure.response()

        return handle


# --- JSON, as ADK's api_server renders it -----------------------------------------------


def _session_json(session: Session) -> Any:
    return _redact_credential_secrets(
        public_session(session).model_dump(exclude_none=True, by_alias=True, mode="json")
    )


def _event_json(event: Event) -> Any:
    return _redact_credential_secrets(
        public_event(event).model_dump(exclude_none=True, by_alias=True, mode="json")
    )


# --- page tokens: opaque to clients, a keyset position to us ------------------------------


def _encode_token(*position: float | str) -> str:
    text = json.dumps(["v1", *position], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_token(token: str, kinds: tuple[type, ...]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != len(kinds) + 1
        or parts[0] != "v1"
        or not all(
            isinstance(part, kind) and not isinstance(part, bool)
            for part, kind in zip(parts[1:], kinds, strict=True)
        )
    ):
        _invalid(("query", "page_token"), "invalid page token: pass one this API returned", token)
    return parts[1:]


def _page_headers(token: str | None) -> dict[str, str]:
    return {NEXT_PAGE_TOKEN_HEADER: token} if token else {}


# --- request checks -----------------------------------------------------------------------


def _check_restored_events(events: Sequence[Event]) -> None:
    """Refuse events a client could use to fake ADK's own actions (as ADK's api_server)."""
    for index, event in enumerate(events):
        loc = ("body", "events", index)
        if event.long_running_tool_ids:
            _invalid(loc, "a restored event cannot include long-running tool ids", None)
        if event.actions != EventActions():
            _invalid(loc, "a restored event cannot include actions", None)
        names = [call.name for call in event.get_function_calls()]
        names += [response.name for response in event.get_function_responses()]
        if any(name in CLIENT_FUNCTION_CALL_NAMES for name in names):
            _invalid(loc, "a restored event cannot include ADK protocol function calls", None)


def _identity_guard(identity: Callable[..., Any]) -> Callable[..., Awaitable[None]]:
    async def guard(user_id: str, caller: Annotated[Any, Depends(identity)]) -> None:
        if str(caller) != user_id:
            raise _Failure(
                403, ErrorCode.FORBIDDEN_USER, "this user's sessions belong to another caller"
            )

    return guard


def sessions_router(
    *,
    identity: Callable[..., Any] | None = None,
    prefix: str = "",
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE,
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
    service (its `.store` serves the listing routes).
    """
    if max_page_size < 1:
        raise ConfigurationError(f"max_page_size must be at least 1, got {max_page_size}")
    router = APIRouter(
        prefix=prefix,
        route_class=_StoreRoute,
        dependencies=[Depends(_identity_guard(identity))] if identity is not None else [],
    )

    Service = Annotated[AsyncpgSessionService, Depends(get_session_service)]
    Limit = Annotated[
        int,
        Query(ge=1, le=max_page_size, description="Page size; the default is the largest."),
    ]
    PageToken = Annotated[
        str | None,
        Query(description=f"The `{NEXT_PAGE_TOKEN_HEADER}` header of the previous page."),
    ]
    AfterTimestamp = Annotated[
        float | None,
        Query(allow_inf_nan=False, description="Only events at or after it (epoch seconds)."),
    ]
    user_path = "/apps/{app_name}/users/{user_id}"
    session_path = user_path + "/sessions/{session_id}"

    async def load(
        service: AsyncpgSessionService,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session:
        session = await service.get_session(
            app_name=app_name, user_id=user_id, session_id=session_id, config=config
        )
        if session is None:
            raise _Failure(404, ErrorCode.SESSION_NOT_FOUND, "Session not found")
        return session

    async def create(
        service: AsyncpgSessionService,
        app_name: str,
        user_id: str,
        session_id: str | None,
        state: dict[str, Any] | None,
    ) -> Session:
        try:
            return await service.create_session(
                app_name=app_name, user_id=user_id, state=state, session_id=session_id
            )
        except AlreadyExistsError as error:
            raise _Failure(
                409, ErrorCode.SESSION_ALREADY_EXISTS, f"Session already exists: {session_id}"
            ) from error

    async def append(
        service: AsyncpgSessionService,
        app_name: str,
        user_id: str,
        session_id: str,
        make_event: Callable[[], Event],
        config: GetSessionConfig | None,
    ) -> tuple[Session, Event]:
        for attempt in range(_APPEND_ATTEMPTS):
            session = await load(service, app_name, user_id, session_id, config)
            try:
                event = await service.append_event(session, make_event())
            except StaleSessionError:
                if attempt + 1 == _APPEND_ATTEMPTS:
                    raise
                continue
            except AlreadyExistsError as error:
                raise _Failure(409, ErrorCode.EVENT_ALREADY_EXISTS, str(error)) from error
            return session, event
        raise AssertionError("unreachable")

    @router.get(
        user_path + "/sessions",
        name="adk_store:list_sessions",
        response_model=list[Session],
        response_model_exclude_none=True,
        responses=_responses(403),
    )
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
        after = None
        if page_token is not None:
            after = SessionCursor(*_decode_token(page_token, (float, str, str)))
        records = await service.store.list_sessions(app_name, user_id, limit=limit + 1, after=after)
        token = None
        if len(records) > limit:
            records = records[:limit]
            last = records[-1]
            token = _encode_token(last.last_update_time, last.user_id, last.id)
        return JSONResponse(
            [_session_json(session_from_record(record)) for record in records],
            headers=_page_headers(token),
        )

    @router.post(
        user_path + "/sessions",
        name="adk_store:create_session",
        response_model=Session,
        response_model_exclude_none=True,
        responses=_responses(403, 409, 413),
    )
    async def create_session(
        app_name: str,
        user_id: str,
        service: Service,
        body: Annotated[CreateSessionRequest | None, Body()] = None,
    ) -> Response:
        """Create a session, optionally with an id, a state and events to restore."""
        body = body or CreateSessionRequest()
        if body.options:
            _invalid(("body", "options"), "this session service takes no options", body.options)
        if body.events:
            _check_restored_events(body.events)
        session = await create(service, app_name, user_id, body.session_id, body.state)
        try:
            for event in body.events or []:
                await service.append_event(session, mark_restored(event))
        except Exception:
            # All or nothing: a refused event must not leave a half-restored session.
            await service.delete_session(app_name=app_name, user_id=user_id, session_id=session.id)
            raise
        return JSONResponse(_session_json(session))

    @router.post(
        session_path,
        name="adk_store:create_session_with_id",
        response_model=Session,
        response_model_exclude_none=True,
        responses=_responses(403, 409),
        deprecated=True,
    )
    async def create_session_with_id(
        app_name: str,
        user_id: str,
        session_id: str,
        service: Service,
        state: Annotated[dict[str, Any] | None, Body()] = None,
    ) -> Response:
        """Create a session with this id; the body is its state (ADK's deprecated form)."""
        return JSONResponse(
            _session_json(await create(service, app_name, user_id, session_id, state))
        )

    @router.get(
        session_path,
        name="adk_store:get_session",
        response_model=Session,
        response_model_exclude_none=True,
        responses=_responses(403, 404),
    )
    async def get_session(
        app_name: str,
        user_id: str,
        session_id: str,
        service: Service,
        num_recent_events: Annotated[
            int | None, Query(ge=0, description="Only the newest N events.")
        ] = None,
        after_timestamp: AfterTimestamp = None,
    ) -> Response:
        """The session with its merged state and its events, oldest first."""
        config = None
        if num_recent_events is not None or after_timestamp is not None:
            config = GetSessionConfig(
                num_recent_events=num_recent_events, after_timestamp=after_timestamp
            )
        session = await load(service, app_name, user_id, session_id, config)
        return JSONResponse(_session_json(session))

    @router.patch(
        session_path,
        name="adk_store:update_session",
        response_model=Session,
        response_model_exclude_none=True,
        responses=_responses(403, 404, 409, 413),
    )
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

        session, _ = await append(service, app_name, user_id, session_id, state_event, None)
        return JSONResponse(_session_json(session))

    @router.delete(
        session_path,
        name="adk_store:delete_session",
        response_model=None,
        responses=_responses(403),
    )
    async def delete_session(
        app_name: str, user_id: str, session_id: str, service: Service
    ) -> Response:
        """Delete the session and its events; a missing session is no error (as ADK)."""
        await service.delete_session(app_name=app_name, user_id=user_id, session_id=session_id)
        return JSONResponse(None)

    @router.get(
        session_path + "/events",
        name="adk_store:list_events",
        response_model=list[Event],
        response_model_exclude_none=True,
        responses=_responses(403, 404),
    )
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
        after: tuple[float, str] | None = None
        if page_token is not None:
            timestamp, event_id = _decode_token(page_token, (float, str))
            after = (timestamp, event_id)
        records = await service.store.get_events_page(
            app_name,
            user_id,
            session_id,
            limit=limit + 1,
            after=after,
            after_timestamp=after_timestamp,
        )
        if not records:  # an empty page, or no such session
            await load(
                service, app_name, user_id, session_id, GetSessionConfig(num_recent_events=0)
            )
        events = [record.to_event() for record in records[:limit]]
        token = None
        if len(records) > limit:
            token = _encode_token(events[-1].timestamp, events[-1].id)
        return JSONResponse([_event_json(event) for event in events], headers=_page_headers(token))

    @router.post(
        session_path + "/events",
        name="adk_store:append_event",
        response_model=Event,
        response_model_exclude_none=True,
        responses=_responses(403, 404, 409, 413),
    )
    async def append_event(
        app_name: str, user_id: str, session_id: str, service: Service, event: Event
    ) -> Response:
        """Append an event (its state delta applies); a partial event is not stored."""
        _, stored = await append(
            service,
            app_name,
            user_id,
            session_id,
            lambda: event.model_copy(deep=True),
            GetSessionConfig(num_recent_events=0),
        )
        return JSONResponse(_event_json(stored))

    @router.get(
        user_path + "/state",
        name="adk_store:get_user_state",
        response_model=dict[str, Any],
        responses=_responses(403),
    )
    async def get_user_state(app_name: str, user_id: str, service: Service) -> Response:
        """State shared by the user's sessions of the app (keys without `user:`)."""
        return JSONResponse(await service.get_user_state(app_name=app_name, user_id=user_id))

    return router
