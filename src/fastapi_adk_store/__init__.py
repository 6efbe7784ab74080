"""PostgreSQL (asyncpg) session store for Google ADK, wired into FastAPI."""

from __future__ import annotations

from .api_models import ErrorCode, ErrorModel
from .config import AsyncpgConfig
from .errors import (
    AlreadyExistsError,
    AmbiguousSessionError,
    ConfigurationError,
    EmbeddedServerError,
    EventTooLargeError,
    InvalidValueError,
    SchemaMissingError,
    SessionNotFoundError,
    StaleSessionError,
    StoreError,
    StoreUnavailableError,
)
from .integration import ADKStore, SessionServiceDep, StoreDep, get_session_service, get_store
from .models import EventRecord, SessionRecord
from .router import sessions_router
from .service import AsyncpgSessionService, open_session_service, session_from_record
from .settings import StoreSettings
from .store import AsyncpgADKStore, PoolStats, SessionCursor, StateDeltas

__all__ = [
    "ADKStore",
    "AlreadyExistsError",
    "AmbiguousSessionError",
    "AsyncpgADKStore",
    "AsyncpgConfig",
    "AsyncpgSessionService",
    "ConfigurationError",
    "EmbeddedServerError",
    "ErrorCode",
    "ErrorModel",
    "EventRecord",
    "EventTooLargeError",
    "InvalidValueError",
    "PoolStats",
    "SchemaMissingError",
    "SessionCursor",
    "SessionNotFoundError",
    "SessionRecord",
    "SessionServiceDep",
    "StaleSessionError",
    "StateDeltas",
    "StoreDep",
    "StoreError",
    "StoreSettings",
    "StoreUnavailableError",
    "get_session_service",
    "get_store",
    "open_session_service",
    "session_from_record",
    "sessions_router",
]
