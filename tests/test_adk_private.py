"""Every private google-adk name the package relies on still exists where we take it from.

An upgrade of google-adk that moves or drops one fails here, naming it, before it fails
somewhere deep in a request.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.session import Session

from fastapi_adk_store import _adk

_ADK_MODULE = Path(_adk.__file__)
_ALIASES = [
    (node.module, alias)
    for node in ast.walk(ast.parse(_ADK_MODULE.read_text()))
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("google.")
    for alias in node.names
]
_IMPORTS = [(module, alias.name) for module, alias in _ALIASES]


def test_adk_module_imports_something() -> None:
    """The list below is read from _adk.py; an empty one would make these tests vacuous."""
    assert len(_IMPORTS) >= 5


@pytest.mark.parametrize(("module", "name"), _IMPORTS, ids=[f"{m}.{n}" for m, n in _IMPORTS])
def test_each_private_import_resolves(module: str, name: str) -> None:
    """The name is still defined in the google-adk module _adk.py imports it from."""
    assert hasattr(importlib.import_module(module), name), f"{module} has no {name}"


def test_every_re_export_is_listed() -> None:
    """_adk.__all__ names exactly what it imports, so nothing private sneaks in elsewhere."""
    assert set(_adk.__all__) == {alias.asname or alias.name for _, alias in _ALIASES}


@pytest.mark.parametrize(
    "method", ["_apply_temp_state", "_trim_temp_delta_state", "_commit_event_to_session"]
)
def test_base_session_service_hooks_exist(method: str) -> None:
    """The service builds on these protected BaseSessionService methods."""
    assert callable(getattr(BaseSessionService, method, None))


def test_session_has_the_storage_update_marker() -> None:
    """The service keeps each copy's revision in Session._storage_update_marker."""
    assert "_storage_update_marker" in Session.__private_attributes__
