"""The package layout's import rules, checked by parsing every module under src/ with `ast`.

Modules are named relative to the package (`db.pool`, `sessions.store`, `__init__`). Every
import counts, including those under `if TYPE_CHECKING:` (types are dependencies too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

PACKAGE = "fastapi_adk_store"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE
INFRA = {"db", "web", "cli"}  # every other subpackage is a service package
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60
Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Module:
    """One parsed module: its package imports (relative names) and foreign ones (absolute)."""

    rel: Path
    tree: ast.Module
    lines: int
    imports: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Rule:
    """Modules in `rooms` import only `only` ("*": anything) and never `never` or `foreign`.

    Each field is space-separated globs over package-relative module names (`foreign`: over
    third-party ones); a glob matches a module and all under it. `{P}` is each service package
    and `{Q}` each other one; `exempt` modules are skipped.
    """

    id: str
    rooms: str
    only: str
    never: str
    text: str
    foreign: str = ""
    exempt: str = ""


ADK, NO_HTTP = "google.adk", "google.adk google.genai fastapi starlette"
ROUTER_HELPERS = "web.plugin web.deps web.errors web.paging web.adk_json web.models"
# fmt: off
RULES = [
    Rule("1-leaves", "defaults _adk", "", "", "defaults and _adk import nothing of the package"),
    Rule("2-errors", "errors", "_adk defaults", "", "errors may import only _adk and defaults"),
    Rule("3-settings", "settings", "defaults errors", "",
         "settings may import only defaults and errors"),
    Rule("3-metrics", "metrics", "", "", "metrics imports nothing of the package; no ADK or "
         "genai types, no HTTP", foreign=NO_HTTP),
    Rule("3-telemetry", "telemetry", "defaults errors metrics", "", "telemetry may import "
         "only defaults, errors and metrics; no ADK or genai types, no HTTP", foreign=NO_HTTP),
    Rule("4-db", "db", "db defaults errors", "", "db/* may import only db/*, defaults and "
         "errors; no ADK or genai types, no HTTP", foreign=NO_HTTP),
    Rule("5-sql-records", "{P}.sql {P}.records", "db defaults errors", "", "{P}.sql and "
         "{P}.records may import only db, defaults and errors; no ADK", foreign=ADK),
    Rule("5-store", "{P}.store", "db {P}.* defaults errors", "{P}.service {P}.seed",
         "{P}.store may import only db, its own sql/records/helpers, defaults and errors; "
         "not {P}.service or {P}.seed; no ADK", foreign=ADK),
    Rule("5-seed", "{P}.seed", "db {P}.store {P}.records {P}.sql defaults errors", "",
         "{P}.seed may import only {P}.store, {P}.records, {P}.sql, db, defaults and errors; "
         "no ADK", foreign=ADK),
    Rule("5-service", "{P}.service", "{P}.* _adk defaults errors telemetry", "{P}.sql",
         "{P}.service may import only {P}.*, _adk, defaults, errors and telemetry; never db "
         "or {P}.sql"),
    Rule("5-isolation", "{P}", "*", "{Q} web cli compose settings adk_registry", "a service "
         "package never imports another one, web, cli, compose, settings or adk_registry"),
    Rule("6-web-cli", "web cli", "*", "db sql *.sql",
         "web/* and cli/* never import db or a sql module"),
    Rule("6-routers", "web.*", "*", "store *.store", "a web router calls its service, never a "
         "store", exempt=ROUTER_HELPERS),
    Rule("7-adk_registry", "adk_registry", "*", "db sql *.sql", "adk_registry never imports "
         "db or a sql module"),
]
# fmt: on


def collect(root: Path) -> dict[str, Module]:
    """Parse every .py under `root` (a package directory) and resolve its imports."""
    package = root.name
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        parts = rel.with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        source = path.read_text()
        modules[name] = Module(rel, ast.parse(source, str(path)), len(source.splitlines()))
    known = set(modules) | {
        ".".join(m.rel.parts[:i]) for m in modules.values() for i in range(1, len(m.rel.parts))
    }

    def local(absolute: str) -> str | None:
        head, _, tail = absolute.partition(".")
        return (tail or "__init__") if head == package else None

    for mod in modules.values():
        here = [package, *mod.rel.with_suffix("").parts][:-1]  # the module's own package
        for node in ast.walk(mod.tree):
            targets: list[tuple[str, str]] = []  # (module, submodule it may name)
            if isinstance(node, ast.Import):
                targets = [(alias.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                origin = ".".join([*base, *([node.module] if node.module else [])])
                targets = [(origin, f"{origin}.{alias.name}") for alias in node.names]
            for origin, named in targets:
                if (inner := local(origin)) is None:
                    mod.foreign.add(origin if named.endswith(".*") else named)
                else:
                    sub = local(named)
                    mod.imports.add(sub if sub in known else inner)
    return modules


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether `name` or a package above it matches one of the glob patterns."""
    parts = name.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatchcase(prefix, pattern) for prefix in prefixes for pattern in patterns)


