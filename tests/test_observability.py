"""Metrics and logs of the services: a real prometheus-client registry scraped through
`GET /metrics` after real calls, several processes summed through
`PROMETHEUS_MULTIPROC_DIR`, the slow-call warning, and every public async method of the
three services instrumented (so a method added later cannot slip through)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import multiprocessing
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from google.adk.events.event import Event

from fastapi_adk_store import (
    ADKStore,
    AsyncpgArtifactService,
    AsyncpgMemoryService,
    AsyncpgSessionService,
    StaleSessionError,
    configure_telemetry,
    metrics_router,
)
from fastapi_adk_store.telemetry import instrumented, is_instrumented, render_metrics

from ._helpers import (
    ROOT,
    PoolOptions,
    Samples,
    client_for,
    drop_store_tables,
    make_app,
    make_settings,
    parse_metrics,
    search_path_dsn,
    value,
)
from ._workers import APP, USER, append_and_count

SERVICES = (AsyncpgSessionService, AsyncpgArtifactService, AsyncpgMemoryService)


def calls(samples: Samples, operation: str, service: str = "sessions") -> float:
    name = "adk_store_call_duration_seconds_count"
    return value(samples, name, service=service, operation=operation)


def public_async_methods(cls: type) -> dict[str, Any]:
    """The public coroutine and async-context methods `cls` defines or inherits from a
    class of this package (ADK's base classes' defaults do not reach the database)."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("fastapi_adk_store."):
            continue
        for name, member in vars(klass).items():
            target = getattr(member, "__func__", member)  # staticmethod, classmethod
            if not name.startswith("_") and name not in found and _is_async(target):
                found[name] = target
    return found


def _is_async(function: Any) -> bool:
    """An `async def`, an async generator, or a decorator's wrapper around one."""
    while function is not None:
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            return True
        function = getattr(function, "__wrapped__", None)
    return False


@pytest.mark.parametrize("cls", SERVICES, ids=lambda cls: cls.__name__)
def test_every_public_async_method_is_instrumented(cls: type) -> None:
    """Introspection: each public async method (and async context manager) of the service
    carries `@instrumented`."""
    methods = public_async_methods(cls)
    assert len(methods) >= 5, sorted(methods)
    missing = sorted(name for name, method in methods.items() if not is_instrumented(method))
    assert not missing, f"{cls.__name__}: add @instrumented to {', '.join(missing)}"


def test_the_introspection_sees_an_uninstrumented_method() -> None:
    """The check above can fail: a new method without the decorator is reported."""

    class Grown(AsyncpgSessionService):
        async def compact(self) -> None:
            """A method someone added later."""

    Grown.__module__ = AsyncpgSessionService.__module__
    methods = public_async_methods(Grown)
    assert not is_instrumented(methods["compact"])
    assert is_instrumented(methods["append_event"])
    assert is_instrumented(public_async_methods(AsyncpgArtifactService)["open_artifact_stream"])


def test_instrumented_refuses_a_plain_function() -> None:
    """Only `async def` and `asynccontextmanager` methods can be instrumented."""

    def plain(self: object) -> None:
        """Not async."""

    with pytest.raises(TypeError, match="neither async def nor asynccontextmanager"):
        instrumented(plain)  # type: ignore[arg-type]


# --- one process: GET /metrics after real calls ---------------------------------------------


@pytest.fixture
async def metrics_client(pool_options: PoolOptions) -> AsyncIterator[httpx.AsyncClient]:
    """The quick-start app plus the plugin's `metrics_router()`, started."""
    plugin = ADKStore(make_settings(pool_options))
    app = make_app(plugin)
    app.include_router(plugin.metrics_router())
    async with LifespanManager(app) as manager, client_for(manager) as client:
        yield client


def bare_metrics_client() -> httpx.AsyncClient:
    """A client of an app with only `metrics_router()` (no store: the gauges stay as set)."""
    app = FastAPI()
    app.include_router(metrics_router())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


def bump_revision(pool_options: PoolOptions, session_id: str) -> None:
    """Another writer: raise the stored revision, from another thread and connection."""

    async def bump() -> None:
        connection = await asyncpg.connect(
            pool_options["dsn"], server_settings=pool_options["server_settings"]
        )
        try:
            await connection.execute(
                "UPDATE adk_sessions SET revision = revision + 1 WHERE id = $1", session_id
            )
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, bump()).result()


