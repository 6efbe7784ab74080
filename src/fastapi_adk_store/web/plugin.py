"""`ADKStore`: the FastAPI plugin (lifespan, dependency providers, router factory).

    store = ADKStore()                            # ADK_STORE_* variables and .env
    app = FastAPI(lifespan=store.lifespan)        # pool + tables at start, closed at stop
    app.include_router(store.sessions_router())   # ADK api_server-compatible routes

Nothing lives in module globals: the lifespan puts the store and the service on the
app's `state` (and in the lifespan state it yields), and the providers read them from
the request, so several apps, each with its own store, can share a process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from ..compose import artifact_service_on, memory_service_on, open_store
from ..memory.records import Embedder, SearchMode
from ..sessions.seed import AsyncpgADKStore
from ..sessions.service import AsyncpgSessionService
from ..settings import StoreSettings
from .artifacts import artifacts_router
from .deps import (
    ARTIFACT_SERVICE_STATE_KEY,
    MEMORY_SERVICE_STATE_KEY,
    SERVICE_STATE_KEY,
    STORE_STATE_KEY,
    ArtifactServiceDep,
    MemoryServiceDep,
    SessionServiceDep,
    StoreDep,
    get_artifact_service,
    get_memory_service,
    get_session_service,
    get_store,
)
from .health import health_router
from .memory import memory_router
from .metrics import metrics_router
from .sessions import sessions_router

__all__ = [
    "ARTIFACT_SERVICE_STATE_KEY",
    "MEMORY_SERVICE_STATE_KEY",
    "SERVICE_STATE_KEY",
    "STORE_STATE_KEY",
    "ADKStore",
    "ArtifactServiceDep",
    "MemoryServiceDep",
    "SessionServiceDep",
    "StoreDep",
    "get_artifact_service",
    "get_memory_service",
    "get_session_service",
    "get_store",
]


class ADKStore:
    """The store as a FastAPI plugin.

    Args:
        settings: the settings; read from the environment and `.env` when omitted.
        memory_embedder: with `memory_enabled`, makes memory search semantic too
            (pgvector; see docs/memory.md); `memory_search_mode` "hybrid" or "vector".
        **overrides: settings fields that replace those of `settings` (or of the
            environment), e.g. `ADKStore(dsn="postgresql://...", max_size=20)`.

    Raises:
        pydantic.ValidationError: an override is invalid (the error names its variable).
    """

    def __init__(
        self,
        settings: StoreSettings | None = None,
        *,
        memory_embedder: Embedder | None = None,
        memory_search_mode: SearchMode = "hybrid",
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = StoreSettings(**overrides)
        elif overrides:
            settings = type(settings)(**{**dict(settings), **overrides})
        self.settings = settings
        self.memory_embedder = memory_embedder
        self.memory_search_mode: SearchMode = memory_search_mode

    @asynccontextmanager
    async def open(self) -> AsyncIterator[AsyncpgADKStore]:
        """Open the store outside FastAPI: embedded server if needed, pool, tables.

        The pool opens before the yield, so a wrong DSN or a down server fails here
        (unless `min_size` is 0). The pool and any embedded server close on exit.
        """
        async with open_store(self.settings) as store:
            yield store

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        """Open the store for the app's lifetime; pass as `FastAPI(lifespan=...)`.

        Puts the store and its session service on `app.state` and in the yielded
        lifespan state (`request.state.adk_store`, `request.state.adk_session_service`).
        """
        async with self.open() as store:
            artifacts = await artifact_service_on(store, self.settings)
            with_artifacts = self.settings.artifacts_delete_with_session
            on_delete = artifacts.delete_session_artifacts if with_artifacts else None
            state: dict[str, Any] = {
                STORE_STATE_KEY: store,
                SERVICE_STATE_KEY: AsyncpgSessionService(store, on_delete=on_delete),
                ARTIFACT_SERVICE_STATE_KEY: artifacts,
            }
            if self.settings.memory_enabled:
                state[MEMORY_SERVICE_STATE_KEY] = await memory_service_on(
                    store,
                    self.settings,
                    embedder=self.memory_embedder,
                    search_mode=self.memory_search_mode,
                )
            for key, value in state.items():
                setattr(app.state, key, value)
            try:
                yield state
            finally:
                for key in state:
                    delattr(app.state, key)

    def sessions_router(self, **kwargs: Any) -> APIRouter:
        """`sessions_router(...)` with `max_page_size` from the settings.

        Keyword arguments (`identity=`, `prefix=`, `max_page_size=`) are passed on.
        """
        kwargs.setdefault("max_page_size", self.settings.max_page_size)
        return sessions_router(**kwargs)

    def artifacts_router(self, **kwargs: Any) -> APIRouter:
        """`artifacts_router(...)` (see `web.artifacts`); `identity=`, `prefix=` are
        passed on."""
        return artifacts_router(**kwargs)

    def health_router(self, **kwargs: Any) -> APIRouter:
        """`GET /health` (see `web.health`); `prefix=` is passed on."""
        return health_router(**kwargs)

    def memory_router(self, **kwargs: Any) -> APIRouter:
        """`memory_router(...)` (see `web.memory`); needs `memory_enabled` in the settings.

        Keyword arguments (`identity=`, `prefix=`) are passed on.
        """
        return memory_router(**kwargs)

    def metrics_router(self, **kwargs: Any) -> APIRouter:
        """`GET /metrics` (see `web.metrics`; the `metrics` extra); `path=` is passed on."""
        return metrics_router(**kwargs)
