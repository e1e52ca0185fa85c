"""Fixtures for the end-to-end suite: the real `livequery serve` process and the real Parse JS SDK from npm.

`e2e_server` starts a fresh server (SQLite in a temp folder, in-process bus) for each test that asks for it;
its command line ends with `server_extra_args`, which names a setup from `SERVER_SETUPS`: "memory-bus" (the
default), "redis-bus" (`--redis-url` of the session's real Redis, from tests/conftest.py) or "mongodb" (a
fresh database on the session's SecantusDB, or MONGODB_URI). A test picks one
by parametrizing that fixture indirectly (`indirect=["server_extra_args"]`), as test_js_sdk.py does.

`e2e_node` checks node/npm and runs `npm ci` once if tests/e2e/node_modules is missing; it fails (never skips)
when node or npm is missing.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import stop_process

E2E_DIR = Path(__file__).resolve().parent
ROOT = E2E_DIR.parent.parent

APP_ID = "e2e-app"
MASTER_KEY = "e2e-master-key"
JS_KEY = "e2e-javascript-key"

SERVER_START_SECONDS = 30.0
NPM_INSTALL_SECONDS = 300.0
NODE_MISSING = (
    "`{tool}` is not on PATH. The end-to-end suite drives the server with the Parse JS SDK and needs "
    "Node.js >= 20 with npm: install them (e.g. `apt-get install nodejs npm`) and run `bash scripts/test`."
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class NodeTools:
    """node and npm, ready to run the JS test files of tests/e2e."""

    node: str
    npm: str

    def run_test_file(self, test_file: Path, env: dict[str, str],
                      timeout: float) -> subprocess.CompletedProcess[str]:
        """`node --test <file>` in tests/e2e with `env` added; raises subprocess.TimeoutExpired."""
        command = [self.node, "--test", "--test-reporter=spec", str(test_file)]
        return subprocess.run(command, cwd=E2E_DIR, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


@dataclass
class RunningServer:
    """A `livequery serve` child process and what a client needs to talk to it."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    app_id: str = APP_ID
    master_key: str = MASTER_KEY
    javascript_key: str = JS_KEY

    def client_env(self) -> dict[str, str]:
        """The environment the JS test files read their connection settings from."""
        return {"SERVER_URL": self.url, "APP_ID": self.app_id, "JS_KEY": self.javascript_key,
                "MASTER_KEY": self.master_key}

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def server_command(port: int, data_dir: str, extra_args: list[str]) -> list[str]:
    """Every server runs tests/e2e/cloud_code.py (for cloud.test.mjs; its triggers are on E2E* classes only)."""
    return [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--app-id", APP_ID,
            "--master-key", MASTER_KEY, "--javascript-key", JS_KEY, "--data-dir", data_dir,
            "--allow-client-class-creation", "--cloud", str(E2E_DIR / "cloud_code.py"), *extra_args]


def _wait_until_healthy(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:  # refused, reset, timeout, or an HTTP error status (503 while starting)
            pass
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.process.returncode} before answering "
                               f"/health:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer GET /health within {timeout:.0f}s:\n"
                               f"{server.log_tail()}")
        time.sleep(0.1)


MEMORY_BUS = "memory-bus"
REDIS_BUS = "redis-bus"
MONGODB = "mongodb"  # the MongoDB store (and GridFS files) on a fresh database of the session's SecantusDB
SERVER_SETUPS = (MEMORY_BUS, REDIS_BUS, MONGODB)


@pytest.fixture
def server_extra_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Arguments appended to the `livequery serve` command line, for the setup named by an indirect
    parametrization (one of `SERVER_SETUPS`; "memory-bus" when not parametrized)."""
    setup = getattr(request, "param", MEMORY_BUS)
    if setup == MEMORY_BUS:
        yield []
    elif setup == REDIS_BUS:
        yield ["--redis-url", request.getfixturevalue("redis_server")]
    elif setup == MONGODB:
        from tests.storage.mongo_server import fresh_database

        with fresh_database() as uri:  # dropped when the test ends
            yield ["--database-uri", uri]
    else:
        raise ValueError(f"unknown e2e server setup {setup!r}; expected one of {SERVER_SETUPS}")


@pytest.fixture
def e2e_server(server_extra_args: list[str]) -> Iterator[RunningServer]:
    """A fresh server on a free loopback port with an empty SQLite store; killed when the test ends."""
    with tempfile.TemporaryDirectory(prefix="lq-e2e-") as data_dir:
        port = _free_port()
        log_path = Path(data_dir) / "server.log"
        with open(log_path, "wb") as log:
            # The log is a file, not a pipe: a chatty server must never block on a full pipe buffer.
            process = subprocess.Popen(server_command(port, data_dir, server_extra_args), cwd=ROOT,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
        server = RunningServer(url=f"http://127.0.0.1:{port}/parse", process=process, log_path=log_path)
        try:
            _wait_until_healthy(server, SERVER_START_SECONDS)
            yield server
        finally:
            stop_process(process)


def _node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        return int(version.lstrip("v").split(".")[0])
    except ValueError:
        return 0


@pytest.fixture(scope="session")
def e2e_node() -> NodeTools:
    """node and npm, with tests/e2e/node_modules installed from package-lock.json. Fails (never skips)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(NODE_MISSING.format(tool="node" if node is None else "npm"), pytrace=False)
    if _node_major(node) < 20:
        pytest.fail("the end-to-end suite needs Node.js >= 20 (for `node --test`); found an older one",
                    pytrace=False)
    if not (E2E_DIR / "node_modules" / "parse" / "package.json").exists():
        command = [npm, "ci", "--no-audit", "--no-fund"]
        try:
            done = subprocess.run(command, cwd=E2E_DIR, capture_output=True, text=True,
                                  timeout=NPM_INSTALL_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {E2E_DIR} took more than {NPM_INSTALL_SECONDS:.0f}s", pytrace=False)
        if done.returncode != 0:
            pytest.fail(f"`npm ci` in {E2E_DIR} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                        f"{done.stderr[-3000:]}", pytrace=False)
    return NodeTools(node=node, npm=npm)
