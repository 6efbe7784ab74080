"""The `adkstore://` scheme in ADK's service registry, as `adk web` / `adk api_server` use it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from google.adk.cli.service_registry import ServiceRegistry
from google.adk.events.event import Event
from google.adk.runners import Runner
from google.genai import types
from pydantic import ValidationError

from example_app.agent import NotesAgent
from fastapi_adk_store import (
    AsyncpgArtifactService,
    AsyncpgConfig,
    AsyncpgMemoryService,
    AsyncpgSessionService,
    ConfigurationError,
)
from fastapi_adk_store.adk_registry import SCHEME, register, settings_from_uri

from ._helpers import PoolOptions, run_request, search_path_dsn

ROOT = Path(__file__).resolve().parents[1]
AGENTS_DIR = ROOT / "example_app" / "adk_agents"


@pytest.fixture
def store_uri(pool_options: PoolOptions) -> str:
    """An `adkstore://` URI for the test server, pinned to the test's schema."""
    scheme, rest = search_path_dsn(pool_options).split("://", 1)
    assert scheme in {"postgresql", "postgres"}
    return f"{SCHEME}://{rest}&min_size=1&max_size=4"


@pytest.fixture
async def registered(store_uri: str) -> AsyncIterator[AsyncpgSessionService]:
    """The service ADK's registry builds for the URI; its pool closed afterwards."""
    registry = ServiceRegistry()
    register(registry)
    service = registry.create_session_service(store_uri, agents_dir=str(AGENTS_DIR))
    assert isinstance(service, AsyncpgSessionService)
    try:
        yield service
    finally:
        await service.store.close()


