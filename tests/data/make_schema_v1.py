"""How tests/data/schema_v1.sql was made: run with the release before migrations (b4b6838)
on the path, then `pg_dump -n v1_dump --inserts --no-owner --no-privileges`. Not a test."""

from __future__ import annotations

import asyncio

import asyncpg
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.genai import types

from fastapi_adk_store import open_session_service

DSN = "postgresql://postgres@127.0.0.1:5432/test"
SAVE = types.FunctionCall(name="save", args={"text": "buy milk", "n": 1e20})
SAVED = types.FunctionResponse(name="save", response={"ok": True})
BLOB = types.Blob(mime_type="application/octet-stream", data=b"\x00\x01\xffbytes")
EVENTS = [
    Event(
        invocation_id="i1",
        author="user",
        timestamp=1700000000.0,
        content=types.Content(role="user", parts=[types.Part(text="note buy milk é中😀")]),
    ),
    Event(
        invocation_id="i1",
        author="notes",
        timestamp=1700000001.5,
        content=types.Content(role="model", parts=[types.Part(function_call=SAVE)]),
        actions=EventActions(state_delta={"count": 1, "user:notes": 1, "app:total": 1}),
    ),
    Event(
        invocation_id="i1",
        author="notes",
        timestamp=1700000002.25,
        content=types.Content(
            role="user",
            parts=[types.Part(function_response=SAVED), types.Part(inline_data=BLOB)],
        ),
        custom_metadata={"nul": "a\u0000b"},
    ),
]


async def main() -> None:
    connection = await asyncpg.connect(DSN)
    await connection.execute("DROP SCHEMA IF EXISTS v1_dump CASCADE; CREATE SCHEMA v1_dump")
    async with open_session_service(DSN, server_settings={"search_path": "v1_dump"}) as service:
        state = {"topic": "milk", "app:theme": "dark", "user:lang": "en"}
        await service.create_session(
            app_name="notes", user_id="alice", session_id="s1", state=state
        )
        for event in EVENTS:
            session = await service.get_session(app_name="notes", user_id="alice", session_id="s1")
            assert session is not None
            await service.append_event(session, event)
        await service.create_session(
            app_name="notes", user_id="bob", session_id="s2", state={"x": [1, 2.5, None]}
        )
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
