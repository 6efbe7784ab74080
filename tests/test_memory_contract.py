"""Behavioural contract for ``BaseMemoryService``: each case runs on ADK's
``InMemoryMemoryService`` (the reference) and on ours, opened through
``open_memory_service`` in a fresh schema.

Only behaviour both share is asserted here: ADK matches by word overlap and keeps
ties in insertion order; ours ranks ties by relevance and recency (see
tests/test_memory_search.py for what only ours does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google.adk.memory import _utils
from google.adk.memory.base_memory_service import BaseMemoryService
from google.adk.memory.in_memory_memory_service import InMemoryMemoryService

from ._helpers import PoolOptions
from ._memory import call_event, memory_service, session_of, text_event, texts


@pytest.fixture(params=["in_memory", "asyncpg"])
async def memory(
    request: pytest.FixtureRequest, pool_options: PoolOptions
) -> AsyncIterator[BaseMemoryService]:
    """ADK's in-memory service (the oracle) and ours."""
    if request.param == "in_memory":
        yield InMemoryMemoryService()
        return
    async with memory_service(pool_options) as service:
        yield service


async def search(
    memory: BaseMemoryService, query: str, *, app: str = "app", user: str = "u"
) -> list[str]:
    return texts(await memory.search_memory(app_name=app, user_id=user, query=query))


async def test_natural_language_question_finds_the_answer(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(
        session_of(
            [
                text_event("My name is Bob", timestamp=1),
                text_event("My favorite color is blue!", timestamp=2),
                text_event("The weather was rainy", timestamp=3),
            ]
        )
    )
    found = await search(memory, "what is my favorite color")
    assert found[0] == "My favorite color is blue!"
    assert "The weather was rainy" not in found


async def test_more_matched_words_rank_first(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(
        session_of(
            [
                text_event("blue", timestamp=3),
                text_event("blue sky today", timestamp=1),
                text_event("blue sky", timestamp=2),
            ]
        )
    )
    assert await search(memory, "blue sky today") == ["blue sky today", "blue sky", "blue"]


async def test_search_is_case_insensitive(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("PostgreSQL rocks")]))
    assert await search(memory, "postgresql") == ["PostgreSQL rocks"]


async def test_no_shared_word_finds_nothing(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("apples and pears")]))
    assert await search(memory, "bananas") == []


@pytest.mark.parametrize("query", ["", "   ", "?!.,;", "'\"", "***"])
async def test_query_without_words_finds_nothing(memory: BaseMemoryService, query: str) -> None:
    await memory.add_session_to_memory(session_of([text_event("hello world")]))
    assert await search(memory, query) == []


async def test_scoped_by_user_and_app(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("secret plan")], user="alice"))
    await memory.add_session_to_memory(
        session_of([text_event("secret recipe")], app="other", user="bob")
    )
    assert await search(memory, "secret", user="alice") == ["secret plan"]
    assert await search(memory, "secret", user="bob") == []
    assert await search(memory, "secret", app="other", user="alice") == []
    assert await search(memory, "secret", app="other", user="bob") == ["secret recipe"]


async def test_same_event_id_under_two_users_is_kept_for_each(memory: BaseMemoryService) -> None:
    for user in ("alice", "bob"):
        await memory.add_session_to_memory(
            session_of([text_event(f"shared id for {user}", event_id="e1")], user=user)
        )
    assert await search(memory, "shared", user="alice") == ["shared id for alice"]
    assert await search(memory, "shared", user="bob") == ["shared id for bob"]


async def test_re_adding_a_session_is_idempotent(memory: BaseMemoryService) -> None:
    session = session_of([text_event("only once please")])
    for _ in range(3):
        await memory.add_session_to_memory(session)
    assert await search(memory, "once") == ["only once please"]


async def test_session_grows_between_adds(memory: BaseMemoryService) -> None:
    first = text_event("first turn words", timestamp=1)
    await memory.add_session_to_memory(session_of([first]))
    await memory.add_session_to_memory(
        session_of([first, text_event("second turn words", timestamp=2)])
    )
    assert sorted(await search(memory, "turn")) == ["first turn words", "second turn words"]


