"""Page tokens: opaque to clients, a keyset cursor to us.

A token is the cursor's fields as a versioned JSON list, base64url without padding.
A token that does not decode to the expected cursor is a 422 on `page_token`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any, TypeVar

from .errors import invalid
from .models import NEXT_PAGE_TOKEN_HEADER

__all__ = ["decode_token", "encode_token", "page_headers"]

CursorT = TypeVar("CursorT")
_VERSION = "v1"


def encode_token(cursor: Any) -> str:
    """The token for a cursor dataclass (its fields, in order)."""
    fields = [getattr(cursor, field.name) for field in dataclasses.fields(cursor)]
    text = json.dumps([_VERSION, *fields], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str, cursor_type: type[CursorT]) -> CursorT:
    """The cursor a token names.

    Raises:
        RequestValidationError: the token was not made by `encode_token` for this type.
    """
    fields = dataclasses.fields(cursor_type)  # type: ignore[arg-type]
    kinds = [float if field.type in ("float", float) else str for field in fields]
    try:
        parts = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != len(kinds) + 1
        or parts[0] != _VERSION
        or not all(
            isinstance(part, kind) and not isinstance(part, bool)
            for part, kind in zip(parts[1:], kinds, strict=True)
        )
    ):
        invalid(("query", "page_token"), "invalid page token: pass one this API returned", token)
    return cursor_type(*parts[1:])


def page_headers(cursor: Any | None) -> dict[str, str]:
    """The `X-Next-Page-Token` header for the next page's cursor (none on the last page)."""
    return {NEXT_PAGE_TOKEN_HEADER: encode_token(cursor)} if cursor is not None else {}
