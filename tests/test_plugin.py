"""The ADKStore plugin: lifespan, providers, overrides, several apps in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends, FastAPI, Request
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from pydantic import ValidationError

from fastapi_adk_store import (
    AsyncpgADKStore,
    AsyncpgSessionService,
    SchemaMissingError,
    StoreUnavailableError,
    build_store,
)
from fastapi_adk_store.errors import ConfigurationError
from fastapi_adk_store.settings import StoreSettings
from fastapi_adk_store.web.plugin import (
    ADKStore,
    SessionServiceDep,
    StoreDep,
    get_session_service,
    get_store,
)

from ._helpers import client_for, free_port, fresh_schema, make_app, make_settings


async def test_lifespan_opens_store_and_closes_pool(store_settings: StoreSettings) -> None:
    """At start the pool is open and the tables exist; at stop the pool is closed."""
    app = FastAPI(lifespan=ADKStore(store_settings).lifespan)
    async with LifespanManager(app):
        store = app.state.adk_store
        assert isinstance(store, AsyncpgADKStore)
        assert isinstance(app.state.adk_session_service, AsyncpgSessionService)
        pool = await store.get_pool()
        assert store.pool_stats().size >= 1
        assert await store.schema_version() is not None
    assert pool.is_closing()
    assert store.pool_stats().size == 0
    assert not hasattr(app.state, "adk_store")


async def test_lifespan_state_reaches_requests(store_settings: StoreSettings) -> None:
    """The yielded lifespan state is per-request state, as Starlette passes it on."""
    app = FastAPI(lifespan=ADKStore(store_settings).lifespan)

    @app.get("/which")
    async def which(request: Request) -> bool:
        return request.state.adk_store is request.app.state.adk_store

    async with LifespanManager(app) as manager, client_for(manager) as client:
        assert (await client.get("/which")).json() is True


async def test_providers_in_a_user_route(client: httpx.AsyncClient, app: FastAPI) -> None:
    """StoreDep and SessionServiceDep give the app's store and service in any route."""

    @app.post("/chat/{user_id}")
    async def chat(user_id: str, sessions: SessionServiceDep, store: StoreDep) -> dict[str, Any]:
        session = await sessions.create_session(app_name="chat", user_id=user_id)
        record = await store.get_session(session.id, app_name="chat", user_id=user_id)
        return {"same_store": sessions.store is store.sessions, "found": record is not None}

    response = await client.post("/chat/ann")
    assert response.json() == {"same_store": True, "found": True}


async def test_providers_work_as_plain_depends(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Depends(get_session_service) works without the Annotated aliases."""

    @app.get("/kind")
    async def kind(service: BaseSessionService = Depends(get_session_service)) -> str:  # noqa: B008
        return type(service).__name__

    assert (await client.get("/kind")).json() == "AsyncpgSessionService"


async def test_dependency_override_replaces_the_service(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """app.dependency_overrides[get_session_service] swaps the service routes get."""
    fake = InMemorySessionService()

    @app.get("/kind")
    async def kind(service: SessionServiceDep) -> str:
        return type(service).__name__

    app.dependency_overrides[get_session_service] = lambda: fake
    assert (await client.get("/kind")).json() == "InMemorySessionService"


async def test_overriding_get_store_moves_router_and_service(
    client: httpx.AsyncClient, app: FastAPI, database_dsn: str
) -> None:
    """Overriding get_store alone points the router (and the service) at another store."""
    async with fresh_schema(database_dsn) as other_options:
        other = build_store(make_settings(other_options))
        await other.create_tables()
        try:
            await other.create_session("elsewhere", "a", "u")
            app.dependency_overrides[get_store] = lambda: other
            listed = await client.get("/apps/a/users/u/sessions")
            assert [session["id"] for session in listed.json()] == ["elsewhere"]
        finally:
            await other.close()


async def test_two_apps_in_one_process_keep_their_own_stores(
    pool_options: dict[str, Any], database_dsn: str
) -> None:
    """Two apps with two stores on two schemas see only their own sessions."""
    async with fresh_schema(database_dsn) as other_options:
        first = make_app(ADKStore(make_settings(pool_options)))
        second = make_app(ADKStore(make_settings(other_options)))
        async with (
            LifespanManager(first) as first_manager,
            LifespanManager(second) as second_manager,
            client_for(first_manager) as first_client,
            client_for(second_manager) as second_client,
        ):
            await first_client.post("/apps/a/users/u/sessions", json={"sessionId": "one"})
            await second_client.post("/apps/a/users/u/sessions", json={"sessionId": "two"})
            first_ids = [
                s["id"] for s in (await first_client.get("/apps/a/users/u/sessions")).json()
            ]
            second_ids = [
                s["id"] for s in (await second_client.get("/apps/a/users/u/sessions")).json()
            ]
            assert first.state.adk_store is not second.state.adk_store
        assert (first_ids, second_ids) == (["one"], ["two"])


async def test_one_plugin_serves_two_apps(store_settings: StoreSettings) -> None:
    """The plugin holds no state: one ADKStore can start two apps, each with its own pool."""
    plugin = ADKStore(store_settings)
    first, second = make_app(plugin), make_app(plugin)
    async with LifespanManager(first), LifespanManager(second):
        assert first.state.adk_store is not second.state.adk_store


async def test_composes_with_the_host_lifespan(store_settings: StoreSettings) -> None:
    """A host lifespan enters store.lifespan(app) and merges its state with its own."""
    plugin = ADKStore(store_settings)
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("host start")
        async with plugin.lifespan(app) as store_state:
            yield {"greeting": "hello", **store_state}
        events.append("host stop")

    app = FastAPI(lifespan=lifespan)
    app.include_router(plugin.sessions_router())

    @app.get("/greet/{user_id}")
    async def greet(user_id: str, request: Request, sessions: SessionServiceDep) -> str:
        await sessions.create_session(app_name="a", user_id=user_id, session_id="g")
        greeting: str = request.state.greeting
        return greeting

    async with LifespanManager(app) as manager, client_for(manager) as client:
        assert (await client.get("/greet/u")).json() == "hello"
        assert (await client.get("/apps/a/users/u/sessions/g")).status_code == 200
    assert events == ["host start", "host stop"]


async def test_provider_without_lifespan_says_how_to_fix() -> None:
    """A provider used on an app without the plugin's lifespan names the fix."""
    app = FastAPI()

    @app.get("/store")
    async def store_route(store: StoreDep) -> str:
        return str(store)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(ConfigurationError, match=r"FastAPI\(lifespan=store.lifespan\)"):
            await client.get("/store")


async def test_create_tables_false_leaves_schema_alone(pool_options: dict[str, Any]) -> None:
    """With create_tables off the lifespan creates nothing and fails fast without tables."""
    app = make_app(ADKStore(make_settings(pool_options, create_tables=False)))
    with pytest.raises(SchemaMissingError, match="fastapi-adk-store migrate"):
        async with LifespanManager(app):
            pass
    connection = await asyncpg.connect(pool_options["dsn"])
    try:
        schema = pool_options["server_settings"]["search_path"]
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema
        )
    finally:
        await connection.close()
    assert tables == 0


