"""Smoke test of an installed wheel, run by scripts/package with a clean venv's python.

Run from a directory outside the checkout, so only the installed package is importable:

    cd "$(mktemp -d)" && /clean/venv/bin/python /checkout/scripts/smoke_wheel.py \
        --checkout /checkout --version 0.1.0

Checks, each printing one line:
1. `import fastapi_adk_store` comes from the venv (not the checkout), its `__version__`
   is the wheel's and the installed metadata's, `py.typed` and any `db/migrations/*/*.sql`
   of the checkout were installed;
2. `open_session_service()` with no DSN starts the embedded PostgreSQL (the `embedded`
   extra), creates a session, appends an event and reads both back;
3. the example app (not in the wheel: imported from the checkout through PYTHONPATH /
   uvicorn's --app-dir) imports the venv's fastapi_adk_store, starts under uvicorn,
   creates and reads a session over HTTP, and shuts down cleanly;
4. `fastapi-adk-store --help` works, if the wheel has that console script.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

PACKAGE, DISTRIBUTION = "fastapi_adk_store", "fastapi-adk-store"


def step(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def check_install(checkout: Path, version: str) -> None:
    import fastapi_adk_store

    location = Path(fastapi_adk_store.__file__).resolve()
    prefix = Path(sys.prefix).resolve()
    assert location.is_relative_to(prefix), f"{location} is not inside the venv {prefix}"
    assert not location.is_relative_to(checkout), f"{location} is the checkout's source"
    installed = importlib.metadata.version(DISTRIBUTION)
    assert fastapi_adk_store.__version__ == installed == version, (
        f"__version__ {fastapi_adk_store.__version__}, metadata {installed}, wheel {version}"
    )
    package_dir = location.parent
    assert (package_dir / "py.typed").is_file(), "py.typed is not installed"
    source = checkout / "src" / PACKAGE
    data = sorted(p.relative_to(source) for p in source.glob("db/migrations/*/*.sql"))
    absent = [str(p) for p in data if not (package_dir / p).is_file()]
    assert not absent, f"package data missing from the wheel: {absent}"
    modules = sorted(p.relative_to(source) for p in source.rglob("*.py"))
    absent = [str(p) for p in modules if not (package_dir / p).is_file()]
    assert not absent, f"modules missing from the wheel: {absent}"
    step(
        f"fastapi_adk_store {fastapi_adk_store.__version__} from {package_dir} "
        f"({len(modules)} modules, py.typed, {len(data)} migration files)"
    )


async def check_embedded_service() -> None:
    from google.adk.events.event import Event
    from google.adk.events.event_actions import EventActions

    from fastapi_adk_store import open_session_service

    assert "ADK_STORE_DSN" not in os.environ, "ADK_STORE_DSN is set: the smoke needs no DSN"
    async with open_session_service(min_size=1, max_size=2) as service:
        session = await service.create_session(
            app_name="smoke", user_id="u1", state={"user:lang": "en"}
        )
        event = Event(author="user", actions=EventActions(state_delta={"count": 1}))
        await service.append_event(session, event)
        again = await service.get_session(app_name="smoke", user_id="u1", session_id=session.id)
    assert again is not None, "the session was not read back"
    assert again.state == {"user:lang": "en", "count": 1}, again.state
    assert [e.id for e in again.events] == [event.id], again.events
    step(f"open_session_service() on the embedded server: session {session.id} round-trips")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as r:
        return json.loads(r.read())


def check_example_app(checkout: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    where = subprocess.run(
        [sys.executable, "-c", "import example_app.app, fastapi_adk_store as f; print(f.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(Path(sys.prefix).resolve()), (
        f"with the checkout on PYTHONPATH, fastapi_adk_store came from {where}"
    )
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "example_app.app:app"]
    command += ["--app-dir", str(checkout), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/apps/notes/users/alice/sessions"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                created = request(base, {"sessionId": "s1", "state": {"k": "v"}})
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        got = request(f"{base}/s1")
        assert created["id"] == got["id"] == "s1" and got["state"] == {"k": "v"}, got
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, f"uvicorn exited {server.returncode}:\n{output}"
    assert "Application startup complete" in output, output
    assert "Application shutdown complete" in output, output
    step(f"example app under uvicorn --app-dir {checkout}: started, session s1 over HTTP, stopped")


def check_cli() -> None:
    script = Path(sys.executable).parent / "fastapi-adk-store"
    if not script.exists():
        step("no fastapi-adk-store console script in this wheel: CLI check skipped")
        return
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, f"fastapi-adk-store --help exited {result.returncode}:\n{result}"
    step("fastapi-adk-store --help works")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    assert not Path.cwd().resolve().is_relative_to(checkout), "run it from outside the checkout"
    check_install(checkout, args.version)
    asyncio.run(check_embedded_service())
    check_example_app(checkout)
    check_cli()
    step("all checks passed")


if __name__ == "__main__":
    main()
