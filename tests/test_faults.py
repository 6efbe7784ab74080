"""Faults injected into a PostgreSQL this module owns: killed backends, a restart, timeouts.

Never the shared test server: `own_cluster` makes a throwaway cluster (tests/_cluster.py)
and these tests terminate its backends and restart it. Each test prints (and appends to
`$ADK_STORE_RELIABILITY_REPORT`) the figures it saw, via `report_figures`.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session

from fastapi_adk_store import (
    AsyncpgSessionService,
    StaleSessionError,
    StoreUnavailableError,
    open_session_service,
)
from fastapi_adk_store.db.errors import translate_errors
from fastapi_adk_store.web.deps import STORE_STATE_KEY
from fastapi_adk_store.web.errors import RETRY_AFTER_SECONDS
from fastapi_adk_store.web.plugin import ADKStore

from ._cluster import OwnCluster, find_binaries
from ._helpers import PoolOptions, client_for, make_app, make_settings, report_figures

APP = "faults_app"
USERS = ("u0", "u1")
SESSIONS = (("u0", "s0"), ("u0", "s1"), ("u1", "s2"), ("u1", "s3"))
TASKS = 16
KILLS = 300  # terminations to inject in the kill test ...
KILL_SECONDS = 40.0  # ... or fewer, if this much time has passed
TASK_APPENDS = 400  # per task, so the appenders stop by themselves too
ATTEMPTS = 40  # tries of one append (or load) before a task gives up on it
HEAL_APPENDS = 2  # per task after the faults stop: all must succeed
CLIENTS = 8  # HTTP clients during the restarts
RESTARTS = 4  # alternately `pg_ctl restart`, and a stop, a pause while down, a start
DOWN_SECONDS = 1.0
CLIENT_POSTS = 300  # per client, so the clients stop by themselves too
POST_ATTEMPTS = 400  # tries of one POST (0.02 s apart on a 503) before the test fails


# --- the cluster ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def own_cluster() -> Iterator[OwnCluster]:
    """A PostgreSQL cluster for this run only, which tests may kill and restart."""
    binaries, reason = find_binaries()
    if binaries is None:
        pytest.skip(f"cannot make a throwaway PostgreSQL cluster: {reason}")
    try:
        cluster = OwnCluster(binaries)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"initdb failed, no throwaway PostgreSQL cluster: {error}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def own_options(own_cluster: OwnCluster) -> AsyncIterator[PoolOptions]:
    """Pool options on the owned cluster: a new schema, and an application_name of its own.

    The application_name marks this test's connections, so only they are terminated.
    """
    tag = uuid.uuid4().hex[:12]
    schema = f"f_{tag}"
    connection = await asyncpg.connect(own_cluster.dsn)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        yield {
            "dsn": own_cluster.dsn,
            "min_size": 2,
            "max_size": 8,
            "server_settings": {"search_path": schema, "application_name": f"adk-{tag}"},
        }
    finally:
        await connection.close()
    connection = await asyncpg.connect(own_cluster.dsn)  # the server may have restarted
    try:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await connection.close()


# --- what the kill test tracks ----------------------------------------------------------


@dataclass
class Ledger:
    """What the appenders saw: acknowledged keys, keys with no known outcome, failures."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> event id
    stored_unacknowledged: dict[str, str] = field(default_factory=dict)
    abandoned: set[str] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)  # kind -> count
    unexpected: list[str] = field(default_factory=list)

    def failed(self, error: Exception, where: str) -> None:
        if isinstance(error, StaleSessionError):
            self.failures[f"{where}:stale"] += 1
        elif isinstance(error, StoreUnavailableError):
            cause = type(error.__cause__).__name__ if error.__cause__ else "none"
            self.failures[f"{where}:unavailable:{cause}"] += 1
        else:
            self.unexpected.append(f"{where}: {type(error).__module__}.{error!r}")


def _delta(key: str) -> dict[str, Any]:
    return {key: 1, f"app:{key}": 1, f"user:{key}": 1}


async def _load(
    service: AsyncpgSessionService, user_id: str, session_id: str, ledger: Ledger, *, full: bool
) -> Session:
    """The session (only its revision unless `full`), retrying while PostgreSQL is away."""
    config = None if full else GetSessionConfig(num_recent_events=0)
    for _ in range(ATTEMPTS):
        try:
            session = await service.get_session(
                app_name=APP, user_id=user_id, session_id=session_id, config=config
            )
        except Exception as error:
            ledger.failed(error, "load")
            if not isinstance(error, StoreUnavailableError):
                raise
            await asyncio.sleep(0.01)
            continue
        assert session is not None
        return session
    raise AssertionError(f"could not load {session_id} in {ATTEMPTS} tries")


