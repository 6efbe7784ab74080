"""The example's agents: a note keeper that needs no network, and an optional Gemini one.

`NotesAgent` reads and writes the three state scopes a session store must keep apart:

- `app:turns`: the app's, shared by every user;
- `user:notes`, `user:turns`: the user's, shared by all their sessions;
- `turns`, `last_command`: this session's own;
- `temp:command`: this invocation's only; set by the first event, read by the second,
  never stored.

Commands (first word of the message): `note <text>` saves a note, `notes` lists them,
`forget` clears them, `recall <words>` searches what the user said in any of their
sessions (ADK's memory service: the app adds each session to memory after a turn);
anything else is counted and echoed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import BaseAgent, LlmAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.memory.base_memory_service import BaseMemoryService
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from typing_extensions import override

__all__ = ["AGENT_ENV", "APP_NAME", "RECALL_LIMIT", "NotesAgent", "build_agent", "recall"]

APP_NAME = "notes"
RECALL_LIMIT = 3
"""Most memories a `recall` answers with."""
AGENT_ENV = "EXAMPLE_AGENT"
_GEMINI_KEYS = ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI")


def _message_text(content: types.Content | None) -> str:
    parts = content.parts if content and content.parts else []
    return " ".join(part.text for part in parts if part.text).strip()


def _parse(text: str) -> tuple[str, str]:
    """Split a message into (command, argument); unknown words are the `say` command."""
    word, _, rest = text.partition(" ")
    command = word.lower()
    if command in {"note", "notes", "forget", "recall"}:
        return command, rest.strip()
    return "say", text


async def recall(
    memory: BaseMemoryService | None, app_name: str, user_id: str, query: str
) -> list[str] | None:
    """What the user said that matches `query`, best first (their own messages, not the
    agent's replies or earlier recalls); None when the app has no memory service."""
    if memory is None:
        return None
    found = await memory.search_memory(app_name=app_name, user_id=user_id, query=query)
    said = [
        _message_text(entry.content)
        for entry in found.memories
        if entry.author == "user" and _parse(_message_text(entry.content))[0] != "recall"
    ]
    return list(dict.fromkeys(said))[:RECALL_LIMIT]


def _recall_reply(argument: str, recalled: list[str] | None) -> str:
    if recalled is None:
        return "Memory is off: start the app with ADK_STORE_MEMORY_ENABLED=true."
    if not argument:
        return "Recall what? Try 'recall milk'."
    if not recalled:
        return f"I don't remember anything about {argument!r}."
    return "I remember you said: " + "; ".join(f"{text!r}" for text in recalled)


def _reply(command: str, argument: str, notes: list[str], turns: int, user_turns: int) -> str:
    if command == "note":
        return f"Saved note #{len(notes)}: {argument}"
    if command == "notes":
        listed = "; ".join(f"{n}. {note}" for n, note in enumerate(notes, 1))
        return f"Your notes: {listed}" if notes else "You have no notes yet."
    if command == "forget":
        return "Forgot all your notes."
    return (
        f"You said {argument!r}. Message {turns} in this session, {user_turns} across all "
        "your sessions. Try 'note buy milk', 'notes', 'forget' or 'recall milk'."
    )


class NotesAgent(BaseAgent):
    """Keeps notes per user and counts messages per session and per user; no model calls."""

    @override
    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        state = ctx.session.state
        command, argument = _parse(_message_text(ctx.user_content))
        turns = int(state.get("turns", 0)) + 1
        # The first event only plans: `temp:` lives for this invocation, the rest is stored.
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            branch=ctx.branch,
            actions=EventActions(
                state_delta={"temp:command": command, "turns": turns, "last_command": command}
            ),
        )
        planned = str(ctx.session.state["temp:command"])
        notes: list[str] = list(state.get("user:notes", []))
        if planned == "note" and argument:
            notes.append(argument)
        elif planned == "forget":
            notes = []
        user_turns = int(state.get("user:turns", 0)) + 1
        delta: dict[str, Any] = {
            "user:turns": user_turns,
            "app:turns": int(state.get("app:turns", 0)) + 1,
        }
        if planned in {"note", "forget"}:
            delta["user:notes"] = notes
        if planned == "recall":
            session = ctx.session
            found = await recall(ctx.memory_service, session.app_name, session.user_id, argument)
            text = _recall_reply(argument, found)
        else:
            text = _reply(planned, argument, notes, turns, user_turns)
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            branch=ctx.branch,
            content=types.Content(role="model", parts=[types.Part(text=text)]),
            actions=EventActions(state_delta=delta),
        )


def save_note(note: str, tool_context: ToolContext) -> dict[str, Any]:
    """Save a note for this user; it is visible in all of the user's sessions."""
    notes = [*tool_context.state.get("user:notes", []), note]
    tool_context.state["user:notes"] = notes
    return {"saved": note, "count": len(notes)}


def list_notes(tool_context: ToolContext) -> dict[str, Any]:
    """List this user's notes."""
    return {"notes": list(tool_context.state.get("user:notes", []))}


def _gemini_agent() -> LlmAgent:
    return LlmAgent(
        name=APP_NAME,
        model=os.environ.get("EXAMPLE_GEMINI_MODEL", "gemini-2.5-flash"),
        instruction=(
            "You keep notes for the user. Use save_note to remember things and list_notes "
            "to recall them. Notes so far: {user:notes?}"
        ),
        tools=[save_note, list_notes],
    )


def build_agent() -> BaseAgent:
    """The agent to serve: `NotesAgent`, or Gemini when `EXAMPLE_AGENT=gemini`.

    Raises:
        RuntimeError: `EXAMPLE_AGENT` is unknown, or is `gemini` without credentials.
    """
    choice = os.environ.get(AGENT_ENV, "notes").strip().lower()
    if choice == "notes":
        return NotesAgent(name=APP_NAME, description="Keeps notes; needs no API key.")
    if choice != "gemini":
        raise RuntimeError(f"{AGENT_ENV}={choice!r} is unknown; use 'notes' or 'gemini'")
    if not any(os.environ.get(key) for key in _GEMINI_KEYS):
        raise RuntimeError(
            f"{AGENT_ENV}=gemini needs GOOGLE_API_KEY (or GOOGLE_GENAI_USE_VERTEXAI with "
            "Vertex settings); unset it to run the note keeper without a key"
        )
    return _gemini_agent()
