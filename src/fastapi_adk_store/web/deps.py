"""Dependency providers: the store and the session service of the current app."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from ..artifacts.service import AsyncpgArtifactService
from ..errors import ConfigurationError
from ..memory.service import AsyncpgMemoryService
from ..sessions.seed import AsyncpgADKStore
from ..sessions.service import AsyncpgSessionService

__all__ = [
    "ARTIFACT_SERVICE_STATE_KEY",
    "MEMORY_SERVICE_STATE_KEY",
    "SERVICE_STATE_KEY",
    "STORE_STATE_KEY",
    "ArtifactServiceDep",
    "MemoryServiceDep",
    "SessionServiceDep",
    "StoreDep",
    "get_artifact_service",
    "get_memory_service",
    "get_session_service",
    "get_store",
]

STORE_STATE_KEY = "adk_store"
SERVICE_STATE_KEY = "adk_session_service"

_NOT_STARTED = (
    "no {what} on this app: create the app with FastAPI(lifespan=store.lifespan), or enter "
    "store.lifespan(app) inside your own lifespan (see docs/quickstart-fastapi.md)"
)


def _from_state(connection: HTTPConnection, key: str) -> Any:
    # Lifespan state first: it reaches mounted sub-apps, whose app.state is their own.
    value = getattr(connection.state, key, None)
    if value is None:
        value = getattr(connection.app.state, key, None)
    if value is None:
        raise ConfigurationError(_NOT_STARTED.format(what=key))
    return value


def get_store(connection: HTTPConnection) -> AsyncpgADKStore:
    """Dependency: the app's `AsyncpgADKStore`.

    Raises:
        ConfigurationError: the app was not started with `ADKStore.lifespan`.
    """
    store: AsyncpgADKStore = _from_state(connection, STORE_STATE_KEY)
    return store


def get_session_service(
    connection: HTTPConnection, store: Annotated[AsyncpgADKStore, Depends(get_store)]
) -> AsyncpgSessionService:
    """Dependency: the app's `AsyncpgSessionService` (an ADK `BaseSessionService`).

    It serves the store `get_store` provides, so overriding `get_store` moves both.

    Raises:
        ConfigurationError: the app was not started with `ADKStore.lifespan`.
    """
    service = getattr(connection.state, SERVICE_STATE_KEY, None) or getattr(
        connection.app.state, SERVICE_STATE_KEY, None
    )
    if isinstance(service, AsyncpgSessionService) and service.store is store.sessions:
        return service
    return AsyncpgSessionService(store)


StoreDep = Annotated[AsyncpgADKStore, Depends(get_store)]
SessionServiceDep = Annotated[AsyncpgSessionService, Depends(get_session_service)]


ARTIFACT_SERVICE_STATE_KEY = "adk_artifact_service"


def get_artifact_service(connection: HTTPConnection) -> AsyncpgArtifactService:
    """Dependency: the app's `AsyncpgArtifactService` (an ADK `BaseArtifactService`), on
    the sessions' pool.

    Raises:
        ConfigurationError: the app was not started with `ADKStore.lifespan`.
    """
    service: AsyncpgArtifactService = _from_state(connection, ARTIFACT_SERVICE_STATE_KEY)
    return service


ArtifactServiceDep = Annotated[AsyncpgArtifactService, Depends(get_artifact_service)]

MEMORY_SERVICE_STATE_KEY = "adk_memory_service"


def get_memory_service(connection: HTTPConnection) -> AsyncpgMemoryService:
    """Dependency: the app's `AsyncpgMemoryService` (an ADK `BaseMemoryService`).

    Raises:
        ConfigurationError: the app was not started with `ADKStore.lifespan`, or its
            settings leave `memory_enabled` off.
    """
    service: AsyncpgMemoryService = _from_state(connection, MEMORY_SERVICE_STATE_KEY)
    return service


MemoryServiceDep = Annotated[AsyncpgMemoryService, Depends(get_memory_service)]
