"""Artifact work run in separate OS processes by the artifact tests (spawned, not forked)."""

from __future__ import annotations

import asyncio
from typing import Any

from google.genai import types

from fastapi_adk_store.compose import open_artifact_service

APP = "proc_app"
USER = "proc_user"
SESSION = "proc_session"


def payload(worker: int, index: int) -> bytes:
    """The bytes save `index` of `worker` sends: distinct per save, some over one chunk."""
    return f"w{worker}-i{index}|".encode() * (1 + 5000 * (index % 3))


def save_versions(options: dict[str, Any], filename: str, worker: int, count: int) -> list[int]:
    """Save `count` versions of one filename; return the version numbers assigned."""

    async def run() -> list[int]:
        async with open_artifact_service(
            create_tables=False, artifact_chunk_bytes=4096, **options
        ) as service:
            versions = []
            for index in range(count):
                part = types.Part(
                    inline_data=types.Blob(
                        mime_type="application/x-test", data=payload(worker, index)
                    )
                )
                versions.append(
                    await service.save_artifact(
                        app_name=APP,
                        user_id=USER,
                        filename=filename,
                        artifact=part,
                        session_id=SESSION,
                        custom_metadata={"worker": worker, "index": index},
                    )
                )
            return versions

    return asyncio.run(run())
