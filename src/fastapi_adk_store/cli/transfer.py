"""`fastapi-adk-store import`: the importer behind a progress bar."""

from __future__ import annotations

from collections.abc import Mapping

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..compose import open_source_pool
from ..errors import ConfigurationError
from ..sessions.importers import ImportCounts, SourceKind, import_sessions
from ..sessions.seed import AsyncpgADKStore

__all__ = ["run_import"]

# How the importer names a source table, and the flag that sets it.
_FLAGS = {
    "source_tables['sessions']": "--source-session-table",
    "source_tables['events']": "--source-events-table",
    "source_tables['app_states']": "--source-app-state-table",
    "source_tables['user_states']": "--source-user-state-table",
}


async def run_import(
    store: AsyncpgADKStore,
    kind: str,
    source_dsn: str,
    source_tables: Mapping[str, str],
    batch_size: int,
) -> ImportCounts:
    """Import from `source_dsn` into `store`, showing sessions done out of the total.

    Raises:
        ConfigurationError: a source table is missing (the message names its flag).
        StoreUnavailableError: either server cannot be reached.
    """
    source: SourceKind = "sqlspec" if kind == "sqlspec" else "adk-database"
    columns = (
        TextColumn("importing sessions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            async with open_source_pool(source_dsn) as pool:
                return await import_sessions(
                    pool,
                    store.sessions,
                    kind=source,
                    source_tables=source_tables,
                    batch_size=batch_size,
                    progress=advance,
                )
        except ConfigurationError as error:
            message = str(error)
            for name, flag in _FLAGS.items():
                message = message.replace(f"set {name} to its name", f"pass its name as {flag}")
            raise ConfigurationError(message) from error
