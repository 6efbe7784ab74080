"""The API reference (docs/reference/*.md) documents exactly `fastapi_adk_store.__all__`.

Each public name has one `::: fastapi_adk_store.<Name>` line (a mkdocstrings entry) on one
of the reference pages; a name added to `__all__` without an entry, or an entry for a name
that is no longer public, fails here (and `scripts/docs build` would render the latter
from a private path, or fail on it).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import fastapi_adk_store

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
_ENTRY = re.compile(r"^:::[ \t]*(?P<target>\S*)", re.MULTILINE)
_PUBLIC = re.compile(r"fastapi_adk_store\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


def reference_entries() -> list[tuple[str, str]]:
    """(page, target) for every `:::` line of the reference pages, in order."""
    return [
        (path.name, match["target"])
        for path in sorted(REFERENCE.glob("*.md"))
        for match in _ENTRY.finditer(path.read_text())
    ]


def documented_names() -> list[str]:
    """The names of the `::: fastapi_adk_store.<Name>` entries, duplicates kept."""
    return [
        match["name"]
        for _, target in reference_entries()
        if (match := _PUBLIC.fullmatch(target)) is not None
    ]


def test_reference_pages_exist_and_have_entries() -> None:
    """The parser below reads something: the pages are there and list names."""
    assert sorted(p.name for p in REFERENCE.glob("*.md")), f"no pages under {REFERENCE}"
    assert len(documented_names()) > 10


def test_every_entry_names_a_top_level_public_name() -> None:
    """Entries are `fastapi_adk_store.<Name>`: no submodule paths (they are internal)."""
    bad = [
        f"{page}: ::: {target}"
        for page, target in reference_entries()
        if _PUBLIC.fullmatch(target) is None
    ]
    assert not bad, "reference entries must be `::: fastapi_adk_store.<Name>`:\n" + "\n".join(bad)


def test_every_public_name_is_documented() -> None:
    """Each name in `__all__` has an entry in the reference."""
    missing = sorted(set(fastapi_adk_store.__all__) - set(documented_names()))
    assert not missing, (
        f"public names without a `::: fastapi_adk_store.<Name>` entry in "
        f"docs/reference/*.md: {', '.join(missing)}"
    )


def test_every_documented_name_is_public() -> None:
    """Each entry names something in `__all__` that the package really exports."""
    stale = sorted(set(documented_names()) - set(fastapi_adk_store.__all__))
    assert not stale, (
        f"docs/reference/*.md documents names not in fastapi_adk_store.__all__: {', '.join(stale)}"
    )
    absent = [name for name in fastapi_adk_store.__all__ if not hasattr(fastapi_adk_store, name)]
    assert not absent, f"__all__ lists names the package does not define: {absent}"


def test_no_name_is_documented_twice() -> None:
    """One entry per name (a second would render the same object twice)."""
    twice = sorted(name for name, count in Counter(documented_names()).items() if count > 1)
    assert not twice, f"documented more than once: {', '.join(twice)}"


def test_every_reference_page_is_in_the_nav() -> None:
    """mkdocs.yml's nav lists each reference page (a page left out is hard to find)."""
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [p.name for p in sorted(REFERENCE.glob("*.md")) if f"reference/{p.name}" not in nav]
    assert not missing, f"reference pages missing from mkdocs.yml's nav: {missing}"
