"""Start a real `livequery serve` process on a free loopback port for a benchmark, and stop it after."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

APP_ID = "bench"
MASTER_KEY = "bench-master"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(*extra: str, port: int | None = None) -> Iterator[str]:
    """Yields the server URL (`http://127.0.0.1:PORT/parse`); the process is killed on exit."""
    port = port or free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--app-id", APP_ID,
                   "--master-key", MASTER_KEY, "--data-dir", data_dir, "--allow-client-class-creation", *extra]
        # the server's log goes to a file: a pipe nobody reads fills up (64 KB) and then blocks the server
        log_path = os.path.join(data_dir, "server.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = f"http://127.0.0.1:{port}/parse"
        running_server.last_pid = process.pid  # type: ignore[attr-defined]
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        with open(log_path, errors="replace") as log_text:
                            raise RuntimeError("server did not start: " + log_text.read()[-2000:]) from None
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process and its running descendants (a server's workers) have used so far (Linux
    /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks + sum(process_cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found.extend(int(child) for child in children.read().split())
    except OSError:  # gone meanwhile
        pass
    return found


def process_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile_of(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.contextmanager
def database_uri_for(store: str, given: str = "") -> Iterator[str]:
    """The `--database-uri` a benchmark serves from: `given` if set; "" (the embedded SQLite) for `sqlite`; for
    `mongodb`, MONGODB_URI or a SecantusDB started for the run, as the tests start it (stopped after)."""
    if given or store == "sqlite":
        yield given
        return
    from tests.storage.mongo_server import SecantusServer, with_database  # the test extra's SecantusDB
    if os.environ.get("MONGODB_URI"):
        yield with_database(os.environ["MONGODB_URI"], f"lq_bench_{os.getpid()}")
        return
    with tempfile.TemporaryDirectory(prefix="lq-bench-secantus-") as workdir:
        server = SecantusServer(Path(workdir))
        server.start()
        running_server.mongo_pid = server.pid  # type: ignore[attr-defined]
        try:
            yield with_database(server.uri, f"lq_bench_{os.getpid()}")
        finally:
            server.stop()


@contextlib.contextmanager
def redis_url_for(given: str = "") -> Iterator[str]:
    """`given`, or a throwaway `redis-server` started for the run as the tests start it (stopped after)."""
    if given:
        yield given
        return
    import shutil

    from tests.conftest import throwaway_redis
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed: run scripts/test once, or pass --redis-url")
    with throwaway_redis(executable) as url:
        yield url
