"""The memory service through the plugin: same pool as sessions, the api_server's
PATCH .../memory route, GET .../memory?query=, and the identity guard."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Header

from fastapi_adk_store import ADKStore, ConfigurationError, MemoryServiceDep

from ._helpers import PoolOptions, client_for, make_settings

USER = "/apps/app/users/u"


def memory_app(pool_options: PoolOptions, *, guarded: bool = False) -> FastAPI:
    plugin = ADKStore(make_settings(pool_options, memory_enabled=True))
    app = FastAPI(lifespan=plugin.lifespan)

    def caller(x_user: str = Header()) -> str:
        return x_user

    options = {"identity": caller} if guarded else {}
    app.include_router(plugin.sessions_router(**options))
    app.include_router(plugin.memory_router(**options))

    @app.get("/memory-pool")
    async def memory_pool(memory: MemoryServiceDep) -> int:
        return id(await memory.store.get_pool())

    return app


async def test_patch_memory_then_search(pool_options: PoolOptions) -> None:
    async with LifespanManager(memory_app(pool_options)) as manager, client_for(manager) as client:
        created = await client.post(f"{USER}/sessions", json={"sessionId": "s1"})
        assert created.status_code == 200
        event = {
            "author": "user",
            "invocationId": "i1",
            "content": {"role": "user", "parts": [{"text": "My favorite color is blue!"}]},
        }
        appended = await client.post(f"{USER}/sessions/s1/events", json=event)
        assert appended.status_code in (200, 201), appended.text
        patched = await client.patch(f"{USER}/memory", json={"sessionId": "s1"})
        assert patched.status_code == 200, patched.text
        found = await client.get(f"{USER}/memory", params={"query": "what is my favorite color"})
        assert found.status_code == 200
        [memory] = found.json()["memories"]
        assert memory["content"]["parts"][0]["text"] == "My favorite color is blue!"
        assert memory["author"] == "user"
        other = await client.get("/apps/app/users/v/memory", params={"query": "color"})
        assert other.json()["memories"] == []
        missing = await client.patch(f"{USER}/memory", json={"sessionId": "nope"})
        assert missing.status_code == 404


async def test_memory_shares_the_sessions_pool(pool_options: PoolOptions) -> None:
    app = memory_app(pool_options)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        response = await client.get("/memory-pool")
        store = app.state.adk_store
        assert response.json() == id(await store.get_pool())


async def test_memory_routes_are_identity_guarded(pool_options: PoolOptions) -> None:
    app = memory_app(pool_options, guarded=True)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        theirs = await client.get(f"{USER}/memory", params={"query": "x"}, headers={"x-user": "v"})
        assert theirs.status_code == 403
        patched = await client.patch(
            f"{USER}/memory", json={"sessionId": "s"}, headers={"x-user": "v"}
        )
        assert patched.status_code == 403
        mine = await client.get(f"{USER}/memory", params={"query": "x"}, headers={"x-user": "u"})
        assert mine.status_code == 200


async def test_without_memory_enabled_the_dependency_says_so(pool_options: PoolOptions) -> None:
    plugin = ADKStore(make_settings(pool_options))
    app = FastAPI(lifespan=plugin.lifespan)
    app.include_router(plugin.memory_router())
    async with LifespanManager(app) as manager, client_for(manager) as client:
        with pytest.raises(ConfigurationError, match="adk_memory_service"):
            await client.get(f"{USER}/memory", params={"query": "x"})
