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
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = f"http://127.0.0.1:{port}/parse"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("server did not start: " + (process.stderr.read() or b"").decode()[-2000:])
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
