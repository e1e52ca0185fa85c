"""Fixtures shared by the whole suite: real servers the tests talk to over loopback.

`redis_server` is one throwaway `redis-server` for the session (its URL); tests keep apart by using their own
channel or key names. A test that stops Redis on purpose takes `redis_server_control` instead: a server of its
own that it may stop and restart on the same port, so an outage never leaks into other tests.
Package-specific fixtures live in the conftest.py of each tests/<package>/ folder.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ mirrors the packages, so tests/livequery/ would otherwise be found as a namespace package `livequery`
# before an editable install's finder is asked. With the repository root first, the real packages always win.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REDIS_MISSING = (
    "redis-server is not installed (not on PATH). The bus tests need a real Redis: run `bash scripts/test`, "
    "which installs it, or `apt-get install redis-server`."
)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a child process, killing it if it has not exited within 10 seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A `redis-server` child process on a fixed loopback port, without persistence. `stop()` kills it the
    way a crash would; `start()` brings it back on the same port (empty, as Redis restarts without a dump)."""

    def __init__(self, executable: str, workdir: Path, port: int | None = None) -> None:
        self.executable = executable
        self.workdir = workdir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (a test may SIGSTOP it to make it hang)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self, timeout: float = 10.0) -> None:
        if self.is_running:
            return
        command = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str(self.workdir), "--logfile", str(self._log),
        ]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._answers_ping():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}: {self._tail_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {timeout}s: {self._tail_log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to clients, as in a crash) and wait until it is gone."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(timeout=10)

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.start(timeout)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _tail_log(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def redis_executable() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(REDIS_MISSING, pytrace=False)
    return executable


@contextlib.contextmanager
def throwaway_redis(executable: str) -> Iterator[str]:
    """A `redis-server` in a temporary folder while the block runs: its URL (benchmarks use it too)."""
    with tempfile.TemporaryDirectory(prefix="lq-redis-") as workdir:
        server = RedisServer(executable, Path(workdir))
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture(scope="session")
def redis_server(redis_executable: str) -> Iterator[str]:
    """The URL of a Redis server shared by the whole session. Do not stop it: use `redis_server_control`."""
    with throwaway_redis(redis_executable) as url:
        yield url


@pytest.fixture
def redis_server_control(redis_executable: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, running; the test may `stop()` and `start()`/`restart()` it."""
    server = RedisServer(redis_executable, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
