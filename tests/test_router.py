"""sessions_router: every route, every error code, pagination, identity, ADK's JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from google.adk.events.event import Event
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.session import Session
from google.genai import types

from fastapi_adk_store import AsyncpgSessionService, SessionKey
from fastapi_adk_store.web.errors import RETRY_AFTER_SECONDS
from fastapi_adk_store.web.models import NEXT_PAGE_TOKEN_HEADER, ErrorCode
from fastapi_adk_store.web.plugin import ADKStore, get_session_service

from ._helpers import (
    adk_api_server_client,
    bearer_user,
    client_for,
    drop_store_tables,
    free_port,
    make_app,
    make_settings,
)

SESSIONS = "/apps/a/users/u/sessions"


def _event(text: str, timestamp: float | None = None, **fields: Any) -> dict[str, Any]:
    event = Event(
        author="user", content=types.Content(role="user", parts=[types.Part(text=text)]), **fields
    )
    if timestamp is not None:
        event.timestamp = timestamp
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- routes -------------------------------------------------------------------------------


async def test_create_session_returns_adk_json(client: httpx.AsyncClient) -> None:
    """POST sessions returns the session in ADK's camelCase, without None fields."""
    response = await client.post(SESSIONS, json={"sessionId": "s1", "state": {"k": 1}})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "appName", "userId", "state", "events", "lastUpdateTime"}
    assert (body["id"], body["appName"], body["userId"]) == ("s1", "a", "u")
    assert (body["state"], body["events"]) == ({"k": 1}, [])


async def test_create_session_without_body_generates_an_id(client: httpx.AsyncClient) -> None:
    """An empty POST creates a session with a generated id."""
    response = await client.post(SESSIONS)
    assert response.status_code == 200
    assert response.json()["id"]


async def test_create_session_with_events_restores_them(client: httpx.AsyncClient) -> None:
    """Events in the create body are appended, in order, and returned."""
    events = [_event("hi", 100.0), _event("there", 101.0)]
    response = await client.post(SESSIONS, json={"sessionId": "r", "events": events})
    texts = [e["content"]["parts"][0]["text"] for e in response.json()["events"]]
    assert texts == ["hi", "there"]
    got = await client.get(f"{SESSIONS}/r")
    assert [e["id"] for e in got.json()["events"]] == [e["id"] for e in events]


async def test_create_session_with_id_takes_state_as_body(client: httpx.AsyncClient) -> None:
    """POST sessions/{id} (ADK's deprecated form) takes the state as the whole body."""
    response = await client.post(f"{SESSIONS}/given", json={"k": "v"})
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["state"]) == ("given", {"k": "v"})


async def test_get_session_merges_state_and_orders_events(client: httpx.AsyncClient) -> None:
    """GET returns merged app:/user:/session state and events oldest first."""
    state = {"k": 1, "app:a": 2, "user:u": 3, "temp:t": 4}
    await client.post(SESSIONS, json={"sessionId": "s", "state": state})
    for text, timestamp in [("second", 20.0), ("first", 10.0)]:
        await client.post(f"{SESSIONS}/s/events", json=_event(text, timestamp))
    body = (await client.get(f"{SESSIONS}/s")).json()
    assert body["state"] == {"k": 1, "app:a": 2, "user:u": 3}
    assert [e["content"]["parts"][0]["text"] for e in body["events"]] == ["first", "second"]


