"""Shared fixtures: one PostgreSQL per run, a fresh schema per test.

The server is `ADK_STORE_TEST_DSN` when set, else an embedded PostgreSQL started once
for the run. Each test gets its own schema (via `search_path`), so tests never see each
other's rows and can hand the same options to other processes.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from google.adk.artifacts.base_artifact_service import BaseArtifactService
from google.adk.artifacts.in_memory_artifact_service import InMemoryArtifactService
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fastapi_adk_store import AsyncpgADKStore, AsyncpgConfig, AsyncpgSessionService
from fastapi_adk_store.artifacts.service import AsyncpgArtifactService
from fastapi_adk_store.compose import open_artifact_service
from fastapi_adk_store.db.embedded import EmbeddedPostgres
from fastapi_adk_store.db.pool import create_pool
from fastapi_adk_store.defaults import SLOW_CALL_MS
from fastapi_adk_store.errors import EmbeddedServerError
from fastapi_adk_store.settings import StoreSettings
from fastapi_adk_store.telemetry import configure as configure_telemetry
from fastapi_adk_store.web.plugin import ADKStore

from ._helpers import PoolOptions, client_for, fresh_schema, make_app, make_settings

# (service, app_name, user_id, session_id, copies, timestamp) -> (appends won, stale errors)
RaceAppends = Callable[
    [BaseSessionService, str, str, str, int, float | None], Awaitable[tuple[int, int]]
]


@pytest.fixture(scope="session")
def database_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of the test server: ADK_STORE_TEST_DSN, or an embedded one for this run."""
    dsn = os.environ.get("ADK_STORE_TEST_DSN")
    if dsn:
        yield dsn
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pgdata")))
    try:
        yield server.start()
    finally:
        server.stop()


async def _has_pgvector(dsn: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        found: bool = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')"
        )
        return found
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def vector_dsn(database_dsn: str) -> Iterator[str]:
    """A server with pgvector: the test server when it has it, else an embedded one
    (pgserver ships pgvector); the test is skipped, saying why, when neither does.

    The embedded server's data lives outside pytest's base temp, which other pytest
    runs of the same user may rotate away while this one runs.
    """
    if asyncio.run(_has_pgvector(database_dsn)):
        yield database_dsn
        return
    data_dir = tempfile.TemporaryDirectory(prefix="adk-store-pgvector-")
    server = EmbeddedPostgres(Path(data_dir.name))
    try:
        dsn = server.start()
    except EmbeddedServerError as error:
        data_dir.cleanup()
        pytest.skip(f"the test server has no pgvector and no embedded one starts: {error}")
    try:
        if not asyncio.run(_has_pgvector(dsn)):
            pytest.skip("neither the test server nor the embedded one has pgvector")
        yield dsn
    finally:
        server.stop()
        data_dir.cleanup()


@pytest.fixture
async def vector_pool_options(vector_dsn: str) -> AsyncIterator[PoolOptions]:
    """Pool options for a new, empty schema on a server with pgvector, dropped afterwards."""
    async with fresh_schema(vector_dsn) as options:
        yield {**options, "min_size": 1, "max_size": 4}


@pytest.fixture
async def pool_options(database_dsn: str) -> AsyncIterator[PoolOptions]:
    """Pool options pointing at a new, empty schema that is dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(database_dsn)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        yield {
            "dsn": database_dsn,
            "min_size": 1,
            "max_size": 10,
            "server_settings": {"search_path": schema},
        }
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await connection.close()


@pytest.fixture
async def store(pool_options: PoolOptions) -> AsyncIterator[AsyncpgADKStore]:
    """A store with its tables created, closed after the test."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    await store.create_tables()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def service(store: AsyncpgADKStore) -> AsyncpgSessionService:
    """Our session service over the test store."""
    return AsyncpgSessionService(store)