async def test_start_fails_fast_when_database_is_unreachable() -> None:
    """A pool that cannot connect at start fails the lifespan (unless min_size is 0)."""
    settings = StoreSettings(
        _env_file=None, dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/x", min_size=1
    )
    with pytest.raises(StoreUnavailableError):
        async with LifespanManager(make_app(ADKStore(settings))):
            pass


async def test_statement_cache_off_for_pgbouncer(pool_options: dict[str, Any]) -> None:
    """statement_cache_size=0 (PgBouncer transaction pooling) serves every route."""
    app = make_app(ADKStore(make_settings(pool_options, statement_cache_size=0)))
    async with LifespanManager(app) as manager, client_for(manager) as client:
        created = await client.post("/apps/a/users/u/sessions", json={"state": {"k": 1}})
        session_id = created.json()["id"]
        await client.patch(f"/apps/a/users/u/sessions/{session_id}", json={"stateDelta": {"j": 2}})
        got = await client.get(f"/apps/a/users/u/sessions/{session_id}")
    assert got.json()["state"] == {"k": 1, "j": 2}


def test_overrides_replace_settings_fields(store_settings: StoreSettings) -> None:
    """ADKStore(settings, field=value) re-validates with the override."""
    plugin = ADKStore(store_settings, max_page_size=5)
    assert plugin.settings.max_page_size == 5
    assert plugin.settings.dsn == store_settings.dsn
    with pytest.raises(ValidationError, match="ADK_STORE_MAX_PAGE_SIZE"):
        ADKStore(store_settings, max_page_size=0)


def test_sessions_router_takes_the_page_size_from_settings(
    store_settings: StoreSettings,
) -> None:
    """The plugin's router uses ADK_STORE_MAX_PAGE_SIZE as its largest and default page."""
    router = ADKStore(store_settings, max_page_size=7).sessions_router()
    app = FastAPI()
    app.include_router(router)
    parameters = app.openapi()["paths"]["/apps/{app_name}/users/{user_id}/sessions"]["get"][
        "parameters"
    ]
    [limit] = [p for p in parameters if p["name"] == "limit"]
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (7, 7)


async def test_no_dsn_starts_an_embedded_server(tmp_path: Path) -> None:
    """Without DSN or host the lifespan runs on embedded PostgreSQL in embedded_data_dir."""
    pytest.importorskip("pgserver")
    settings = StoreSettings(_env_file=None, embedded_data_dir=tmp_path / "pg", max_size=2)
    app = make_app(ADKStore(settings))
    async with LifespanManager(app) as manager, client_for(manager) as client:
        created = await client.post("/apps/a/users/u/sessions", json={"sessionId": "e"})
        assert created.status_code == 200
        pool = await app.state.adk_store.get_pool()
    assert pool.is_closing()
    assert (tmp_path / "pg" / "PG_VERSION").exists()
