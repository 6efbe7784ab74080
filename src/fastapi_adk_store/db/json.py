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

from pydantic_core import PydanticSerializationError, from_json, to_json

__all__ = ["dumps", "dumps_if_any", "for_jsonb", "from_jsonb", "loads"]

logger = logging.getLogger("fastapi_adk_store.db")


_ESCAPE = "\ue000"
# Cheap test for text that may need rewriting (an exponent number where a JSON value
# starts, U+0000, U+E000); a false positive inside a string only costs time.
_MAY_NEED_REWRITE = re.compile(r"[:,\[]-?\d+(?:\.\d+)?[eE][+-]?\d+[,\]}]|\\u0000|\ue000")
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
    if _MAY_NEED_REWRITE.search(text) is None:
        return text
    return _TOKEN.sub(_rewrite_token, text)


def from_jsonb(text: str) -> str:
    """JSON text as it was before `for_jsonb`."""
    if _ESCAPE not in text:
        return text
    return _ESCAPED.sub(lambda m: "\\u0000" if m.group(1) != _ESCAPE else _ESCAPE, text)


def dumps(value: Any) -> str:
    """JSON text for JSONB; values JSON cannot hold are coerced as ADK coerces them.

    Datetimes, sets and pydantic models take pydantic's JSON form; anything else
    (a callable, say) its repr, with a warning, as ADK's `make_json_safe_state` does.
    """
    try:
        text = to_json(value).decode()
    except PydanticSerializationError:
        logger.warning(
            "some state values are not JSON-serializable (e.g. callables); "
            "their repr is stored instead",
            exc_info=True,
        )
        text = to_json(value, serialize_unknown=True).decode()
    return for_jsonb(text)


def dumps_if_any(mapping: Mapping[str, Any]) -> str | None:
    """`dumps` of a non-empty mapping; None for an empty one (SQL: nothing to merge)."""
    return dumps(dict(mapping)) if mapping else None


def loads(text: str) -> Any:
    """Decode JSON text from the database (floats bit-exact, big integers kept)."""
    return from_json(from_jsonb(text))
