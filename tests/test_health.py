"""`GET /health`: 200 with the schema version and pool numbers, 503 when it cannot be."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from fastapi_adk_store import SCHEMA_VERSION, ADKStore, StoreSettings

from ._helpers import PoolOptions, client_for, drop_store_tables, free_port, make_settings


def _app(plugin: ADKStore) -> FastAPI:
    app = FastAPI(lifespan=plugin.lifespan)
    app.include_router(plugin.health_router())
    return app


async def test_health_reports_schema_and_pool(store_settings: StoreSettings) -> None:
    """A started app answers 200 with the schema version and its pool's numbers."""
    async with LifespanManager(_app(ADKStore(store_settings))) as manager:
        async with client_for(manager) as client:
            response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["schemaVersion"] == SCHEMA_VERSION
    assert body["poolMaxSize"] == store_settings.max_size
    assert 1 <= body["poolSize"] <= store_settings.max_size


async def test_health_without_tables_is_503(pool_options: PoolOptions) -> None:
    """Tables gone under a running app: not healthy, 503 SCHEMA_MISSING."""
    async with LifespanManager(_app(ADKStore(make_settings(pool_options)))) as manager:
        async with client_for(manager) as client:
            await drop_store_tables(pool_options)
            response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["code"] == "SCHEMA_MISSING"
    assert response.headers["Retry-After"]


async def test_health_with_the_server_gone_is_503(pool_options: PoolOptions) -> None:
    """A pool that cannot reach PostgreSQL answers 503 STORE_UNAVAILABLE, not a 500."""
    settings = make_settings(
        {**pool_options, "dsn": f"postgresql://postgres@127.0.0.1:{free_port()}/none"},
        min_size=0,
        create_tables=False,
        connect_timeout=2,
    )
    async with LifespanManager(_app(ADKStore(settings))) as manager:
        async with client_for(manager) as client:
            response: httpx.Response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["code"] == "STORE_UNAVAILABLE"
