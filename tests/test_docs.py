"""Every Python snippet in README.md and docs/ parses, imports what exists, and runs.

Each snippet runs against the test database, in a fresh schema: its DSN literals
("postgresql://user:pass@host/db", "postgresql://...") become the test DSN pinned to
that schema, and so does ADK_STORE_DSN (no snippet can start an embedded PostgreSQL).
Code with top-level `await` runs on the test's event loop; plain scripts run in a
thread, as `python script.py` would (so `asyncio.run(...)` works). Then the harness:

- supplies the names a fragment uses without defining them (`GIVEN`), failing on others;
- awaits the argument-free `async def`s a snippet defines but never calls, after
  creating the tables (as the docs call them: on a migrated database);
- starts a FastAPI `app` the snippet leaves (LifespanManager), fetches /openapi.json,
  and stops it; with no app, opens and closes any `ADKStore` the snippet leaves;
- closes any `AsyncpgADKStore` the snippet leaves open.

A snippet that cannot run is marked in the markdown, right before its fence, with
`<!-- snippet: no-run (reason) -->`; it is still parsed and its imports checked.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import importlib
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from google.adk.cli import service_registry
from google.adk.runners import Runner

from example_app.agent import AGENT_ENV, build_agent
from example_app.app import ChatRequest
from fastapi_adk_store import (
    ADKStore,
    AsyncpgADKStore,
    AsyncpgConfig,
    SessionServiceDep,
)
from fastapi_adk_store.db.embedded import EmbeddedPostgres

from ._helpers import PoolOptions, client_for, search_path_dsn

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(
    r"(?:<!--\s*snippet:\s*no-run\s*\((?P<reason>[^\n]*)\)\s*-->\s*\n)?```python\n(?P<code>.*?)```",
    re.DOTALL,
)
_DSN_LITERAL = re.compile(r"""(["'])postgresql://[^"']*\1""")


@dataclass(frozen=True)
class Snippet:
    """One ```python block of a markdown file, and its no-run reason if marked."""

    code: str
    no_run: str | None


MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [
    pytest.param(
        Snippet(match["code"], match["reason"]),
        id=f"{path.relative_to(ROOT)}:{number}",
    )
    for path in MARKDOWN
    for number, match in enumerate(_BLOCK.finditer(path.read_text()), start=1)
]


def _verify_token(token: str) -> str | None:
    """The quick start's "your JWT / session check": one known token."""
    return "alice" if token == "alice-token" else None


# Names fragments use without defining them, and what stands in for them.
GIVEN: dict[str, Any] = {
    # docs/api.md: the application the router is added to.
    "app": lambda: FastAPI(lifespan=ADKStore().lifespan),
    # docs/quickstart-fastapi.md: the application's own token check.
    "verify_token": lambda: _verify_token,
    # docs/example.md quotes example_app/app.py: the names that module has.
    "ADKStore": lambda: ADKStore,
    "FastAPI": lambda: FastAPI,
    "SessionServiceDep": lambda: SessionServiceDep,
    "StreamingResponse": lambda: StreamingResponse,
    "Runner": lambda: Runner,
    "ChatRequest": lambda: ChatRequest,
    "agent": build_agent,
}


def _free_names(tree: ast.Module) -> set[str]:
    """Names the snippet reads but never binds (nor are builtins)."""
    bound: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


def _uncalled_coroutine_functions(tree: ast.Module) -> list[str]:
    """Top-level `async def`s without required arguments that the snippet never calls."""
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef)
        and len(node.args.args) + len(node.args.posonlyargs) == len(node.args.defaults)
        and all(default is not None for default in node.args.kw_defaults)
        and node.name not in called
    ]


def _embedded_start(self: EmbeddedPostgres) -> str:
    raise AssertionError("the snippet started an embedded PostgreSQL")


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda path: str(path.relative_to(ROOT)))
def test_snippet_markers_are_well_formed(path: Path) -> None:
    """Each `<!-- snippet:` comment is a no-run marker, with a reason, right before a fence."""
    text = path.read_text()
    marked = sum(match["reason"] is not None for match in _BLOCK.finditer(text))
    assert text.count("<!-- snippet:") == marked


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_snippet_compiles_and_its_imports_exist(snippet: Snippet) -> None:
    """The snippet parses (top-level await allowed) and each `from x import y` resolves."""
    tree = compile(
        snippet.code,
        "<snippet>",
        "exec",
        flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


@pytest.mark.parametrize("snippet", SNIPPETS)
async def test_snippet_runs_against_the_test_database(
    snippet: Snippet,
    pool_options: PoolOptions,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The snippet runs in a fresh schema of the test server (see the module docstring)."""
    if snippet.no_run is not None:
        pytest.skip(f"marked no-run in the markdown: {snippet.no_run}")
    dsn = search_path_dsn(pool_options)
    for name in [name for name in os.environ if name.startswith("ADK_STORE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ADK_STORE_DSN", dsn)
    monkeypatch.delenv(AGENT_ENV, raising=False)  # GIVEN's `agent`: the example's default
    monkeypatch.chdir(tmp_path)  # no `.env` of the working directory
    monkeypatch.setattr(EmbeddedPostgres, "start", _embedded_start)
    # `register()` without a registry fills ADK's global one: a fresh one per snippet.
    monkeypatch.setattr(service_registry, "_service_registry_instance", None)

    source = _DSN_LITERAL.sub(repr(dsn), snippet.code)
    tree = ast.parse(source)  # top-level await parses; compile() below checks it is allowed
    missing = _free_names(tree) - GIVEN.keys()
    assert not missing, f"snippet uses undefined {sorted(missing)}: add to GIVEN or mark no-run"
    namespace: dict[str, Any] = {"__name__": "snippet"}
    namespace.update({name: GIVEN[name]() for name in _free_names(tree)})

    code = compile(source, "<snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            await eval(code, namespace)
        else:
            await asyncio.to_thread(exec, code, namespace)

        uncalled = _uncalled_coroutine_functions(tree)
        if uncalled:
            tables = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
            await tables.create_tables()
            await tables.close()
        for name in uncalled:
            await namespace[name]()

        app = namespace.get("app")
        if isinstance(app, FastAPI):
            async with LifespanManager(app) as manager, client_for(manager) as client:
                response: httpx.Response = await client.get("/openapi.json")
                assert response.status_code == 200, response.text
        else:
            for value in list(namespace.values()):
                if isinstance(value, ADKStore):
                    async with value.open() as store:
                        await store.schema_version()
    finally:
        for value in list(namespace.values()):
            if isinstance(value, AsyncpgADKStore):
                await value.close()
