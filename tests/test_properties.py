"""Property tests: random call sequences give the same answers as ADK's in-memory service.

A hypothesis state machine drives our `AsyncpgSessionService` and ADK's
`InMemorySessionService` (the oracle) with the same calls: create_session (ids from a
small pool, some padded; states with app:/user:/temp:/plain keys), append_event (state
deltas with every prefix, partial events, re-appends; timestamps rising and sometimes
equal), get_session (num_recent_events, after_timestamp), list_sessions (with and
without a user), delete_session and get_user_state. After every step both answers must
be equal: ids, merged state, events (equal models, in order), last_update_time where ADK
defines it (the last event's timestamp), and errors of the same kind.

The known differences (tests/test_contract.py) are kept out of the sequences, not
skipped after the fact:
- stale copies: the in-memory service detects none, so appends go through the copy the
  service last returned for that session (create or append), which is never stale;
- tied timestamps: we order them by event id, the in-memory service by append order, so
  event ids rise with the append order and both orders agree;
- a new session's last_update_time is each service's own clock: compared only once the
  session has events, and sessions are listed in (user, id) order for the comparison;
- re-appending an event: ADK's in-memory service adds it to the caller's copy again
  (its storage keeps one), ours does not; the stored sessions are compared, not the copy.
  The event re-appended is the one append_event returned (temp: keys trimmed): the
  in-memory service compares a re-delivery before trimming, so an event whose delta has
  temp: keys is stored twice there under one id, and once by us.

The machine owns one event loop and one schema for the test; each example starts from
empty tables (TRUNCATE) and a new in-memory service.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import asyncpg
import hypothesis
import pytest
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.session import Session
from google.genai import types
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastapi_adk_store import AsyncpgADKStore, AsyncpgConfig, AsyncpgSessionService

from ._helpers import TRUNCATE_DATA

T = TypeVar("T")

# 100 examples, not fewer: at 30-60 the derandomized walks never delete a session and
# then append a temp: delta through its old copy. A passing run takes seconds.
SETTINGS = hypothesis.settings(
    max_examples=100,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)

APPS = st.sampled_from(["app", "app2"])
USERS = st.sampled_from(["u1", "u2"])
SESSION_IDS = st.sampled_from(["s1", "s2", "s3", " s1", "s2\n"])
KEYS = st.one_of(
    st.sampled_from(["k", "k2", "app:a", "app:b", "user:u", "user:v", "temp:t", "temp:w"]),
    st.text(max_size=4).filter(lambda key: ":" not in key),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
STATES = st.dictionaries(KEYS, VALUES, max_size=4)
# Clock steps between appends: 0.0 gives equal timestamps; 1e-6 tests sub-µs bounds.
STEPS = st.sampled_from([0.0, 0.0, 1e-6, 0.25, 1.0, 7.5])
# after_timestamp bounds, relative to the machine's first timestamp.
AFTER_OFFSETS = st.sampled_from([-1.0, 0.0, 0.25, 1.0, 1.25, 2.0, 5.0, 30.0, 1000.0])
RECENT = st.one_of(st.none(), st.integers(min_value=0, max_value=6))


def _kind(error: BaseException) -> str:
    """The error as the contract names it (the first class it is an instance of)."""
    for kind in (StaleSessionError, AlreadyExistsError, SessionNotFoundError, ValueError):
        if isinstance(error, kind):
            return kind.__name__
    return f"unexpected {type(error).__qualname__}: {error}"


def _event_view(event: Event) -> dict[str, Any]:
    return event.model_dump()


def _session_view(session: Session | None) -> dict[str, Any] | None:
    """What must agree: ids, merged state, the events, and an event-defined update time."""
    if session is None:
        return None
    return {
        "id": session.id,
        "app_name": session.app_name,
        "user_id": session.user_id,
        "state": session.state,
        "events": [_event_view(event) for event in session.events],
        # ADK sets it to the last appended event's timestamp; before that, to each
        # service's own clock at creation, which two services cannot share.
        "last_update_time": session.last_update_time if session.events else None,
    }


class Outcome:
    """A call's result (as a comparable view) or its error kind."""

    def __init__(self, value: Any = None, error: str | None = None) -> None:
        self.value = value
        self.error = error

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outcome) and (self.value, self.error) == (
            other.value,
            other.error,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"error {self.error}" if self.error else repr(self.value)


class Backend:
    """One loop, one schema and one store for a whole test; emptied per example."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        self.dsn = dsn
        self.admin: asyncpg.Connection = self.run(asyncpg.connect(dsn))
        self.run(self.admin.execute(f"CREATE SCHEMA {self.schema}"))
        options = {
            "dsn": dsn,
            "min_size": 1,
            "max_size": 2,
            "server_settings": {"search_path": self.schema},
        }
        self.store = AsyncpgADKStore(AsyncpgConfig(pool_config=options))
        self.run(self.store.create_tables())
        self.service = AsyncpgSessionService(self.store)

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        return self.loop.run_until_complete(wait())

    def wipe(self) -> None:
        self.run(self.admin.execute(f"SET search_path TO {self.schema}; {TRUNCATE_DATA}"))

    def close(self) -> None:
        try:
            self.run(self.store.close())
            self.run(self.admin.execute(f"DROP SCHEMA {self.schema} CASCADE"))
            self.run(self.admin.close())
        finally:
            self.loop.close()


@pytest.fixture
def backend(database_dsn: str) -> Iterator[Backend]:
    backend = Backend(database_dsn)
    try:
        yield backend
    finally:
        backend.close()


Call = Callable[[BaseSessionService, int], Awaitable[Any]]


def _lister(app: str) -> Call:
    def call(service: BaseSessionService, _: int) -> Awaitable[Any]:
        return service.list_sessions(app_name=app)

    return call


def _listed_ids(response: Any) -> list[tuple[str, str]]:
    return sorted((session.user_id, session.id) for session in response.sessions)


def make_machine(backend: Backend) -> type[RuleBasedStateMachine]:
    class SameAsInMemory(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            backend.wipe()
            self.ours: BaseSessionService = backend.service
            self.oracle: BaseSessionService = InMemorySessionService()
            self.base = float(int(time.time())) + 10_000.123456789
            self.clock = self.base
            self.serial = 0
            # (app, user, stripped id) -> (our copy, the oracle's copy), last returned.
            self.copies: dict[tuple[str, str, str], tuple[Session, Session]] = {}
            # (app, user, stripped id) -> the last event appended to it
            self.appended: dict[tuple[str, str, str], Event] = {}

        # -- calling both ------------------------------------------------------------

        def both(self, call: Call, view: Callable[[Any], Any]) -> tuple[Any, Any]:
            """Run `call` on each service (index 0: ours, 1: oracle); the answers agree."""
            results: list[Any] = []
            outcomes: list[Outcome] = []
            for index, service in enumerate((self.ours, self.oracle)):
                try:
                    result = backend.run(call(service, index))
                except Exception as error:
                    results.append(None)
                    outcomes.append(Outcome(error=_kind(error)))
                else:
                    results.append(result)
                    outcomes.append(Outcome(view(result)))
            assert outcomes[0] == outcomes[1], f"ours {outcomes[0]!r} != in-memory {outcomes[1]!r}"
            return results[0], results[1]

        # -- rules ---------------------------------------------------------------------

        @rule(app=APPS, user=USERS, session_id=SESSION_IDS, state=st.none() | STATES)
        def create_session(
            self, app: str, user: str, session_id: str, state: dict[str, Any] | None
        ) -> None:
            def call(service: BaseSessionService, _: int) -> Awaitable[Session]:
                return service.create_session(
                    app_name=app,
                    user_id=user,
                    session_id=session_id,
                    state=None if state is None else dict(state),
                )

            ours, theirs = self.both(call, _session_view)
            if ours is not None and theirs is not None:
                self.copies[(app, user, session_id.strip())] = (ours, theirs)

        @precondition(lambda self: bool(self.copies))
        @rule(
            data=st.data(),
            delta=STATES,
            step=STEPS,
            text=st.none() | st.text(max_size=12),
            partial=st.sampled_from([None, None, None, False, True]),
        )
        def append_event(
            self,
            data: st.DataObject,
            delta: dict[str, Any],
            step: float,
            text: str | None,
            partial: bool | None,
        ) -> None:
            key = data.draw(st.sampled_from(sorted(self.copies)), label="session")
            self.clock += step
            self.serial += 1
            fields: dict[str, Any] = {
                "id": f"ev{self.serial:05d}",
                "invocation_id": f"inv{self.serial}",
                "author": "user",
                "timestamp": self.clock,
                "actions": EventActions(state_delta=dict(delta)),
            }
            if text is not None:
                fields["content"] = types.Content(role="user", parts=[types.Part(text=text)])
            if partial is not None:
                fields["partial"] = partial
            event = Event(**fields)

            def call(service: BaseSessionService, index: int) -> Awaitable[Event]:
                return service.append_event(self.copies[key][index], event.model_copy(deep=True))

            appended, _ = self.both(call, _event_view)
            self.compare_copies(key)
            if appended is not None and not partial:
                self.appended[key] = appended  # as stored: without its temp: keys

        @precondition(lambda self: bool(self.appended))
        @rule(data=st.data())
        def reappend_last_event(self, data: st.DataObject) -> None:
            """Appending an equal event again stores it once (as ADK's services)."""
            key = data.draw(st.sampled_from(sorted(self.appended)), label="session")
            event = self.appended[key]

            def call(service: BaseSessionService, index: int) -> Awaitable[Event]:
                return service.append_event(self.copies[key][index], event.model_copy(deep=True))

            # The callers' copies are not compared: ADK's in-memory service appends the
            # event to the caller's copy again (only its storage keeps one), ours does not.
            self.both(call, _event_view)

        @rule(
            app=APPS,
            user=USERS,
            session_id=SESSION_IDS,
            recent=RECENT,
            after=st.none() | AFTER_OFFSETS,
        )
        def get_session(
            self, app: str, user: str, session_id: str, recent: int | None, after: float | None
        ) -> None:
            config = None
            if recent is not None or after is not None:
                config = GetSessionConfig(
                    num_recent_events=recent,
                    after_timestamp=None if after is None else self.base + after,
                )

            def call(service: BaseSessionService, _: int) -> Awaitable[Session | None]:
                return service.get_session(
                    app_name=app, user_id=user, session_id=session_id, config=config
                )

            self.both(call, _session_view)

        @precondition(lambda self: bool(self.copies))
        @rule(data=st.data(), recent=RECENT, after=st.none() | AFTER_OFFSETS)
        def get_known_session(
            self, data: st.DataObject, recent: int | None, after: float | None
        ) -> None:
            """As get_session, for a session created before (random keys mostly miss)."""
            app, user, session_id = data.draw(st.sampled_from(sorted(self.copies)), label="key")
            self.get_session(app, user, session_id, recent, after)

        @rule(app=APPS, user=st.none() | USERS)
        def list_sessions(self, app: str, user: str | None) -> None:
            def call(service: BaseSessionService, _: int) -> Awaitable[Any]:
                return service.list_sessions(app_name=app, user_id=user)

            def view(response: Any) -> list[dict[str, Any] | None]:
                sessions = sorted(response.sessions, key=lambda s: (s.user_id, s.id))
                return [_session_view(session) for session in sessions]

            self.both(call, view)

        @rule(app=APPS, user=USERS, session_id=SESSION_IDS)
        def delete_session(self, app: str, user: str, session_id: str) -> None:
            def call(service: BaseSessionService, _: int) -> Awaitable[None]:
                return service.delete_session(app_name=app, user_id=user, session_id=session_id)

            self.both(call, lambda result: result)
            # Copies stay: appending through them must raise SessionNotFoundError in both.
            self.appended.pop((app, user, session_id.strip()), None)

        @precondition(lambda self: bool(self.copies))
        @rule(data=st.data())
        def delete_known_session(self, data: st.DataObject) -> None:
            """As delete_session, for a session created before."""
            app, user, session_id = data.draw(st.sampled_from(sorted(self.copies)), label="key")
            self.delete_session(app, user, session_id)

        @rule(app=APPS, user=USERS)
        def get_user_state(self, app: str, user: str) -> None:
            def call(service: BaseSessionService, _: int) -> Awaitable[dict[str, Any]]:
                return service.get_user_state(app_name=app, user_id=user)

            self.both(call, lambda state: state)

        # -- checks ----------------------------------------------------------------------

        def compare_copies(self, key: tuple[str, str, str]) -> None:
            """The callers' copies after an append agree too (temp: keys included)."""
            ours, theirs = self.copies[key]
            assert _session_view(ours) == _session_view(theirs), key

        @invariant()
        def same_sessions_everywhere(self) -> None:
            """Every session of every user in both apps reads the same, with its events."""
            for app in ("app", "app2"):
                listed, _ = self.both(_lister(app), _listed_ids)
                for user_id, session_id in _listed_ids(listed):
                    self.get_session(app, user_id, session_id, None, None)

    return SameAsInMemory


def test_same_answers_as_in_memory(backend: Backend) -> None:
    """Any sequence of calls: our service answers exactly as ADK's in-memory one."""
    hypothesis.stateful.run_state_machine_as_test(make_machine(backend), settings=SETTINGS)
