"""`AsyncpgArtifactService`: ADK's `BaseArtifactService` over an `ArtifactStore`.

The only room of `artifacts/` that builds ADK Parts and ArtifactVersions. Semantics are
those of ADK's `InMemoryArtifactService` (tests/test_artifacts_contract.py runs both):
`user:` filenames are user-scoped whatever the session, versions count from 0, a
missing artifact loads as None, `artifact://` references are checked on save and
followed (a bounded number of hops) on load, and a rewind tombstone loads as None.
Beside ADK's Part API: `save_artifact_stream` and `open_artifact_stream`, whose memory
stays at a chunk or two whatever the artifact's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from google.adk.artifacts import artifact_util
from google.adk.artifacts.base_artifact_service import (
    ArtifactVersion,
    BaseArtifactService,
    ensure_part,
)
from google.adk.errors.input_validation_error import InputValidationError
from google.genai import types
from typing_extensions import override

from .._adk import (
    MAX_ARTIFACT_REFERENCE_DEPTH,
    is_rewind_tombstone,
    validate_session_id_for_flat_storage,
)
from ..telemetry import instrumented
from .records import USER_SCOPE, ArtifactKey, NewVersion, VersionRecord
from .store import ArtifactStore

__all__ = ["ArtifactStream", "AsyncpgArtifactService", "artifact_key"]

_USER_PREFIX = "user:"


def artifact_key(app_name: str, user_id: str, filename: str, session_id: str | None) -> ArtifactKey:
    """The key of an artifact, its ids validated as ADK's services validate them.

    Raises:
        InputValidationError: an id could alter a path, or a session-scoped filename
            comes without a session id.
    """
    artifact_util.validate_path_segment(app_name, "app_name")
    artifact_util.validate_path_segment(user_id, "user_id")
    if not isinstance(filename, str) or not filename or "\x00" in filename:
        raise InputValidationError("filename must be a non-empty string without null bytes.")
    if filename.startswith(_USER_PREFIX):
        return ArtifactKey(app_name, user_id, USER_SCOPE, filename)
    if session_id is None:
        raise InputValidationError("Session ID must be provided for session-scoped artifacts.")
    artifact_util.validate_path_segment(session_id, "session_id")
    return ArtifactKey(app_name, user_id, session_id, filename)


def _canonical_uri(key: ArtifactKey, version: int) -> str:
    session_id = None if key.session_id == USER_SCOPE else key.session_id
    return artifact_util.get_artifact_uri(
        key.app_name, key.user_id, key.filename, version, session_id
    )


def _artifact_version(key: ArtifactKey, record: VersionRecord) -> ArtifactVersion:
    return ArtifactVersion(
        version=record.version,
        canonical_uri=_canonical_uri(key, record.version),
        custom_metadata=record.custom_metadata,
        create_time=record.create_time,
        mime_type=record.mime_type,
    )


def _payload_less(part: types.Part) -> dict[str, Any]:
    """The Part's JSON without its text or inline bytes (those are the blob)."""
    update: dict[str, Any] = {}
    if part.inline_data is not None:
        update["inline_data"] = part.inline_data.model_copy(update={"data": None})
    elif part.text is not None:
        update["text"] = None
    return part.model_copy(update=update).model_dump(mode="json", exclude_none=True)


def _new_version(
    key: ArtifactKey, part: types.Part, custom_metadata: dict[str, Any] | None
) -> tuple[NewVersion, bytes | None]:
    """What to store for `part`: the version's columns and its bytes (None: no blob).

    Raises:
        InputValidationError: the part holds nothing ADK stores, or is an artifact
            reference that is invalid or leaves the caller's scope.
    """
    metadata = dict(custom_metadata or {})
    if part.inline_data is not None:
        new = NewVersion("inline", part.inline_data.mime_type, _payload_less(part), metadata)
        return new, part.inline_data.data
    if part.text is not None:
        new = NewVersion("text", "text/plain", _payload_less(part), metadata)
        return new, part.text.encode("utf-8")
    file_data = part.file_data
    if file_data is None:
        raise InputValidationError("Not supported artifact type.")
    mime_type = file_data.mime_type
    if artifact_util.is_artifact_ref(part):
        parsed = artifact_util.parse_artifact_uri(cast(str, file_data.file_uri))
        if not parsed:
            raise InputValidationError(f"Invalid artifact reference URI: {file_data.file_uri}")
        artifact_util.validate_artifact_reference_scope(
            app_name=key.app_name,
            user_id=key.user_id,
            session_id=None if key.session_id == USER_SCOPE else key.session_id,
            parsed_uri=parsed,
        )
        mime_type = None  # known once the reference is followed
    return NewVersion("file", mime_type, _payload_less(part), metadata), None


def _part(record: VersionRecord, data: bytes | None) -> types.Part:
    """The saved Part again, its payload put back."""
    part = types.Part.model_validate(record.part)
    if record.kind == "inline":
        blob = part.inline_data or types.Blob()
        part.inline_data = blob.model_copy(update={"data": data})
    elif record.kind == "text":
        part.text = (data or b"").decode("utf-8")
    return part


def _is_absent(part: types.Part) -> bool:
    return part == types.Part() or is_rewind_tombstone(part)


@dataclass(frozen=True)
class ArtifactStream:
    """A version being read chunk by chunk: its metadata, the Part without its payload,
    the payload's bytes (text as UTF-8; nothing for a file part) and their count."""

    version: ArtifactVersion
    part: types.Part
    chunks: AsyncIterator[bytes]
    size: int = 0


