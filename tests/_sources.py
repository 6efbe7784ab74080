"""Sources for the import tests: google-adk's DatabaseSessionService and sqlspec's asyncpg
ADK store, each writing to a schema of its own, with a plain pool on it for the importer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.database_session_service import DatabaseSessionService
from sqlspec.adapters.asyncpg import AsyncpgConfig as SqlspecConfig
from sqlspec.adapters.asyncpg.adk import AsyncpgADKStore as SqlspecStore
from sqlspec.extensions.adk import SQLSpecSessionService

from ._helpers import fresh_schema


@dataclass
class Source:
    """A source service, and a plain asyncpg pool on its schema for the importer."""

    service: BaseSessionService
    pool: asyncpg.Pool
    schema: str


@asynccontextmanager
async def adk_source(dsn: str) -> AsyncIterator[Source]:
    """google-adk's DatabaseSessionService on a schema of its own."""
    async with fresh_schema(dsn) as options:
        schema = options["server_settings"]["search_path"]
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        service = DatabaseSessionService(
            url, connect_args={"server_settings": {"search_path": schema}}
        )
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=2, server_settings=options["server_settings"]
        )
        try:
            yield Source(service, pool, schema)
        finally:
            await pool.close()
            await service.close()


@asynccontextmanager
async def sqlspec_source(dsn: str, tables: dict[str, str] | None = None) -> AsyncIterator[Source]:
    """sqlspec's AsyncpgADKStore and SQLSpecSessionService, as bench/contenders.py opens them."""
    async with fresh_schema(dsn) as options:
        schema = options["server_settings"]["search_path"]
        config = SqlspecConfig(
            connection_config={
                "dsn": dsn,
                "min_size": 1,
                "max_size": 2,
                "server_settings": options["server_settings"],
            },
            extension_config={"adk": dict(tables or {})},
        )
        store = SqlspecStore(config)
        await store.create_tables()
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=2, server_settings=options["server_settings"]
        )
        try:
            yield Source(SQLSpecSessionService(store), pool, schema)
        finally:
            await pool.close()
            await config.close_pool()