async def test_scrape_counts_calls_errors_and_pool(metrics_client: httpx.AsyncClient) -> None:
    """After HTTP calls, /metrics shows their counts, the error by its class and the pool."""
    base = "/apps/m/users/u/sessions"
    before = await scrape(metrics_client)
    assert (await metrics_client.post(base, json={"sessionId": "s1"})).status_code == 200
    assert (await metrics_client.post(base, json={"sessionId": "s1"})).status_code == 409
    for _ in range(3):
        assert (await metrics_client.get(f"{base}/s1")).status_code == 200
    after = await scrape(metrics_client)

    assert calls(after, "get_session") - calls(before, "get_session") == 3
    create = "create_session_with_events"
    assert calls(after, create) - calls(before, create) == 2
    errors = {"service": "sessions", "operation": create, "kind": "SessionAlreadyExistsError"}
    delta = value(after, "adk_store_call_errors_total", **errors) - value(
        before, "adk_store_call_errors_total", **errors
    )
    assert delta == 1
    assert value(after, "adk_store_pool_max_size", service="sessions") == 5  # make_settings
    size = value(after, "adk_store_pool_size", service="sessions")
    idle = value(after, "adk_store_pool_idle", service="sessions")
    assert 1 <= size <= 5 and value(after, "adk_store_pool_in_use", service="sessions") == (
        size - idle
    )
    assert value(after, "adk_store_pool_max_size", service="artifacts") == 5  # the same pool


async def test_stale_appends_and_retries_are_counted(
    service: AsyncpgSessionService, pool_options: PoolOptions
) -> None:
    """A stale append counts once as stale (and as an error of append_event); the reload
    of append_to_latest after another writer won counts once as a retry."""
    async with bare_metrics_client() as client:
        before = await scrape(client)
        session = await service.create_session(app_name=APP, user_id=USER, session_id="st")
        copy = await service.get_session(app_name=APP, user_id=USER, session_id="st")
        assert copy is not None
        await service.append_event(session, Event(author="first"))
        with pytest.raises(StaleSessionError):
            await service.append_event(copy, Event(author="stale"))
        made: list[int] = []

        def make_event() -> Event:
            if not made:  # the first attempt loses to another writer
                bump_revision(pool_options, "st")
            made.append(1)
            return Event(author="retried")

        await service.append_to_latest(
            app_name=APP, user_id=USER, session_id="st", make_event=make_event
        )
        after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert len(made) == 2
    append = {"service": "sessions", "operation": "append_event"}
    assert delta("adk_store_stale_appends_total", **append) == 2  # the copy, the bumped one
    assert delta("adk_store_call_errors_total", kind="StaleSessionError", **append) == 2
    retries = {"service": "sessions", "operation": "append_to_latest"}
    assert delta("adk_store_append_retries_total", **retries) == 1
    assert delta("adk_store_call_errors_total", kind="StaleSessionError", **retries) == 0
    assert calls(after, "append_event") - calls(before, "append_event") == 4


async def test_switched_off_metrics_record_nothing(service: AsyncpgSessionService) -> None:
    """`configure_telemetry(metrics=False)`: calls work and leave the counters alone."""
    async with bare_metrics_client() as client:
        before = await scrape(client)
        configure_telemetry(metrics=False)
        try:
            await service.create_session(app_name=APP, user_id=USER, session_id="off")
            assert await service.get_session(app_name=APP, user_id=USER, session_id="off")
        finally:
            configure_telemetry(metrics=True)
        after = await scrape(client)
        await service.get_session(app_name=APP, user_id=USER, session_id="off")
        again = await scrape(client)
    assert calls(after, "get_session") == calls(before, "get_session")
    assert calls(again, "get_session") == calls(before, "get_session") + 1


# --- several processes: PROMETHEUS_MULTIPROC_DIR --------------------------------------------


def list_db(directory: Path) -> list[Path]:
    return list(directory.glob("*.db"))


@pytest.fixture
def two_processes() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