async def test_get_session_num_recent_events_and_after_timestamp(
    client: httpx.AsyncClient,
) -> None:
    """num_recent_events keeps the newest N; after_timestamp is inclusive."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    for index in range(5):
        await client.post(f"{SESSIONS}/s/events", json=_event(str(index), 10.0 + index))

    async def texts(**params: Any) -> list[str]:
        body = (await client.get(f"{SESSIONS}/s", params=params)).json()
        return [e["content"]["parts"][0]["text"] for e in body["events"]]

    assert await texts(num_recent_events=2) == ["3", "4"]
    assert await texts(after_timestamp=12.0) == ["2", "3", "4"]
    assert await texts(after_timestamp=11.0, num_recent_events=1) == ["4"]
    assert await texts(num_recent_events=0) == []


async def test_patch_applies_state_delta_as_an_event(client: httpx.AsyncClient) -> None:
    """PATCH {stateDelta} merges the delta and records it as a user event, as ADK does."""
    await client.post(SESSIONS, json={"sessionId": "s", "state": {"k": 1}})
    response = await client.patch(f"{SESSIONS}/s", json={"stateDelta": {"j": 2, "user:x": 3}})
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == {"k": 1, "j": 2, "user:x": 3}
    [event] = body["events"]
    assert event["author"] == "user"
    assert event["invocationId"].startswith("p-")
    assert event["actions"]["stateDelta"] == {"j": 2, "user:x": 3}
    assert (await client.get("/apps/a/users/u/state")).json() == {"x": 3}


async def test_delete_session_is_idempotent(client: httpx.AsyncClient) -> None:
    """DELETE answers 200 null, and again for a session already gone (as ADK)."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    first = await client.delete(f"{SESSIONS}/s")
    second = await client.delete(f"{SESSIONS}/s")
    assert (first.status_code, first.json(), second.status_code) == (200, None, 200)
    assert (await client.get(f"{SESSIONS}/s")).status_code == 404


async def test_list_sessions_without_events_with_merged_state(client: httpx.AsyncClient) -> None:
    """GET sessions lists this user's sessions, events left empty, state merged."""
    await client.post(SESSIONS, json={"sessionId": "s1", "state": {"user:x": 1}})
    await client.post(SESSIONS, json={"sessionId": "s2"})
    await client.post("/apps/a/users/other/sessions", json={"sessionId": "s3"})
    await client.post(f"{SESSIONS}/s2/events", json=_event("hi"))
    body = (await client.get(SESSIONS)).json()
    assert [s["id"] for s in body] == ["s1", "s2"]
    assert [s["events"] for s in body] == [[], []]
    assert [s["state"] for s in body] == [{"user:x": 1}, {"user:x": 1}]


async def test_append_event_applies_delta_and_returns_event(client: httpx.AsyncClient) -> None:
    """POST events stores the event, applies its state delta, returns the event."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    event = _event("hi")
    event["actions"] = {"stateDelta": {"mood": "good", "temp:scratch": 1}}
    response = await client.post(f"{SESSIONS}/s/events", json=event)
    assert response.status_code == 200
    assert response.json()["id"] == event["id"]
    assert (await client.get(f"{SESSIONS}/s")).json()["state"] == {"mood": "good"}


async def test_append_partial_event_is_not_stored(client: httpx.AsyncClient) -> None:
    """A partial (streaming) event comes back but is not stored, as ADK's services do."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    response = await client.post(f"{SESSIONS}/s/events", json=_event("par", partial=True))
    assert response.status_code == 200
    assert (await client.get(f"{SESSIONS}/s/events")).json() == []


