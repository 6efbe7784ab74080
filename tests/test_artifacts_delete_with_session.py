"""Deleting a session deletes its artifacts when composed so: the session service's
`on_delete` hook given the artifact service's `delete_session_artifacts`, by hand
(`open_session_service` + `open_artifact_service`) or by the plugin
(ADK_STORE_ARTIFACTS_DELETE_WITH_SESSION). User-scoped (`user:`) artifacts, other
sessions' artifacts and bytes they share stay."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from google.genai import types

from fastapi_adk_store import (
    AsyncpgArtifactService,
    AsyncpgSessionService,
    open_artifact_service,
    open_session_service,
)
from fastapi_adk_store.web.plugin import ADKStore

from ._helpers import PoolOptions, client_for, make_app, make_settings

APP, USER = "a", "u"


def _bytes(data: bytes) -> types.Part:
    return types.Part.from_bytes(data=data, mime_type="application/octet-stream")


async def _fill(artifacts: AsyncpgArtifactService) -> None:
    """s1: two files (one sharing its bytes with s2's), two versions of one, a user file."""
    for session_id, filename, data in [
        ("s1", "a.txt", b"only-s1-v0"),
        ("s1", "a.txt", b"only-s1-v1"),
        ("s1", "nested/shared.bin", b"shared"),
        ("s1", "user:profile", b"the user's"),
        ("s2", "other.bin", b"shared"),
    ]:
        await artifacts.save_artifact(
            app_name=APP,
            user_id=USER,
            session_id=session_id,
            filename=filename,
            artifact=_bytes(data),
        )


async def _names(artifacts: AsyncpgArtifactService, session_id: str) -> list[str]:
    return await artifacts.list_artifact_keys(app_name=APP, user_id=USER, session_id=session_id)


async def _check_s1_artifacts_gone(artifacts: AsyncpgArtifactService) -> None:
    assert await _names(artifacts, "s1") == ["user:profile"]
    assert await _names(artifacts, "s2") == ["other.bin", "user:profile"]
    other = await artifacts.load_artifact(
        app_name=APP, user_id=USER, session_id="s2", filename="other.bin"
    )
    assert other == _bytes(b"shared")
    assert await artifacts.store.blob_count() == 2  # "shared" and the user's
    assert await artifacts.store.garbage() == (0, 0, 0)


async def test_composed_delete_session_deletes_its_artifacts(pool_options: PoolOptions) -> None:
    """open_session_service(on_delete=artifacts.delete_session_artifacts): the session's
    artifacts and their unshared bytes go with it."""
    async with (
        open_artifact_service(**pool_options) as artifacts,
        open_session_service(
            on_delete=artifacts.delete_session_artifacts, **pool_options
        ) as sessions,
    ):
        for session_id in ("s1", "s2"):
            await sessions.create_session(app_name=APP, user_id=USER, session_id=session_id)
        await _fill(artifacts)
        await sessions.delete_session(app_name=APP, user_id=USER, session_id="s1")
        assert await sessions.get_session(app_name=APP, user_id=USER, session_id="s1") is None
        await _check_s1_artifacts_gone(artifacts)
        # The hook runs for a session already gone too: a retried delete completes.
        await artifacts.save_artifact(
            app_name=APP, user_id=USER, session_id="s1", filename="late", artifact=_bytes(b"x")
        )
        await sessions.delete_session(app_name=APP, user_id=USER, session_id="s1")
        await _check_s1_artifacts_gone(artifacts)
        # An id no artifact could be saved under deletes its session and nothing else.
        await sessions.delete_session(app_name=APP, user_id=USER, session_id="../s2")
        assert await _names(artifacts, "s2") == ["other.bin", "user:profile"]


async def test_without_the_hook_artifacts_outlive_the_session(pool_options: PoolOptions) -> None:
    """The default, as ADK: deleting a session leaves its artifacts."""
    async with (
        open_artifact_service(**pool_options) as artifacts,
        open_session_service(**pool_options) as sessions,
    ):
        await sessions.create_session(app_name=APP, user_id=USER, session_id="s1")
        await _fill(artifacts)
        await sessions.delete_session(app_name=APP, user_id=USER, session_id="s1")
        assert await _names(artifacts, "s1") == ["a.txt", "nested/shared.bin", "user:profile"]


@pytest.mark.parametrize("enabled", [True, False], ids=["delete-with-session", "default"])
async def test_plugin_delete_route_follows_the_setting(
    pool_options: PoolOptions, enabled: bool
) -> None:
    """ADK_STORE_ARTIFACTS_DELETE_WITH_SESSION: DELETE .../sessions/s1 (and the lifespan's
    session service) deletes s1's artifacts; off, they stay."""
    settings = make_settings(pool_options, artifacts_delete_with_session=enabled)
    plugin = ADKStore(settings)
    app = make_app(plugin)
    app.include_router(plugin.artifacts_router())
    async with LifespanManager(app) as manager, client_for(manager) as client:
        artifacts: AsyncpgArtifactService = app.state.adk_artifact_service
        sessions: AsyncpgSessionService = app.state.adk_session_service
        for session_id in ("s1", "s2"):
            await client.post(f"/apps/{APP}/users/{USER}/sessions", json={"sessionId": session_id})
        await _fill(artifacts)
        response = await client.delete(f"/apps/{APP}/users/{USER}/sessions/s1")
        assert (response.status_code, response.json()) == (200, None)
        listed = (await client.get(f"/apps/{APP}/users/{USER}/sessions/s1/artifacts")).json()
        if enabled:
            assert listed == ["user:profile"]
            await _check_s1_artifacts_gone(artifacts)
        else:
            assert listed == ["a.txt", "nested/shared.bin", "user:profile"]
        await artifacts.save_artifact(
            app_name=APP, user_id=USER, session_id="s2", filename="z", artifact=_bytes(b"z")
        )
        await sessions.delete_session(app_name=APP, user_id=USER, session_id="s2")
        assert ("z" in await _names(artifacts, "s2")) is not enabled