async def _append_one(
    service: AsyncpgSessionService, user_id: str, session_id: str, key: str, ledger: Ledger
) -> None:
    """Append one event setting `key` until its outcome is known: acknowledged, or found
    stored after a failure whose acknowledgement was lost; else it is abandoned."""
    event = Event(author="faults", actions=EventActions(state_delta=_delta(key)))
    session = await _load(service, user_id, session_id, ledger, full=False)
    for _ in range(ATTEMPTS):
        try:
            await service.append_event(session, event)
        except Exception as error:
            ledger.failed(error, "append")
            if not isinstance(error, StoreUnavailableError | StaleSessionError):
                raise
        else:
            ledger.acknowledged[key] = event.id
            return
        # Failed: stored anyway (the commit happened, its answer was lost)? Else retry.
        session = await _load(service, user_id, session_id, ledger, full=True)
        if any(stored.id == event.id for stored in session.events):
            ledger.stored_unacknowledged[key] = event.id
            return
    ledger.abandoned.add(key)


async def _killer(dsn: str, application_name: str, stop: asyncio.Event) -> int:
    """Terminate one of the store's backends at random moments; return how many died."""
    kills = 0
    deadline = time.monotonic() + KILL_SECONDS
    connection = await asyncpg.connect(dsn)
    try:
        while kills < KILLS and time.monotonic() < deadline:
            await asyncio.sleep(random.uniform(0, 0.03))
            kills += await connection.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM ("
                " SELECT pid FROM pg_stat_activity WHERE application_name = $1"
                " ORDER BY random() LIMIT 1) AS victim",
                application_name,
            )
    finally:
        stop.set()
        await connection.close()
    return kills


async def _stored_keys(
    service: AsyncpgSessionService, ledger: Ledger
) -> tuple[dict[str, tuple[str, str]], dict[str, set[str]]]:
    """Every stored event's key (-> its user and id), checking that each event carries
    exactly its delta and each session's state exactly its events' keys; and the keys in
    each user's and the app's state."""
    events: dict[str, tuple[str, str]] = {}
    states: dict[str, set[str]] = {}
    for user_id, session_id in SESSIONS:
        session = await _load(service, user_id, session_id, ledger, full=True)
        ids = [event.id for event in session.events]
        assert len(ids) == len(set(ids)), f"duplicate event ids in {session_id}"
        keys = set()
        for event in session.events:
            delta = event.actions.state_delta
            (key,) = (name for name in delta if ":" not in name)
            assert delta == _delta(key), f"event {event.id} holds {delta}"
            assert key not in events, f"{key} stored twice"
            events[key] = (user_id, event.id)
            keys.add(key)
        states[session_id] = {name for name in session.state if ":" not in name}
        assert states[session_id] == keys, f"{session_id}: state and events disagree"
    for user_id in USERS:
        states[f"user:{user_id}"] = set(await service.get_user_state(app_name=APP, user_id=user_id))
    states["app"] = set(await service.store.app_state(APP))
    return events, states


# --- the mapping of connection errors -----------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        asyncpg.InternalClientError(
            "cannot switch to state 11; another operation (4) is in progress"
        ),
        asyncpg.InternalClientError('cannot switch to state 15; protocol is in the "failed" state'),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InterfaceError(
            "cannot call Transaction.start(): the underlying connection is closed"
        ),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    ],
    ids=["error-consume", "terminating", "failed", "closed", "resource-closed", "does-not-exist"],
)
def test_a_dead_connection_is_store_unavailable(error: Exception) -> None:
    """What asyncpg raises when the server ended the connection: StoreUnavailableError."""
    with pytest.raises(StoreUnavailableError) as raised, translate_errors("t"):
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (15) is in progress"
        ),
        asyncpg.InternalClientError("unknown error in protocol implementation"),
        asyncpg.exceptions.OutdatedSchemaCacheError("cache lookup failed for type 1"),
        asyncpg.exceptions.ProtocolError("unexpected message"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.InterfaceError("pool is closed"),
        asyncpg.InterfaceError(
            "cannot call Connection.fetch(): the underlying connection has been released "
            "back to the pool"
        ),
    ],
    ids=[
        "busy",
        "unknown",
        "schema-cache",
        "protocol",
        "concurrent-use",
        "pool-closed",
        "released",
    ],
)
def test_driver_programming_errors_pass_through(error: Exception) -> None:
    """Other driver errors are bugs to see, not outages: they are not translated."""
    with pytest.raises(type(error)), translate_errors("t"):
        raise error


