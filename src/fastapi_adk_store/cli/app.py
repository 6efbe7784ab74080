"""`fastapi-adk-store`: migrate, import, purge and inspect the store's database.

Reads the same `ADK_STORE_*` settings (and `.env`) as the app; `--dsn` overrides
`ADK_STORE_DSN`. A mistake (bad DSN, unreachable server, missing tables) is one line on
stderr and exit code 1, never a traceback; the DSN's password is never printed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from ..artifacts.store import ArtifactStore
from ..compose import build_artifact_service, build_memory_store, open_store_unchecked
from ..errors import SchemaMissingError, StoreError
from ..memory.maintenance import MemoryMaintenance
from ..sessions.maintenance import SessionMaintenance
from ..sessions.seed import AsyncpgADKStore
from ..settings import StoreSettings
from ..telemetry import logger as room_logger
from .transfer import run_import

__all__ = ["app", "main"]

app = typer.Typer(
    name="fastapi-adk-store",
    help="Migrate, import, purge and inspect the fastapi-adk-store tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
logger = room_logger("cli")
T = TypeVar("T")

Dsn = Annotated[
    str | None,
    typer.Option("--dsn", help="PostgreSQL DSN (default: ADK_STORE_DSN).", show_default=False),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would change; change nothing.")]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Source(StrEnum):
    adk_database = "adk-database"
    sqlspec = "sqlspec"


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit 1."""
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(1)


def _settings(dsn: str | None) -> StoreSettings:
    try:
        settings = StoreSettings(**({"dsn": dsn} if dsn else {}))
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"{'.'.join(map(str, first['loc'])) or 'settings'}: {first['msg']}")
    if settings.wants_embedded:
        fail("no database named: set ADK_STORE_DSN (or ADK_STORE_HOST), or pass --dsn")
    return settings


def _scrubbed(message: str, settings: StoreSettings) -> str:
    """The message without the password, wherever it came from."""
    secrets = [settings.password.get_secret_value() if settings.password else ""]
    if settings.dsn is not None and (
        found := re.search(r"://[^:/@]*:([^@]+)@", str(settings.dsn.get_secret_value()))
    ):
        secrets.append(found.group(1))
    for secret in filter(None, secrets):
        message = message.replace(secret, "****")
    return message


def run(
    dsn: str | None,
    work: Callable[[AsyncpgADKStore, StoreSettings], Awaitable[T]],
    **connection: Any,
) -> T:
    """Open the store these settings name (with `connection` settings replaced), run
    `work` with the settings as configured, and turn mistakes into one line."""
    settings = _settings(dsn)

    async def opened() -> T:
        async with open_store_unchecked(settings.model_copy(update=connection)) as store:
            return await work(store, settings)

    try:
        return _run(opened())
    except (StoreError, OSError) as error:
        kind = type(error).__name__  # the class only: the message may hold a secret
        logger.info("command failed: %s", kind, extra={"kind": kind})
        fail(_scrubbed(str(error), settings))


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _duration(text: str) -> float:
    if (match := _DURATION.fullmatch(text.strip())) is None:
        fail(f"--older-than {text!r}: expected a number and a unit, e.g. 30d, 12h, 90m, 2w")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _stores(store: AsyncpgADKStore, settings: StoreSettings) -> dict[str, Any]:
    """The tables the app's lifespan would migrate: sessions, artifacts, and memory when
    ADK_STORE_MEMORY_ENABLED is on; all on the sessions' pool."""
    pool = store.sessions.pool_source
    stores: dict[str, Any] = {
        "sessions": store.sessions,
        "artifacts": build_artifact_service(pool, **settings.artifact_options()).store,
    }
    if settings.memory_enabled:
        stores["memory"] = build_memory_store(pool, settings.memory_options())
    return stores


@app.command("init-db")
def init_db(dsn: Dsn = None) -> None:
    """Create the tables (or bring them to this release's version)."""

    async def work(store: AsyncpgADKStore, settings: StoreSettings) -> None:
        for name, service_store in _stores(store, settings).items():
            applied = await service_store.migrate()
            version = await service_store.schema_version()
            out.print(f"{name}: schema at version {version} ({len(applied)} migration(s) applied)")

    run(dsn, work)


@app.command()
def migrate(dsn: Dsn = None, dry_run: DryRun = False) -> None:
    """Apply pending migrations; with --dry-run, print the SQL they would run."""

    async def work(store: AsyncpgADKStore, settings: StoreSettings) -> None:
        stores = _stores(store, settings)
        if dry_run:
            count = 0
            for name, service_store in stores.items():
                for migration in await service_store.pending_migrations():
                    print(f"-- {name} migration {migration.version}: {migration.name}")
                    print(migration.sql)
                    count += 1
            out.print(f"{count} migration(s) pending", highlight=False)
            return
        for name, service_store in stores.items():
            applied = await service_store.migrate()
            names = ", ".join(f"{m.version} {m.name}" for m in applied) or "none"
            version = await service_store.schema_version()
            out.print(f"{name}: applied {names}; schema at version {version}", highlight=False)

    run(dsn, work)


