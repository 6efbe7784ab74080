"""Request and error bodies of the routers, in ADK api_server's camelCase JSON.

Responses are ADK's own models (`Session`, `Event`) serialised as ADK's api_server does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .adk_json import EventBody, PartBody

__all__ = [
    "NEXT_PAGE_TOKEN_HEADER",
    "CreateSessionRequest",
    "ErrorCode",
    "ErrorModel",
    "SaveArtifactRequest",
    "UpdateSessionRequest",
]

NEXT_PAGE_TOKEN_HEADER = "X-Next-Page-Token"


class _CamelModel(BaseModel):
    # As ADK's cli.utils.common.BaseModel: camelCase on the wire, snake_case accepted.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CreateSessionRequest(_CamelModel):
    """Body of `POST .../sessions` (the same fields as ADK api_server's)."""

    session_id: str | None = Field(
        default=None, description="The session's id; generated when omitted."
    )
    state: dict[str, Any] | None = Field(
        default=None, description="Initial state; `app:`/`user:` keys go to the shared state."
    )
    events: list[EventBody] | None = Field(
        default=None,
        description="Events to restore into the new session, without actions or ADK calls.",
    )
    options: dict[str, Any] | None = Field(
        default=None,
        description="Options for the session service; this store takes none (422 if set).",
    )


class UpdateSessionRequest(_CamelModel):
    """Body of `PATCH .../sessions/{session_id}`: a state delta applied as an event."""

    state_delta: dict[str, Any] = Field(description="State changes to apply to the session.")


class SaveArtifactRequest(_CamelModel):
    """Body of `POST .../artifacts` (ADK api_server's `SaveArtifactRequest`)."""

    filename: str = Field(description="Artifact filename.")
    artifact: PartBody = Field(description="Artifact payload encoded as google.genai.types.Part.")
    custom_metadata: dict[str, Any] | None = Field(
        default=None, description="Optional metadata to associate with the artifact version."
    )


class ErrorCode(StrEnum):
    """Stable machine-readable codes of the router's non-422 errors."""

    FORBIDDEN_USER = "FORBIDDEN_USER"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    SESSION_ALREADY_EXISTS = "SESSION_ALREADY_EXISTS"
    EVENT_ALREADY_EXISTS = "EVENT_ALREADY_EXISTS"
    STALE_SESSION = "STALE_SESSION"
    EVENT_TOO_LARGE = "EVENT_TOO_LARGE"
    ARTIFACT_NOT_FOUND = "ARTIFACT_NOT_FOUND"
    ARTIFACT_TOO_LARGE = "ARTIFACT_TOO_LARGE"
    INVALID_ARTIFACT_INPUT = "INVALID_ARTIFACT_INPUT"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    SCHEMA_MISSING = "SCHEMA_MISSING"


class ErrorModel(BaseModel):
    """Body of every error except 422, which keeps FastAPI's (and ADK's) validation shape."""

    detail: str = Field(description="What went wrong, for people.")
    code: ErrorCode = Field(description="What went wrong, for programs.")
