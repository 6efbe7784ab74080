"""`health_router()`: one route a load balancer or orchestrator can poll.

`GET /health` answers 200 with the schema version and the pool's numbers when PostgreSQL
answers and the schema is in place, else 503 with `Retry-After` (as every route does).
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from starlette.responses import Response

from ..errors import SchemaMissingError
from .deps import StoreDep
from .errors import StoreRoute, error_responses

__all__ = ["HealthReport", "health_router"]


class HealthReport(BaseModel):
    """Body of `GET /health`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: str
    schema_version: int
    pool_size: int
    pool_idle: int
    pool_max_size: int


def health_router(*, prefix: str = "") -> APIRouter:
    """The health route, for `app.include_router(...)`; it needs the plugin's lifespan."""
    router = APIRouter(prefix=prefix, route_class=StoreRoute)

    @router.get(
        "/health",
        name="adk_store:health",
        response_model=HealthReport,
        responses=error_responses(),
    )
    async def health(store: StoreDep) -> Response:
        """200 when PostgreSQL answers and the tables are in place; 503 otherwise."""
        version = await store.schema_version()
        if version is None:  # the version table exists, another table does not
            raise SchemaMissingError(store.session_table)
        stats = store.pool_stats()
        report = HealthReport(
            status="ok",
            schema_version=version,
            pool_size=stats.size,
            pool_idle=stats.idle,
            pool_max_size=stats.max_size,
        )
        body: dict[str, Any] = report.model_dump(by_alias=True)
        return JSONResponse(body)

    return router