@app.command("import")
def import_(
    source: Annotated[Source, typer.Option("--from", help="Where the sessions are now.")],
    source_dsn: Annotated[str, typer.Option(help="DSN of the database to read.")],
    dsn: Dsn = None,
    source_session_table: Annotated[str | None, typer.Option(help="Sessions table.")] = None,
    source_events_table: Annotated[str | None, typer.Option(help="Events table.")] = None,
    source_app_state_table: Annotated[str | None, typer.Option(help="App state table.")] = None,
    source_user_state_table: Annotated[str | None, typer.Option(help="User state table.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sessions per transaction.")] = 500,
) -> None:
    """Copy sessions, events and state from ADK's DatabaseSessionService or sqlspec.

    Idempotent and resumable: a second run copies nothing, a killed run is completed.
    """
    tables = {
        "sessions": source_session_table,
        "events": source_events_table,
        "app_states": source_app_state_table,
        "user_states": source_user_state_table,
    }

    async def work(store: AsyncpgADKStore, _: StoreSettings) -> None:
        await store.sessions.migrate()
        counts = await run_import(
            store, source.value, source_dsn, {k: v for k, v in tables.items() if v}, batch_size
        )
        out.print(
            f"imported {counts.sessions} session(s), {counts.events} event(s), "
            f"{counts.app_states} app state(s), {counts.user_states} user state(s); "
            f"skipped {counts.skipped}",
            highlight=False,
        )

    run(dsn, work)


@app.command()
def purge(
    older_than: Annotated[str, typer.Option(help="Age of the last update, e.g. 30d, 12h.")],
    app_name: Annotated[str | None, typer.Option("--app", help="Only this app.")] = None,
    dsn: Dsn = None,
    dry_run: DryRun = False,
) -> None:
    """Delete sessions (and their events) not updated for --older-than, then the artifact
    bytes no version references any more, and memories of events older than the cutoff
    (when the memory tables exist). Never automatic.

    With ADK_STORE_ARTIFACTS_DELETE_WITH_SESSION, each purged session's artifacts too.
    """
    seconds = _duration(older_than)

    async def work(store: AsyncpgADKStore, settings: StoreSettings) -> None:
        await store.sessions.check_schema()
        artifacts = await _artifact_store(store)
        versions = 0

        async def artifacts_of(*, app_name: str, user_id: str, session_id: str) -> None:
            """Delete a purged session's artifacts; dry, count what would go."""
            nonlocal versions
            assert artifacts is not None
            scope = (app_name, user_id, session_id)
            versions += await (
                artifacts.count_scope(*scope) if dry_run else artifacts.delete_scope(*scope)
            )

        with_artifacts = artifacts is not None and settings.artifacts_delete_with_session
        hook = artifacts_of if with_artifacts else None
        counts = await SessionMaintenance(store.sessions).purge(
            older_than=seconds,
            app_name=app_name,
            dry_run=dry_run,
            on_delete=hook,
            on_would_delete=hook,
        )
        verb = "would remove" if dry_run else "removed"
        also = f", {versions} artifact version(s)" if with_artifacts else ""
        out.print(f"{verb} {counts.sessions} session(s), {counts.events} event(s){also}")
        if artifacts is not None:
            garbage = await (artifacts.garbage() if dry_run else artifacts.collect_garbage())
            out.print(
                f"{verb} {garbage.blobs} unreferenced artifact blob(s), {garbage.chunks} "
                f"chunk(s), {_size(garbage.bytes)}",
                highlight=False,
            )
        memory = MemoryMaintenance(
            build_memory_store(store.sessions.pool_source, settings.memory_options())
        )
        if await memory.tables_exist():
            gone = await memory.purge(older_than=seconds, app_name=app_name, dry_run=dry_run)
            out.print(f"{verb} {gone} memories")

    run(dsn, work)


async def _artifact_store(store: AsyncpgADKStore) -> ArtifactStore | None:
    """The artifact store on the sessions' pool, or None when its tables are absent."""
    artifacts = build_artifact_service(store.sessions.pool_source).store
    try:
        await artifacts.check_schema()
    except SchemaMissingError:
        return None
    return artifacts


@app.command()
def stats(dsn: Dsn = None) -> None:
    """Row counts, table and index sizes, oldest and newest session, sessions per app."""

    async def work(store: AsyncpgADKStore, _: StoreSettings) -> None:
        await store.sessions.check_schema()
        found = await SessionMaintenance(store.sessions).stats()
        table = Table("table", "rows (estimate)", "table", "indexes")
        for row in found.tables:
            table.add_row(
                row.name, f"{row.estimated_rows:,}", _size(row.table_bytes), _size(row.index_bytes)
            )
        out.print(table)
        out.print(
            f"sessions: {found.sessions:,}; oldest update {found.oldest}; newest {found.newest}"
        )
        per_app = Table("app", "sessions")
        for app_name, count in found.sessions_per_app:
            per_app.add_row(app_name, f"{count:,}")
        out.print(per_app)

    run(dsn, work)


@app.command()
def doctor(dsn: Dsn = None) -> None:
    """Check the server, schema version, pooling mode and privileges; exit 1 on a problem."""

    async def work(store: AsyncpgADKStore, settings: StoreSettings) -> bool:
        checks = await SessionMaintenance(store.sessions).diagnose(
            statement_cache_size=settings.statement_cache_size
        )
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {check.name}: {check.detail}", highlight=False)
            if not check.ok:
                out.print(f"      fix: {check.fix}", highlight=False, markup=False)
        return all(check.ok for check in checks)

    # No statement cache on the doctor's own connections: its probes work behind any pooler.
    if not run(dsn, work, statement_cache_size=0):
        raise typer.Exit(1)


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def main() -> None:
    """The console script."""
    app()
