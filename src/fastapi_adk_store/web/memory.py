"""`memory_router(...)`: ADK api_server's memory route, plus search.

`PATCH /apps/{app_name}/users/{user_id}/memory` with `{"sessionId": ...}` adds that
session's events to memory (as `adk api_server` does); `GET .../memory?query=` searches
them. Both call the services only; errors become HTTP in `web.errors`.
"""

# No `from __future__ import annotations`: FastAPI evaluates the routes' annotations.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from google.adk.memory.base_memory_service import SearchMemoryResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..errors import SessionNotFoundError
from ..memory.service import AsyncpgMemoryService
from ..sessions.service import AsyncpgSessionService
from .deps import get_memory_service, get_session_service
from .errors import StoreRoute, error_responses
from .sessions import USER_PATH, identity_guard

__all__ = ["UpdateMemoryRequest", "memory_router"]

MEMORY_PATH = USER_PATH + "/memory"

Memory = Annotated[AsyncpgMemoryService, Depends(get_memory_service)]
Sessions = Annotated[AsyncpgSessionService, Depends(get_session_service)]


class UpdateMemoryRequest(BaseModel):
    """Which session to add to memory (ADK's `UpdateMemoryRequest`)."""

    model_config = ConfigDict(populate_by_name=True)

    session_id: str = Field(validation_alias=AliasChoices("sessionId", "session_id"))


def memory_router(*, identity: Callable[..., Any] | None = None, prefix: str = "") -> APIRouter:
    """The memory routes, for `app.include_router(...)`.

    Args:
        identity: a FastAPI dependency returning the caller's user id; a request whose
            path `user_id` differs gets 403. None: no check (put auth in front).
        prefix: a path prefix for every route.
    """
    router = APIRouter(
        prefix=prefix,
        route_class=StoreRoute,
        dependencies=[Depends(identity_guard(identity))] if identity is not None else [],
    )

    @router.patch(
        MEMORY_PATH, name="adk_store:add_session_to_memory", responses=error_responses(403, 404)
    )
    async def add_session_to_memory(
        app_name: str, user_id: str, body: UpdateMemoryRequest, memory: Memory, sessions: Sessions
    ) -> None:
        """Add the session's events to the user's memory (idempotent)."""
        session = await sessions.get_session(
            app_name=app_name, user_id=user_id, session_id=body.session_id
        )
        if session is None:
            raise SessionNotFoundError("Session not found")
        await memory.add_session_to_memory(session)

    @router.get(
        MEMORY_PATH,
        name="adk_store:search_memory",
        response_model=SearchMemoryResponse,
        responses=error_responses(403),
    )
    async def search_memory(
        app_name: str,
        user_id: str,
        memory: Memory,
        query: Annotated[str, Query(max_length=4096)] = "",
    ) -> Response:
        """The user's memories matching the query, best first."""
        found = await memory.search_memory(app_name=app_name, user_id=user_id, query=query)
        return JSONResponse(found.model_dump(mode="json", by_alias=True, exclude_none=True))

    return router
