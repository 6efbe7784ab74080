"""A throwaway PostgreSQL cluster a test owns: initdb + pg_ctl, stopped and restarted at will.

Fault tests kill backends and restart the server; they must never do that to the shared
test server, so they run against this one. PostgreSQL refuses to run as root: as root the
cluster's commands run as the `postgres` OS user (`runuser -u postgres --`) in a directory
it owns. `find_binaries` says why a cluster cannot be made, for the fixture to skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from ._helpers import free_port

_BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
START_ATTEMPTS = 3
COMMAND_TIMEOUT = 60.0


def find_binaries() -> tuple[Path | None, str]:
    """The directory holding initdb and pg_ctl, or None and the reason there is none."""
    candidates = [Path(d) for d in _BIN_DIRS]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.insert(0, Path(initdb).parent)
    try:
        with warnings.catch_warnings():  # pgserver's platformdirs warns without XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            import pgserver  # the embedded server's wheel ships the binaries too

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            if os.geteuid() == 0 and _postgres_user() is None:
                return None, "running as root and there is no `postgres` OS user to run initdb"
            if os.geteuid() == 0 and shutil.which("runuser") is None:
                return None, "running as root and `runuser` is missing"
            return directory, ""
    return None, "no initdb/pg_ctl found (apt-get install postgresql, or pip install pgserver)"


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


class OwnCluster:
    """A PostgreSQL cluster in a temporary directory, on a free 127.0.0.1 port, trust auth."""

    def __init__(self, binaries: Path) -> None:
        self._bin = binaries
        self.root = Path(tempfile.mkdtemp(prefix="adk-faults-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        user = _postgres_user() if os.geteuid() == 0 else None
        self._as_user = ["runuser", "-u", "postgres", "--"] if user else []
        if user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as_user, str(self._bin / tool), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=COMMAND_TIMEOUT)

    def start(self) -> None:
        """Start the server (on a new free port the first time), waiting until it accepts."""
        first = not self.port
        for attempt in range(1, START_ATTEMPTS + 1):
            if not self.port:
                self.port = free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories='{self.root}' -c fsync=off "
                "-c max_connections=200"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    options,
                    "start",
                )
                return
            except subprocess.CalledProcessError:
                if attempt == START_ATTEMPTS or not first:
                    raise  # a restart keeps its port: clients' DSNs name it
                self.port = 0  # someone took the port meanwhile: pick another
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` rolls back open transactions and closes connections)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: stop (closing every connection) and start again.

        The server keeps its options (postmaster.opts); `-l` sends its output to the log,
        not to this process's pipes (which `subprocess.run` would wait on forever).
        """
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            "fast",
            "-w",
            "-t",
            "30",
            "restart",
        )

    def destroy(self) -> None:
        """Stop the server if it runs and delete its directory."""
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)
