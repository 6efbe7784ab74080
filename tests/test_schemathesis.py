"""Schemathesis against the router's OpenAPI schema: bad input is never a 500.

The app is the quick-start one plus `/health`, served in-process (ASGI): schemathesis
runs its lifespan once per test in its own event loop and stops it when the test ends.

- `test_every_operation`: every operation, positive and negative data, the examples,
  coverage and fuzzing phases, a fixed seed, bounded examples.
- `test_stateful`: schemathesis' state machine over OpenAPI links from "create session"
  to get, patch, append event, list events and delete (FastAPI emits no links, so the
  test adds them to the app's OpenAPI document before schemathesis loads it). The
  artifact routes stay out of it: their paths sit under a session's, but artifacts are
  no sub-resource of a session in ADK (listing those of a deleted session is a 200, as
  in ADK's api_server), which `use_after_free` would call a deleted resource answering.

Checks (all on, except as noted): not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance, response_headers_conformance,
negative_data_rejection, and in the state machine also use_after_free and
ensure_resource_availability. positive_data_acceptance is off: schema-valid requests
for sessions that do not exist are rightly 404, and valid-looking bodies may be 409
(duplicate id) or 422 (a restored event with actions, refused as ADK's api_server does).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import CheckFunction
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from fastapi_adk_store.settings import StoreSettings
from fastapi_adk_store.web.plugin import ADKStore

from ._helpers import GENAI_UNKNOWN_ENUM, TRUNCATE_DATA, PoolOptions

SEED = 20240611
MAX_EXAMPLES = 30
STATEFUL_EXAMPLES = 25
STATEFUL_STEPS = 12

# Hypothesis settings of every run here: fixed (derandomized), bounded, no example database.
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)

SESSIONS = "/apps/{app_name}/users/{user_id}/sessions"
SESSION = SESSIONS + "/{session_id}"

STATELESS_CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
STATEFUL_CHECKS: list[CheckFunction] = [
    *STATELESS_CHECKS,
    use_after_free,
    ensure_resource_availability,
]


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
            },
            "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
        }
    )


def _operation_id(schema: dict[str, Any], method: str, path: str) -> str:
    operation_id: str = schema["paths"][path][method]["operationId"]
    return operation_id


def _session_links(schema: dict[str, Any], id_source: str) -> dict[str, Any]:
    """Links from a response naming a session to every operation on that session."""
    targets = {
        "GetSession": ("get", SESSION),
        "UpdateSession": ("patch", SESSION),
        "DeleteSession": ("delete", SESSION),
        "AppendEvent": ("post", SESSION + "/events"),
        "ListEvents": ("get", SESSION + "/events"),
    }
    return {
        name: {
            "operationId": _operation_id(schema, method, path),
            "parameters": {
                "app_name": "$request.path.app_name",
                "user_id": "$request.path.user_id",
                "session_id": id_source,
            },
        }
        for name, (method, path) in targets.items()
    }


def with_links(schema: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI document with links from the session-creating operations on."""
    linked = copy.deepcopy(schema)
    paths = linked["paths"]
    sources = [
        (paths[SESSIONS]["post"], "$response.body#/id"),
        (paths[SESSION]["post"], "$response.body#/id"),
        (paths[SESSION]["patch"], "$request.path.session_id"),
        (paths[SESSION + "/events"]["post"], "$request.path.session_id"),
    ]
    for operation, id_source in sources:
        operation["responses"]["200"]["links"] = _session_links(linked, id_source)
    return linked


def _build_app(settings: StoreSettings) -> FastAPI:
    """The plugin's app with every router it offers (`ADKStore.*_router`, so a router
    added later is fuzzed too), its OpenAPI document carrying the links."""
    plugin = ADKStore(settings)
    app = FastAPI(lifespan=plugin.lifespan)
    for name in sorted(dir(ADKStore)):
        if name.endswith("_router") and not name.startswith("_"):
            app.include_router(getattr(plugin, name)())
    app.openapi_schema = with_links(app.openapi())
    return app


