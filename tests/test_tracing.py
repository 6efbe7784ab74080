"""OpenTelemetry spans of the services, read from an in-memory exporter: one span per
call, named `adk_store.<method>`, with the database and the ids and nothing else, a child
of the caller's span (ADK's runner spans included)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.runners import Runner
from google.genai import types
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from example_app.agent import NotesAgent
from fastapi_adk_store import (
    AsyncpgSessionService,
    SessionAlreadyExistsError,
    configure_telemetry,
    open_artifact_service,
)

from ._helpers import PoolOptions
from ._memory import memory_service, session_of, text_event

SECRET = "do-not-trace-me"
tracer = trace.get_tracer("tests")


def ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The finished spans of this package, in the order they ended."""
    return [s for s in exporter.get_finished_spans() if s.name.startswith("adk_store.")]


def named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def assert_no_secret(spans: Sequence[ReadableSpan], *secrets: str) -> None:
    for span in spans:
        for key, value in (span.attributes or {}).items():
            for secret in secrets:
                assert secret not in str(value), (span.name, key, value)


async def test_each_call_is_one_span_under_the_callers_span(
    service: AsyncpgSessionService, spans: InMemorySpanExporter, pool_options: PoolOptions
) -> None:
    """create, get and append: one CLIENT span each, a child of the span around them, with
    db.system, db.operation and the ids; no state or event contents, no DSN."""
    with tracer.start_as_current_span("request") as request:
        session = await service.create_session(
            app_name="a", user_id="u", session_id="s", state={"k": SECRET}
        )
        delta = EventActions(state_delta={"user:k": SECRET})
        await service.append_event(session, Event(author=SECRET, actions=delta))
        await service.get_session(app_name="a", user_id="u", session_id="s")
    found = ours(spans)
    assert [span.name for span in found] == [
        "adk_store.create_session",
        "adk_store.append_event",
        "adk_store.get_session",
    ]
    for span in found:
        assert span.kind is SpanKind.CLIENT
        assert parent_id(span) == request.get_span_context().span_id
        assert span.context.trace_id == request.get_span_context().trace_id
        assert span.status.status_code is StatusCode.UNSET
        assert dict(span.attributes or {}) == {
            "db.system": "postgresql",
            "db.operation": span.name.removeprefix("adk_store."),
            "adk_store.service": "sessions",
            "adk_store.app_name": "a",
            "adk_store.user_id": "u",
            "adk_store.session_id": "s",
        }
    assert_no_secret(found, SECRET, pool_options["dsn"])


