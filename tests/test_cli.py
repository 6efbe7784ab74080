"""`fastapi-adk-store`, run as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass

import asyncpg
import pytest
from google.adk.events.event import Event
from google.genai import types

from fastapi_adk_store import SCHEMA_VERSION, AsyncpgADKStore, AsyncpgConfig, open_artifact_service
from fastapi_adk_store.memory.records import UserKey

from ._helpers import PoolOptions, free_port, restore_v1_dump
from ._memory import memory_service, session_of, text_event
from ._sources import adk_source

DAY = 86400.0


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def cli(
    pool_options: PoolOptions | None,
    *args: str,
    dsn: str | None = None,
    settings: dict[str, str] | None = None,
) -> Ran:
    """Run the command line with the test's schema as its database (and these
    ADK_STORE_* `settings`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADK_STORE_")}
    env.update(settings or {})
    if pool_options is not None:
        env["ADK_STORE_SERVER_SETTINGS__SEARCH_PATH"] = pool_options["server_settings"][
            "search_path"
        ]
        env["ADK_STORE_DSN"] = dsn or pool_options["dsn"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fastapi_adk_store.cli",
        *args,
        env={**env, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def test_init_db_migrate_and_stats(pool_options: PoolOptions) -> None:
    """init-db creates the tables; migrate then has nothing to do; stats counts."""
    ran = await cli(pool_options, "init-db")
    assert ran.code == 0, ran.err
    assert f"sessions: schema at version {SCHEMA_VERSION} ({SCHEMA_VERSION} migration(s)" in ran.out
    assert "artifacts: schema at version 1 (1 migration(s) applied)" in ran.out
    again = await cli(pool_options, "migrate")
    assert again.code == 0
    assert "sessions: applied none" in again.out and "artifacts: applied none" in again.out
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    async with store.opened():
        await store.create_session("s1", "notes", "alice")
        await store.create_session("s2", "notes", "bob")
        await store.create_session("s3", "other", "bob")
    stats = await cli(pool_options, "stats")
    assert stats.code == 0, stats.err
    assert "sessions: 3;" in stats.out
    assert "│ notes │ 2" in stats.out and "│ other │ 1" in stats.out


async def test_migrate_dry_run_prints_the_sql_and_changes_nothing(
    pool_options: PoolOptions,
) -> None:
    """On a version-1 database --dry-run prints what would run; migrate then runs it."""
    await restore_v1_dump(pool_options)
    dry = await cli(pool_options, "migrate", "--dry-run")
    assert dry.code == 0, dry.err
    assert "-- sessions migration 2: lz4_event_compression" in dry.out
    assert "SET COMPRESSION" in dry.out and "-- artifacts migration 1: initial" in dry.out
    assert "-- sessions migration 3: lean_append" in dry.out
    assert "3 migration(s) pending" in dry.out
    doctor = await cli(pool_options, "doctor")
    assert doctor.code == 1
    assert "FAIL schema: version 1" in doctor.out and "fastapi-adk-store migrate" in doctor.out
    ran = await cli(pool_options, "migrate")
    assert (
        ran.code == 0
        and "sessions: applied 2 lz4_event_compression, 3 lean_append; "
        f"schema at version {SCHEMA_VERSION}"
        in ran.out
    )
    healthy = await cli(pool_options, "doctor")
    assert healthy.code == 0, healthy.out
    assert "ok   pooling: direct connections" in healthy.out


async def test_purge_removes_only_old_sessions(pool_options: PoolOptions) -> None:
    """purge --older-than counts, dry or not, and keeps recent sessions and other apps."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    now = time.time()
    async with store.opened():
        for sid, app, age in [
            ("old", "a", 40),
            ("older", "a", 90),
            ("new", "a", 1),
            ("b", "b", 40),
        ]:
            await store.create_session(sid, app, "u", update_time=now - age * DAY)
        await store.append_event(Event(author="x", timestamp=now - 40 * DAY), session_id="old")
        dry = await cli(pool_options, "purge", "--older-than", "30d", "--app", "a", "--dry-run")
        assert dry.code == 0, dry.err
        assert "would remove 2 session(s), 1 event(s)" in dry.out
        assert len(await store.list_sessions("a")) == 3
        ran = await cli(pool_options, "purge", "--older-than", "30d", "--app", "a")
        assert "removed 2 session(s), 1 event(s)" in ran.out
        assert [r.id for r in await store.list_sessions("a")] == ["new"]
        assert [r.id for r in await store.list_sessions("b")] == ["b"]
        assert "memories" not in dry.out + ran.out  # no memory tables: nothing said of them


async def test_purge_removes_old_memories_of_the_app(pool_options: PoolOptions) -> None:
    """purge --older-than also counts and deletes memories of old events, dry or not,
    keeping recent ones and other apps', once the memory tables exist."""
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    now = time.time()
    ages = {"old": 40, "older": 90, "new": 1}
    async with store.opened(), memory_service(pool_options) as memory:
        for app in ("a", "b"):
            events = [
                text_event(f"{name} note", event_id=name, timestamp=now - age * DAY)
                for name, age in ages.items()
            ]
            await memory.add_session_to_memory(session_of(events, app=app))
        dry = await cli(pool_options, "purge", "--older-than", "30d", "--app", "a", "--dry-run")
        assert dry.code == 0, dry.err
        assert "would remove 2 memories" in dry.out
        assert await memory.store.count(UserKey("a", "u")) == 3
        ran = await cli(pool_options, "purge", "--older-than", "30d", "--app", "a")
        assert ran.code == 0, ran.err
        assert "removed 2 memories" in ran.out
        found = await memory.search_memory(app_name="a", user_id="u", query="note")
        assert [m.id for m in found.memories] == ["new"]
        assert await memory.store.count(UserKey("b", "u")) == 3


async def test_purge_collects_unreferenced_artifact_bytes(pool_options: PoolOptions) -> None:
    """purge also deletes the artifact blobs (and chunks) no version references, those an
    interrupted delete left; --dry-run counts them; referenced and shared bytes stay."""
    assert (await cli(pool_options, "init-db")).code == 0
    async with open_artifact_service(artifact_chunk_bytes=1000, **pool_options) as artifacts:
        for name, data in [("gone", b"g" * 2500), ("kept", b"k" * 10), ("shared", b"k" * 10)]:
            await artifacts.save_artifact(
                app_name="a",
                user_id="u",
                session_id="s",
                filename=name,
                artifact=types.Part.from_bytes(data=data, mime_type="x/y"),
            )
        connection = await asyncpg.connect(
            pool_options["dsn"], server_settings=pool_options["server_settings"]
        )
        try:  # what a delete interrupted before its blob collection leaves behind
            await connection.execute(
                "DELETE FROM adk_artifact_versions WHERE filename IN ('gone', 'shared')"
            )
        finally:
            await connection.close()
        args = ["purge", "--older-than", "30d"]
        dry = await cli(pool_options, *args, "--dry-run")
        assert dry.code == 0, dry.err
        assert "would remove 1 unreferenced artifact blob(s), 3 chunk(s), 2.4 kB" in dry.out
        assert await artifacts.store.blob_count() == 2
        ran = await cli(pool_options, *args)
        assert "removed 1 unreferenced artifact blob(s), 3 chunk(s)" in ran.out
        assert await artifacts.store.blob_count() == 1
        kept = await artifacts.load_artifact(
            app_name="a", user_id="u", session_id="s", filename="kept"
        )
        assert kept is not None and kept.inline_data is not None
        assert kept.inline_data.data == b"k" * 10
        again = await cli(pool_options, *args)
        assert "removed 0 unreferenced artifact blob(s), 0 chunk(s), 0 B" in again.out


@pytest.mark.parametrize("enabled", [True, False], ids=["delete-with-session", "default"])
async def test_purge_deletes_purged_sessions_artifacts_when_set(
    pool_options: PoolOptions, enabled: bool
) -> None:
    """With ADK_STORE_ARTIFACTS_DELETE_WITH_SESSION, purge deletes each purged session's
    artifacts and their bytes (not the user's `user:` ones, not a kept session's); dry, it
    counts the versions it would delete and deletes none."""
    assert (await cli(pool_options, "init-db")).code == 0
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    now = time.time()
    async with store.opened(), open_artifact_service(**pool_options) as artifacts:
        for sid, age in [("old", 40), ("new", 1)]:
            await store.create_session(sid, "a", "u", update_time=now - age * DAY)
        for sid, filename, text in [
            ("old", "a.txt", "v0"),
            ("old", "a.txt", "v1"),
            ("old", "c.txt", "c"),
            ("old", "user:p", "p"),
            ("new", "b.txt", "b"),
        ]:
            await artifacts.save_artifact(
                app_name="a",
                user_id="u",
                session_id=sid,
                filename=filename,
                artifact=types.Part(text=text),
            )
        flag = {"ADK_STORE_ARTIFACTS_DELETE_WITH_SESSION": str(enabled).lower()}
        args = ["purge", "--older-than", "30d"]
        dry = await cli(pool_options, *args, "--dry-run", settings=flag)
        assert dry.code == 0, dry.err
        loaded = await artifacts.load_artifact(
            app_name="a", user_id="u", session_id="old", filename="a.txt", version=0
        )
        assert loaded == types.Part(text="v0")  # the dry run deleted nothing
        assert await artifacts.store.blob_count() == 5
        ran = await cli(pool_options, *args, settings=flag)
        assert ran.code == 0, ran.err
        names = await artifacts.list_artifact_keys(app_name="a", user_id="u", session_id="old")
        if enabled:
            assert "would remove 1 session(s), 0 event(s), 3 artifact version(s)\n" in dry.out
            assert "removed 1 session(s), 0 event(s), 3 artifact version(s)\n" in ran.out
            assert names == ["user:p"]
            assert await artifacts.store.blob_count() == 2
        else:
            assert "would remove 1 session(s), 0 event(s)\n" in dry.out
            assert "removed 1 session(s), 0 event(s)\n" in ran.out
            assert names == ["a.txt", "c.txt", "user:p"]
        kept = await artifacts.list_artifact_keys(app_name="a", user_id="u", session_id="new")
        assert kept == ["b.txt", "user:p"]


async def test_import_from_adk_database_is_idempotent(
    pool_options: PoolOptions, database_dsn: str
) -> None:
    """import --from adk-database copies a session and its event once; a rerun copies none."""
    async with adk_source(database_dsn) as source:
        session = await source.service.create_session(app_name="a", user_id="u", session_id="s")
        await source.service.append_event(session, Event(author="user"))
        url = f"{database_dsn}{'&' if '?' in database_dsn else '?'}"
        source_dsn = f"{url}options=-csearch_path%3D{source.schema}"
        args = ["import", "--from", "adk-database", "--source-dsn", source_dsn]
        first = await cli(pool_options, *args)
        assert first.code == 0, first.err
        assert "imported 1 session(s), 1 event(s)" in first.out
        second = await cli(pool_options, *args)
        assert "imported 0 session(s), 0 event(s)" in second.out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["stats"], "error: PostgreSQL is unavailable"),
        (["purge", "--older-than", "soon"], "expected a number and a unit"),
        (["import", "--from", "sqlspec", "--source-dsn", "{dsn}"], "--source-session-table"),
    ],
    ids=["unreachable", "bad-duration", "missing-source-tables"],
)
async def test_mistakes_are_one_line_without_the_password(
    pool_options: PoolOptions, args: list[str], expected: str
) -> None:
    """A user's mistake: one line on stderr, exit 1, no traceback, no password."""
    secret = "S3cret-pw"
    server = pool_options["dsn"].split("@", 1)[1]
    dsn = f"postgresql://postgres:{secret}@127.0.0.1:{free_port()}/x"
    if args[0] != "stats":
        dsn = f"postgresql://postgres:{secret}@{server}"
    args = [arg.replace("{dsn}", dsn) for arg in args]
    ran = await cli(pool_options, *args, dsn=dsn)
    assert ran.code == 1
    assert expected in ran.err
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    assert "Traceback" not in ran.err and secret not in ran.err + ran.out


async def test_no_database_and_unknown_flags_are_refused_cleanly() -> None:
    """No DSN at all: one line naming ADK_STORE_DSN; an unknown flag: usage, exit 2."""
    ran = await cli(None, "stats")
    assert ran.code == 1 and "set ADK_STORE_DSN" in ran.err and "Traceback" not in ran.err
    unknown = await cli(None, "stats", "--no-such-flag")
    assert unknown.code == 2 and "No such option" in unknown.err
    assert "Traceback" not in unknown.err


async def test_doctor_names_a_missing_index(pool_options: PoolOptions) -> None:
    """An index dropped by hand: doctor fails on it and says how to bring it back."""
    assert (await cli(pool_options, "init-db")).code == 0
    store = AsyncpgADKStore(AsyncpgConfig(pool_config=pool_options))
    async with store.opened():
        pool = await store.get_pool()
        await pool.execute('DROP INDEX "adk_events_by_time"')
    ran = await cli(pool_options, "doctor")
    assert ran.code == 1
    assert 'FAIL indexes: missing "adk_events_by_time"' in ran.out
