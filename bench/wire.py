"""A counting TCP proxy in front of PostgreSQL: statements and round trips, per client.

asyncpg's query logger misses prepared statements (SQLAlchemy's asyncpg dialect runs
everything through them) and `pg_stat_statements` needs a server restart, so the
benchmark counts what crosses the wire instead. Every frontend message is parsed:

- a statement is a simple `Query` ('Q', counted once even for `BEGIN`/`COMMIT`) or an
  extended-protocol `Execute` ('E');
- a round trip is a `Query` or a `Sync` ('S'): the points where the client waits for
  the server.

Bytes are forwarded unchanged; the server must not negotiate TLS (`ssl = off`).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["WireCounts", "counting_proxy"]

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


@dataclass
class WireCounts:
    """Frontend messages seen since the last `reset()`."""

    statements: int = 0
    round_trips: int = 0
    parses: int = 0

    def reset(self) -> None:
        self.statements = self.round_trips = self.parses = 0


async def _pump_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _pump_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: WireCounts
) -> None:
    startup = True
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while True:
            if startup:
                header = await reader.readexactly(4)
                (length,) = struct.unpack("!i", header)
                body = await reader.readexactly(length - 4)
                writer.write(header + body)
                (code,) = struct.unpack("!i", body[:4])
                startup = code in (_SSL_REQUEST, _GSSENC_REQUEST)
            else:
                header = await reader.readexactly(5)
                kind = header[:1]
                (length,) = struct.unpack("!i", header[1:])
                body = await reader.readexactly(length - 4)
                writer.write(header + body)
                if kind == b"Q":
                    counts.statements += 1
                    counts.round_trips += 1
                elif kind == b"E":
                    counts.statements += 1
                elif kind == b"S":
                    counts.round_trips += 1
                elif kind == b"P":
                    counts.parses += 1
            await writer.drain()
    writer.close()


@asynccontextmanager
async def counting_proxy(
    server_host: str, server_port: int
) -> AsyncIterator[tuple[int, WireCounts]]:
    """Listen on a free loopback port; yield (port, counts) while it forwards to the server."""
    counts = WireCounts()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(server_host, server_port)
        for coro in (_pump_client(client_r, server_w, counts), _pump_server(server_r, client_w)):
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port, counts
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
