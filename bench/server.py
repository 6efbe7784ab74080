"""Server-side cost per call: a private PostgreSQL 15 with pg_stat_statements, and a probe.

The shared server on 5432 does not preload `pg_stat_statements`, and restarting it would
break everyone else's tests, so `private_server()` starts a throwaway cluster (initdb +
pg_ctl in a temp dir, as the `postgres` OS user when run as root, on a free loopback
port) with `shared_preload_libraries = pg_stat_statements`, `track_io_timing` and the
shared server's own memory, durability and WAL settings, and removes it afterwards.

`ServerProbe` measures one contender's slice, all three taken right before and after it:

- **exec µs**: `sum(total_exec_time)` of `pg_stat_statements` for the contender's
  database (reset before the slice). Executor time of top-level statements: it leaves out
  parse, plan and commit.
- **backend CPU µs**: CPU time of the database's client backends, from
  `/proc/<pid>/schedstat` (nanoseconds; only when the server runs on this machine and
  /proc is readable). Everything the server did for the calls: parse, plan, execute,
  commit, the protocol.
- **WAL bytes**: the advance of `pg_current_wal_insert_lsn()`. `pg_stat_wal` is
  cumulative too, but a backend flushes its WAL counters to it at most once a second (and
  later when it goes idle), so a half-second slice would see someone else's bytes; the
  insert position moves the moment a record is written. It is cluster-wide: nothing else
  should run on the server during a slice (the private one has nothing else). Also the
  WAL records and full-page images the statements wrote (`pg_stat_statements`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg

__all__ = ["ServerProbe", "SliceCost", "private_server", "probe_or_reason"]

PG_BIN: Final = Path("/usr/lib/postgresql/15/bin")
# Copied from the server the run would otherwise use, so the private one behaves alike.
MIRRORED: Final = (
    "shared_buffers",
    "work_mem",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_level",
    "wal_compression",
    "autovacuum",
    "jit",
    "max_connections",
)
PRIVATE_SETTINGS: Final = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "pg_stat_statements.max": "10000",
    "track_io_timing": "on",
    "track_wal_io_timing": "on",
    # No checkpoint in the middle of a run: full-page images would land in some slices.
    "checkpoint_timeout": "1h",
    "max_wal_size": "20GB",
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
}


@dataclass
class SliceCost:
    """What the server spent on one slice."""

    exec_us: float | None
    calls: int | None
    backend_cpu_us: float | None
    wal_bytes: int
    statement_wal_bytes: int | None
    wal_fpi: int | None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pg(tool: str, *args: str, check: bool = True) -> None:
    """Run a PostgreSQL tool, as `postgres` when we are root (initdb refuses root)."""
    argv = [str(PG_BIN / tool), *args]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(argv, check=check, capture_output=True)


async def _mirrored_settings(dsn: str | None) -> dict[str, str]:
    if dsn is None:
        return {}
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        connection = await asyncpg.connect(dsn, timeout=5)
        try:
            rows = await connection.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                list(MIRRORED),
            )
        finally:
            await connection.close()
        units = {"8kB": "8kB", "kB": "kB", None: ""}
        return {r["name"]: f"'{r['setting']}{units.get(r['unit'], '')}'" for r in rows}
    return {}


@contextlib.asynccontextmanager
async def private_server(
    mirror_dsn: str | None = None, extra: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """Start a private PostgreSQL 15 cluster (`extra`: more settings); yield its DSN; stop
    and remove it."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"no PostgreSQL 15 binaries in {PG_BIN}")
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    settings = {**await _mirrored_settings(mirror_dsn), **PRIVATE_SETTINGS, **(extra or {})}
    settings["port"] = str(port)
    try:
        _pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        _pg("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _pg("pg_ctl", "-D", str(data), "-m", "fast", "stop", check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _schedstat_ns(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class ServerProbe:
    """Before/after readings of one slice on one server (see the module docstring)."""

    def __init__(self, connection: asyncpg.Connection, statements: bool, local: bool) -> None:
        self.connection = connection
        self.statements = statements
        """pg_stat_statements is loaded and readable."""
        self.local = local
        """The server's backends are processes of this machine whose /proc we can read."""
        self._lsn = ""
        self._cpu: dict[int, int] = {}

    async def _backend_cpu(self, database: str) -> dict[int, int]:
        pids = await self.connection.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = $1 AND backend_type = 'client backend'",
            database,
        )
        found = {r["pid"]: _schedstat_ns(r["pid"]) for r in pids}
        return {pid: ns for pid, ns in found.items() if ns is not None}

    async def start(self, database: str) -> None:
        """Reset the counters for a slice on `database`."""
        if self.statements:
            await self.connection.execute("SELECT pg_stat_statements_reset()")
        if self.local:
            self._cpu = await self._backend_cpu(database)
        self._lsn = await self.connection.fetchval("SELECT pg_current_wal_insert_lsn()::text")

    async def stop(self, database: str) -> SliceCost:
        """What the server spent on `database` since `start`."""
        wal = await self.connection.fetchval(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)::bigint",
            self._lsn,
        )
        cpu_us = None
        if self.local:
            after = await self._backend_cpu(database)
            cpu_us = sum(ns - self._cpu.get(pid, ns) for pid, ns in after.items()) / 1000
        row: Any = None
        if self.statements:
            row = await self.connection.fetchrow(
                "SELECT sum(total_exec_time) AS ms, sum(calls)::bigint AS calls, "
                "sum(wal_bytes)::bigint AS wal, sum(wal_fpi)::bigint AS fpi "
                "FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)",
                database,
            )
        return SliceCost(
            exec_us=1000 * (row["ms"] or 0.0) if row is not None else None,
            calls=row["calls"] or 0 if row is not None else None,
            backend_cpu_us=cpu_us,
            wal_bytes=int(wal),
            statement_wal_bytes=row["wal"] or 0 if row is not None else None,
            wal_fpi=row["fpi"] or 0 if row is not None else None,
        )


def _is_local(host: str | None) -> bool:
    return host in (None, "", "localhost", "127.0.0.1", "::1") or (host or "").startswith("/")


@contextlib.asynccontextmanager
async def probe_or_reason(dsn: str, host: str | None) -> AsyncIterator[ServerProbe | str]:
    """A probe on the server at `dsn`, or why its server-side columns stay empty."""
    connection = await asyncpg.connect(dsn)
    try:
        preloaded = await connection.fetchval("SHOW shared_preload_libraries")
        statements = "pg_stat_statements" in preloaded
        if statements:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        local = _is_local(host) and _schedstat_ns(pid) is not None
        if not statements and not local:
            yield (
                "no server-side columns: the server does not preload pg_stat_statements "
                "and its backends are not readable in /proc here; pass --private-server "
                "(or a --dsn whose server has shared_preload_libraries=pg_stat_statements)"
            )
        else:
            yield ServerProbe(connection, statements, local)
    finally:
        await connection.close()


def reasons(probe: ServerProbe) -> Iterator[str]:
    """What this probe cannot measure, and why."""
    if not probe.statements:
        yield (
            "exec µs missing: the server does not preload pg_stat_statements "
            "(pass --private-server, or a --dsn whose server does)"
        )
    if not probe.local:
        yield "backend CPU missing: the server's processes are not readable in /proc here"
