"""JSON text as the store writes and reads it.

State and events are stored as JSONB. Two things JSONB cannot hold exactly are
rewritten in the JSON text on the way in, and restored on the way out:

- floats written with an exponent (``1e+20``, ``1e-300``): JSONB keeps numbers as
  `numeric`, which prints them without exponent or decimal point, so they would come
  back as ints. They are written in fixed notation with a ``.0``, which JSONB keeps.
- U+0000, which JSONB rejects: escaped as U+E000 U+0001, with U+E000 itself doubled.

Values JSON cannot hold at all are coerced as ADK's persistent services coerce them
(pydantic's JSON form, else their repr). Known loss: -0.0 comes back as 0.0 (`numeric`
has no negative zero).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, from_json, to_json

from ..errors import InvalidValueError

__all__ = [
    "dumps",
    "for_jsonb",
    "from_jsonb",
    "json_text",
    "loads",
    "nests_deeper",
    "unstorable",
]

logger = logging.getLogger("fastapi_adk_store.db")


_ESCAPE = "\ue000"
# Cheap tests for text that may need rewriting: an exponent number that ends a value,
# U+0000, U+E000; a false positive inside a string only costs time. JSON writers
# (pydantic's too) write a lower-case `e`, and `re` runs a pattern that starts with a
# literal several times faster: 1-2 µs for a 1 KB event instead of 10.
_EXPONENT_END = re.compile(r"[eE][+-]?\d+\s*[,\]}]")
_LOWER_EXPONENT_END = re.compile(r"e[+-]?\d+\s*[,\]}]")
# A whole JSON string, or a number with an exponent (outside strings by construction).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?[eE][+-]?\d+')
_IN_STRING = re.compile(r"\\u0000|\\.|\ue000")
_ESCAPED = re.compile("\ue000(\\\\u0001|\ue000)")


def _rewrite_in_string(match: re.Match[str]) -> str:
    text = match.group()
    if text == "\\u0000":
        return _ESCAPE + "\\u0001"
    return _ESCAPE + _ESCAPE if text == _ESCAPE else text


def _rewrite_token(match: re.Match[str]) -> str:
    token = match.group()
    if token.startswith('"'):
        return _IN_STRING.sub(_rewrite_in_string, token)
    fixed = format(Decimal(token), "f")
    return fixed if "." in fixed else fixed + ".0"


def for_jsonb(text: str) -> str:
    """JSON text rewritten so JSONB keeps it exactly (see the module's docstring)."""
    if not _may_need_rewrite(text):
        return text
    return _TOKEN.sub(_rewrite_token, text)


def _may_need_rewrite(text: str) -> bool:
    if "\\u0000" in text or _ESCAPE in text:
        return True
    exponent = _EXPONENT_END if "E" in text else _LOWER_EXPONENT_END
    return exponent.search(text) is not None


def from_jsonb(text: str) -> str:
    """JSON text as it was before `for_jsonb`."""
    if _ESCAPE not in text:
        return text
    return _ESCAPED.sub(lambda m: "\\u0000" if m.group(1) != _ESCAPE else _ESCAPE, text)


def dumps(value: Any, *, what: str, max_depth: int, key_prefix: str = "") -> str:
    """`json_text` rewritten for JSONB (`for_jsonb`)."""
    return for_jsonb(json_text(value, what=what, max_depth=max_depth, key_prefix=key_prefix))


def json_text(value: Any, *, what: str, max_depth: int, key_prefix: str = "") -> str:
    """JSON text of a value; values JSON cannot hold are coerced as ADK coerces them.

    Datetimes, sets and pydantic models take pydantic's JSON form; anything else
    (a callable, say) its repr, with a warning, as ADK's `make_json_safe_state` does.
    `what` (and `key_prefix` before its keys) names the value in error messages.

    Raises:
        InvalidValueError: the value holds a lone UTF-16 surrogate, or nests deeper
            than `max_depth` containers: PostgreSQL could not store it, or we could
            not read it back.
    """
    try:
        text = to_json(value).decode()
    except PydanticSerializationError as error:
        _raise_unstorable(value, what, max_depth, key_prefix, error)
        logger.warning(
            "some state values are not JSON-serializable (e.g. callables); "
            "their repr is stored instead",
            exc_info=True,
        )
        text = to_json(value, serialize_unknown=True).decode()
    if nests_deeper(text, max_depth):
        _raise_unstorable(value, what, max_depth, key_prefix, None)
    return text


# --- what JSONB cannot store, found and named ----------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_INNERMOST = re.compile(r"\{[^{}\[\]]*\}|\[[^{}\[\]]*\]")


def nests_deeper(text: str, max_depth: int) -> bool:
    """True when the JSON text nests more than `max_depth` objects and arrays.

    Counting brackets is enough for almost every document; only a text with more
    brackets than the limit is measured, one innermost level per regex pass.
    """
    if text.count("{") + text.count("[") <= max_depth:
        return False
    bare = _STRING.sub("0", text)
    for _ in range(max_depth):
        bare, removed = _INNERMOST.subn("0", bare)
        if not removed:
            return False
    return "{" in bare or "[" in bare


def _children(value: Any, key_prefix: str) -> list[tuple[str, Any]] | None:
    """A container's (path step, child) pairs; None for a scalar."""
    if isinstance(value, Mapping):
        return [(f".{key_prefix}{key}", child) for key, child in value.items()]
    if isinstance(value, list | tuple | set | frozenset):
        return [(f"[{index}]", child) for index, child in enumerate(value)]
    if isinstance(value, BaseModel):
        return [(f".{name}", getattr(value, name)) for name in type(value).model_fields]
    return None


def unstorable(value: Any, *, what: str, max_depth: int, key_prefix: str = "") -> str | None:
    """Where `value` holds what PostgreSQL's JSONB cannot store, and why; None if nowhere.

    A lone UTF-16 surrogate in a key or a string (UTF-8 text cannot hold one), or
    objects and arrays nested deeper than `max_depth`. `key_prefix` goes before the
    top-level keys in the path (`app:` for a split state). Walks without recursion.
    """
    stack: list[tuple[Any, str, int]] = [(value, what, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if (found := _SURROGATE.search(item)) is not None:
                return f"{_short(path)}: {_surrogate(found.group())}"
            continue
        children = _children(item, key_prefix if depth == 0 else "")
        if children is None:
            continue
        if depth == max_depth:
            return (
                f"{_short(path)}: nested deeper than {max_depth} levels (ADK_STORE_MAX_JSON_DEPTH)"
            )
        for key in item if isinstance(item, Mapping) else ():
            if isinstance(key, str) and (found := _SURROGATE.search(key)) is not None:
                return f"{_short(path)}: key {key!r}: {_surrogate(found.group())}"
        stack.extend((child, path + step, depth + 1) for step, child in reversed(children))
    return None


def _short(path: str) -> str:
    return path if len(path) <= 120 else f"{path[:60]}...{path[-50:]}"


def _surrogate(char: str) -> str:
    return (
        f"a lone UTF-16 surrogate (U+{ord(char):04X}) cannot be stored: PostgreSQL text "
        "is UTF-8; send the character it is half of, or escape it yourself"
    )


def _raise_unstorable(
    value: Any, what: str, max_depth: int, key_prefix: str, cause: BaseException | None
) -> None:
    problem = unstorable(value, what=what, max_depth=max_depth, key_prefix=key_prefix)
    if problem is not None:
        raise InvalidValueError(problem) from cause


def loads(text: str) -> Any:
    """Decode JSON text from the database (floats bit-exact, big integers kept)."""
    return from_json(from_jsonb(text))