async def test_registry_factory_builds_a_working_service(
    registered: AsyncpgSessionService,
) -> None:
    """The factory creates the tables; a Runner then stores sessions, events and state."""
    runner = Runner(app_name="notes", agent=NotesAgent(name="notes"), session_service=registered)
    session = await registered.create_session(app_name="notes", user_id="u")
    message = types.Content(role="user", parts=[types.Part(text="note via adk")])
    events = [
        event
        async for event in runner.run_async(user_id="u", session_id=session.id, new_message=message)
    ]
    assert events[-1].content is not None
    assert events[-1].content.parts is not None
    assert events[-1].content.parts[0].text == "Saved note #1: via adk"
    stored = await registered.get_session(app_name="notes", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.state["user:notes"] == ["via adk"]
    assert len(stored.events) == 3


async def test_uri_options_configure_the_pool(registered: AsyncpgSessionService) -> None:
    """Settings options leave the DSN; server settings such as search_path stay in it."""
    pool_config = cast(AsyncpgConfig, registered.store.pool_source).pool_config
    assert pool_config["max_size"] == 4
    assert "search_path=" in pool_config["dsn"]
    assert "max_size" not in pool_config["dsn"]


@pytest.fixture
def adk_api_server_app(store_uri: str) -> Iterator[Any]:
    """ADK's own api_server app, as `adk api_server --session_service_uri=...` builds it."""
    from google.adk.cli.fast_api import get_fast_api_app

    before = set(sys.modules)
    app = get_fast_api_app(
        agents_dir=str(AGENTS_DIR),
        session_service_uri=store_uri,
        use_local_storage=False,
        web=False,
    )
    yield app
    for name in {"services", "notes", "notes.agent"} & (set(sys.modules) - before):
        del sys.modules[name]


# ADK warns once per process about its experimental pieces (credential service, ...).
@pytest.mark.filterwarnings(r"ignore:\[EXPERIMENTAL\]:UserWarning")
async def test_adk_api_server_runs_on_the_store(adk_api_server_app: Any) -> None:
    """`services.py` in the agents dir registers the scheme; ADK's /run stores into us."""
    async with LifespanManager(adk_api_server_app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://adk") as client:
            created = await client.post("/apps/notes/users/u/sessions", json={})
            assert created.status_code == 200, created.text
            session_id = created.json()["id"]
            run = await client.post("/run", json=run_request("u", session_id, "note from adk"))
            assert run.status_code == 200, run.text
            session = (await client.get(f"/apps/notes/users/u/sessions/{session_id}")).json()
    assert session["state"]["user:notes"] == ["from adk"]


def test_uri_without_host_takes_the_dsn_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADK_STORE_DSN", "postgresql://u@db.example/agents")
    settings = settings_from_uri(f"{SCHEME}://?max_size=7")
    assert settings.dsn is not None
    assert settings.dsn.get_secret_value() == "postgresql://u@db.example/agents"
    assert settings.max_size == 7


def test_uri_without_host_or_dsn_wants_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ADK_STORE_DSN", raising=False)
    monkeypatch.delenv("ADK_STORE_HOST", raising=False)
    assert settings_from_uri(f"{SCHEME}://").wants_embedded


def test_create_tables_false_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_uri(f"{SCHEME}://h/db?create_tables=false&session_table=s2")
    assert settings.create_tables is False
    assert settings.session_table == "s2"


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        pytest.param("postgresql://h/db", ConfigurationError, id="other-scheme"),
        pytest.param(f"{SCHEME}://?sslmode=require", ConfigurationError, id="dsn-option-no-host"),
        pytest.param(f"{SCHEME}://h/db?max_size=lots", ValidationError, id="bad-number"),
    ],
)
def test_bad_uris_are_refused(uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        settings_from_uri(uri)


async def test_services_yaml_in_the_agents_dir_registers_the_scheme(
    tmp_path: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The YAML form (no Python in the agents dir) reaches the same factory."""
    from google.adk.cli.service_registry import get_service_registry, load_services_module

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "services.yaml").write_text(
        "services:\n"
        f"  - scheme: {SCHEME}\n"
        "    type: session\n"
        "    class: fastapi_adk_store.adk_registry.session_service_from_uri\n"
    )
    load_services_module(str(tmp_path))
    service = get_service_registry().create_session_service(store_uri)
    assert isinstance(service, AsyncpgSessionService)
    try:
        created = await service.create_session(app_name="notes", user_id="u", state={"k": 1})
        loaded = await service.get_session(app_name="notes", user_id="u", session_id=created.id)
        assert loaded is not None
        assert loaded.state == {"k": 1}
    finally:
        await service.store.close()


async def test_artifact_and_memory_uris_share_the_sessions_pool(store_uri: str) -> None:
    """adkstore:// builds all three services; on one server they share one pool."""
    registry = ServiceRegistry()
    register(registry)
    sessions = registry.create_session_service(store_uri, agents_dir=str(AGENTS_DIR))
    artifacts = registry.create_artifact_service(store_uri, agents_dir=str(AGENTS_DIR))
    memory = registry.create_memory_service(store_uri, agents_dir=str(AGENTS_DIR))
    assert isinstance(sessions, AsyncpgSessionService)
    assert isinstance(artifacts, AsyncpgArtifactService)
    assert isinstance(memory, AsyncpgMemoryService)
    try:
        session = await sessions.create_session(app_name="notes", user_id="u", session_id="s")
        part = types.Part(text="remember the milk")
        version = await artifacts.save_artifact(
            app_name="notes", user_id="u", session_id="s", filename="note.txt", artifact=part
        )
        loaded = await artifacts.load_artifact(
            app_name="notes", user_id="u", session_id="s", filename="note.txt"
        )
        assert (version, loaded) == (0, part)
        await sessions.append_event(
            session, Event(author="user", content=types.Content(role="user", parts=[part]))
        )
        stored = await sessions.get_session(app_name="notes", user_id="u", session_id="s")
        assert stored is not None
        await memory.add_session_to_memory(stored)
        found = await memory.search_memory(app_name="notes", user_id="u", query="milk")
        assert len(found.memories) == 1
        pool = await sessions.store.get_pool()
        assert await artifacts.store.get_pool() is pool
        assert await memory.store.get_pool() is pool
    finally:
        await sessions.store.close()


async def test_delete_with_session_applies_to_uri_services(store_uri: str) -> None:
    """`artifacts_delete_with_session=true` in the URI: ADK's api_server deleting a session
    through the URI's session service deletes its artifacts (on the shared pool)."""
    uri = f"{store_uri}&artifacts_delete_with_session=true"
    registry = ServiceRegistry()
    register(registry)
    sessions = registry.create_session_service(uri, agents_dir=str(AGENTS_DIR))
    artifacts = registry.create_artifact_service(uri, agents_dir=str(AGENTS_DIR))
    assert isinstance(sessions, AsyncpgSessionService)
    assert isinstance(artifacts, AsyncpgArtifactService)
    scope: dict[str, Any] = {"app_name": "notes", "user_id": "u", "session_id": "s"}
    try:
        await sessions.create_session(**scope)
        for filename in ("note.txt", "user:profile"):
            await artifacts.save_artifact(**scope, filename=filename, artifact=types.Part(text="x"))
        await sessions.delete_session(**scope)
        assert await artifacts.list_artifact_keys(**scope) == ["user:profile"]
    finally:
        await sessions.store.close()