def services(modules: dict[str, Module]) -> set[str]:
    """The service packages: every top-level subpackage but db, web and cli."""
    return {m.rel.parts[0] for m in modules.values() if len(m.rel.parts) > 1} - INFRA


def expand(patterns: str, p: str, others: set[str]) -> list[str]:
    """Split `patterns`; `{P}` becomes the service package `p`, `{Q}` each of `others`."""
    return [
        pattern.replace("{P}", p).replace("{Q}", q)
        for pattern in patterns.split()
        for q in (sorted(others) if "{Q}" in pattern else [""])
    ]


def import_violations(modules: dict[str, Module], rule: Rule) -> list[str]:
    """`module: imports X (rule)` for every import that breaks `rule`."""
    found, problems = services(modules), []
    for p in sorted(found) if "{P}" in rule.rooms else [""]:
        rooms, exempt, only, never = (
            expand(patterns, p, found - {p})
            for patterns in (rule.rooms, rule.exempt, rule.only, rule.never)
        )
        for name, mod in sorted(modules.items()):
            if not matches(name, rooms) or matches(name, exempt):
                continue
            bad = [
                t for t in sorted(mod.imports - {name}) if matches(t, never) or not matches(t, only)
            ]
            bad += [t for t in sorted(mod.foreign) if matches(t, rule.foreign.split())]
            problems += [f"{name}: imports {t} ({rule.text.replace('{P}', p)})" for t in bad]
    return problems


def _pool_opener(name: str, mod: Module) -> Iterator[str]:
    """Each place a module other than compose and db.pool names create_pool."""
    for node in ast.walk(mod.tree) if name not in ("compose", "db.pool") else ():
        names = {getattr(node, key, None) for key in ("id", "attr", "name", "asname")}
        if isinstance(node, ast.Name | ast.Attribute | ast.alias | Function) and (
            "create_pool" in names
        ):
            yield f"references create_pool on line {node.lineno}"


def _private_adk(name: str, mod: Module) -> Iterator[str]:
    """Each private google-adk module or name imported outside _adk."""
    for target in sorted(mod.foreign) if name != "_adk" else ():
        if matches(target, [ADK]) and any(part.startswith("_") for part in target.split(".")):
            yield f"imports {target}"


def functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function and method under `node`, nested ones too, with its qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, Function):
            yield f"{prefix}{child.name}", child
        name = child.name if isinstance(child, Function | ast.ClassDef) else ""
        yield from functions(child, f"{prefix}{name}." if name else prefix)


def _loggers(name: str, mod: Module) -> Iterator[str]:
    """Each logger named otherwise than `fastapi_adk_store.<the module's room>`."""
    room = name.split(".")[0] if "." in name else None
    for node in ast.walk(mod.tree) if name != "telemetry" else ():
        func = node.func if isinstance(node, ast.Call) else None
        if getattr(func, "attr", getattr(func, "id", None)) != "getLogger":
            continue
        assert isinstance(node, ast.Call)
        arg = node.args[0] if node.args else None
        given = arg.value if isinstance(arg, ast.Constant) else None
        if room is None or given != f"{PACKAGE}.{room}":
            yield f"names logger {given!r} on line {node.lineno}"


def _module_size(name: str, mod: Module) -> Iterator[str]:
    """The module, if it is over 400 lines."""
    yield from [f"has {mod.lines} lines"] if mod.lines > MAX_MODULE_LINES else []


def _function_size(name: str, mod: Module) -> Iterator[str]:
    """Each function over 60 lines, `def` to end (decorators excluded, nested on their own)."""
    for qual, fn in functions(mod.tree):
        if (span := (fn.end_lineno or fn.lineno) - fn.lineno + 1) > MAX_FUNCTION_LINES:
            yield f"{qual}() spans {span} lines"


