"""What the artifact store takes and returns: keys, new versions, version records, limits.

Nothing here knows ADK's objects; the service turns records into ADK Parts and
ArtifactVersions. A Part travels as its JSON (a dict) without its payload: the text or
inline bytes are the blob.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from ..db.json import dumps, loads
from ..defaults import ARTIFACT_CHUNK_BYTES, MAX_ARTIFACT_BYTES, MAX_JSON_DEPTH
from ..errors import ArtifactTooLargeError, ConfigurationError

__all__ = [
    "USER_SCOPE",
    "ArtifactKey",
    "ArtifactLimits",
    "Garbage",
    "Kind",
    "NewVersion",
    "SavedVersion",
    "VersionRecord",
    "version_record",
]

USER_SCOPE = ""
"""The session_id column of user-scoped (`user:`) artifacts."""

Kind = Literal["inline", "text", "file"]
"""How a version's payload is kept: inline bytes or text in a blob, or a file_data part."""


class ArtifactKey(NamedTuple):
    """One artifact: every version of a filename in one scope (session_id '' for user)."""

    app_name: str
    user_id: str
    session_id: str
    filename: str


class NewVersion(NamedTuple):
    """A version to save, payload aside: its kind, MIME type, Part JSON and metadata."""

    kind: Kind
    mime_type: str | None
    part: Mapping[str, Any]
    custom_metadata: Mapping[str, Any]

    def part_json(self) -> str:
        return dumps(dict(self.part), what="artifact part", max_depth=MAX_JSON_DEPTH)

    def metadata_json(self) -> str:
        return dumps(dict(self.custom_metadata), what="custom_metadata", max_depth=MAX_JSON_DEPTH)


class SavedVersion(NamedTuple):
    """What a save assigned: the version number and its creation time (epoch seconds)."""

    version: int
    create_time: float


class Garbage(NamedTuple):
    """Payloads no version references any more: how many blobs, chunks and bytes."""

    blobs: int = 0
    chunks: int = 0
    bytes: int = 0

    def plus(self, other: Garbage) -> Garbage:
        return Garbage(*(mine + theirs for mine, theirs in zip(self, other, strict=True)))


class VersionRecord(NamedTuple):
    """One stored version, payload aside (`blob_id` names it; None for file parts)."""

    version: int
    kind: Kind
    mime_type: str | None
    part: dict[str, Any]
    custom_metadata: dict[str, Any]
    blob_id: int | None
    size: int
    create_time: float
    sha256: bytes | None


def version_record(row: Mapping[str, Any]) -> VersionRecord:
    """A record from a row of the version columns (`sql._VERSION_COLUMNS`)."""
    return VersionRecord(
        version=row["version"],
        kind=row["kind"],
        mime_type=row["mime_type"],
        part=loads(row["part"]),
        custom_metadata=loads(row["custom_metadata"]),
        blob_id=row["blob_id"],
        size=row["size"],
        create_time=row["create_time"],
        sha256=row["sha256"],
    )


@dataclass(frozen=True)
class ArtifactLimits:
    """What the artifact store accepts: the payload size cap and the chunk size."""

    max_artifact_bytes: int = MAX_ARTIFACT_BYTES
    chunk_bytes: int = ARTIFACT_CHUNK_BYTES

    def __post_init__(self) -> None:
        if self.max_artifact_bytes < 1:
            raise ConfigurationError(
                f"max_artifact_bytes must be positive, got {self.max_artifact_bytes}"
            )
        if not 1 <= self.chunk_bytes <= 256 * 1024 * 1024:
            raise ConfigurationError(
                f"artifact_chunk_bytes must be between 1 and 256 MiB, got {self.chunk_bytes}"
            )

    def check_size(self, size: int) -> None:
        """Raise ArtifactTooLargeError when `size` bytes are over the cap."""
        if size > self.max_artifact_bytes:
            raise ArtifactTooLargeError(size, self.max_artifact_bytes)