async def test_a_pooled_connection_killed_while_idle_is_store_unavailable_then_heals(
    own_options: PoolOptions,
) -> None:
    """The pool's one connection is terminated while idle, 30 times: the next call succeeds
    (the pool saw the connection close and opened another) or raises StoreUnavailableError
    (it did not yet: asyncpg's InternalClientError before the fix), never anything else;
    the call after it always succeeds."""
    application_name = own_options["server_settings"]["application_name"]
    outcomes: Counter[str] = Counter()
    async with open_session_service(**{**own_options, "min_size": 1, "max_size": 1}) as service:
        await service.create_session(app_name=APP, user_id="u", session_id="s")
        killer = await asyncpg.connect(own_options["dsn"])
        try:
            for _ in range(30):
                killed = await killer.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity WHERE application_name = $1",
                    application_name,
                )
                assert killed == 1
                try:
                    await service.get_session(app_name=APP, user_id="u", session_id="s")
                    outcomes["ok"] += 1
                except StoreUnavailableError as error:
                    outcomes[f"unavailable:{type(error.__cause__).__name__}"] += 1
                assert await service.get_session(app_name=APP, user_id="u", session_id="s")
        finally:
            await killer.close()
    report_figures("idle_connection_killed", faults_injected=30, **outcomes)
    assert sum(outcomes.values()) == 30


async def test_killed_backends_lose_no_acknowledged_append_and_half_store_none(
    own_options: PoolOptions,
) -> None:
    """16 tasks append app:/user:/session keys to 4 sessions while the store's backends are
    terminated at random moments (KILLS times, or for KILL_SECONDS).

    Every append either returns (acknowledged) or raises StoreUnavailableError or
    StaleSessionError, nothing else. Afterwards each stored event carries exactly its delta
    and each session's state holds exactly its events' keys, as do the users' and the
    app's states (one statement per append: no event without its delta, or the reverse);
    every acknowledged key is stored, once; a stored key that was not acknowledged is one
    whose append failed and was then found stored. Once the killing stops, every append
    succeeds on the same pool.
    """
    application_name = own_options["server_settings"]["application_name"]
    ledger = Ledger()
    stop = asyncio.Event()

    async with open_session_service(**own_options) as service:
        for user_id, session_id in SESSIONS:
            await service.create_session(app_name=APP, user_id=user_id, session_id=session_id)

        async def appender(task: int) -> int:
            count = 0
            while not stop.is_set() and count < TASK_APPENDS:
                user_id, session_id = random.choice(SESSIONS)
                await _append_one(service, user_id, session_id, f"t{task}_{count}", ledger)
                count += 1
            return count

        started = time.monotonic()
        killer = asyncio.create_task(_killer(own_options["dsn"], application_name, stop))
        tried = sum(await asyncio.gather(*(appender(task) for task in range(TASKS))))
        stop.set()
        kills = await killer
        under_faults = time.monotonic() - started
        assert not ledger.unexpected, ledger.unexpected[:5]

        await asyncio.sleep(0.5)  # let the loop see the last killed connections close
        unavailable_before_heal = _unavailable(ledger)
        heal_keys = [f"heal{task}_{n}" for task in range(TASKS) for n in range(HEAL_APPENDS)]
        await asyncio.gather(
            *(
                _append_one(service, *SESSIONS[index % len(SESSIONS)], key, ledger)
                for index, key in enumerate(heal_keys)
            )
        )
        heal_unavailable = _unavailable(ledger) - unavailable_before_heal
        stored, states = await _stored_keys(service, ledger)

    acknowledged = ledger.acknowledged
    report_figures(
        "killed_backends_during_appends",
        faults_injected=kills,
        seconds_under_faults=round(under_faults, 1),
        appends_tried=tried,
        appends_acknowledged=len(acknowledged) - len(heal_keys),
        stored_after_lost_ack=len(ledger.stored_unacknowledged),
        abandoned=len(ledger.abandoned),
        events_stored=len(stored),
        heal_appends=len(heal_keys),
        failures=dict(sorted(ledger.failures.items())),
    )
    assert kills > 0
    assert not ledger.unexpected, ledger.unexpected[:5]
    assert heal_unavailable == 0 and set(heal_keys) <= set(acknowledged)
    for key, event_id in acknowledged.items():
        assert stored.get(key, ("", ""))[1] == event_id, f"acknowledged {key} is not stored"
    for key, event_id in ledger.stored_unacknowledged.items():
        assert stored[key][1] == event_id
    unknown = set(stored) - set(acknowledged) - set(ledger.stored_unacknowledged)
    assert unknown <= ledger.abandoned, f"stored but never acknowledged: {sorted(unknown)[:5]}"
    for user_id in USERS:
        mine = {key for key, (owner, _) in stored.items() if owner == user_id}
        assert states[f"user:{user_id}"] == mine, f"user {user_id}'s state and events disagree"
    assert states["app"] == set(stored), "the app's state and the events disagree"


