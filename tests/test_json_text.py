"""The JSON text rewriting that keeps JSONB lossless leaves look-alike strings alone."""

from __future__ import annotations

import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

from fastapi_adk_store import AsyncpgSessionService

LOOK_ALIKES = {
    "exponent_in_text": ":1e5,",
    "escape_char": "\ue000",
    "escape_pair": "\ue000\\u0001",
    "literal_backslash_u0000": "\\u0000",
    "nul_then_escape_char": "\u0000\ue000",
    "key\ue000": [1e-300, "\u0000"],
}


@pytest.mark.parametrize("where", ["create", "append"])
async def test_strings_that_look_like_rewrites_round_trip(
    service: AsyncpgSessionService, where: str
) -> None:
    """Strings resembling escapes or exponent numbers come back unchanged."""
    initial = LOOK_ALIKES if where == "create" else {}
    session = await service.create_session(app_name="a", user_id="u", state=dict(initial))
    event = Event(author="a", error_message="\ue000:2e9,\u0000")
    if where == "append":
        event.actions = EventActions(state_delta=dict(LOOK_ALIKES))
    await service.append_event(session, event)
    stored = await service.get_session(app_name="a", user_id="u", session_id=session.id)
    assert stored is not None
    assert stored.state == LOOK_ALIKES
    assert stored.events == [event]
