"""The database password never shows: not in settings' reprs, errors, logs or answers.

The password goes in the DSN (trust auth ignores it, so the store still connects) or as
ADK_STORE_PASSWORD. A leak counts when the password, or its first 8 characters (a
truncated repr), appears.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import ValidationError

from fastapi_adk_store import ADKStore, StoreSettings, metrics_router
from fastapi_adk_store.adk_registry import session_service_from_uri, settings_from_uri

from ._helpers import PoolOptions, client_for, free_port, make_settings

SECRET = "S3cr3t-pw-XYZ"
LOGGERS = (None, "asyncpg", "fastapi_adk_store", "fastapi_adk_store.db", "httpx")


def assert_clean(where: str, text: str) -> None:
    for needle in (SECRET, SECRET[:8]):
        assert needle not in text, f"the password shows in {where}: {text!r}"


def with_password(dsn: str, *, port: int | None = None, password: str = SECRET) -> str:
    """`dsn` with this password (and port), the rest kept."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    port = port or parts.port
    netloc = f"{parts.username or 'postgres'}:{password}@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def error_texts(error: BaseException) -> Iterator[str]:
    """Message, repr and traceback line of the error and of every cause and context."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield "".join(traceback.format_exception_only(type(current), current))
        if isinstance(current, ValidationError):
            yield current.json()
            yield repr(current.errors())
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def assert_raises_clean(where: str, call: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    for text in error_texts(caught.value):
        assert_clean(f"{where} ({type(caught.value).__name__})", text)
    return caught.value


def settings_texts(settings: StoreSettings) -> Iterator[str]:
    yield repr(settings)
    yield str(settings)
    yield settings.model_dump_json()
    yield repr(settings.model_dump())
    yield repr(settings.model_dump(mode="json"))
    yield repr(dict(settings))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert_clean("the captured logs", caplog.text)
    for record in caplog.records:
        assert_clean(f"log record {record.name}", record.getMessage())
        assert_clean(f"log record {record.name} args", repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            for text in error_texts(record.exc_info[1]):
                assert_clean(f"log record {record.name} exception", text)


def assert_response_clean(where: str, response: httpx.Response) -> None:
    assert_clean(f"{where} body", response.text)
    assert_clean(f"{where} headers", repr(response.headers))


def _app(plugin: ADKStore) -> FastAPI:
    app = FastAPI(lifespan=plugin.lifespan)
    app.include_router(plugin.sessions_router())
    app.include_router(plugin.health_router())
    return app


async def _exercise(client: httpx.AsyncClient) -> list[httpx.Response]:
    """Successes, 404, 409 and 422, on the sessions routes and /health."""
    base = "/apps/sec/users/u1/sessions"
    return [
        await client.post(base, json={"sessionId": "s1", "state": {"k": 1}}),
        await client.post(base, json={"sessionId": "s1"}),
        await client.get(f"{base}/s1"),
        await client.get(f"{base}/missing"),
        await client.get(base, params={"limit": 0}),
        await client.post(f"{base}/s1/events", json={"author": 5}),
        await client.patch(f"{base}/s1", json={"stateDelta": {"k": 2}}),
        await client.get("/health"),
        await client.delete(f"{base}/s1"),
    ]


def test_settings_never_show_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """repr, str and dumps of settings with the password in the DSN, as a field, from env."""
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test"
    for settings in (
        StoreSettings(_env_file=None, dsn=dsn),
        StoreSettings(_env_file=None, host="127.0.0.1", password=SECRET),
        ADKStore(StoreSettings(_env_file=None, dsn=dsn), max_size=3).settings,
    ):
        for text in settings_texts(settings):
            assert_clean("the settings", text)
    monkeypatch.setenv("ADK_STORE_DSN", dsn)
    monkeypatch.setenv("ADK_STORE_PASSWORD", SECRET)
    for text in settings_texts(StoreSettings(_env_file=None)):
        assert_clean("settings read from the environment", text)


@pytest.mark.parametrize(
    "values",
    [
        {"max_size": "many"},
        {"port": "not-a-port"},
        {"ssl": "sometimes"},
        {"min_size": 5, "max_size": 2},
    ],
    ids=["field", "port", "ssl", "min-over-max"],
)
@pytest.mark.parametrize("where", ["dsn", "password", "env"])
def test_validation_errors_never_show_the_password(
    values: dict[str, Any], where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed setting: the ValidationError (text, json, errors()) keeps the secret out.

    The min-over-max check is a model validator, whose error carries the whole input.
    """
    given: dict[str, Any] = {"_env_file": None}
    if where == "dsn":
        given["dsn"] = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test"
    elif where == "password":
        given.update(host="127.0.0.1", password=SECRET)
    else:
        monkeypatch.setenv("ADK_STORE_PASSWORD", SECRET)
        given["host"] = "127.0.0.1"
    error = assert_raises_clean("a settings error", lambda: StoreSettings(**given, **values))
    assert isinstance(error, ValidationError)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://postgres:{pw}@127.0.0.1:{free}/test",
        "postgresql://postgres:{pw}@127.0.0.1:notaport/test",
        "mysql://postgres:{pw}@127.0.0.1:5432/test",
        "postgresql://postgres:{pw}@[bad/test",
        "postgresql://postgres:{pw}@127.0.0.1:5432/test?sslmode=bogus",
        "postgresql://postgres:{pw}@host.invalid/test",
        "postgresql://no_such_role_xyz:{pw}@{server}/test",
    ],
    ids=["unreachable", "bad-port", "bad-scheme", "bad-host", "bad-sslmode", "no-dns", "role"],
)
async def test_start_up_errors_never_show_the_password(
    dsn: str, database_dsn: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A server down or a bad DSN: the error, its causes and the logs are clean."""
    server = urlsplit(database_dsn).netloc.rpartition("@")[2]
    dsn = dsn.format(pw=SECRET, free=free_port(), server=server)
    plugin = ADKStore(StoreSettings(_env_file=None, dsn=dsn, connect_timeout=2))
    with pytest.raises(Exception) as caught:
        async with LifespanManager(_app(plugin)):
            pass
    for text in error_texts(caught.value):
        assert_clean(f"the start-up error {type(caught.value).__name__}", text)
    assert_logs_clean(debug_logs)


async def test_unreachable_with_env_password_never_shows_it(
    monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture
) -> None:
    """ADK_STORE_PASSWORD, server down: start-up error, 503 bodies and logs are clean."""
    monkeypatch.setenv("ADK_STORE_PASSWORD", SECRET)
    monkeypatch.setenv("ADK_STORE_DSN", f"postgresql://postgres@127.0.0.1:{free_port()}/test")
    failing = ADKStore(StoreSettings(_env_file=None, connect_timeout=2))
    with pytest.raises(Exception) as caught:
        async with LifespanManager(_app(failing)):
            pass
    for text in error_texts(caught.value):
        assert_clean("the start-up error", text)
    lazy = ADKStore(
        StoreSettings(_env_file=None, connect_timeout=2, min_size=0, create_tables=False)
    )
    async with LifespanManager(_app(lazy)) as manager, client_for(manager) as client:
        responses = [await client.get("/health"), await client.get("/apps/a/users/u/sessions")]
    for response in responses:
        assert response.status_code == 503
        assert_response_clean("a 503 answer", response)
    assert_logs_clean(debug_logs)


@pytest.mark.parametrize("where", ["dsn", "env"])
async def test_a_running_app_never_shows_the_password(
    where: str,
    pool_options: PoolOptions,
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    """Start-up, requests (200, 404, 409, 422), /health and shutdown: answers, logs clean."""
    if where == "dsn":
        settings = make_settings({**pool_options, "dsn": with_password(pool_options["dsn"])})
    else:
        monkeypatch.setenv("ADK_STORE_PASSWORD", SECRET)
        settings = make_settings(pool_options)
        assert settings.password is not None
    app = _app(ADKStore(settings))
    async with LifespanManager(app) as manager, client_for(manager) as client:
        responses = await _exercise(client)
        for name in ("adk_store", "adk_session_service"):
            assert_clean(f"repr of app.state.{name}", repr(getattr(app.state, name)))
    assert responses[0].status_code == 200, responses[0].text
    assert {r.status_code for r in responses} >= {200, 404, 409, 422}
    for response in responses:
        assert_response_clean(f"{response.request.method} {response.request.url}", response)
    assert_logs_clean(debug_logs)


async def test_slow_call_warnings_and_metrics_never_show_the_password(
    pool_options: PoolOptions, debug_logs: pytest.LogCaptureFixture, slow_threshold: None
) -> None:
    """Every call over a tiny ADK_STORE_SLOW_CALL_MS logs a warning; those, /metrics and
    the rest of the logs are clean."""
    dsn = with_password(pool_options["dsn"])
    app = _app(ADKStore(make_settings({**pool_options, "dsn": dsn}, slow_call_ms=0.001)))
    app.include_router(metrics_router())
    async with LifespanManager(app) as manager, client_for(manager) as client:
        await _exercise(client)
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert_response_clean("/metrics", metrics)
    slow = [r for r in debug_logs.records if r.getMessage().startswith("slow call: ")]
    assert len(slow) >= 5, [r.getMessage() for r in debug_logs.records]
    assert_logs_clean(debug_logs)


async def test_server_gone_answers_never_show_the_password(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    """min_size=0 and the server down: /health and the routes answer a clean 503."""
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:{free_port()}/test"
    plugin = ADKStore(
        StoreSettings(_env_file=None, dsn=dsn, min_size=0, connect_timeout=2, create_tables=False)
    )
    async with LifespanManager(_app(plugin)) as manager, client_for(manager) as client:
        responses = [
            await client.get("/health"),
            await client.get("/apps/a/users/u/sessions"),
            await client.post("/apps/a/users/u/sessions", json={}),
        ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert_response_clean("a 503 answer", response)
    assert_logs_clean(debug_logs)


@pytest.mark.parametrize(
    "uri",
    [
        "adkstore://postgres:{pw}@127.0.0.1:{free}/test?connect_timeout=2",
        "adkstore://postgres:{pw}@127.0.0.1:5432/test?max_size=many",
        "adkstore://postgres:{pw}@127.0.0.1:5432/test?min_size=5&max_size=2",
        "adkstore://postgres:{pw}@127.0.0.1:5432/test?session_table=bad%20name",
        "adkstore://postgres:{pw}@127.0.0.1:notaport/test",
        "adkstore://postgres:{pw}@127.0.0.1:5432/test?sslmode=bogus",
        "postgresql://postgres:{pw}@127.0.0.1:5432/test",
    ],
    ids=["unreachable", "bad-field", "min-over-max", "bad-table", "bad-port", "sslmode", "scheme"],
)
def test_adkstore_uri_errors_never_show_the_password(
    uri: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    """settings_from_uri and session_service_from_uri fail without showing the password."""
    uri = uri.format(pw=SECRET, free=free_port())
    assert_raises_clean("session_service_from_uri", lambda: session_service_from_uri(uri))
    try:
        settings = settings_from_uri(uri)
    except Exception as error:
        for text in error_texts(error):
            assert_clean("settings_from_uri", text)
    else:
        for text in settings_texts(settings):
            assert_clean("settings from the URI", text)
    assert_logs_clean(debug_logs)