class AsyncpgArtifactService(BaseArtifactService):
    """ADK's artifact service on PostgreSQL (see the module docstring)."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store

    @property
    def store(self) -> ArtifactStore:
        return self._store

    @override
    @instrumented
    async def save_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        artifact: types.Part | dict[str, Any],
        session_id: str | None = None,
        custom_metadata: dict[str, Any] | None = None,
    ) -> int:
        key = self._save_key(app_name, user_id, filename, session_id)
        new, data = _new_version(key, ensure_part(artifact), custom_metadata)
        return (await self._store.save(key, new, data)).version

    def _save_key(
        self, app_name: str, user_id: str, filename: str, session_id: str | None
    ) -> ArtifactKey:
        """The key to save under; ADK refuses a session id that is or starts with 'user'."""
        if not filename.startswith(_USER_PREFIX) and session_id is not None:
            validate_session_id_for_flat_storage(session_id)
        return artifact_key(app_name, user_id, filename, session_id)

    @instrumented
    async def save_artifact_stream(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        chunks: AsyncIterable[bytes],
        mime_type: str | None = "application/octet-stream",
        display_name: str | None = None,
        session_id: str | None = None,
        custom_metadata: dict[str, Any] | None = None,
    ) -> int:
        """Save an inline-data artifact whose bytes arrive as `chunks`; its version.

        Loads as `Part(inline_data=Blob(mime_type=..., display_name=..., data=...))`.

        Raises:
            ArtifactTooLargeError: the chunks add up to more than `max_artifact_bytes`.
        """
        key = self._save_key(app_name, user_id, filename, session_id)
        part = types.Part(inline_data=types.Blob(mime_type=mime_type, display_name=display_name))
        new, _ = _new_version(key, part, custom_metadata)
        return (await self._store.save_stream(key, new, chunks)).version

    @override
    @instrumented
    async def load_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> types.Part | None:
        key = artifact_key(app_name, user_id, filename, session_id)
        for depth in range(MAX_ARTIFACT_REFERENCE_DEPTH + 1):
            loaded = await self._store.load(key, version)
            if loaded is None:
                return None
            part = _part(*loaded)
            if not artifact_util.is_artifact_ref(part):
                return None if _is_absent(part) else part
            key, version = self._follow(part, app_name, user_id, session_id, depth)
        raise AssertionError("unreachable: _follow raises past the last hop")

    def _follow(
        self, part: types.Part, app_name: str, user_id: str, session_id: str | None, depth: int
    ) -> tuple[ArtifactKey, int]:
        """The key and version an `artifact://` part points at, checked as ADK checks it."""
        assert part.file_data is not None
        parsed = artifact_util.resolve_artifact_reference(
            file_uri=cast(str, part.file_data.file_uri),
            app_name=app_name,
            user_id=user_id,
            session_id=session_id,
            remaining_depth=MAX_ARTIFACT_REFERENCE_DEPTH - depth,
        )
        key = artifact_key(parsed.app_name, parsed.user_id, parsed.filename, parsed.session_id)
        return key, parsed.version

    @instrumented
    @asynccontextmanager
    async def open_artifact_stream(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> AsyncIterator[ArtifactStream | None]:
        """The version's chunks, read one at a time while the context is open (one
        snapshot); None where `load_artifact` gives None. References are followed."""
        key = artifact_key(app_name, user_id, filename, session_id)
        for depth in range(MAX_ARTIFACT_REFERENCE_DEPTH + 1):
            record = await self._store.get(key, version)
            if record is None or record.kind != "file":
                break
            part = _part(record, None)
            if not artifact_util.is_artifact_ref(part):
                break
            key, version = self._follow(part, app_name, user_id, session_id, depth)
        async with self._store.open_stream(key, version) as opened:
            if opened is None:
                yield None
                return
            record, chunks = opened
            empty = b"" if record.blob_id is not None else None
            if record.size == 0 and _is_absent(_part(record, empty)):
                yield None
                return
            yield ArtifactStream(
                _artifact_version(key, record), _part(record, None), chunks, record.size
            )

    @override
    @instrumented
    async def list_artifact_keys(
        self, *, app_name: str, user_id: str, session_id: str | None = None
    ) -> list[str]:
        artifact_util.validate_path_segment(app_name, "app_name")
        artifact_util.validate_path_segment(user_id, "user_id")
        if session_id is not None:
            artifact_util.validate_path_segment(session_id, "session_id")
        return await self._store.list_keys(app_name, user_id, session_id or USER_SCOPE)

    @override
    @instrumented
    async def delete_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
    ) -> None:
        await self._store.delete(artifact_key(app_name, user_id, filename, session_id))

    @instrumented
    async def delete_session_artifacts(
        self, *, app_name: str, user_id: str, session_id: str
    ) -> int:
        """Delete the session's artifacts (every version; the user's `user:` ones stay)
        and the bytes no other version holds; how many versions went. An id no artifact
        could be saved under deletes nothing. The session service's `on_delete` hook."""
        try:
            artifact_util.validate_path_segment(app_name, "app_name")
            artifact_util.validate_path_segment(user_id, "user_id")
            artifact_util.validate_path_segment(session_id, "session_id")
        except InputValidationError:
            return 0
        return await self._store.delete_scope(app_name, user_id, session_id)

    @override
    @instrumented
    async def list_versions(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
    ) -> list[int]:
        key = artifact_key(app_name, user_id, filename, session_id)
        return await self._store.list_version_numbers(key)

    @override
    @instrumented
    async def list_artifact_versions(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
    ) -> list[ArtifactVersion]:
        key = artifact_key(app_name, user_id, filename, session_id)
        return [_artifact_version(key, record) for record in await self._store.list_versions(key)]

    @override
    @instrumented
    async def get_artifact_version(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> ArtifactVersion | None:
        key = artifact_key(app_name, user_id, filename, session_id)
        record = await self._store.get(key, version)
        return None if record is None else _artifact_version(key, record)
