"""The services under test, each opened on its own database with a pool of 10.

A `Contender` is an ADK `BaseSessionService` plus what the benchmark needs beyond ADK's
API: a first-page listing (ADK's `list_sessions` has no paging) and the SQL that seeds a
user with many sessions straight into the contender's own schema.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from google.adk.sessions.base_session_service import BaseSessionService

from .floor import open_floor_service

__all__ = ["CONTENDERS", "Contender", "database_dsn", "open_contender", "seed_sql"]

POOL_SIZE: Final = 10

# name -> database; "floor_aa" is a second, independent copy of the floor (A/A control).
CONTENDERS: Final = {
    "floor": "bench_floor",
    "floor_aa": "bench_floor_aa",
    "ours": "bench_ours",
    "adk_db": "bench_adk",
    "sqlspec": "bench_sqlspec",
}

ListPage = Callable[[str, str, int], Awaitable[int]]


@dataclass
class Contender:
    """One service under test and its benchmark-only hooks."""

    name: str
    service: BaseSessionService
    list_page: ListPage
    """Lists the first page of a user's sessions as ADK `Session`s; returns the count."""
    list_note: str
    seed_sql: str
    """INSERT ... SELECT generate_series: $1 app, $2 user, $3 how many sessions; see
    `seed_sql()` for its `{ts}`."""


def database_dsn(dsn: str, database: str) -> str:
    """`dsn` pointed at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


# {ts} is filled in by `seed_sql()` for the column's type: sessions one second apart, so
# update_time orders them.
_SEED_OURS: Final = """
INSERT INTO adk_sessions (app_name, user_id, id, state, update_time)
SELECT $1, $2, 's' || g, '{{"topic": "seeded"}}'::jsonb, {ts}
FROM generate_series(1, $3::int) g
"""
_SEED_FLOOR: Final = """
INSERT INTO floor_sessions (app_name, user_id, id, state, update_time)
SELECT $1, $2, 's' || g, '{{"topic": "seeded"}}'::jsonb, {ts}
FROM generate_series(1, $3::int) g
"""
_SEED_ADK: Final = """
INSERT INTO sessions (app_name, user_id, id, state, create_time, update_time)
SELECT $1, $2, 's' || g, '{{"topic": "seeded"}}'::jsonb, {ts}, {ts}
FROM generate_series(1, $3::int) g
"""
# sqlspec's session id is a global primary key: prefix it with the user.
_SEED_SQLSPEC: Final = """
INSERT INTO adk_session (id, app_name, user_id, state, create_time, update_time)
SELECT $2 || '-s' || g, $1, $2, '{{"topic": "seeded"}}'::jsonb, {ts}, {ts}
FROM generate_series(1, $3::int) g
"""
_SEED_TABLE: Final = re.compile(r"INSERT INTO (\w+)")


async def seed_sql(connection: asyncpg.Connection, template: str) -> str:
    """The seeding statement for the type the contender gives `update_time`."""
    match = _SEED_TABLE.search(template)
    assert match is not None
    kind = await connection.fetchval(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = $1 AND column_name = 'update_time'",
        match.group(1),
    )
    if kind in ("double precision", "numeric", "real"):
        ts = "extract(epoch FROM now())::float8 - g"
    else:
        ts = "now() - make_interval(secs => g)"
    return template.format(ts=ts)


@asynccontextmanager
async def _floor(name: str, dsn: str) -> AsyncIterator[Contender]:
    async with open_floor_service(dsn, pool_size=POOL_SIZE) as service:

        async def list_page(app_name: str, user_id: str, limit: int) -> int:
            return len(await service.list_page(app_name, user_id, limit))

        yield Contender(name, service, list_page, "keyset LIMIT", _SEED_FLOOR)


@asynccontextmanager
async def _ours(dsn: str) -> AsyncIterator[Contender]:
    from fastapi_adk_store import open_session_service

    async with open_session_service(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE) as service:

        async def list_page(app_name: str, user_id: str, limit: int) -> int:
            # ADK's list_sessions has no paging: the service's keyset page (what the
            # router's GET .../sessions calls; it fetches limit + 1 rows to know if more
            # follow), as ADK Sessions.
            page = await service.list_sessions_page(app_name=app_name, user_id=user_id, limit=limit)
            return len(page.items)

        yield Contender(
            "ours", service, list_page, "service.list_sessions_page(limit=)", _SEED_OURS
        )


@asynccontextmanager
async def _adk(dsn: str) -> AsyncIterator[Contender]:
    from google.adk.sessions.database_session_service import DatabaseSessionService

    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    service = DatabaseSessionService(url, pool_size=POOL_SIZE, max_overflow=0)
    try:

        async def list_page(app_name: str, user_id: str, limit: int) -> int:
            # No paging in DatabaseSessionService: the whole listing is the first page.
            response = await service.list_sessions(app_name=app_name, user_id=user_id)
            return len(response.sessions)

        yield Contender("adk_db", service, list_page, "no paging: lists all", _SEED_ADK)
    finally:
        await service.close()


@asynccontextmanager
async def _sqlspec(dsn: str) -> AsyncIterator[Contender]:
    from sqlspec.adapters.asyncpg import AsyncpgConfig
    from sqlspec.adapters.asyncpg.adk import AsyncpgADKStore
    from sqlspec.extensions.adk import SQLSpecSessionService

    config = AsyncpgConfig(
        connection_config={"dsn": dsn, "min_size": POOL_SIZE, "max_size": POOL_SIZE}
    )
    store = AsyncpgADKStore(config)
    try:
        await store.create_tables()
        service = SQLSpecSessionService(store)

        async def list_page(app_name: str, user_id: str, limit: int) -> int:
            response = await service.list_sessions(app_name=app_name, user_id=user_id, limit=limit)
            return len(response.sessions)

        yield Contender("sqlspec", service, list_page, "LIMIT/OFFSET", _SEED_SQLSPEC)
    finally:
        await config.close_pool()


def open_contender(
    name: str, server_dsn: str, database: str | None = None
) -> AbstractAsyncContextManager[Contender]:
    """Open contender `name` on its own database (or `database`) of the server at `server_dsn`."""
    dsn = database_dsn(server_dsn, database or CONTENDERS[name])
    if name in ("floor", "floor_aa"):
        return _floor(name, dsn)
    if name == "ours":
        return _ours(dsn)
    if name == "adk_db":
        return _adk(dsn)
    if name == "sqlspec":
        return _sqlspec(dsn)
    raise ValueError(f"unknown contender {name!r}")
