"""Helpers shared by the test modules: settings, apps, clients, schemas, ports, requests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Header, HTTPException
from google.adk.artifacts.base_artifact_service import BaseArtifactService
from google.adk.artifacts.in_memory_artifact_service import InMemoryArtifactService
from google.adk.auth.credential_service.in_memory_credential_service import (
    InMemoryCredentialService,
)
from google.adk.cli.api_server import ApiServer
from google.adk.cli.utils.base_agent_loader import BaseAgentLoader
from google.adk.evaluation.local_eval_set_results_manager import LocalEvalSetResultsManager
from google.adk.evaluation.local_eval_sets_manager import LocalEvalSetsManager
from google.adk.memory.in_memory_memory_service import InMemoryMemoryService
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from prometheus_client.parser import text_string_to_metric_families

from fastapi_adk_store.defaults import (
    APP_STATE_TABLE,
    EVENTS_TABLE,
    SESSION_TABLE,
    USER_STATE_TABLE,
)
from fastapi_adk_store.settings import StoreSettings
from fastapi_adk_store.web.plugin import ADKStore

# google-genai warns (UserWarning) and keeps an unknown enum string, for forward
# compatibility; a served app logs the warning and goes on, so it must not become an
# error (pytest's `filterwarnings = error`) inside an in-process app either.
GENAI_UNKNOWN_ENUM = "ignore:(?s).* is not a valid :UserWarning:google.genai._common"

# asyncpg pool options (conftest's `pool_options`: dsn, sizes, server_settings.search_path).
ROOT = Path(__file__).resolve().parents[1]
"""The repository: where uvicorn runs the apps from."""
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


async def bearer_user(authorization: Annotated[str, Header()]) -> str:
    """The docs' example identity: `Bearer <user id>` (a real app verifies a token)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "bearer token required")
    return token


class _NoAgents(BaseAgentLoader):
    def load_agent(self, agent_name: str) -> Any:
        raise LookupError(agent_name)

    def list_agents(self) -> list[str]:
        return []


@asynccontextmanager
async def adk_api_server_client(
    sessions: BaseSessionService | None = None,
    artifacts: BaseArtifactService | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ADK's own api_server app (no agents) over these services (ADK's
    in-memory ones when omitted): the reference our routers answer like."""
    with tempfile.TemporaryDirectory() as agents_dir:
        app = ApiServer(
            agent_loader=_NoAgents(),
            session_service=sessions or InMemorySessionService(),
            memory_service=InMemoryMemoryService(),
            artifact_service=artifacts or InMemoryArtifactService(),
            credential_service=InMemoryCredentialService(),
            eval_sets_manager=LocalEvalSetsManager(agents_dir=agents_dir),
            eval_set_results_manager=LocalEvalSetResultsManager(agents_dir=agents_dir),
            agents_dir=agents_dir,
        ).get_fast_api_app()
        async with LifespanManager(app) as manager, client_for(manager) as client:
            yield client


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


REPORT_ENV = "ADK_STORE_RELIABILITY_REPORT"


def report_figures(test: str, **figures: Any) -> None:
    """Print one summary line of what a reliability test saw; append it as JSON to a file.

    The file is `$ADK_STORE_RELIABILITY_REPORT` when set (one JSON object a line, so a
    CI run's numbers can be quoted); `pytest -s` shows the printed line.
    """
    print(f"\n[reliability] {test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps({"test": test, **figures}, sort_keys=True) + "\n")


async def drop_store_tables(pool_options: PoolOptions) -> None:
    """Drop every table in the test's schema: the tables vanishing under a running app."""
    connection = await asyncpg.connect(pool_options["dsn"])
    try:
        schema = pool_options["server_settings"]["search_path"]
        await connection.execute(f"DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema}")
    finally:
        await connection.close()


async def restore_v1_dump(pool_options: PoolOptions) -> None:
    """Load the version-1 dump into this test's schema (pg_dump --inserts, plain SQL)."""
    schema = pool_options["server_settings"]["search_path"]
    lines = [
        line
        for line in (Path(__file__).parent / "data" / "schema_v1.sql").read_text().splitlines()
        if not line.startswith("\\") and not line.startswith("CREATE SCHEMA")
    ]
    script = re.sub(r"\bv1_dump\b", schema, "\n".join(lines))
    connection = await asyncpg.connect(pool_options["dsn"])
    try:
        await connection.execute(script)
    finally:
        await connection.close()


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


@asynccontextmanager
async def serve_with_uvicorn(
    app: str,
    env: dict[str, str],
    log_path: Path,
    *,
    ready_path: str,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> AsyncIterator[str]:
    """`uvicorn <app>` on a free port until exit; yields its URL once `ready_path` is 200.

    Fails the test with uvicorn's log when it exits early or does not answer in time.
    """
    url = f"http://127.0.0.1:{(port := free_port())}"
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), *extra_args]
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + startup_timeout
        async with httpx.AsyncClient() as client:
            while True:
                if process.returncode is not None:
                    pytest.fail(f"uvicorn exited early:\n{_text(log_path)}")
                try:
                    if (await client.get(url + ready_path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    late = f"uvicorn did not answer in {startup_timeout}s"
                    pytest.fail(f"{late}:\n{_text(log_path)}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


# --- metrics ------------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""The samples of a Prometheus text page: (name, labels) -> value."""


def parse_metrics(text: str) -> Samples:
    """Every sample of a Prometheus text page (what `GET /metrics` answers)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the page does not have it (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
