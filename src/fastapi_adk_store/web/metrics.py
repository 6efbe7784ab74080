"""`metrics_router()`: `GET /metrics` in Prometheus' text format (the `metrics` extra).

Before answering, the route copies the pool numbers of the app's services into the pool
gauges. With several worker processes, set `PROMETHEUS_MULTIPROC_DIR` (an empty directory,
the same for every worker, set before they start): each worker then writes its numbers
there and any of them answers for all (docs/observability.md).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ..telemetry import refresh_pool, render_metrics
from .deps import ARTIFACT_SERVICE_STATE_KEY, MEMORY_SERVICE_STATE_KEY, SERVICE_STATE_KEY

__all__ = ["metrics_router"]

_SERVICES = (
    ("sessions", SERVICE_STATE_KEY),
    ("artifacts", ARTIFACT_SERVICE_STATE_KEY),
    ("memory", MEMORY_SERVICE_STATE_KEY),
)


def metrics_router(*, path: str = "/metrics") -> APIRouter:
    """The metrics route, for `app.include_router(...)`; outside the OpenAPI schema.

    Raises:
        RuntimeError: prometheus_client is not installed (`fastapi-adk-store[metrics]`).
    """
    render_metrics()  # fail at start-up, not at the first scrape, when it is missing
    router = APIRouter()

    @router.get(path, name="adk_store:metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        for name, key in _SERVICES:
            service = getattr(request.state, key, None) or getattr(request.app.state, key, None)
            if service is not None:
                refresh_pool(name, service)
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return router
