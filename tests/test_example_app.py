"""The example app over HTTP (no browser): the agent runs through a real ADK Runner."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events.event import Event
from typing_extensions import override

from example_app.agent import AGENT_ENV, NotesAgent, build_agent
from example_app.app import create_app
from fastapi_adk_store import ADKStore

from ._helpers import PoolOptions, parse_metrics, run_request, search_path_dsn, value

SESSIONS = "/apps/notes/users/alice/sessions"


@pytest.fixture
async def client(
    pool_options: PoolOptions, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("ADK_STORE_DSN", search_path_dsn(pool_options))
    monkeypatch.delenv(AGENT_ENV, raising=False)
    app = create_app()
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
            yield client


def sse_events(body: str) -> list[dict[str, Any]]:
    """The `data:` payloads of a server-sent-events body."""
    return [
        json.loads(line.removeprefix("data: "))
        for block in body.split("\n\n")
        for line in block.splitlines()
        if line.startswith("data: ")
    ]


def reply_text(events: list[dict[str, Any]]) -> str:
    return "".join(
        part.get("text", "")
        for event in events
        for part in event.get("content", {}).get("parts", [])
    )


async def new_session(client: httpx.AsyncClient, path: str = SESSIONS) -> str:
    response = await client.post(path, json={})
    assert response.status_code == 200, response.text
    session_id: str = response.json()["id"]
    return session_id


async def chat(client: httpx.AsyncClient, session_id: str, text: str) -> list[dict[str, Any]]:
    response = await client.post(f"{SESSIONS}/{session_id}/run", json={"text": text})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


async def test_chat_streams_the_agents_events_with_state_deltas(
    client: httpx.AsyncClient,
) -> None:
    """One message in: a state-only event, then the reply, both as SSE in ADK's JSON."""
    session_id = await new_session(client)
    events = await chat(client, session_id, "note buy milk")
    assert [event["author"] for event in events] == ["notes", "notes"]
    assert events[0]["actions"]["stateDelta"] == {"turns": 1, "last_command": "note"}
    assert reply_text(events) == "Saved note #1: buy milk"
    assert events[1]["actions"]["stateDelta"]["user:notes"] == ["buy milk"]


async def test_events_and_state_are_stored(client: httpx.AsyncClient) -> None:
    """The user's message and the agent's events are in the session, oldest first."""
    session_id = await new_session(client)
    await chat(client, session_id, "hello")
    session = (await client.get(f"{SESSIONS}/{session_id}")).json()
    assert [event["author"] for event in session["events"]] == ["user", "notes", "notes"]
    assert session["events"][0]["content"]["parts"][0]["text"] == "hello"
    assert session["state"] == {
        "turns": 1,
        "last_command": "say",
        "user:turns": 1,
        "app:turns": 1,
    }


async def test_state_scopes_user_shared_session_own_temp_never_stored(
    client: httpx.AsyncClient,
) -> None:
    """`user:` crosses the user's sessions, session keys do not, `temp:` is never stored."""
    first = await new_session(client)
    second = await new_session(client)
    await chat(client, first, "note buy milk")
    await chat(client, first, "note call mom")
    events = await chat(client, second, "notes")
    assert reply_text(events) == "Your notes: 1. buy milk; 2. call mom"
    state = (await client.get(f"{SESSIONS}/{second}")).json()["state"]
    assert state["turns"] == 1
    assert state["user:turns"] == 3
    assert state["user:notes"] == ["buy milk", "call mom"]
    stored = (await client.get(f"{SESSIONS}/{first}")).json()
    assert not any(key.startswith("temp:") for key in stored["state"])
    for event in stored["events"]:
        assert not any(key.startswith("temp:") for key in event["actions"]["stateDelta"])


async def test_other_users_see_app_state_but_not_user_state(client: httpx.AsyncClient) -> None:
    """Bob does not see Alice's notes; `app:turns` counts everyone's messages."""
    await chat(client, await new_session(client), "note secret")
    bob = "/apps/notes/users/bob/sessions"
    bob_session = await new_session(client, bob)
    response = await client.post(f"{bob}/{bob_session}/run", json={"text": "notes"})
    assert reply_text(sse_events(response.text)) == "You have no notes yet."
    state = (await client.get(f"{bob}/{bob_session}")).json()["state"]
    assert state["app:turns"] == 2
    assert state["user:turns"] == 1


async def test_adk_run_returns_the_events_as_a_json_list(client: httpx.AsyncClient) -> None:
    """`POST /run` takes ADK's RunAgentRequest (camelCase) and returns a list of events."""
    session_id = await new_session(client)
    response = await client.post("/run", json=run_request("alice", session_id, "note from run"))
    assert response.status_code == 200, response.text
    assert reply_text(response.json()) == "Saved note #1: from run"


