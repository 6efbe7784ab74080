"""The workloads of issue 6, each a setup and one operation through the service API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from google.genai import types

from .contenders import Contender

__all__ = [
    "APP",
    "GET_EVENTS",
    "GET_SESSIONS",
    "SMALL_USER",
    "WORKLOADS",
    "Workload",
    "make_event",
]

APP: Final = "bench"
CONCURRENCY: Final = 16
GET_SESSIONS: Final = 8
GET_EVENTS: Final = 200
TURN_HISTORY: Final = 20
SMALL_USER: Final = "u100"
BIG_USER: Final = "u100k"
PAGE: Final = 100

# About 300 characters, the size of a short model reply.
TEXT: Final = (
    "Sure, here is a summary of your order: two large pizzas (margherita and funghi), a "
    "side of garlic bread and a bottle of sparkling water. Delivery is estimated within "
    "35 minutes to the address on file. Would you like to add a dessert, change the "
    "delivery time, or pay now with the card ending in 4242? Reply yes to confirm."
)
RECENT: Final = GetSessionConfig(num_recent_events=TURN_HISTORY)


def make_event(turn: int) -> Event:
    """A realistic model reply: ~300 characters and a 2-key state delta (one `user:`)."""
    return Event(
        invocation_id=f"inv-{turn}",
        author="model",
        content=types.Content(role="model", parts=[types.Part(text=TEXT)]),
        actions=EventActions(state_delta={"turn": turn, "user:last_turn": turn}),
    )


State = dict[str, Any]
Setup = Callable[[Contender, State], Awaitable[None]]
Op = Callable[[Contender, State, int, int], Awaitable[None]]


@dataclass(frozen=True)
class Workload:
    """A named operation run by `concurrency` tasks; `setup` runs once per contender."""

    name: str
    title: str
    op: Op
    setup: Setup | None = None
    concurrency: int = CONCURRENCY
    # Contenders whose operation does a different amount of work, and why.
    notes: dict[str, str] = field(default_factory=dict)
    # Per-contender concurrency where the default would take minutes per slice.
    concurrency_for: dict[str, int] = field(default_factory=dict)
    # Per-contender round limit (no warm-up either) where one operation takes seconds.
    max_rounds_for: dict[str, int] = field(default_factory=dict)
    # Workloads with the same key share one setup (and its state) per contender.
    state_key: str | None = None
    # Slice length multiplier: an operation of ~100 ms needs longer slices to average.
    slice_factor: float = 1.0


async def _sessions(c: Contender, user: str, count: int, history: int) -> list[Session]:
    async def one(k: int) -> Session:
        session = await c.service.create_session(
            app_name=APP, user_id=user, state={"topic": "bench"}
        )
        for turn in range(history):
            await c.service.append_event(session, make_event(turn))
        return session

    return list(await asyncio.gather(*(one(k) for k in range(count))))


# --- create ---------------------------------------------------------------------------------


async def _create(c: Contender, state: State, task: int, n: int) -> None:
    await c.service.create_session(app_name=APP, user_id=f"c{task}", state={"topic": "bench"})


# --- append ---------------------------------------------------------------------------------


async def _setup_append(c: Contender, state: State) -> None:
    state["sessions"] = await _sessions(c, "append", CONCURRENCY, 0)


async def _append(c: Contender, state: State, task: int, n: int) -> None:
    await c.service.append_event(state["sessions"][task], make_event(n))


async def _setup_latency(c: Contender, state: State) -> None:
    state["sessions"] = await _sessions(c, "latency", 1, 0)


# --- get ------------------------------------------------------------------------------------


async def setup_get(c: Contender, state: State) -> None:
    """Seed GET_SESSIONS sessions of GET_EVENTS events each, through the service API."""
    sessions = await _sessions(c, "get", GET_SESSIONS, GET_EVENTS)
    state["keys"] = [s.id for s in sessions]
    state["event_ids"] = [[e.id for e in s.events] for s in sessions]


async def _get_full(c: Contender, state: State, task: int, n: int) -> None:
    session_id = state["keys"][(task + n) % GET_SESSIONS]
    await c.service.get_session(app_name=APP, user_id="get", session_id=session_id)


async def _get_recent(c: Contender, state: State, task: int, n: int) -> None:
    session_id = state["keys"][(task + n) % GET_SESSIONS]
    await c.service.get_session(app_name=APP, user_id="get", session_id=session_id, config=RECENT)


# --- list -----------------------------------------------------------------------------------


async def _list_small(c: Contender, state: State, task: int, n: int) -> None:
    await c.list_page(APP, SMALL_USER, PAGE)


async def _list_big(c: Contender, state: State, task: int, n: int) -> None:
    state["rows"] = await c.list_page(APP, BIG_USER, PAGE)


# --- turn -----------------------------------------------------------------------------------


async def _setup_turn(c: Contender, state: State) -> None:
    sessions = await _sessions(c, "turn", CONCURRENCY, TURN_HISTORY)
    state["keys"] = [s.id for s in sessions]


async def _turn(c: Contender, state: State, task: int, n: int) -> None:
    session = await c.service.get_session(
        app_name=APP, user_id="turn", session_id=state["keys"][task], config=RECENT
    )
    assert session is not None
    await c.service.append_event(session, make_event(2 * n))
    await c.service.append_event(session, make_event(2 * n + 1))


_UNPAGED: Final = "no paging in DatabaseSessionService: lists every session"

WORKLOADS: Final = [
    Workload("create", "create_session", _create),
    Workload("append", "append_event (300-char text, 2-key delta)", _append, _setup_append),
    Workload(
        "get_full",
        f"get_session, {GET_EVENTS} events",
        _get_full,
        setup_get,
        state_key="get",
        slice_factor=2.0,
    ),
    Workload(
        "get_recent20",
        f"get_session, newest {TURN_HISTORY} of {GET_EVENTS}",
        _get_recent,
        setup_get,
        state_key="get",
    ),
    Workload("list_100", f"list first page ({PAGE}) of 100 sessions", _list_small),
    Workload(
        "list_100k",
        f"list first page ({PAGE}) of 100,000 sessions (10,000 with --quick)",
        _list_big,
        notes={"adk_db": _UNPAGED + ", 1 task, 3 rounds"},
        concurrency_for={"adk_db": 1},
        max_rounds_for={"adk_db": 3},
    ),
    Workload("turn", "turn: get newest 20 + 2 appends", _turn, _setup_turn),
    Workload("latency", "append latency, 1 task", _append, _setup_latency, concurrency=1),
]