async def test_append_same_event_twice_is_a_no_op(client: httpx.AsyncClient) -> None:
    """Re-posting an identical event (a retried delivery) stores it once."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    event = _event("once")
    for _ in range(2):
        assert (await client.post(f"{SESSIONS}/s/events", json=event)).status_code == 200
    assert len((await client.get(f"{SESSIONS}/s/events")).json()) == 1


async def test_user_state_route(client: httpx.AsyncClient) -> None:
    """GET .../state returns the user state without prefix, {} when none."""
    assert (await client.get("/apps/a/users/u/state")).json() == {}
    await client.post(SESSIONS, json={"state": {"user:lang": "fr", "app:x": 1, "k": 2}})
    assert (await client.get("/apps/a/users/u/state")).json() == {"lang": "fr"}


async def test_route_names_resolve(app: FastAPI) -> None:
    """Routes are named adk_store:<operation> for url_path_for."""
    path = app.url_path_for("adk_store:get_session", app_name="a", user_id="u", session_id="s")
    assert path == f"{SESSIONS}/s"
    params = {"app_name": "a", "user_id": "u"}
    for name in ["adk_store:list_sessions", "adk_store:create_session", "adk_store:get_user_state"]:
        assert app.url_path_for(name, **params).startswith("/apps/a/users/u/")
    for name in [
        "adk_store:create_session_with_id",
        "adk_store:update_session",
        "adk_store:delete_session",
        "adk_store:list_events",
        "adk_store:append_event",
    ]:
        assert app.url_path_for(name, **params, session_id="s").startswith(f"{SESSIONS}/s")


async def test_openapi_documents_models_and_errors(app: FastAPI) -> None:
    """The schema has ADK's Session, the request bodies and ErrorModel answers."""
    schema = app.openapi()
    components = schema["components"]["schemas"]
    assert {"Session", "CreateSessionRequest", "UpdateSessionRequest", "ErrorModel"} <= set(
        components
    )
    get = schema["paths"]["/apps/{app_name}/users/{user_id}/sessions/{session_id}"]["get"]
    assert {"404", "422", "503"} <= set(get["responses"])
    assert get["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorModel"
    }
    assert "sessionId" in components["CreateSessionRequest"]["properties"]


async def test_prefix_applies_to_every_route(store_settings: Any) -> None:
    """sessions_router(prefix=...) mounts the routes under the prefix."""
    app = make_app(ADKStore(store_settings), prefix="/adk")
    async with LifespanManager(app) as manager, client_for(manager) as client:
        assert (await client.post(f"/adk{SESSIONS}")).status_code == 200
        assert (await client.get(SESSIONS)).status_code == 404


# --- pagination ---------------------------------------------------------------------------