def _unavailable(ledger: Ledger) -> int:
    return sum(count for kind, count in ledger.failures.items() if ":unavailable:" in kind)


# --- a restart under HTTP load ----------------------------------------------------------


@dataclass
class HttpLedger:
    """What the HTTP clients saw: acknowledged event ids by key, answers by status."""

    acknowledged: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> user, id
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


async def _post_until_acknowledged(
    client: httpx.AsyncClient, user_id: str, session_id: str, key: str, ledger: HttpLedger
) -> None:
    """POST one event (its id fixed by the client) until a 200: a retried POST of a stored
    event is a no-op, so a 503 whose commit happened is not applied twice."""
    event = Event(author="http", actions=EventActions(state_delta=_delta(key)))
    body = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    path = f"/apps/{APP}/users/{user_id}/sessions/{session_id}/events"
    for _ in range(POST_ATTEMPTS):
        response = await client.post(path, json=body)
        ledger.statuses[response.status_code] += 1
        if response.status_code == 200:
            assert response.json()["id"] == event.id
            ledger.acknowledged[key] = (user_id, event.id)
            return
        if response.status_code == 503:
            if response.headers.get("Retry-After") != str(RETRY_AFTER_SECONDS):
                ledger.unexpected.append(f"503 without Retry-After: {response.headers}")
            await asyncio.sleep(0.02)  # not Retry-After's 5 s: the test wants many tries
        elif response.status_code != 409 or response.json()["code"] != "STALE_SESSION":
            ledger.unexpected.append(f"{response.status_code}: {response.text[:200]}")
            return
    ledger.unexpected.append(f"{key}: no 200 in {POST_ATTEMPTS} tries")


async def _restarter(cluster: OwnCluster, load_started: asyncio.Event) -> list[str]:
    """Restart the server RESTARTS times while the clients post; say how each went."""
    await load_started.wait()
    done = []
    for number in range(RESTARTS):
        await asyncio.sleep(0.5)
        if number % 2 == 0:
            await asyncio.to_thread(cluster.restart)
            done.append("pg_ctl restart")
        else:
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(cluster.start)
            done.append(f"stop, {DOWN_SECONDS} s down, start")
    await asyncio.sleep(0.5)  # some load on the restarted server
    return done


async def test_server_restarts_under_http_load_answer_503_and_keep_exactly_the_acknowledged(
    own_cluster: OwnCluster, own_options: PoolOptions
) -> None:
    """8 clients POST events (app:/user:/session keys) through ADKStore's router while the
    server is restarted twice, once with a pause while it is down. While it is away the
    app answers 503 with Retry-After (nothing else but 200 and 409 stale); the app keeps
    its one store and pool throughout (no app restart); each event is POSTed until a 200,
    and afterwards the stored events and the session, user and app states hold exactly
    the acknowledged keys."""
    settings = make_settings(own_options, min_size=1, max_size=5, connect_timeout=2.0)
    app = make_app(ADKStore(settings))
    ledger = HttpLedger()
    load_started = asyncio.Event()
    stop = asyncio.Event()
    started = time.monotonic()
    async with LifespanManager(app) as manager, client_for(manager) as client:
        store = getattr(app.state, STORE_STATE_KEY)
        pool = await store.get_pool()
        for user_id, session_id in SESSIONS:
            response = await client.post(
                f"/apps/{APP}/users/{user_id}/sessions", json={"sessionId": session_id}
            )
            assert response.status_code == 200, response.text

        async def poster(number: int) -> int:
            count = 0
            while not stop.is_set() and count < CLIENT_POSTS:
                user_id, session_id = random.choice(SESSIONS)
                await _post_until_acknowledged(
                    client, user_id, session_id, f"c{number}_{count}", ledger
                )
                load_started.set()
                count += 1
            return count

        async def restart_then_stop() -> list[str]:
            try:
                return await _restarter(own_cluster, load_started)
            finally:
                stop.set()

        restarter = asyncio.create_task(restart_then_stop())
        posted = await asyncio.gather(*(poster(number) for number in range(CLIENTS)))
        restarts = await restarter
        assert getattr(app.state, STORE_STATE_KEY) is store and await store.get_pool() is pool
        stored = await _stored_through_http(client)
    async with open_session_service(**own_options, create_tables=False) as service:
        app_state = set(await service.store.app_state(APP))
    report_figures(
        "restarts_under_http_load",
        faults_injected=len(restarts),
        restarts=restarts,
        seconds=round(time.monotonic() - started, 1),
        events_posted=sum(posted),
        requests_tried=sum(ledger.statuses.values()),
        acknowledged=len(ledger.acknowledged),
        statuses={str(status): count for status, count in sorted(ledger.statuses.items())},
    )
    assert not ledger.unexpected, ledger.unexpected[:5]
    assert ledger.statuses[503] > 0, "no request saw the server down"
    assert stored == ledger.acknowledged
    assert app_state == set(stored)


