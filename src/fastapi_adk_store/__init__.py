"""PostgreSQL (asyncpg) session store for Google ADK, wired into FastAPI."""

from __future__ import annotations

from .config import AsyncpgConfig
from .errors import (
    AlreadyExistsError,
    AmbiguousSessionError,
    ConfigurationError,
    EmbeddedServerError,
    EventTooLargeError,
    SchemaMissingError,
    SessionNotFoundError,
    StaleSessionError,
    StoreError,
    StoreUnavailableError,
)
from .models import EventRecord, SessionRecord
from .service import AsyncpgSessionService, open_session_service
from .store import AsyncpgADKStore, PoolStats, SessionCursor, StateDeltas

__all__ = [
    "AlreadyExistsError",
    "AmbiguousSessionError",
    "AsyncpgADKStore",
    "AsyncpgConfig",
    "AsyncpgSessionService",
    "ConfigurationError",
    "EmbeddedServerError",
    "EventRecord",
    "EventTooLargeError",
    "PoolStats",
    "SchemaMissingError",
    "SessionCursor",
    "SessionNotFoundError",
    "SessionRecord",
    "StaleSessionError",
    "StateDeltas",
    "StoreError",
    "StoreUnavailableError",
    "open_session_service",
]
