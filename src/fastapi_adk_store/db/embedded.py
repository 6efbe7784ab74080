"""An embedded PostgreSQL (the `pgserver` wheel) for when no DSN is configured."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from ..defaults import EMBEDDED_DATA_DIR
from ..errors import EmbeddedServerError

__all__ = ["EmbeddedPostgres", "embedded_dsn"]

logger = logging.getLogger("fastapi_adk_store.db")


@contextmanager
def _quiet_platformdirs() -> Iterator[None]:
    """pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        yield


class EmbeddedPostgres:
    """A local PostgreSQL server kept in `data_dir`; its data survives restarts.

    Several processes may open the same `data_dir`: they share one server, which stops
    when the last of them calls `stop()`.
    """

    def __init__(self, data_dir: Path | str = EMBEDDED_DATA_DIR) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: Any = None

    @property
    def dsn(self) -> str:
        if self._server is None:
            raise EmbeddedServerError("embedded PostgreSQL is not started")
        with _quiet_platformdirs():
            uri: str = self._server.get_uri()
        return uri

    def start(self) -> str:
        """Start (or join) the server and return its DSN."""
        try:
            with _quiet_platformdirs():
                import pgserver
        except ImportError as error:
            raise EmbeddedServerError(
                "no DSN is configured and the embedded PostgreSQL is not installed: set "
                "ADK_STORE_DSN, or pip install 'fastapi-adk-store[embedded]'"
            ) from error
        logger.warning(
            "fastapi_adk_store: no DSN configured, starting embedded PostgreSQL in %s "
            "(set ADK_STORE_DSN for a real server)",
            self.data_dir,
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with _quiet_platformdirs():
                self._server = pgserver.get_server(  # type: ignore[attr-defined]
                    self.data_dir, cleanup_mode="stop"
                )
        except Exception as error:
            raise EmbeddedServerError(
                f"embedded PostgreSQL failed to start in {self.data_dir}: {error}"
            ) from error
        return self.dsn

    def stop(self) -> None:
        """Release this process's handle; the server stops with the last handle."""
        server, self._server = self._server, None
        if server is not None:
            with _quiet_platformdirs():
                server.cleanup()


@asynccontextmanager
async def embedded_dsn(
    needed: bool, data_dir: Path | str | None = None
) -> AsyncIterator[str | None]:
    """While open, the DSN of a running embedded server if `needed`, else None.

    The server keeps its data in `data_dir`, else `ADK_STORE_EMBEDDED_DATA_DIR`, else
    `./.adk_store_pgdata`, and stops on exit (when no other process still uses it).
    """
    if not needed:
        yield None
        return
    server = EmbeddedPostgres(
        data_dir or os.environ.get("ADK_STORE_EMBEDDED_DATA_DIR") or EMBEDDED_DATA_DIR
    )
    started = await asyncio.to_thread(server.start)
    try:
        yield started
    finally:
        await asyncio.to_thread(server.stop)