async def _stored_through_http(client: httpx.AsyncClient) -> dict[str, tuple[str, str]]:
    """Every stored event's key (-> user, id), read back through the router, checking that
    each session's and each user's state holds exactly the keys of their events."""
    stored: dict[str, tuple[str, str]] = {}
    for user_id in USERS:
        user_keys: set[str] = set()
        for owner, session_id in SESSIONS:
            if owner != user_id:
                continue
            response = await client.get(f"/apps/{APP}/users/{user_id}/sessions/{session_id}")
            assert response.status_code == 200, response.text
            session = response.json()
            keys = set()
            for event in session["events"]:
                delta = event["actions"]["stateDelta"]
                (key,) = (name for name in delta if ":" not in name)
                assert delta == _delta(key) and key not in stored, (key, delta)
                stored[key] = (user_id, event["id"])
                keys.add(key)
            assert {name for name in session["state"] if ":" not in name} == keys
            user_keys |= keys
        response = await client.get(f"/apps/{APP}/users/{user_id}/state")
        assert set(response.json()) == user_keys
    return stored


# --- timeouts on the append path --------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"command_timeout": 0.3}, "did not answer in time"),
        ({"server_settings": {"lock_timeout": "300ms"}}, "lock_timeout"),
    ],
    ids=["command_timeout", "lock_timeout"],
)
async def test_an_append_behind_a_held_lock_times_out_as_503_and_the_pool_recovers(
    own_options: PoolOptions, options: PoolOptions, message: str
) -> None:
    """An append (service and HTTP POST) stuck behind another transaction's row lock and
    cut off by command_timeout or lock_timeout: StoreUnavailableError naming the reason,
    and a 503 with Retry-After; nothing of it is stored, and once the lock is released
    the same pool appends again. (tests/test_store.py covers a state update this way.)"""
    pool_only = {key: value for key, value in options.items() if key != "server_settings"}
    server_settings = {**own_options["server_settings"], **options.get("server_settings", {})}
    settings = make_settings(
        {**own_options, "server_settings": server_settings}, min_size=1, max_size=2, **pool_only
    )
    timeout = next(iter({**pool_only, **options.get("server_settings", {})}))
    app = make_app(ADKStore(settings))
    outcomes: Counter[str] = Counter()
    async with LifespanManager(app) as manager, client_for(manager) as client:
        store = getattr(app.state, STORE_STATE_KEY)
        service = AsyncpgSessionService(store)
        session = await service.create_session(app_name=APP, user_id="u", session_id="s")
        path = f"/apps/{APP}/users/u/sessions/s/events"
        holder = await asyncpg.connect(
            own_options["dsn"], server_settings=own_options["server_settings"]
        )
        try:
            async with holder.transaction():
                await holder.execute(f"SELECT 1 FROM {store.session_table} FOR UPDATE")
                for _ in range(3):
                    event = Event(author="t", actions=EventActions(state_delta=_delta("k")))
                    with pytest.raises(StoreUnavailableError, match=message):
                        await service.append_event(session, event)
                    outcomes["append_unavailable"] += 1
                    body = event.model_dump(mode="json", by_alias=True, exclude_none=True)
                    response = await client.post(path, json=body)
                    assert response.status_code == 503, response.text
                    assert response.json()["code"] == "STORE_UNAVAILABLE"
                    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
                    outcomes["http_503"] += 1
        finally:
            await holder.close()
        stored = await service.get_session(app_name=APP, user_id="u", session_id="s")
        assert stored is not None and stored.events == [] and stored.state == {}
        assert await service.get_user_state(app_name=APP, user_id="u") == {}
        for number in range(4):  # more appends than the pool has connections
            response = await client.post(
                path,
                json={"author": "t", "actions": {"stateDelta": {f"after{number}": number}}},
            )
            assert response.status_code == 200, response.text
    report_figures(f"append_behind_lock_{timeout}", **outcomes)