CHECKS = {
    "8-pools": (_pool_opener, "only compose opens pools"),
    "9-private-adk": (_private_adk, "private google-adk imports live only in _adk"),
    "10-module-size": (_module_size, f"a module has at most {MAX_MODULE_LINES} lines"),
    "10-function-size": (_function_size, f"a function has at most {MAX_FUNCTION_LINES} lines"),
    "11-loggers": (_loggers, "one logger per room: fastapi_adk_store.<room>"),
}


def check_violations(modules: dict[str, Module], check: str) -> list[str]:
    """`module: what (rule)` for everything CHECKS[check] finds."""
    find, text = CHECKS[check]
    return [
        f"{name}: {what} ({text})"
        for name, mod in sorted(modules.items())
        for what in find(name, mod)
    ]


def all_violations(modules: dict[str, Module]) -> list[str]:
    """Every rule's violations, in rule order."""
    imports = [v for rule in RULES for v in import_violations(modules, rule)]
    return imports + [v for check in CHECKS for v in check_violations(modules, check)]


@pytest.fixture(scope="module")
def tree() -> dict[str, Module]:
    """The real package, parsed once."""
    return collect(SRC)


def _report(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} violation(s):\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.id) for r in RULES])
def test_import_rule(tree: dict[str, Module], rule: Rule) -> None:
    """Each room imports only what its row in RULES allows."""
    _report(import_violations(tree, rule))


@pytest.mark.parametrize("check", CHECKS)
def test_module_rule(tree: dict[str, Module], check: str) -> None:
    """No module breaks the CHECKS row (pools, private ADK imports, size)."""
    _report(check_violations(tree, check))


def test_checker_parses_the_real_tree(tree: dict[str, Module]) -> None:
    """The walk finds the package's modules and resolves its own imports."""
    assert len(tree) > 5, sorted(tree)
    assert {"__init__", "errors", "settings"} <= set(tree)
    assert "errors" in tree["__init__"].imports and "settings" in tree["__init__"].imports


SYNTHETIC = {
    "__init__.py": "from . import errors\n",
    "errors.py": "",
    "db/__init__.py": "from . import pool\n",
    "db/pool.py": "import asyncpg\n\ncreate_pool = asyncpg.create_pool\n",
    "db/x.py": "from ..web import y\nfrom google import genai\n",
    "db/log.py": "import logging\n\nok = logging.getLogger('fastapi_adk_store.db')\n"
    "bad = logging.getLogger('fastapi_adk_store')\n",
    "web/__init__.py": "",
    "web/y.py": "from fastapi_adk_store.sessions.service import Service\n",
    "web/deps.py": "from ..sessions import store\n",
    "web/r.py": "import typing\n\nif typing.TYPE_CHECKING:\n    from ..db import pool\n"
    "    from ..sessions.store import Store\n",
    "sessions/__init__.py": "",
    "sessions/sql.py": "from ..db import pool\n",
    "sessions/store.py": "from google.adk.events import Event\nfrom . import sql\n",
    "sessions/service.py": "from google.adk.sessions import _session_util\n"
    "from fastapi_adk_store.sessions import sql\n",
    "opener.py": "from .db.pool import create_pool\n\npool = create_pool()\n",
    "big.py": "@staticmethod\ndef f() -> None:\n" + "    pass\n" * 60,
}


def test_checker_reports_a_synthetic_bad_package(tmp_path: Path) -> None:
    """Each planted violation is reported, and the clean modules are not."""
    root = tmp_path / PACKAGE
    for rel, text in SYNTHETIC.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    problems = all_violations(collect(root))
    expected = [
        "db.x: imports web.y (db/*",
        "db.x: imports google.genai (db/*",
        "web.r: imports db.pool (web/* and cli/*",
        "sessions.store: imports google.adk.events.Event (sessions.store may",
        "sessions.service: imports sessions.sql (sessions.service may",
        "sessions.service: imports google.adk.sessions._session_util (private",
        "web.r: imports sessions.store (a web router",
        "opener: references create_pool on line 1 (",
        "opener: references create_pool on line 3 (",
        "big: f() spans 61 lines (",
        "db.log: names logger 'fastapi_adk_store' on line 4 (one logger per room",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems
