"""PostgreSQL (asyncpg) session store for Google ADK, wired into FastAPI.

How the code is arranged: docs/architecture.md.
"""

from __future__ import annotations

from ._version import __version__ as __version__
from .artifacts.service import ArtifactStream, AsyncpgArtifactService
from .artifacts.store import ArtifactStore
from .compose import (
    AsyncpgConfig,
    build_store,
    open_artifact_service,
    open_memory_service,
    open_session_service,
)
from .db.pool import PoolStats
from .errors import (
    AlreadyExistsError,
    AmbiguousSessionError,
    ArtifactTooLargeError,
    ConfigurationError,
    EmbeddedServerError,
    EventAlreadyExistsError,
    EventTooLargeError,
    InvalidValueError,
    SchemaMissingError,
    SchemaOutdatedError,
    SessionAlreadyExistsError,
    SessionNotFoundError,
    StaleSessionError,
    StoreError,
    StoreUnavailableError,
)
from .memory.records import Embedder
from .memory.service import AsyncpgMemoryService
from .memory.store import MemoryStore
from .sessions.records import (
    EventCursor,
    EventRecord,
    Page,
    SessionCursor,
    SessionKey,
    SessionRecord,
    StateDeltas,
)
from .sessions.seed import AsyncpgADKStore
from .sessions.service import AsyncpgSessionService, event_from_record, session_from_record
from .sessions.sql import SCHEMA_VERSION
from .sessions.store import SessionStore
from .settings import StoreSettings
from .telemetry import configure as configure_telemetry
from .web.artifacts import artifacts_router
from .web.deps import (
    ArtifactServiceDep,
    MemoryServiceDep,
    get_artifact_service,
    get_memory_service,
)
from .web.health import HealthReport, health_router
from .web.memory import memory_router
from .web.metrics import metrics_router
from .web.models import ErrorCode, ErrorModel
from .web.plugin import ADKStore, SessionServiceDep, StoreDep, get_session_service, get_store
from .web.sessions import sessions_router

__all__ = [
    "SCHEMA_VERSION",
    "ADKStore",
    "AlreadyExistsError",
    "AmbiguousSessionError",
    "ArtifactServiceDep",
    "ArtifactStore",
    "ArtifactStream",
    "ArtifactTooLargeError",
    "AsyncpgADKStore",
    "AsyncpgArtifactService",
    "AsyncpgConfig",
    "AsyncpgMemoryService",
    "AsyncpgSessionService",
    "ConfigurationError",
    "EmbeddedServerError",
    "Embedder",
    "ErrorCode",
    "ErrorModel",
    "EventAlreadyExistsError",
    "EventCursor",
    "EventRecord",
    "EventTooLargeError",
    "HealthReport",
    "InvalidValueError",
    "MemoryServiceDep",
    "MemoryStore",
    "Page",
    "PoolStats",
    "SchemaMissingError",
    "SchemaOutdatedError",
    "SessionAlreadyExistsError",
    "SessionCursor",
    "SessionKey",
    "SessionNotFoundError",
    "SessionRecord",
    "SessionServiceDep",
    "SessionStore",
    "StaleSessionError",
    "StateDeltas",
    "StoreDep",
    "StoreError",
    "StoreSettings",
    "StoreUnavailableError",
    "artifacts_router",
    "build_store",
    "configure_telemetry",
    "event_from_record",
    "get_artifact_service",
    "get_memory_service",
    "get_session_service",
    "get_store",
    "health_router",
    "memory_router",
    "metrics_router",
    "open_artifact_service",
    "open_memory_service",
    "open_session_service",
    "session_from_record",
    "sessions_router",
]