async def test_a_failed_call_marks_its_span_with_the_error_class_only(
    service: AsyncpgSessionService, spans: InMemorySpanExporter
) -> None:
    """A duplicate create ends its span with status ERROR and error.type, and records no
    exception event (messages may quote values)."""
    await service.create_session(app_name="a", user_id="u", session_id="dup")
    with pytest.raises(SessionAlreadyExistsError):
        await service.create_session(app_name="a", user_id="u", session_id="dup")
    failed = ours(spans)[-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "SessionAlreadyExistsError"
    assert (failed.attributes or {})["error.type"] == "SessionAlreadyExistsError"
    assert failed.events == ()
    assert parent_id(failed) is None  # no caller span: a root


async def test_a_service_call_inside_another_is_its_child(
    service: AsyncpgSessionService, spans: InMemorySpanExporter
) -> None:
    """append_to_latest loads and appends: both spans are children of its own."""
    await service.create_session(app_name="a", user_id="u", session_id="n")
    await service.append_to_latest(
        app_name="a", user_id="u", session_id="n", make_event=lambda: Event(author="x")
    )
    found = ours(spans)
    outer = named(found, "adk_store.append_to_latest")
    for name in ("adk_store.get_session", "adk_store.append_event"):
        assert parent_id(named(found, name)) == outer.context.span_id


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    """The names of the span's parent, its parent's parent, and so on."""
    by_id = {other.context.span_id: other for other in spans}
    names: list[str] = []
    current = by_id.get(parent_id(span) or 0)
    while current is not None:
        names.append(current.name)
        current = by_id.get(parent_id(current) or 0)
    return names


async def test_calls_inside_adk_runner_are_children_of_its_invocation_span(
    service: AsyncpgSessionService, spans: InMemorySpanExporter
) -> None:
    """Under ADK's Runner our spans hang below ADK's own invocation span (`invocation` in
    ADK's first span schema, `invoke_workflow <agent>` in its second)."""
    runner = Runner(app_name="notes", agent=NotesAgent(name="notes"), session_service=service)
    session = await service.create_session(app_name="notes", user_id="u")
    spans.clear()
    message = types.Content(role="user", parts=[types.Part(text="note traced")])
    async for _ in runner.run_async(user_id="u", session_id=session.id, new_message=message):
        pass
    finished = spans.get_finished_spans()
    found = ours(spans)
    names = [span.name for span in found]
    assert names.count("adk_store.append_event") == 3  # the message and the agent's two
    assert "adk_store.get_session" in names
    roots = {"invocation", "invoke_workflow notes"}
    for span in found:
        assert roots & set(ancestors(span, finished)), (span.name, ancestors(span, finished))
        assert (span.attributes or {})["adk_store.session_id"] == session.id


async def test_artifact_and_memory_calls_have_spans_too(
    pool_options: PoolOptions, spans: InMemorySpanExporter
) -> None:
    """save, a stream held open, and memory's add and search: one span each, with ids."""
    async with open_artifact_service(**pool_options) as artifacts:
        spans.clear()
        part = types.Part(text=SECRET)
        await artifacts.save_artifact(
            app_name="a", user_id="u", session_id="s", filename="f.txt", artifact=part
        )
        async with artifacts.open_artifact_stream(
            app_name="a", user_id="u", session_id="s", filename="f.txt"
        ) as stream:
            assert stream is not None
            assert b"".join([chunk async for chunk in stream.chunks]) == SECRET.encode()
            assert "adk_store.open_artifact_stream" not in [s.name for s in ours(spans)]
    async with memory_service(pool_options) as memory:
        await memory.add_session_to_memory(session_of([text_event(f"remember {SECRET}")]))
        await memory.search_memory(app_name="app", user_id="u", query=SECRET)
    found = ours(spans)
    assert [span.name for span in found] == [
        "adk_store.save_artifact",
        "adk_store.open_artifact_stream",
        "adk_store.add_session_to_memory",
        "adk_store.search_memory",
    ]
    services = [(span.attributes or {})["adk_store.service"] for span in found]
    assert services == ["artifacts", "artifacts", "memory", "memory"]
    assert (found[2].attributes or {})["adk_store.session_id"] == "s1"  # from the Session
    assert_no_secret(found, SECRET, pool_options["dsn"])


async def test_switched_off_traces_start_no_span(
    service: AsyncpgSessionService, spans: InMemorySpanExporter
) -> None:
    """`configure_telemetry(traces=False)`: no span; switched on again, spans again."""
    configure_telemetry(traces=False)
    try:
        await service.create_session(app_name="a", user_id="u", session_id="quiet")
    finally:
        configure_telemetry(traces=True)
    assert ours(spans) == []
    await service.get_session(app_name="a", user_id="u", session_id="quiet")
    assert [span.name for span in ours(spans)] == ["adk_store.get_session"]


async def test_a_tracer_provider_of_its_own_gets_the_spans(
    service: AsyncpgSessionService, spans: InMemorySpanExporter
) -> None:
    """`configure_telemetry(tracer_provider=...)` sends our spans there, not to the global
    provider; `traces=True` goes back to the global one."""
    own = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(own))
    configure_telemetry(tracer_provider=provider)
    try:
        await service.create_session(app_name="a", user_id="u", session_id="own")
    finally:
        configure_telemetry(traces=True)
    assert [span.name for span in ours(own)] == ["adk_store.create_session"]
    assert ours(spans) == []


async def test_an_error_in_the_callers_stream_block_is_not_the_stores(
    pool_options: PoolOptions, spans: InMemorySpanExporter
) -> None:
    """An exception raised inside `async with open_artifact_stream(...)` passes through
    unchanged, and the stream's span ends without an error status."""
    async with open_artifact_service(**pool_options) as artifacts:
        await artifacts.save_artifact(
            app_name="a", user_id="u", session_id="s", filename="f", artifact=types.Part(text="x")
        )
        with pytest.raises(KeyError, match="the caller's"):
            async with artifacts.open_artifact_stream(
                app_name="a", user_id="u", session_id="s", filename="f"
            ):
                raise KeyError("the caller's")
    stream = named(ours(spans), "adk_store.open_artifact_stream")
    assert stream.status.status_code is StatusCode.UNSET
    assert "error.type" not in (stream.attributes or {})
