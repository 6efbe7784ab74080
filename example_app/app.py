"""The example app: an ADK agent on FastAPI, its sessions in PostgreSQL.

Run it with `scripts/run-example`, or `uvicorn example_app.app:app`. Without
`ADK_STORE_DSN` the store starts an embedded PostgreSQL under `./.adk_store_pgdata`.
Memory is on: after each turn the session is added to the memory service, which the
agent's `recall` command searches.

Routes:
- `GET /`: the chat page (`static/index.html`);
- `GET|POST /apps/{app}/users/{user}/sessions[/{id}]`: the store's session router;
- `POST /apps/{app}/users/{user}/sessions/{id}/run`: one message in, events out (SSE);
- `POST /run`, `POST /run_sse`, `GET /list-apps`: ADK api_server's shapes;
- `GET /metrics`: the store's Prometheus metrics (docs/observability.md), when the
  `metrics` extra is installed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from google.adk.agents import BaseAgent
from google.adk.events.event import Event
from google.adk.memory.base_memory_service import BaseMemoryService
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.utils.context_utils import Aclosing
from google.genai import types
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from fastapi_adk_store.web.metrics import metrics_router
from fastapi_adk_store.web.plugin import MEMORY_SERVICE_STATE_KEY, ADKStore, SessionServiceDep

from .agent import APP_NAME, build_agent

__all__ = ["ChatRequest", "RunAgentRequest", "app", "create_app"]

logger = logging.getLogger("example_app")

STATIC_DIR = Path(__file__).parent / "static"
SSE_MEDIA_TYPE = "text/event-stream"


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ChatRequest(_CamelModel):
    """One user message for the chat route; `stateDelta` is applied before the agent runs."""

    text: str = Field(min_length=1, max_length=10_000)
    state_delta: dict[str, Any] | None = None


class RunAgentRequest(_CamelModel):
    """The body of ADK api_server's `/run` and `/run_sse` (the fields this app uses)."""

    app_name: str = APP_NAME
    user_id: str
    session_id: str
    new_message: types.Content | None = None
    streaming: bool = False
    state_delta: dict[str, Any] | None = None


def _event_json(event: Event) -> dict[str, Any]:
    """An event as ADK's api_server sends it: camelCase, no nulls."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def _sse(data: dict[str, Any], kind: str | None = None) -> str:
    prefix = f"event: {kind}\n" if kind else ""
    return f"{prefix}data: {json.dumps(data, separators=(',', ':'))}\n\n"


def _memory(request: Request) -> BaseMemoryService | None:
    """The app's memory service, or None when its store runs without memory."""
    memory: BaseMemoryService | None = getattr(request.app.state, MEMORY_SERVICE_STATE_KEY, None)
    return memory


def create_app(agent: BaseAgent | None = None, store: ADKStore | None = None) -> FastAPI:
    """Build the app around `agent` (default: `build_agent()`) and `store` (default: env,
    with memory on)."""
    agent = agent if agent is not None else build_agent()
    store = store if store is not None else ADKStore(memory_enabled=True)
    application = FastAPI(title="fastapi-adk-store example", lifespan=store.lifespan)
    application.include_router(store.sessions_router())
    try:
        application.include_router(metrics_router())
    except RuntimeError:  # installed without the `metrics` extra
        logger.info("GET /metrics is off: pip install 'fastapi-adk-store[metrics]' for it")

    async def runner_for(
        app_name: str,
        user_id: str,
        session_id: str,
        sessions: BaseSessionService,
        request: Request,
    ) -> Runner:
        """A runner over the request's session service; 404 before streaming starts."""
        if app_name != agent.name:
            raise HTTPException(404, f"app {app_name!r} not found; this server runs {agent.name!r}")
        found = await sessions.get_session(
            app_name=app_name,
            user_id=user_id,
            session_id=session_id,
            config=GetSessionConfig(num_recent_events=0),
        )
        if found is None:
            raise HTTPException(404, f"session {session_id!r} not found")
        # A Runner is a thin wrapper (microseconds to build); the pool lives in the store.
        return Runner(
            app_name=app_name,
            agent=agent,
            session_service=sessions,
            memory_service=_memory(request),
        )

    async def run_events(
        runner: Runner,
        user_id: str,
        session_id: str,
        message: types.Content | None,
        state_delta: dict[str, Any] | None,
    ) -> AsyncIterator[Event]:
        events = runner.run_async(
            user_id=user_id,
            session_id=session_id,
            new_message=message,
            state_delta=state_delta,
        )
        async with Aclosing(events) as stream:
            async for event in stream:
                yield event
        if runner.memory_service is not None:
            # After the turn: idempotent, so the whole session each time adds only the new.
            session = await runner.session_service.get_session(
                app_name=runner.app_name, user_id=user_id, session_id=session_id
            )
            if session is not None:
                await runner.memory_service.add_session_to_memory(session)

    def sse_response(events: AsyncIterator[Event]) -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            try:
                async for event in events:
                    yield _sse(_event_json(event))
            except Exception as error:
                # The 200 is already sent: report the failure in the stream, as ADK does.
                logger.exception("agent run failed")
                yield _sse({"error": type(error).__name__, "message": str(error)}, "error")

        return StreamingResponse(
            body(), media_type=SSE_MEDIA_TYPE, headers={"Cache-Control": "no-store"}
        )

    @application.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @application.get("/list-apps", name="example:list_apps")
    async def list_apps() -> list[str]:
        return [agent.name]

    @application.post(
        "/apps/{app_name}/users/{user_id}/sessions/{session_id}/run",
        name="example:chat",
        response_class=StreamingResponse,
        responses={404: {"description": "unknown app or session"}},
    )
    async def chat(
        app_name: str,
        user_id: str,
        session_id: str,
        body: ChatRequest,
        sessions: SessionServiceDep,
        request: Request,
    ) -> StreamingResponse:
        """Send one message; the agent's events stream back as server-sent events."""
        runner = await runner_for(app_name, user_id, session_id, sessions, request)
        message = types.Content(role="user", parts=[types.Part(text=body.text)])
        return sse_response(run_events(runner, user_id, session_id, message, body.state_delta))

    @application.post("/run", name="example:run", responses={404: {"description": "not found"}})
    async def run(
        body: RunAgentRequest, sessions: SessionServiceDep, request: Request
    ) -> list[dict[str, Any]]:
        """ADK's `/run`: the whole run's events as one JSON list."""
        runner = await runner_for(body.app_name, body.user_id, body.session_id, sessions, request)
        events = run_events(
            runner, body.user_id, body.session_id, body.new_message, body.state_delta
        )
        return [_event_json(event) async for event in events]

    @application.post(
        "/run_sse",
        name="example:run_sse",
        response_class=StreamingResponse,
        responses={404: {"description": "not found"}},
    )
    async def run_sse(
        body: RunAgentRequest, sessions: SessionServiceDep, request: Request
    ) -> StreamingResponse:
        """ADK's `/run_sse`: the run's events as server-sent events."""
        runner = await runner_for(body.app_name, body.user_id, body.session_id, sessions, request)
        return sse_response(
            run_events(runner, body.user_id, body.session_id, body.new_message, body.state_delta)
        )

    application.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return application


app = create_app()
