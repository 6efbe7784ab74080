"""SQL written with named parameters (`:app_name`), sent as asyncpg's positional `$n`.

    INSERT_NOTE = Statement.parse("INSERT INTO notes (id, body) VALUES (:id, :body)")
    await connection.execute(INSERT_NOTE.text, *INSERT_NOTE.args(id="n1", body="hi"))

A name may appear several times; it is one `$n`. `::type` casts are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["Statement"]

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Statement:
    """A statement's `$n` text and the names of its parameters, in `$n` order."""

    text: str
    params: tuple[str, ...]

    @classmethod
    def parse(cls, sql: str) -> Statement:
        """Number the `:name` parameters of `sql` in order of first appearance."""
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_NAMED.sub(number, sql), tuple(names))

    def args(self, **values: Any) -> list[Any]:
        """The positional arguments for these named values; every name exactly once.

        Raises:
            ConfigurationError: a parameter is missing or a value names no parameter.
        """
        if len(values) == len(self.params):
            try:
                return [values[name] for name in self.params]
            except KeyError:
                pass
        missing = sorted(set(self.params) - set(values))
        unknown = sorted(set(values) - set(self.params))
        raise ConfigurationError(f"statement parameters missing {missing}, unknown {unknown}")