async def test_events_without_text_are_skipped(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(session_of([call_event("lookup_weather")]))
    assert await search(memory, "lookup_weather") == []
    assert (await memory.search_memory(app_name="app", user_id="u", query="q")).memories == []


async def test_result_carries_id_author_timestamp_and_content(
    memory: BaseMemoryService,
) -> None:
    event = text_event("remember the milk", author="assistant", timestamp=1_712_345_678.25)
    await memory.add_session_to_memory(session_of([event]))
    [entry] = (await memory.search_memory(app_name="app", user_id="u", query="milk")).memories
    assert entry.id == event.id
    assert entry.author == "assistant"
    assert entry.timestamp == _utils.format_timestamp(event.timestamp)
    assert entry.content == event.content


async def test_delete_memory_survives_re_adding_the_session(memory: BaseMemoryService) -> None:
    keep, drop = (
        text_event("keep this note", timestamp=1),
        text_event("drop this note", timestamp=2),
    )
    session = session_of([keep, drop])
    await memory.add_session_to_memory(session)
    await memory.delete_memory(app_name="app", user_id="u", memory_id=drop.id)
    assert await search(memory, "note") == ["keep this note"]
    await memory.add_session_to_memory(session)
    await memory.add_events_to_memory(app_name="app", user_id="u", events=[drop], session_id="s1")
    assert await search(memory, "note") == ["keep this note"]


@pytest.mark.parametrize("memory_id", [None, "", "no-such-id"])
async def test_delete_of_nothing_changes_nothing(
    memory: BaseMemoryService, memory_id: str | None
) -> None:
    await memory.add_session_to_memory(session_of([text_event("still here")]))
    await memory.delete_memory(app_name="app", user_id="u", memory_id=memory_id)
    assert await search(memory, "still") == ["still here"]


async def test_delete_memory_is_scoped_by_user(memory: BaseMemoryService) -> None:
    event = text_event("mine alone", event_id="same")
    for user in ("alice", "bob"):
        await memory.add_session_to_memory(session_of([event], user=user))
    await memory.delete_memory(app_name="app", user_id="alice", memory_id="same")
    assert await search(memory, "mine", user="alice") == []
    assert await search(memory, "mine", user="bob") == ["mine alone"]


async def test_add_events_is_a_delta(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("old fact", timestamp=1)]))
    new = text_event("new fact", timestamp=2)
    await memory.add_events_to_memory(app_name="app", user_id="u", events=[new], session_id="s1")
    await memory.add_events_to_memory(app_name="app", user_id="u", events=[new], session_id="s1")
    assert sorted(await search(memory, "fact")) == ["new fact", "old fact"]


async def test_add_events_without_session_id(memory: BaseMemoryService) -> None:
    await memory.add_events_to_memory(
        app_name="app", user_id="u", events=[text_event("loose fact"), call_event("tool")]
    )
    assert await search(memory, "loose") == ["loose fact"]


async def test_at_most_ten_results(memory: BaseMemoryService) -> None:
    events = [text_event(f"match number {i}", timestamp=i) for i in range(15)]
    await memory.add_session_to_memory(session_of(events))
    assert len(await search(memory, "match")) == 10


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("私の好きな色は青です", "好きな色"),
        ("私はPythonを使う", "Python"),
        ("我喜欢蓝色", "蓝色"),
        ("Привет, мир", "мир"),
        ("café crème", "CAFÉ"),
    ],
)
async def test_non_latin_text_is_findable(
    memory: BaseMemoryService, stored: str, query: str
) -> None:
    await memory.add_session_to_memory(session_of([text_event(stored)]))
    assert await search(memory, query) == [stored]


async def test_partial_latin_word_does_not_match(memory: BaseMemoryService) -> None:
    await memory.add_session_to_memory(session_of([text_event("私はPythonを使う")]))
    assert await search(memory, "thon") == []