@pytest.fixture(params=["in_memory", "asyncpg"])
def session_service(
    request: pytest.FixtureRequest, pool_options: PoolOptions
) -> BaseSessionService:
    """ADK's in-memory service (the oracle) and ours: the contract holds for both."""
    if request.param == "in_memory":
        return InMemorySessionService()
    service: AsyncpgSessionService = request.getfixturevalue("service")
    return service


@pytest.fixture
async def statement_log(
    pool_options: PoolOptions,
) -> AsyncIterator[tuple[AsyncpgSessionService, list[str]]]:
    """Our service on a pool that records every statement it sends."""
    log: list[str] = []

    async def record_queries(connection: asyncpg.Connection) -> None:
        connection.add_query_logger(lambda record: log.append(record.query))

    pool = await create_pool(pool_options, init=record_queries)
    store = AsyncpgADKStore(pool=pool)
    await store.create_tables()
    log.clear()
    try:
        yield AsyncpgSessionService(store), log
    finally:
        await pool.close()


@pytest.fixture
def store_settings(pool_options: PoolOptions) -> StoreSettings:
    """Settings pointing at this test's schema."""
    return make_settings(pool_options)


@pytest.fixture
def app(store_settings: StoreSettings) -> FastAPI:
    """An app with the plugin and its router, not started."""
    return make_app(ADKStore(store_settings))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for `app`, started with its lifespan."""
    async with LifespanManager(app) as manager, client_for(manager) as client:
        yield client


@pytest.fixture
def race_appends() -> RaceAppends:
    """Load `copies` copies of one session, then append from all of them at once.

    Returns how many appends won and how many raised StaleSessionError; anything else
    raised fails the test.
    """

    async def race(
        service: BaseSessionService,
        app_name: str,
        user_id: str,
        session_id: str,
        copies: int,
        timestamp: float | None = None,
    ) -> tuple[int, int]:
        loaded = [
            await service.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
            for _ in range(copies)
        ]
        events = [Event(author=f"c{i}") for i in range(copies)]
        if timestamp is not None:
            for event in events:
                event.timestamp = timestamp
        results = await asyncio.gather(
            *(
                service.append_event(copy, event)
                for copy, event in zip(loaded, events, strict=True)
                if copy is not None
            ),
            return_exceptions=True,
        )
        unexpected = [r for r in results if not isinstance(r, Event | StaleSessionError)]
        assert not unexpected, unexpected
        won = sum(isinstance(result, Event) for result in results)
        return won, len(results) - won

    return race


# --- artifacts ----------------------------------------------------------------------------


@pytest.fixture
async def our_artifact_service(
    pool_options: PoolOptions,
) -> AsyncIterator[AsyncpgArtifactService]:
    """Our artifact service, opened through `open_artifact_service` on the test schema."""
    async with open_artifact_service(**pool_options) as service:
        yield service


@pytest.fixture(params=["in_memory", "asyncpg"])
def artifact_service(request: pytest.FixtureRequest) -> BaseArtifactService:
    """ADK's in-memory artifact service (the oracle) and ours: the contract holds for both."""
    if request.param == "in_memory":
        return InMemoryArtifactService()
    service: AsyncpgArtifactService = request.getfixturevalue("our_artifact_service")
    return service


# --- traces -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """An exporter to memory on the process's global tracer provider (ADK's spans and
    ours). OpenTelemetry allows one global provider per process: an SDK one set earlier
    (ADK's own tooling sets one) gets the exporter added, else this sets one."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), f"a non-SDK tracer provider: {provider!r}"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """The span exporter, emptied before and after the test."""
    span_exporter.clear()
    yield span_exporter
    span_exporter.clear()


@pytest.fixture
def slow_threshold() -> Iterator[None]:
    """The default slow-call threshold before and after a test that changes it (it is
    process-wide)."""
    configure_telemetry(slow_call_ms=SLOW_CALL_MS)
    yield
    configure_telemetry(slow_call_ms=SLOW_CALL_MS)
