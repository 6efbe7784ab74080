from __future__ import annotations

from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

from fastapi_adk_store import AsyncpgSessionService


async def test_append_then_get_round_trips(service: AsyncpgSessionService) -> None:
    """An appended event and its state delta come back from get_session."""
    session = await service.create_session(app_name="a", user_id="u")
    event = Event(author="user", actions=EventActions(state_delta={"k": 1}))
    await service.append_event(session, event)
    got = await service.get_session(app_name="a", user_id="u", session_id=session.id)
    assert got is not None
    assert got.events == [event]
    assert got.state == {"k": 1}
