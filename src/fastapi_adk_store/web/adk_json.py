"""Sessions and events as ADK's api_server renders them: camelCase, no None fields,
credential secrets redacted, ADK's internal metadata left out."""

from __future__ import annotations

from typing import Any

from google.adk.events.event import Event
from google.adk.sessions.session import Session

from .._adk import public_event, public_session, redact_credential_secrets

__all__ = ["event_json", "session_json"]


def session_json(session: Session) -> Any:
    """A session's JSON body."""
    return redact_credential_secrets(
        public_session(session).model_dump(exclude_none=True, by_alias=True, mode="json")
    )


def event_json(event: Event) -> Any:
    """An event's JSON body."""
    return redact_credential_secrets(
        public_event(event).model_dump(exclude_none=True, by_alias=True, mode="json")
    )