@pytest.fixture
def fuzz_app(store_settings: StoreSettings) -> FastAPI:
    """The app on this test's schema, every service on (memory is opt-in)."""
    return _build_app(store_settings.model_copy(update={"memory_enabled": True}))


@pytest.fixture
def wipe(pool_options: PoolOptions) -> Iterator[Callable[[], None]]:
    """Empty the test schema's tables, from the test's thread (its own loop, one connection).

    Each state-machine scenario starts empty: a replayed or shrunk scenario must see what
    the first run saw, or hypothesis finds the data generation flaky (a 409 where a 200 was).
    """
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(
        asyncpg.connect(pool_options["dsn"], server_settings=pool_options["server_settings"])
    )
    try:
        yield lambda: loop.run_until_complete(connection.execute(TRUNCATE_DATA))
    finally:
        loop.run_until_complete(connection.close())
        loop.close()


@pytest.fixture
def api_schema(fuzz_app: FastAPI) -> Iterator[OpenApiSchema]:
    """The schema, loaded through the app (which starts its lifespan); stopped after."""
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=_config())
    finally:
        asgi.shutdown_lifespans()


def _labels() -> list[str]:
    """Every operation as schemathesis names it ("GET /health"); no database needed."""
    document = _build_app(StoreSettings(_env_file=None, dsn="postgresql://unused/none")).openapi()
    return [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    ]


@pytest.mark.filterwarnings(GENAI_UNKNOWN_ENUM)
@pytest.mark.parametrize("label", _labels())
def test_every_operation(api_schema: OpenApiSchema, label: str) -> None:
    """Any request, valid or not, answers as documented and never with a 500."""
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label

    def call(case: Case[Any]) -> None:
        case.call_and_validate(checks=STATELESS_CHECKS)

    run = build_operation_test(
        config=api_schema.config,
        operation=operation,
        test_func=call,
        given_kwargs={},
        feedback=FeedbackSources(),
        explicit_settings=SETTINGS,
    )
    run()


def test_schema_has_the_links(api_schema: OpenApiSchema) -> None:
    """The state machine below walks from creating a session to the rest (not vacuous)."""
    document = api_schema.raw_schema
    links = document["paths"][SESSIONS]["post"]["responses"]["200"]["links"]
    assert set(links) == {
        "GetSession",
        "UpdateSession",
        "DeleteSession",
        "AppendEvent",
        "ListEvents",
    }


@pytest.mark.filterwarnings(GENAI_UNKNOWN_ENUM)
def test_stateful(api_schema: OpenApiSchema, wipe: Callable[[], None]) -> None:
    """Random walks create -> get/patch/append/list/delete never answer a 500."""
    base = api_schema.exclude(path_regex="/artifacts").as_state_machine()
    answered: set[tuple[str, int]] = set()

    class Machine(base):  # type: ignore[valid-type,misc]
        def setup(self) -> None:
            wipe()

        def validate_response(
            self,
            response: Response,
            case: Case[Any],
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            answered.add((case.operation.label, response.status_code))
            case.validate_response(
                response,
                checks=STATEFUL_CHECKS,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Machine.run(
        settings=hypothesis.settings(
            SETTINGS,
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            # As schemathesis' own runner: generate only. A replay (shrinking) meets server
            # state (generated ids, clocks) that differs, which hypothesis calls flaky.
            phases=[hypothesis.Phase.generate],
        )
    )
    # The walks went through the links: each linked operation succeeded at least once.
    linked = {
        f"GET {SESSION}",
        f"PATCH {SESSION}",
        f"DELETE {SESSION}",
        f"POST {SESSION}/events",
        f"GET {SESSION}/events",
    }
    assert linked <= {label for label, status in answered if status == 200}, sorted(answered)