async def _walk(client: httpx.AsyncClient, url: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if token is not None:
            params["page_token"] = token
        response = await client.get(url, params=params)
        assert response.status_code == 200, response.text
        pages.append([item["id"] for item in response.json()])
        token = response.headers.get(NEXT_PAGE_TOKEN_HEADER)
        if token is None:
            return pages


async def test_session_pages_cover_all_without_overlap(client: httpx.AsyncClient) -> None:
    """Pages of 2 over 5 sessions: 2+2+1, in list order, last page has no token."""
    for index in range(5):
        await client.post(SESSIONS, json={"sessionId": f"s{index}"})
    pages = await _walk(client, SESSIONS, 2)
    assert pages == [["s0", "s1"], ["s2", "s3"], ["s4"]]


async def test_exact_multiple_has_no_empty_last_page(client: httpx.AsyncClient) -> None:
    """A full last page sets no token: the walk never ends on an empty page."""
    for index in range(4):
        await client.post(SESSIONS, json={"sessionId": f"s{index}"})
    assert await _walk(client, SESSIONS, 2) == [["s0", "s1"], ["s2", "s3"]]


async def test_pagination_over_1000_sessions_during_inserts(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """1,000 sessions paged while others are inserted: each appears exactly once."""
    service: AsyncpgSessionService = app.state.adk_session_service
    existing = [f"old-{index:04d}" for index in range(1000)]
    for start in range(0, len(existing), 50):
        await asyncio.gather(
            *(
                service.create_session(app_name="a", user_id="u", session_id=session_id)
                for session_id in existing[start : start + 50]
            )
        )
    inserted: list[str] = []
    stop = asyncio.Event()

    async def insert_while_paging() -> None:
        while not stop.is_set():
            session_id = f"new-{len(inserted):04d}"
            await service.create_session(app_name="a", user_id="u", session_id=session_id)
            inserted.append(session_id)
            await asyncio.sleep(0)

    writer = asyncio.create_task(insert_while_paging())
    try:
        pages = await _walk(client, SESSIONS, 37)
    finally:
        stop.set()
        await writer
    seen = [session_id for page in pages for session_id in page]
    assert inserted, "no insert overlapped the walk"
    assert len(seen) == len(set(seen)), "a session appeared twice"
    assert sorted(s for s in seen if s.startswith("old-")) == existing
    assert set(seen) <= set(existing) | set(inserted)
    assert all(len(page) == 37 for page in pages[:-1])


async def test_event_pages_break_timestamp_ties_by_id(client: httpx.AsyncClient) -> None:
    """Events page oldest first; equal timestamps are ordered by id, none lost."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    ids = []
    for index in range(7):
        event = _event(str(index), 50.0 if index < 5 else 60.0 + index)
        ids.append((event["timestamp"], event["id"]))
        await client.post(f"{SESSIONS}/s/events", json=event)
    pages = await _walk(client, f"{SESSIONS}/s/events", 3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [event_id for page in pages for event_id in page] == [i for _, i in sorted(ids)]


async def test_events_after_timestamp_filters(client: httpx.AsyncClient) -> None:
    """GET events?after_timestamp= keeps events at or after it."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    for index in range(3):
        await client.post(f"{SESSIONS}/s/events", json=_event(str(index), 10.0 + index))
    response = await client.get(f"{SESSIONS}/s/events", params={"after_timestamp": 11.0})
    assert [e["timestamp"] for e in response.json()] == [11.0, 12.0]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-zero"),
        pytest.param({"limit": 1001}, id="limit-over-max"),
        pytest.param({"limit": "ten"}, id="limit-not-int"),
        pytest.param({"page_token": "not-a-token"}, id="garbage-token"),
        pytest.param({"page_token": "WyJ2MSIsMSwyXQ"}, id="token-wrong-shape"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    """Bad limit or page_token answer 422 in FastAPI's validation shape, never 500."""
    response = await client.get(SESSIONS, params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][0] == "query"


async def test_session_token_is_refused_by_events_route(client: httpx.AsyncClient) -> None:
    """A session page token passed to the events route is a 422, not a crash."""
    for index in range(2):
        await client.post(SESSIONS, json={"sessionId": f"s{index}"})
    token = (await client.get(SESSIONS, params={"limit": 1})).headers[NEXT_PAGE_TOKEN_HEADER]
    response = await client.get(f"{SESSIONS}/s0/events", params={"page_token": token})
    assert response.status_code == 422


# --- errors -------------------------------------------------------------------------------


async def test_missing_session_is_404(client: httpx.AsyncClient) -> None:
    """Get, patch, list events and append on a missing session: 404 SESSION_NOT_FOUND."""
    expected = (404, ErrorCode.SESSION_NOT_FOUND)
    assert _error(await client.get(f"{SESSIONS}/nope")) == expected
    assert _error(await client.patch(f"{SESSIONS}/nope", json={"stateDelta": {}})) == expected
    assert _error(await client.get(f"{SESSIONS}/nope/events")) == expected
    assert _error(await client.post(f"{SESSIONS}/nope/events", json=_event("x"))) == expected
    assert (await client.get(f"{SESSIONS}/nope")).json()["detail"] == "Session not found"


async def test_duplicate_session_is_409(client: httpx.AsyncClient) -> None:
    """Creating an existing id (either create route): 409 SESSION_ALREADY_EXISTS."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    expected = (409, ErrorCode.SESSION_ALREADY_EXISTS)
    assert _error(await client.post(SESSIONS, json={"sessionId": "s"})) == expected
    assert _error(await client.post(f"{SESSIONS}/s", json={})) == expected


async def test_different_event_with_same_id_is_409(client: httpx.AsyncClient) -> None:
    """Another event under a stored event's id: 409 EVENT_ALREADY_EXISTS."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    event = _event("first")
    await client.post(f"{SESSIONS}/s/events", json=event)
    event["content"]["parts"][0]["text"] = "changed"
    response = await client.post(f"{SESSIONS}/s/events", json=event)
    assert _error(response) == (409, ErrorCode.EVENT_ALREADY_EXISTS)


class _RacingService(AsyncpgSessionService):
    """Writes the session from a second connection before every append: always stale."""

    async def append_event(self, session: Session, event: Event) -> Event:
        key = SessionKey(session.app_name, session.user_id, session.id)
        await self.store.replace_state(key, {"raced": True})
        return await super().append_event(session, event)


async def test_append_that_keeps_losing_races_is_409(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """When concurrent writers win every retry, PATCH and POST events answer 409 STALE_SESSION."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    racing = _RacingService(app.state.adk_store)
    app.dependency_overrides[get_session_service] = lambda: racing
    expected = (409, ErrorCode.STALE_SESSION)
    assert _error(await client.patch(f"{SESSIONS}/s", json={"stateDelta": {"k": 1}})) == expected
    assert _error(await client.post(f"{SESSIONS}/s/events", json=_event("x"))) == expected


async def test_event_over_limit_is_413(pool_options: dict[str, Any]) -> None:
    """An event over ADK_STORE_MAX_EVENT_BYTES: 413, and a create with it leaves nothing."""
    app = make_app(ADKStore(make_settings(pool_options, max_event_bytes=2000)))
    big = _event("x" * 5000)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        await client.post(SESSIONS, json={"sessionId": "s"})
        response = await client.post(f"{SESSIONS}/s/events", json=big)
        assert _error(response) == (413, ErrorCode.EVENT_TOO_LARGE)
        assert "ADK_STORE_MAX_EVENT_BYTES" in response.json()["detail"]
        created = await client.post(SESSIONS, json={"sessionId": "t", "events": [big]})
        assert _error(created) == (413, ErrorCode.EVENT_TOO_LARGE)
        assert (await client.get(f"{SESSIONS}/t")).status_code == 404


async def test_unreachable_database_is_503_with_retry_after() -> None:
    """PostgreSQL down (closed port), min_size=0: the app starts with its three services,
    and each route answers 503 STORE_UNAVAILABLE with Retry-After."""
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    settings = make_settings(
        {"dsn": dsn, "server_settings": {}},
        min_size=0,
        create_tables=False,
        connect_timeout=2,
        memory_enabled=True,
    )
    plugin = ADKStore(settings)
    app = make_app(plugin)
    app.include_router(plugin.artifacts_router())
    app.include_router(plugin.memory_router())
    async with LifespanManager(app) as manager, client_for(manager) as client:
        for response in [
            await client.get(SESSIONS),
            await client.post(SESSIONS, json={}),
            await client.get(f"{SESSIONS}/s"),
            await client.get("/apps/a/users/u/state"),
            await client.get(f"{SESSIONS}/s/artifacts"),
            await client.get("/apps/a/users/u/memory?query=x"),
        ]:
            assert _error(response) == (503, ErrorCode.STORE_UNAVAILABLE)
            assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)


async def test_missing_tables_are_503_schema_missing(pool_options: dict[str, Any]) -> None:
    """Tables gone under a running app: 503 SCHEMA_MISSING, not an empty list."""
    app = make_app(ADKStore(make_settings(pool_options)))
    async with LifespanManager(app) as manager, client_for(manager) as client:
        await drop_store_tables(pool_options)
        response = await client.get(SESSIONS)
    assert _error(response) == (503, ErrorCode.SCHEMA_MISSING)
    assert "Retry-After" in response.headers


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        pytest.param("POST", SESSIONS, {"state": "not a dict"}, id="state-not-object"),
        pytest.param("POST", SESSIONS, {"options": {"x": 1}}, id="session-options"),
        pytest.param("PATCH", f"{SESSIONS}/s", {"delta": {}}, id="patch-without-state-delta"),
        pytest.param("POST", f"{SESSIONS}/s/events", {"author": 3}, id="event-malformed"),
        pytest.param("GET", f"{SESSIONS}/s?num_recent_events=-1", None, id="negative-recent"),
        pytest.param("GET", f"{SESSIONS}/s?after_timestamp=nan", None, id="nan-timestamp"),
        pytest.param("GET", "/apps/a%00b/users/u/sessions", None, id="nul-in-path"),
    ],
)
async def test_bad_input_is_422_never_500(
    client: httpx.AsyncClient, method: str, url: str, body: Any
) -> None:
    """Malformed bodies, parameters and values PostgreSQL cannot hold: 422."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    response = await client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    """A body that is not JSON: 422."""
    response = await client.post(
        SESSIONS, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "url", "content"),
    [
        pytest.param("POST", SESSIONS, b'{"state": {"k": NaN}}', id="create-nan"),
        pytest.param("PATCH", f"{SESSIONS}/s", b'{"stateDelta": {"k": Infinity}}', id="patch-inf"),
    ],
)
async def test_values_postgresql_cannot_hold_are_422(
    client: httpx.AsyncClient, method: str, url: str, content: bytes
) -> None:
    """NaN/Infinity (valid Python JSON, invalid for jsonb): 422, never 500."""
    await client.post(SESSIONS, json={"sessionId": "s"})
    headers = {"content-type": "application/json"}
    response = await client.request(method, url, content=content, headers=headers)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "event_fields",
    [
        pytest.param({"actions": {"stateDelta": {"k": 1}}}, id="actions"),
        pytest.param({"longRunningToolIds": ["t"]}, id="long-running-tools"),
        pytest.param(
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "adk_request_credential", "args": {}}}],
                }
            },
            id="adk-protocol-call",
        ),
    ],
)
async def test_restored_events_cannot_fake_adk_actions(
    client: httpx.AsyncClient, event_fields: dict[str, Any]
) -> None:
    """Create-with-events refuses what ADK's api_server refuses, as a 422."""
    event = {**_event("x"), **event_fields}
    response = await client.post(SESSIONS, json={"sessionId": "s2", "events": [event]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events", 0]
    assert (await client.get(f"{SESSIONS}/s2")).status_code == 404


# --- identity -----------------------------------------------------------------------------


@pytest.fixture
async def guarded(store_settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose router checks the caller's identity."""
    app = make_app(ADKStore(store_settings), identity=bearer_user)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        yield client


async def test_identity_allows_own_sessions(guarded: httpx.AsyncClient) -> None:
    """The caller whose id is the path user gets through."""
    headers = {"Authorization": "Bearer u"}
    assert (await guarded.post(SESSIONS, headers=headers)).status_code == 200
    assert (await guarded.get(SESSIONS, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("method", "url"),
    [
        pytest.param("GET", SESSIONS, id="list"),
        pytest.param("POST", SESSIONS, id="create"),
        pytest.param("GET", f"{SESSIONS}/s", id="get"),
        pytest.param("DELETE", f"{SESSIONS}/s", id="delete"),
        pytest.param("GET", f"{SESSIONS}/s/events", id="events"),
        pytest.param("GET", "/apps/a/users/u/state", id="user-state"),
    ],
)
async def test_identity_refuses_other_users_with_403(
    guarded: httpx.AsyncClient, method: str, url: str
) -> None:
    """Another caller gets 403 FORBIDDEN_USER on every route; no token is the identity's 401."""
    response = await guarded.request(method, url, headers={"Authorization": "Bearer mallory"})
    assert _error(response) == (403, ErrorCode.FORBIDDEN_USER)
    assert (await guarded.request(method, url)).status_code == 422  # header missing
    bad = await guarded.request(method, url, headers={"Authorization": "Basic x"})
    assert bad.status_code == 401


# --- the same JSON as ADK's api_server ----------------------------------------------------


@pytest.fixture
async def adk_api_server(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """ADK's own api_server app over the session service given as the fixture's param."""
    async with adk_api_server_client(request.param) as client:
        yield client


_VOLATILE = {"id", "timestamp", "lastUpdateTime", "invocationId"}


def _shape(value: Any) -> Any:
    """JSON with generated ids and times replaced by their type: what must match ADK."""
    if isinstance(value, dict):
        return {
            key: type(item).__name__ if key in _VOLATILE else _shape(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return value


async def _script(client: httpx.AsyncClient) -> list[tuple[int, Any]]:
    """The same calls against either server, answers reduced to status and shape."""
    state = {"k": 1, "app:a": 2, "user:u": 3, "nested": {"x": [1, 2.5, None]}}
    calls = [
        client.post(SESSIONS, json={"sessionId": "s1", "state": state}),
        client.post(SESSIONS, json={"sessionId": "s2", "events": [_event("hello", 5.0)]}),
        client.post(SESSIONS, json={"sessionId": "s1"}),
        client.patch(f"{SESSIONS}/s1", json={"stateDelta": {"j": True, "user:v": "w"}}),
        client.get(f"{SESSIONS}/s1"),
        client.get(f"{SESSIONS}/s2"),
        client.get(SESSIONS),
        client.get(f"{SESSIONS}/missing"),
        client.patch(f"{SESSIONS}/missing", json={"stateDelta": {}}),
        client.patch(f"{SESSIONS}/s1", json={}),
        client.delete(f"{SESSIONS}/s2"),
        client.get(SESSIONS),
    ]
    answers = []
    for call in calls:
        response = await call
        body = response.json()
        if response.status_code >= 400 and response.status_code != 422:
            body = {"detail": body["detail"]}  # ours adds `code`
        if response.status_code == 422:
            body = [(error["type"], error["loc"]) for error in body["detail"]]
        answers.append((response.status_code, _shape(body)))
    return answers


@pytest.mark.filterwarnings("ignore:\\[EXPERIMENTAL\\]:UserWarning")
@pytest.mark.parametrize("adk_api_server", [InMemorySessionService()], indirect=True)
async def test_same_answers_as_adk_api_server_on_in_memory(
    client: httpx.AsyncClient, adk_api_server: httpx.AsyncClient
) -> None:
    """One script of calls: our router and ADK's api_server (on ADK's in-memory service,
    the reference) answer with the same status codes and the same JSON shapes."""
    assert await _script(client) == await _script(adk_api_server)


@pytest.mark.filterwarnings("ignore:\\[EXPERIMENTAL\\]:UserWarning")
@pytest.mark.filterwarnings("ignore:Please use create_session instead:DeprecationWarning")
async def test_same_bytes_as_adk_api_server_on_the_same_database(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """ADK's api_server over our service reads back exactly the JSON our router returns."""
    service: AsyncpgSessionService = app.state.adk_session_service
    event = _event("hi", 7.0)
    event["customMetadata"] = {"__adk_internal_secret": 1, "shown": 2}
    await client.post(SESSIONS, json={"sessionId": "s", "state": {"user:u": 1, "k": [1.5]}})
    await client.post(f"{SESSIONS}/s/events", json=event)
    await client.patch(f"{SESSIONS}/s", json={"stateDelta": {"j": 2}})
    await client.post(f"{SESSIONS}/legacy", json={"old": "style"})

    async with adk_api_server_client(service) as adk:
        for url in [f"{SESSIONS}/s", f"{SESSIONS}/legacy", SESSIONS]:
            ours, theirs = await client.get(url), await adk.get(url)
            assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
        ours_created = await client.post(f"{SESSIONS}/x1", json={"a": 1})
        theirs_created = await adk.post(f"{SESSIONS}/x2", json={"a": 1})
    assert _shape(ours_created.json()) == _shape(theirs_created.json())
    assert "__adk_internal_secret" not in str((await client.get(f"{SESSIONS}/s")).json())


async def test_restore_that_fails_leaves_no_trace(client: httpx.AsyncClient) -> None:
    """A create whose restored events are refused stores nothing: no session, no shared state.

    The session, its app:/user: state and its events go in one transaction, so even the
    shared state merged by the create is rolled back (a compensating delete could not).
    """
    event = _event("once", 100.0)
    body = {"sessionId": "r", "state": {"app:k": 1, "user:k": 2}, "events": [event, event]}
    response = await client.post(SESSIONS, json=body)
    assert _error(response) == (409, ErrorCode.EVENT_ALREADY_EXISTS)
    assert (await client.get(f"{SESSIONS}/r")).status_code == 404
    assert (await client.get("/apps/a/users/u/state")).json() == {}
    created = await client.post(SESSIONS, json={"sessionId": "other"})
    assert "app:k" not in created.json()["state"]
