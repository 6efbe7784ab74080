"""The artifact service through the FastAPI plugin: built by `ADKStore.lifespan` on the
sessions' pool, provided by `get_artifact_service` / `ArtifactServiceDep`."""

from __future__ import annotations

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from google.genai import types

from fastapi_adk_store import ArtifactServiceDep, AsyncpgArtifactService
from fastapi_adk_store.web.plugin import ADKStore

from ._helpers import PoolOptions, client_for, make_settings


async def test_lifespan_provides_the_artifact_service_on_the_sessions_pool(
    pool_options: PoolOptions,
) -> None:
    plugin = ADKStore(make_settings(pool_options))
    app = FastAPI(lifespan=plugin.lifespan)

    @app.post("/save/{name}")
    async def save(name: str, artifacts: ArtifactServiceDep) -> dict[str, int]:
        version = await artifacts.save_artifact(
            app_name="a", user_id="u", filename=name, artifact=types.Part(text=name), session_id="s"
        )
        return {"version": version}

    async with LifespanManager(app) as manager, client_for(manager) as client:
        assert (await client.post("/save/x")).json() == {"version": 0}
        assert (await client.post("/save/x")).json() == {"version": 1}
        service = app.state.adk_artifact_service
        assert isinstance(service, AsyncpgArtifactService)
        assert service.store.pool_source is app.state.adk_store.sessions.pool_source
        loaded = await service.load_artifact(
            app_name="a", user_id="u", filename="x", session_id="s"
        )
        assert loaded == types.Part(text="x")
