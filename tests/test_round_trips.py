"""Each service call is one statement (one round trip), counted by asyncpg's query logger."""

from __future__ import annotations

from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig

from fastapi_adk_store import AsyncpgSessionService

Logged = tuple[AsyncpgSessionService, list[str]]


async def test_create_session_is_one_statement(statement_log: Logged) -> None:
    """create_session with app:/user: state sends exactly one statement."""
    service, log = statement_log
    await service.create_session(app_name="a", user_id="u", state={"k": 1, "app:a": 1, "user:u": 1})
    assert len(log) == 1


async def test_append_event_is_one_statement(statement_log: Logged) -> None:
    """append_event with session, app: and user: deltas sends exactly one statement."""
    service, log = statement_log
    session = await service.create_session(app_name="a", user_id="u")
    log.clear()
    delta = {"k": 1, "app:a": 2, "user:u": 3, "temp:t": 4}
    await service.append_event(session, Event(author="a", actions=EventActions(state_delta=delta)))
    assert len(log) == 1


async def test_get_session_is_one_statement(statement_log: Logged) -> None:
    """get_session, full or with a config, sends exactly one statement."""
    service, log = statement_log
    session = await service.create_session(app_name="a", user_id="u", state={"user:u": 1})
    for _ in range(3):
        await service.append_event(session, Event(author="a"))
    log.clear()
    await service.get_session(app_name="a", user_id="u", session_id=session.id)
    assert len(log) == 1
    log.clear()
    config = GetSessionConfig(num_recent_events=2, after_timestamp=0.0)
    await service.get_session(app_name="a", user_id="u", session_id=session.id, config=config)
    assert len(log) == 1


async def test_list_sessions_and_user_state_are_one_statement_each(statement_log: Logged) -> None:
    """list_sessions (one user or all) and get_user_state send one statement each."""
    service, log = statement_log
    for _ in range(3):
        await service.create_session(app_name="a", user_id="u", state={"user:u": 1})
    for user_id in ("u", None):
        log.clear()
        await service.list_sessions(app_name="a", user_id=user_id)
        assert len(log) == 1
    log.clear()
    await service.get_user_state(app_name="a", user_id="u")
    assert len(log) == 1
