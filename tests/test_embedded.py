"""The embedded PostgreSQL a new user gets when no DSN is configured."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.adk.events.event import Event

from fastapi_adk_store import EmbeddedServerError, open_session_service
from fastapi_adk_store.db.embedded import EmbeddedPostgres


async def test_no_dsn_starts_embedded_server_and_data_survives_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """open_session_service() with no DSN runs on an embedded server; reopening keeps data."""
    monkeypatch.setenv("ADK_STORE_EMBEDDED_DATA_DIR", str(tmp_path / "pg"))
    async with open_session_service(min_size=1, max_size=2) as service:
        session = await service.create_session(app_name="a", user_id="u", state={"user:n": 1})
        await service.append_event(session, Event(author="a"))
    assert "starting embedded PostgreSQL" in caplog.text
    async with open_session_service(min_size=1, max_size=2) as service:
        again = await service.get_session(app_name="a", user_id="u", session_id=session.id)
    assert again is not None
    assert len(again.events) == 1
    assert again.state == {"user:n": 1}


def test_missing_embedded_extra_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the pgserver wheel the error says to set a DSN or install the extra."""
    monkeypatch.setitem(sys.modules, "pgserver", None)
    with pytest.raises(EmbeddedServerError, match=r"ADK_STORE_DSN.*\[embedded\]"):
        EmbeddedPostgres(tmp_path).start()
