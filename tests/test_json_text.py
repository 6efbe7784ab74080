"""The JSON text rewriting that keeps JSONB lossless leaves look-alike strings alone."""

from __future__ import annotations

import json

import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from hypothesis import given, settings
from hypothesis import strategies as st

from fastapi_adk_store import AsyncpgSessionService
from fastapi_adk_store.db.json import _TOKEN, _rewrite_token, for_jsonb

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


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('eE+-.,:[]{}0159 \\"\u0000\ue000ab')),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(value=_JSON_VALUES, spaced=st.booleans())
def test_the_quick_check_never_skips_a_text_the_rewrite_would_change(
    value: object, spaced: bool
) -> None:
    """`for_jsonb` skips the rewrite on a cheap test; it must give what the rewrite gives,
    also for upper-case exponents and for JSON written with spaces (the store writes
    objects, so the value sits in one)."""
    text = json.dumps({"v": value}, separators=(", ", ": ") if spaced else (",", ":"))
    for variant in (text, text.replace("e", "E")):
        assert for_jsonb(variant) == _TOKEN.sub(_rewrite_token, variant)


def test_an_exponent_after_a_space_keeps_its_float() -> None:
    """JSON from other writers (`: 1e+20`) is rewritten too, so JSONB keeps a float."""
    written = for_jsonb('{"a": 1e+20, "b": [1E-7]}')
    assert written == '{"a": 100000000000000000000.0, "b": [0.0000001]}'