async def test_adk_run_sse_streams_the_events(client: httpx.AsyncClient) -> None:
    """`POST /run_sse` streams the same events as server-sent events."""
    session_id = await new_session(client)
    body = run_request("alice", session_id, "notes", streaming=True)
    response = await client.post("/run_sse", json=body)
    assert response.status_code == 200, response.text
    assert reply_text(sse_events(response.text)) == "You have no notes yet."


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(f"{SESSIONS}/missing/run", {"text": "hi"}, id="chat-missing-session"),
        pytest.param("/apps/other/users/alice/sessions/x/run", {"text": "hi"}, id="chat-other-app"),
        pytest.param("/run", {"userId": "alice", "sessionId": "missing"}, id="run-missing"),
        pytest.param("/run_sse", {"userId": "alice", "sessionId": "missing"}, id="run-sse-missing"),
    ],
)
async def test_unknown_session_or_app_is_404_before_streaming(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    """A missing session or another app's name is a 404, not a broken stream."""
    response = await client.post(path, json=body)
    assert response.status_code == 404


async def test_empty_message_is_422(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.post(f"{SESSIONS}/{session_id}/run", json={"text": ""})
    assert response.status_code == 422


async def test_page_and_app_list_are_served(client: httpx.AsyncClient) -> None:
    """`/` is the chat page, its script is served, and `/list-apps` names the agent."""
    page = await client.get("/")
    assert page.status_code == 200
    assert 'id="new-session"' in page.text
    script = await client.get("/static/app.js")
    assert script.status_code == 200
    assert (await client.get("/list-apps")).json() == ["notes"]


class BrokenAgent(NotesAgent):
    """Fails after its first event, as a model or tool error would."""

    @override
    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        yield Event(author=self.name, invocation_id=ctx.invocation_id)
        raise RuntimeError("tool exploded")


async def test_an_error_mid_run_ends_the_stream_with_an_error_message(
    pool_options: PoolOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the 200 is sent, a failure arrives as `event: error`, after the events so far."""
    monkeypatch.setenv("ADK_STORE_DSN", search_path_dsn(pool_options))
    app = create_app(agent=BrokenAgent(name="notes"))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
            session_id = await new_session(client)
            response = await client.post(f"{SESSIONS}/{session_id}/run", json={"text": "hi"})
    assert response.status_code == 200
    blocks = response.text.strip().split("\n\n")
    assert len(blocks) == 2
    assert blocks[1].startswith("event: error\n")
    assert sse_events(response.text)[1] == {"error": "RuntimeError", "message": "tool exploded"}


async def test_recall_finds_what_the_user_said_in_another_session(
    client: httpx.AsyncClient,
) -> None:
    """Each turn adds the session to memory; `recall` in a new session searches it, the
    user's own messages only, nobody else's."""
    first = await new_session(client)
    await chat(client, first, "note buy milk")
    await chat(client, first, "the sky is blue today")
    second = await new_session(client)
    events = await chat(client, second, "recall milk")
    assert reply_text(events) == "I remember you said: 'note buy milk'"
    assert reply_text(await chat(client, second, "recall sky")) == (
        "I remember you said: 'the sky is blue today'"
    )
    bob = await new_session(client, "/apps/notes/users/bob/sessions")
    response = await client.post(
        f"/apps/notes/users/bob/sessions/{bob}/run", json={"text": "recall milk"}
    )
    assert reply_text(sse_events(response.text)) == "I don't remember anything about 'milk'."


async def test_recall_without_memory_says_it_is_off(
    pool_options: PoolOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADK_STORE_DSN", search_path_dsn(pool_options))
    app = create_app(store=ADKStore(memory_enabled=False))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
            events = await chat(client, await new_session(client), "recall milk")
    assert reply_text(events).startswith("Memory is off")


def test_default_agent_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AGENT_ENV, raising=False)
    assert isinstance(build_agent(), NotesAgent)


def test_gemini_agent_without_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """EXAMPLE_AGENT=gemini without credentials fails at start, naming the variable."""
    monkeypatch.setenv(AGENT_ENV, "gemini")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    with pytest.raises(RuntimeError, match="GOOGLE_API_KEY"):
        build_agent()


def test_gemini_agent_with_key_is_an_llm_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a key the Gemini agent is built (not called: no network in tests)."""
    monkeypatch.setenv(AGENT_ENV, "gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-used")
    agent = build_agent()
    assert agent.name == "notes"
    assert type(agent).__name__ == "LlmAgent"


async def test_without_a_dsn_the_app_runs_on_embedded_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README path: no ADK_STORE_DSN, the store starts an embedded server and chats."""
    pytest.importorskip("pgserver", reason="the embedded extra is not installed")
    for name in ("ADK_STORE_DSN", "ADK_STORE_HOST", AGENT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADK_STORE_EMBEDDED_DATA_DIR", str(tmp_path / "pgdata"))
    monkeypatch.chdir(tmp_path)  # no developer .env with a DSN in the way
    app = create_app()
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
            session_id = await new_session(client)
            events = await chat(client, session_id, "note embedded")
            recalled = await chat(client, await new_session(client), "recall embedded")
    assert reply_text(events) == "Saved note #1: embedded"
    assert reply_text(recalled) == "I remember you said: 'note embedded'"
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()


async def test_metrics_count_the_agents_appends(client: httpx.AsyncClient) -> None:
    """`GET /metrics`: one chat turn adds the runner's appends (the message and the
    agent's two events) to the store's call counter."""
    name = "adk_store_call_duration_seconds_count"
    labels = {"service": "sessions", "operation": "append_event"}

    async def appends() -> float:
        response = await client.get("/metrics")
        assert response.status_code == 200, response.text
        return value(parse_metrics(response.text), name, **labels)

    session_id = await new_session(client)
    before = await appends()
    await chat(client, session_id, "note metrics")
    assert await appends() - before == 3
