"""Helpers shared by the test modules: settings, apps, clients, schemas, ports, requests."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from fastapi_adk_store.defaults import (
    APP_STATE_TABLE,
    EVENTS_TABLE,
    SESSION_TABLE,
    USER_STATE_TABLE,
)
from fastapi_adk_store.settings import StoreSettings
from fastapi_adk_store.web.plugin import ADKStore

# asyncpg pool options (conftest's `pool_options`: dsn, sizes, server_settings.search_path).
PoolOptions = dict[str, Any]

# Empties every table of sessions, events and shared state (not the schema version), so
# one schema can serve many generated examples (the fuzz and property tests).
TRUNCATE_DATA = f"TRUNCATE {SESSION_TABLE}, {EVENTS_TABLE}, {APP_STATE_TABLE}, {USER_STATE_TABLE}"


def search_path_dsn(pool_options: PoolOptions) -> str:
    """The options' DSN pinned to their schema: `search_path` as a DSN query parameter.

    For code that takes only a DSN (a subprocess's ADK_STORE_DSN, an `adkstore://` URI, a
    docs snippet): asyncpg reads unknown query parameters as server settings.
    """
    dsn: str = pool_options["dsn"]
    schema: str = pool_options["server_settings"]["search_path"]
    return f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"


def make_settings(pool_options: PoolOptions, **overrides: Any) -> StoreSettings:
    """Settings for the test schema, ignoring any `.env` in the working directory."""
    values: dict[str, Any] = {
        "dsn": pool_options["dsn"],
        "min_size": 1,
        "max_size": 5,
        "server_settings": pool_options["server_settings"],
        **overrides,
    }
    return StoreSettings(_env_file=None, **values)


def make_app(plugin: ADKStore, **router_options: Any) -> FastAPI:
    """The quick-start app: the plugin's lifespan and its router."""
    app = FastAPI(lifespan=plugin.lifespan)
    app.include_router(plugin.sessions_router(**router_options))
    return app


def client_for(manager: LifespanManager) -> httpx.AsyncClient:
    """An HTTP client for a started app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test")


@asynccontextmanager
async def fresh_schema(dsn: str) -> AsyncIterator[PoolOptions]:
    """Pool options for another new schema (as conftest's `pool_options`), dropped after."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        yield {"dsn": dsn, "server_settings": {"search_path": schema}}
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await connection.close()


def free_port() -> int:
    """A local TCP port nothing listens on (the OS picked it free, then it was released).

    Free to listen on (a server the test starts) or to dial as a closed port (a server
    that is down); another process may take it meanwhile, so starters should retry.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def run_request(user_id: str, session_id: str, text: str, **extra: Any) -> dict[str, Any]:
    """ADK's RunAgentRequest body (camelCase) for the notes app: one user message."""
    return {
        "appName": "notes",
        "userId": user_id,
        "sessionId": session_id,
        "newMessage": {"role": "user", "parts": [{"text": text}]},
        **extra,
    }
