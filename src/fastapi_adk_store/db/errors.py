"""asyncpg's errors, translated to the package's (`errors.py`) in one place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from ..errors import (
    ConfigurationError,
    InvalidValueError,
    SchemaMissingError,
    StoreUnavailableError,
)

__all__ = ["translate_errors", "translated"]

# Errors that mean "the database is not reachable right now", not "the request is bad".
_UNAVAILABLE = (
    OSError,  # refused or reset connections, and TimeoutError (command/connect timeout)
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, PgBouncer's "cannot connect" too
    asyncpg.OperatorInterventionError,  # class 57: shutdown, starting up, statement_timeout
    asyncpg.LockNotAvailableError,  # lock_timeout
    asyncpg.TooManyConnectionsError,
)
# What a transaction-pooling PgBouncer does to asyncpg's prepared-statement cache.
_PREPARED_STATEMENT_LOST = (
    asyncpg.InvalidSQLStatementNameError,
    asyncpg.DuplicatePreparedStatementError,
)
# A connection the server ended (pg_terminate_backend, a restart) while it sat idle in the
# pool: asyncpg read the server's FATAL message with no call waiting, left its protocol in
# the error-consume (2), failed (1) or terminating (4) state, and the next call on it fails
# before sending anything. Only these messages of the exact class InternalClientError:
# its subclasses (OutdatedSchemaCacheError, ...) and its other messages are bugs to see.
_DEAD_PROTOCOL = re.compile(
    r"cannot switch to state \d+; "
    r"(another operation \([124]\) is in progress|protocol is in the \"failed\" state)"
)
# A pooled connection found closed when a call starts (asyncpg's `_check_open`). Other
# InterfaceErrors (released connection, closed pool, concurrent use) are programming errors.
_CLOSED_CONNECTION = re.compile(r"(^|the underlying )connection is closed$")


def _connection_lost(error: BaseException) -> bool:
    """True for the asyncpg errors with no SQLSTATE that mean "this connection died"."""
    if type(error) is asyncpg.InternalClientError:
        return _DEAD_PROTOCOL.fullmatch(str(error)) is not None
    if type(error) is asyncpg.InterfaceError:
        return _CLOSED_CONNECTION.search(str(error)) is not None
    return False


def _unavailable_message(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return (
            "PostgreSQL did not answer in time "
            "(ADK_STORE_COMMAND_TIMEOUT / ADK_STORE_CONNECT_TIMEOUT)"
        )
    if isinstance(error, asyncpg.QueryCanceledError | asyncpg.LockNotAvailableError):
        return f"PostgreSQL cancelled the statement (statement_timeout or lock_timeout): {error}"
    return f"PostgreSQL is unavailable: {error}"


@contextmanager
def translate_errors(table: str) -> Iterator[None]:
    """Re-raise driver errors as the package's; `table` names the schema when it is missing.

    Errors not listed (a unique violation, say) pass through for the caller to judge.
    """
    try:
        yield
    except Exception as error:
        better = translated(error, table)
        if better is None:
            raise
        raise better from error


def translated(error: Exception, table: str) -> Exception | None:
    """The package's error for a driver error (`translate_errors`), or None to let it pass."""
    if isinstance(error, asyncpg.UndefinedTableError):
        return SchemaMissingError(table)
    if isinstance(error, asyncpg.DataError):
        return InvalidValueError(f"PostgreSQL refused a value: {error}")
    if isinstance(error, _PREPARED_STATEMENT_LOST):
        return ConfigurationError(
            f"{error}: behind PgBouncer in transaction or statement pooling mode, "
            "set ADK_STORE_STATEMENT_CACHE_SIZE=0 (pool option statement_cache_size=0)"
        )
    if isinstance(error, asyncpg.ProtocolViolationError):
        if "unsupported startup parameter" not in str(error):
            return StoreUnavailableError(_unavailable_message(error))
        return ConfigurationError(
            f"{error}: PgBouncer refuses this server_settings key; set it on the "
            "database or role instead (ALTER ROLE ... SET), or list it in PgBouncer's "
            "ignore_startup_parameters"
        )
    if isinstance(error, _UNAVAILABLE):
        return StoreUnavailableError(_unavailable_message(error))
    if _connection_lost(error):
        return StoreUnavailableError(f"PostgreSQL closed the connection: {error}")
    return None
