"""Many OS processes writing the same sessions: directly (8 processes x 16 tasks) and
through the HTTP app under `uvicorn --workers 4`. On the shared test server, per-test schema.

Every append sets keys unique to it (session, app: and user:), so the final states must
hold exactly the acknowledged keys: a lost update drops a key, a duplicate shows twice.
Each test prints (and appends to `$ADK_STORE_RELIABILITY_REPORT`) its figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

from fastapi_adk_store import AsyncpgSessionService

from ._helpers import PoolOptions, report_figures, search_path_dsn, serve_with_uvicorn
from ._workers import APP, append_from_tasks

ROOT = Path(__file__).resolve().parent.parent
USERS = ("pu0", "pu1")
SESSIONS = [(user, f"{user}_s{n}") for user in USERS for n in range(4)]
PROCESSES = 8
TASKS = 16
APPENDS = 4  # per task: 8 x 16 x 4 = 512 events
UVICORN_WORKERS = 4
CLIENTS = 32
REQUESTS = 16  # per client, half POST events, half PATCH state
ATTEMPTS = 50  # tries of one request on a 409 (the router already retried 3 times)
START_TIMEOUT = 60.0


async def _stored(
    service: AsyncpgSessionService,
) -> tuple[dict[str, tuple[str, str]], dict[str, set[str]]]:
    """Every stored event's unprefixed key (-> session id, event id), each key once; and
    the unprefixed keys of each session's, each user's and the app's state."""
    events: dict[str, tuple[str, str]] = {}
    states: dict[str, set[str]] = {}
    for user_id, session_id in SESSIONS:
        session = await service.get_session(app_name=APP, user_id=user_id, session_id=session_id)
        assert session is not None
        ids = [event.id for event in session.events]
        assert len(ids) == len(set(ids)), f"an event id twice in {session_id}"
        for event in session.events:
            assert event.actions is not None
            keys = [name for name in event.actions.state_delta if ":" not in name]
            assert len(keys) == 1, event.actions.state_delta
            assert keys[0] not in events, f"{keys[0]} stored twice"
            events[keys[0]] = (session_id, event.id)
        states[session_id] = {name for name in session.state if ":" not in name}
    for user_id in USERS:
        states[user_id] = set(await service.get_user_state(app_name=APP, user_id=user_id))
    states["app"] = set(await service.store.app_state(APP))
    return events, states


def _check_states(
    acknowledged: dict[str, tuple[str, str]],
    events: dict[str, tuple[str, str]],
    states: dict[str, set[str]],
) -> None:
    """Stored events equal the acknowledged ones; each state holds exactly their keys."""
    assert events == acknowledged
    for _, session_id in SESSIONS:
        assert states[session_id] == {k for k, (s, _) in acknowledged.items() if s == session_id}
    for user_id in USERS:
        owned = {session_id for owner, session_id in SESSIONS if owner == user_id}
        assert states[user_id] == {k for k, (s, _) in acknowledged.items() if s in owned}
    assert states["app"] == set(acknowledged)


async def _create_sessions(service: AsyncpgSessionService) -> None:
    for user_id, session_id in SESSIONS:
        await service.create_session(app_name=APP, user_id=user_id, session_id=session_id)


@pytest.fixture
def processes() -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        yield pool


async def test_processes_times_tasks_lose_and_duplicate_nothing(
    service: AsyncpgSessionService, pool_options: PoolOptions, processes: ProcessPoolExecutor
) -> None:
    """8 processes x 16 tasks append to 8 sessions of 2 users, reloading on stale: the
    stored events are exactly the acknowledged ones (count and ids), and every session's,
    user's and the app's state holds exactly the acknowledged keys; stale copies were
    rejected (counted), never stored."""
    await _create_sessions(service)
    options = {**pool_options, "min_size": 1, "max_size": 4}
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    results = await asyncio.gather(
        *(
            loop.run_in_executor(
                processes, append_from_tasks, options, SESSIONS, worker, TASKS, APPENDS
            )
            for worker in range(PROCESSES)
        )
    )
    seconds = time.monotonic() - started
    acknowledged = {key: (sid, eid) for acked, _ in results for sid, key, eid in acked}
    stale = sum(count for _, count in results)
    events, states = await _stored(service)
    report_figures(
        "processes_x_tasks",
        processes=PROCESSES,
        tasks_per_process=TASKS,
        appends_acknowledged=len(acknowledged),
        stale_rejected=stale,
        events_stored=len(events),
        seconds=round(seconds, 1),
    )
    assert len(acknowledged) == PROCESSES * TASKS * APPENDS
    _check_states(acknowledged, events, states)


