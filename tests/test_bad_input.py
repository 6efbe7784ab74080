"""Bad input is a 4xx (HTTP) or an InvalidValueError (Python) naming the field and the
limit; what is accepted can always be read back.

PostgreSQL's JSONB cannot hold a lone UTF-16 surrogate: it is refused, never mangled.
U+0000 is stored losslessly (escaped, tests/test_json_text.py). Deep nesting is capped
below what the JSON reader can read back, so nothing stored is unreadable.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.genai import types

from fastapi_adk_store import (
    AsyncpgSessionService,
    InvalidValueError,
    StoreSettings,
    open_session_service,
)
from fastapi_adk_store.defaults import MAX_JSON_DEPTH, MAX_TIMESTAMP, MIN_TIMESTAMP

from ._helpers import GENAI_UNKNOWN_ENUM, PoolOptions

SESSIONS = "/apps/a/users/u/sessions"


def _method(request: Any) -> str:
    """The HTTP method of a BAD_REQUESTS row, plain or wrapped in pytest.param."""
    return str(request.values[0] if hasattr(request, "values") else request[0])


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


# (method, path, raw JSON body, text the error must contain)
BAD_REQUESTS = [
    ("post", SESSIONS, '{"state": {"a": "\\ud800"}}', "state.a: a lone UTF-16 surrogate"),
    ("post", SESSIONS, '{"state": {"\\udc00": 1}}', "key '\\\\udc00'"),
    ("post", SESSIONS, '{"state": {"app:x": ["\\ud83d"]}}', "state.app:x[0]"),
    ("post", SESSIONS, json.dumps({"state": _nested(300)}), "ADK_STORE_MAX_JSON_DEPTH"),
    ("post", SESSIONS, json.dumps({"state": _nested(MAX_JSON_DEPTH + 1)}), "deeper than 100"),
    ("patch", f"{SESSIONS}/ok", '{"stateDelta": {"\\ud800": 1}}', "state_delta: key"),
    ("patch", f"{SESSIONS}/ok", json.dumps({"stateDelta": _nested(300)}), "deeper than"),
    (
        "post",
        f"{SESSIONS}/ok/events",
        '{"author": "a", "content": {"parts": [{"text": "x\\ud800"}]}}',
        "event.content.parts[0].text",
    ),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "finishReason": 5}', "event.finishReason"),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "finishReason": [1]}', "finishReason"),
    (
        "post",
        f"{SESSIONS}/ok/events",
        '{"author": "a", "partial": 0.0}',
        "event.partial: expected a boolean",
    ),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "timestamp": "12"}', "expected a number"),
    (
        "post",
        SESSIONS,
        json.dumps({"events": [{"author": "a", "inputTranscription": {"finished": "yes"}}]}),
        "event.inputTranscription.finished: expected a boolean",
    ),
    pytest.param(
        "post",
        f"{SESSIONS}/ok/events",
        '{"author": "a", "finishReason": "NOT_A_REASON"}',
        "event.finish_reason",
        marks=pytest.mark.filterwarnings(GENAI_UNKNOWN_ENUM),
    ),
    pytest.param(
        "post",
        SESSIONS,
        json.dumps(
            {
                "events": [
                    {
                        "author": "a",
                        "content": {
                            "role": "user",
                            "parts": [{"codeExecutionResult": {"outcome": "OUTCOME_MAYBE"}}],
                        },
                    }
                ]
            }
        ),
        "event.content.parts[0].code_execution_result.outcome",
        marks=pytest.mark.filterwarnings(GENAI_UNKNOWN_ENUM),
    ),
    (
        "post",
        f"{SESSIONS}/ok/events",
        '{"author": "a", "content": {"parts": [{"functionResponse": '
        '{"name": "f", "scheduling": {"x": 1}}}]}}',
        "event.content.parts[0].functionResponse.scheduling",
    ),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "timestamp": NaN}', "MIN_TIMESTAMP"),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "timestamp": Infinity}', "event.timestamp"),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "timestamp": 1e308}', "MAX_TIMESTAMP"),
    ("post", f"{SESSIONS}/ok/events", '{"author": "a", "timestamp": -5}', "event.timestamp -5"),
    (
        "post",
        SESSIONS,
        json.dumps({"events": [{"author": "a", "timestamp": 1e300}]}),
        "event.timestamp",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    BAD_REQUESTS,
    ids=[f"{_method(r)}-{i}" for i, r in enumerate(BAD_REQUESTS)],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, method: str, path: str, body: str, expected: str
) -> None:
    """Each request that once gave a 500 is a 422 whose message names where and why."""
    await client.post(SESSIONS, json={"sessionId": "ok"})
    response = await client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert expected in response.text
    after = await client.get(f"{SESSIONS}/ok")
    assert after.status_code == 200 and after.json()["events"] == []


@pytest.mark.parametrize(
    "query", ["after_timestamp=1e308", "after_timestamp=-1e308", f"after_timestamp={2**70}"]
)
async def test_extreme_after_timestamps_are_answered(client: httpx.AsyncClient, query: str) -> None:
    """A filter far outside any event's time is a valid filter: 200, not an overflow."""
    await client.post(SESSIONS, json={"sessionId": "ok"})
    await client.post(f"{SESSIONS}/ok/events", json={"author": "a", "timestamp": 100.0})
    expected = 1 if query.startswith("after_timestamp=-") else 0
    got = await client.get(f"{SESSIONS}/ok?{query}")
    assert got.status_code == 200 and len(got.json()["events"]) == expected
    page = await client.get(f"{SESSIONS}/ok/events?{query}")
    assert page.status_code == 200 and len(page.json()) == expected


