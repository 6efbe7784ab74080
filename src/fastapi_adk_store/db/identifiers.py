"""SQL identifiers from configuration, checked and quoted once."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ..errors import ConfigurationError

__all__ = ["TableNames", "quote_identifier", "unqualified"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def quote_identifier(name: str, *, what: str = "table name") -> str:
    """Return `name` double-quoted, or raise if it is not a plain SQL identifier.

    `schema.table` is accepted; each part must match ``[A-Za-z_][A-Za-z0-9_]*`` and be at
    most 63 characters (PostgreSQL's limit).

    Raises:
        ConfigurationError: `name` is not such an identifier.
    """
    parts = name.split(".") if isinstance(name, str) else [name]
    if not 1 <= len(parts) <= 2 or not all(
        isinstance(part, str) and _IDENTIFIER.fullmatch(part) for part in parts
    ):
        raise ConfigurationError(
            f"invalid {what} {name!r}: use letters, digits and underscores, not starting "
            "with a digit, at most 63 characters (optionally schema-qualified as schema.name)"
        )
    return ".".join(f'"{part}"' for part in parts)


def unqualified(name: str) -> str:
    """The table name without its schema (`s.t` -> `t`), e.g. to derive index names."""
    return name.split(".")[-1]


@dataclass(frozen=True)
class TableNames:
    """Base of a store's table names (a frozen dataclass of str fields)."""

    def quoted(self) -> dict[str, str]:
        """Each name quoted, by field.

        Raises:
            ConfigurationError: a name is not an identifier, or two names are equal.
        """
        quoted = {f.name: quote_identifier(getattr(self, f.name)) for f in fields(self)}
        if len(set(quoted.values())) != len(quoted):
            raise ConfigurationError(f"table names must be distinct, got {self!r}")
        return quoted