async def test_two_worker_processes_are_summed_in_multiprocess_mode(
    service: AsyncpgSessionService,
    pool_options: PoolOptions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    two_processes: ProcessPoolExecutor,
) -> None:
    """Two worker processes write their metrics to PROMETHEUS_MULTIPROC_DIR; /metrics in
    a third process reports both: their call counts and their pools' sizes, summed."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # inherited by the spawn
    counts = {"mp0": 3, "mp1": 5}  # a session each: the two never race
    for session_id in counts:
        await service.create_session(app_name=APP, user_id=USER, session_id=session_id)
    options = {**pool_options, "min_size": 1, "max_size": 3}
    loop = asyncio.get_running_loop()
    pids = await asyncio.gather(
        *(
            loop.run_in_executor(two_processes, append_and_count, options, session_id, count)
            for session_id, count in counts.items()
        )
    )
    assert len(set(pids)) == 2 and os.getpid() not in pids
    files = await asyncio.to_thread(list_db, tmp_path)
    written = {path.stem.rsplit("_", 1)[-1] for path in files}
    assert {str(pid) for pid in pids} <= written

    async with bare_metrics_client() as client:
        samples = await scrape(client)
    assert calls(samples, "append_event") == 8  # only the workers write to the directory
    assert calls(samples, "get_session") == 8
    assert value(samples, "adk_store_pool_max_size", service="sessions") == 3 + 3
    for session_id, count in counts.items():
        session = await service.get_session(app_name=APP, user_id=USER, session_id=session_id)
        assert session is not None and len(session.events) == count


# --- logs ------------------------------------------------------------------------------------


async def test_a_slow_call_logs_a_warning_with_its_fields(
    pool_options: PoolOptions, caplog: pytest.LogCaptureFixture, slow_threshold: None
) -> None:
    """ADK_STORE_SLOW_CALL_MS (through the plugin's settings) makes every call slower than
    it log one warning on the room's logger, its fields in `extra`, no secret in it."""
    caplog.set_level(logging.WARNING, logger="fastapi_adk_store")
    plugin = ADKStore(make_settings(pool_options, slow_call_ms=0.001))
    async with plugin.open() as store:
        service = AsyncpgSessionService(store)
        await service.create_session(
            app_name="slow", user_id="u", session_id="s", state={"secret": "sauce"}
        )
    records = [r for r in caplog.records if r.name == "fastapi_adk_store.sessions"]
    assert [r.levelno for r in records] == [logging.WARNING]
    record = records[0]
    assert record.getMessage().startswith("slow call: sessions.create_session took ")
    names = ("service", "operation", "app_name", "user_id", "session_id")
    assert {name: record.__dict__[name] for name in names} == {
        "service": "sessions",
        "operation": "create_session",
        "app_name": "slow",
        "user_id": "u",
        "session_id": "s",
    }
    assert record.__dict__["duration_ms"] >= 0
    assert "sauce" not in caplog.text and pool_options["dsn"] not in caplog.text


async def test_calls_under_the_threshold_log_nothing(
    service: AsyncpgSessionService, caplog: pytest.LogCaptureFixture, slow_threshold: None
) -> None:
    """At the default threshold (500 ms) quick calls stay quiet; 0 turns warnings off."""
    caplog.set_level(logging.DEBUG, logger="fastapi_adk_store")
    await service.create_session(app_name=APP, user_id=USER, session_id="quick")
    configure_telemetry(slow_call_ms=0)
    await service.get_session(app_name=APP, user_id=USER, session_id="quick")
    assert [r for r in caplog.records if r.name.startswith("fastapi_adk_store")] == []
    with pytest.raises(ValueError, match="slow_call_ms"):
        configure_telemetry(slow_call_ms=-1)


# --- without prometheus_client ---------------------------------------------------------------

_WITHOUT_PROMETHEUS = """
import asyncio, sys
sys.modules["prometheus_client"] = None  # as if the `metrics` extra were not installed
from fastapi_adk_store import metrics, metrics_router, open_session_service

async def main() -> None:
    async with open_session_service(sys.argv[1]) as service:
        await service.create_session(app_name="a", user_id="u", session_id="s")
        assert await service.get_session(app_name="a", user_id="u", session_id="s")
    assert metrics._prometheus is None and metrics.current_metrics() is None
    try:
        metrics_router()
    except RuntimeError as error:
        print(error)

asyncio.run(main())
"""


def test_without_prometheus_client_calls_work_and_the_route_says_what_to_install(
    pool_options: PoolOptions,
) -> None:
    """With prometheus_client missing the services run unchanged; metrics_router() names
    the extra to install."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PROMETHEUS, search_path_dsn(pool_options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'fastapi-adk-store[metrics]'" in done.stdout


async def test_a_503_logs_a_warning_on_the_web_logger_and_counts_the_error(
    metrics_client: httpx.AsyncClient,
    pool_options: PoolOptions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tables dropped under the app: the 503 logs the route and code on
    `fastapi_adk_store.web`, and the call counts as a SchemaMissingError."""
    caplog.set_level(logging.WARNING, logger="fastapi_adk_store")
    before = await scrape(metrics_client)
    await drop_store_tables(pool_options)
    response = await metrics_client.get("/apps/m/users/u/sessions/gone")
    assert response.status_code == 503
    after = await scrape(metrics_client)
    [record] = [r for r in caplog.records if r.name == "fastapi_adk_store.web"]
    assert record.levelno == logging.WARNING
    assert (record.__dict__["code"], record.__dict__["status"]) == ("SCHEMA_MISSING", 503)
    assert record.__dict__["route"] == "adk_store:get_session"
    assert pool_options["dsn"] not in caplog.text
    labels = {"service": "sessions", "operation": "get_session", "kind": "SchemaMissingError"}
    name = "adk_store_call_errors_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_docs_list_every_span_and_metric() -> None:
    """docs/observability.md names each instrumented method's span and each metric family
    /metrics declares."""
    doc = (ROOT / "docs" / "observability.md").read_text()
    spans = {f"`adk_store.{name}`" for cls in SERVICES for name in public_async_methods(cls)}
    assert sorted(span for span in spans if span not in doc) == []
    page = render_metrics()[0].decode()
    declared = re.findall(r"^# TYPE (adk_store_\w+) ", page, re.MULTILINE)
    families = [name for name in declared if not name.endswith("_created")]  # timestamps
    assert len(families) == 8, families
    assert sorted(name for name in families if f"`{name}`" not in doc) == []