async def test_python_api_raises_invalid_value_error(service: AsyncpgSessionService) -> None:
    """The service raises InvalidValueError (a ValueError) where JSONB would fail."""
    with pytest.raises(InvalidValueError, match=r"state\.a"):
        await service.create_session(app_name="a", user_id="u", state={"a": "\ud800"})
    with pytest.raises(InvalidValueError, match="ADK_STORE_MAX_JSON_DEPTH"):
        await service.create_session(app_name="a", user_id="u", state={"v": _nested(500)})
    session = await service.create_session(app_name="a", user_id="u", session_id="s")
    bad_events = [
        Event(author="a", actions=EventActions(state_delta={"user:\ud800": 1})),
        Event(author="a", content=types.Content(parts=[types.Part(text="\udfff")])),
        Event(author="a", timestamp=float("nan")),
        Event(author="a", timestamp=MAX_TIMESTAMP * 2),
    ]
    for event in bad_events:
        with pytest.raises(InvalidValueError):
            await service.append_event(session, event)
    stored = await service.get_session(app_name="a", user_id="u", session_id="s")
    assert stored is not None and stored.events == [] and stored.state == {}


async def test_what_is_accepted_reads_back(service: AsyncpgSessionService) -> None:
    """At the depth limit, surrogate pairs (emoji) and the timestamp bounds round-trip."""
    state = {"deep": _nested(MAX_JSON_DEPTH - 1), "emoji": "\U0001f600 \ud7ff \ue000"}
    session = await service.create_session(app_name="a", user_id="u", state=state)
    events = [
        Event(author="a", timestamp=MIN_TIMESTAMP),
        Event(author="b", timestamp=MAX_TIMESTAMP),
    ]
    for event in events:
        await service.append_event(session, event)
    stored = await service.get_session(app_name="a", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.state == state
    assert [e.timestamp for e in stored.events] == [MIN_TIMESTAMP, MAX_TIMESTAMP]


async def test_limits_are_settings_on_every_entry_point(pool_options: PoolOptions) -> None:
    """One default everywhere, and each limit configurable (here through open_session_service)."""
    settings = StoreSettings(_env_file=None)
    assert (settings.max_json_depth, settings.min_timestamp, settings.max_timestamp) == (
        MAX_JSON_DEPTH,
        MIN_TIMESTAMP,
        MAX_TIMESTAMP,
    )
    async with open_session_service(**pool_options) as service:
        limits = service.store.limits
        assert (limits.max_json_depth, limits.min_timestamp) == (MAX_JSON_DEPTH, MIN_TIMESTAMP)
    options = {**pool_options, "max_json_depth": 3, "min_timestamp": 10.0}
    async with open_session_service(**options) as service:
        await service.create_session(app_name="a", user_id="u", state={"v": _nested(2)})
        with pytest.raises(InvalidValueError, match="deeper than 3 levels"):
            await service.create_session(app_name="a", user_id="u", state={"v": _nested(3)})
        session = await service.create_session(app_name="a", user_id="u")
        with pytest.raises(InvalidValueError, match=r"outside 10\.0"):
            await service.append_event(session, Event(author="a", timestamp=5.0))


async def test_a_body_that_is_not_utf8_is_422(client: httpx.AsyncClient) -> None:
    """FastAPI answers a non-UTF-8 body with a bare 400; the routers make it a 422 like
    every other bad body (found by schemathesis)."""
    response = await client.post(
        SESSIONS, content=b"\xff\x08{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
