"""Domain errors -> HTTP answers, in one place; routes built with `StoreRoute` use it.

400 an id or artifact ADK's artifact services refuse, 404 missing, 409 duplicate or
stale, 413 too large, 422 invalid (FastAPI's shape),
503 with `Retry-After` when PostgreSQL cannot be reached; never a 500 for bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, NoReturn

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from google.adk.errors.input_validation_error import InputValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import (
    ArtifactTooLargeError,
    EventAlreadyExistsError,
    EventTooLargeError,
    InvalidValueError,
    SchemaMissingError,
    SessionAlreadyExistsError,
    SessionNotFoundError,
    StaleSessionError,
    StoreUnavailableError,
)
from ..telemetry import logger as room_logger
from .models import ErrorCode, ErrorModel

__all__ = [
    "RETRY_AFTER_SECONDS",
    "Failure",
    "StoreRoute",
    "error_responses",
    "invalid",
    "store_route",
]

RETRY_AFTER_SECONDS = 5
logger = room_logger("web")

_DESCRIPTIONS: Mapping[int, str] = {
    400: "An id, filename or artifact ADK's artifact services refuse (e.g. `..` in an id).",
    403: "The path's user is not the caller (`identity` dependency).",
    404: "No such session (or artifact version).",
    409: "The session (or event) exists already, or a concurrent write won.",
    413: "The event (artifact) is larger than `ADK_STORE_MAX_EVENT_BYTES` "
    "(`ADK_STORE_MAX_ARTIFACT_BYTES`).",
    503: "PostgreSQL cannot be reached, or the tables are missing; retry after `Retry-After`.",
}
_RETRY_LATER = {"Retry-After": str(RETRY_AFTER_SECONDS)}
_FASTAPI_BODY_ERROR = "There was an error parsing the body"
_SCHEMA_MISSING = (
    "the session store's tables are missing: start the app with "
    "ADK_STORE_CREATE_TABLES=true or call `await store.create_tables()` once"
)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these statuses (and 503, which any route may answer)."""
    return {
        status: {"model": ErrorModel, "description": _DESCRIPTIONS[status]}
        for status in (*statuses, 503)
    }


def store_route(
    router: APIRouter, method: str, path: str, name: str, model: Any, *statuses: int, **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route: `adk_store:<name>`, the response model for OpenAPI, its errors.

    Routes answer with JSONResponses they render themselves, so the model only documents
    the body. `extra` goes to `router.api_route` (`deprecated=`, `openapi_extra=`, ...).
    """
    return router.api_route(
        path,
        methods=[method.upper()],
        name=f"adk_store:{name}",
        response_model=model,
        response_model_exclude_none=True,
        responses=error_responses(*statuses),
        **extra,
    )


class Failure(Exception):
    """An error answer with an `ErrorModel` body."""

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


def _failure(error: Exception) -> Failure | None:
    """The answer to a domain error, or None for a bug (a 500)."""
    if isinstance(error, Failure):
        return error
    if isinstance(error, StoreUnavailableError):
        detail = "the session store cannot reach PostgreSQL; retry later"
        return Failure(503, ErrorCode.STORE_UNAVAILABLE, detail, _RETRY_LATER)
    if isinstance(error, SchemaMissingError):
        return Failure(503, ErrorCode.SCHEMA_MISSING, _SCHEMA_MISSING, _RETRY_LATER)
    if isinstance(error, StaleSessionError):
        return Failure(409, ErrorCode.STALE_SESSION, str(error))
    if isinstance(error, EventAlreadyExistsError):
        return Failure(409, ErrorCode.EVENT_ALREADY_EXISTS, str(error))
    if isinstance(error, SessionAlreadyExistsError):  # ADK api_server's text
        detail = f"Session already exists: {error.session_id}"
        return Failure(409, ErrorCode.SESSION_ALREADY_EXISTS, detail)
    if isinstance(error, EventTooLargeError):
        return Failure(413, ErrorCode.EVENT_TOO_LARGE, str(error))
    if isinstance(error, SessionNotFoundError):
        return Failure(404, ErrorCode.SESSION_NOT_FOUND, "Session not found")
    if isinstance(error, ArtifactTooLargeError):
        return Failure(413, ErrorCode.ARTIFACT_TOO_LARGE, str(error))
    if isinstance(error, InputValidationError):  # ADK api_server's answer on save
        return Failure(400, ErrorCode.INVALID_ARTIFACT_INPUT, str(error))
    return None


def _unavailable(request: Request, failure: Failure, error: Exception) -> None:
    """One warning per 503: the route and the error class (never its message or the DSN)."""
    route = getattr(request.scope.get("route"), "name", None)
    logger.warning(
        "503 %s on %s: %s",
        failure.code.value,
        route,
        type(error).__name__,
        extra={"route": route, "status": 503, "code": failure.code.value},
    )


def invalid(loc: Sequence[str | int], message: str, value: Any) -> NoReturn:
    """Raise a 422 shaped like FastAPI's own validation errors."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": tuple(loc), "msg": message, "input": value}]
    )


class StoreRoute(APIRoute):
    """Renders domain errors as `_failure` says; PostgreSQL refusing a value is a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as error:
                if (error.status_code, error.detail) != (400, _FASTAPI_BODY_ERROR):
                    raise
                # FastAPI's answer to a body that is not UTF-8: a 422 like any bad body.
                invalid(("body",), "the body is not JSON text in UTF-8", None)
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
                if failure.status == 503:
                    _unavailable(request, failure, error)
                return failure.response()

        return handle
