"""`db.statements.Statement`: named parameters become `$n`, arguments go by name."""

from __future__ import annotations

import pytest

from fastapi_adk_store import ConfigurationError
from fastapi_adk_store.db.statements import Statement


def test_names_are_numbered_in_order_of_first_appearance() -> None:
    """A name used twice is one `$n`; casts (`::jsonb`) are left alone."""
    statement = Statement.parse(
        "SELECT :b::jsonb, :a WHERE x = :b AND y::text = :c AND '{}'::jsonb IS NOT NULL"
    )
    assert statement.text == (
        "SELECT $1::jsonb, $2 WHERE x = $1 AND y::text = $3 AND '{}'::jsonb IS NOT NULL"
    )
    assert statement.params == ("b", "a", "c")


def test_args_are_ordered_by_parameter() -> None:
    """Keyword order does not matter: each value lands at its name's position."""
    statement = Statement.parse("INSERT INTO t VALUES (:first, :second)")
    assert statement.args(second=2, first=1) == [1, 2]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"first": 1}, r"missing \['second'\]"),
        ({"first": 1, "second": 2, "third": 3}, r"unknown \['third'\]"),
        ({"first": 1, "typo": 2}, r"missing \['second'\], unknown \['typo'\]"),
    ],
)
def test_a_missing_or_unknown_name_is_a_clear_error(values: dict[str, int], message: str) -> None:
    """Every parameter exactly once: a typo fails here, not as a wrong value in SQL."""
    statement = Statement.parse("INSERT INTO t VALUES (:first, :second)")
    with pytest.raises(ConfigurationError, match=message):
        statement.args(**values)


def test_the_session_statements_take_named_arguments() -> None:
    """The append, with 12 parameters, names each; the owner column adds one name."""
    from fastapi_adk_store.sessions.sql import SessionTables, build_statements

    plain = build_statements(SessionTables())
    assert len(plain.append_event.params) == 12
    assert "expected_revision" in plain.append_event.params
    owned = build_statements(SessionTables(), "tenant_id INTEGER NOT NULL")
    assert set(owned.create_session.params) - set(plain.create_session.params) == {"owner_id"}