@pytest.fixture
async def uvicorn_url(pool_options: PoolOptions, tmp_path: Path) -> AsyncIterator[str]:
    """tests._http_app under `uvicorn --workers 4` on a free port, in the test's schema."""
    env = {
        **os.environ,
        "ADK_STORE_DSN": search_path_dsn(pool_options),
        "ADK_STORE_MIN_SIZE": "1",
        "ADK_STORE_MAX_SIZE": "4",
    }
    workers = ["--workers", str(UVICORN_WORKERS), "--log-level", "warning"]
    async with serve_with_uvicorn(
        "tests._http_app:app",
        env,
        tmp_path / "uvicorn.log",
        ready_path=f"/apps/{APP}/users/nobody/sessions",
        extra_args=workers,
        startup_timeout=START_TIMEOUT,
    ) as url:
        yield url


async def test_uvicorn_workers_keep_exactly_the_acknowledged_deltas(
    service: AsyncpgSessionService, uvicorn_url: str
) -> None:
    """32 clients POST events and PATCH state (each with its own app:/user:/session key)
    to 8 sessions served by 4 uvicorn worker processes, retrying a 409 stale (it wrote
    nothing): the stored events and states equal exactly the acknowledged (200) deltas."""
    await _create_sessions(service)
    acknowledged: dict[str, tuple[str, str]] = {}
    statuses: Counter[str] = Counter()
    unexpected: list[str] = []

    async def request(
        client: httpx.AsyncClient, kind: str, session: tuple[str, str], key: str
    ) -> None:
        user_id, session_id = session
        path = f"/apps/{APP}/users/{user_id}/sessions/{session_id}"
        delta = {key: 1, f"app:{key}": 1, f"user:{key}": 1}
        event = Event(author="client", actions=EventActions(state_delta=delta))
        body = event.model_dump(mode="json", by_alias=True, exclude_none=True)
        for _ in range(ATTEMPTS):
            if kind == "post":
                response = await client.post(f"{path}/events", json=body)
            else:
                response = await client.patch(path, json={"stateDelta": delta})
            statuses[f"{kind}:{response.status_code}"] += 1
            if response.status_code == 200:
                if kind == "post":
                    acknowledged[key] = (session_id, response.json()["id"])
                else:
                    (last,) = [
                        e for e in response.json()["events"] if key in e["actions"]["stateDelta"]
                    ]
                    acknowledged[key] = (session_id, last["id"])
                return
            if response.status_code != 409 or response.json()["code"] != "STALE_SESSION":
                unexpected.append(f"{kind} {response.status_code}: {response.text[:200]}")
                return
        unexpected.append(f"{kind} {key}: still 409 after {ATTEMPTS} tries")

    async def client_task(client: httpx.AsyncClient, number: int) -> None:
        chooser = random.Random(number)
        for index in range(REQUESTS):
            kind = "post" if index % 2 == 0 else "patch"
            await request(client, kind, chooser.choice(SESSIONS), f"h{number}_{index}")

    started = time.monotonic()
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=uvicorn_url, limits=limits, timeout=60) as client:
        await asyncio.gather(*(client_task(client, number) for number in range(CLIENTS)))
    seconds = time.monotonic() - started
    events, states = await _stored(service)
    report_figures(
        "uvicorn_workers",
        uvicorn_workers=UVICORN_WORKERS,
        clients=CLIENTS,
        requests_tried=sum(statuses.values()),
        acknowledged=len(acknowledged),
        statuses=dict(sorted(statuses.items())),
        events_stored=len(events),
        seconds=round(seconds, 1),
    )
    assert not unexpected, unexpected[:5]
    assert len(acknowledged) == CLIENTS * REQUESTS
    _check_states(acknowledged, events, states)
