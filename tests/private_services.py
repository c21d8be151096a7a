"""Private PostgreSQL and Redis servers for the fault tests, started from the machine's
binaries under a temporary folder on free ports, stopped and started again by the test.
Never the shared 5432 and 6379 ones."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], *, what: str, seconds: float = START_SECONDS) -> None:
    """Poll `check` until it holds (a bounded wait for a server, never a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds:.0f} s")
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        pytest.fail(f"{name} is not installed (the fault tests start their own server)")
    return str(found)


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="assist-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port), what=f"Redis did not listen on {self.port}")

    def crash(self) -> None:
        """Killed outright, as a crashed server: nothing is flushed or said goodbye."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        self.crash()
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivatePostgres:
    """initdb into a temporary folder; the server runs as the `postgres` account when the
    tests run as root (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="assist-pg-"))
        self.data = self.folder / "data"
        self.process: subprocess.Popen[bytes] | None = None
        self.account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.account is not None:
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        self._run([_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"])

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self) -> Callable[[], None] | None:
        account = self.account
        if account is None:
            return None

        def drop() -> None:
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)

        return drop

    def _run(self, command: list[str]) -> None:
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            preexec_fn=self._as_owner(),
            cwd=self.folder,
        )

    def start(self) -> None:
        command = [_binary("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder)]
        command += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=self._as_owner(),
            cwd=self.folder,
        )
        wait_until(self._ready, what=f"PostgreSQL did not accept connections on {self.port}")

    def _ready(self) -> bool:
        ready = subprocess.run(
            [_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False, capture_output=True
        )
        return ready.returncode == 0

    def crash(self) -> None:
        """Stopped in immediate mode: every connection drops, as in a crash."""
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout=30)
            self.process = None

    def close(self) -> None:
        self.crash()
        shutil.rmtree(self.folder, ignore_errors=True)
