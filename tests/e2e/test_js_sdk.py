"""Runs each tests/e2e/*.test.mjs file with `node --test` against a fresh server: one pytest test per file.

Fixtures (`e2e_node`, `e2e_server`) come from tests/e2e/conftest.py. A new JS test file is picked up by name.
Every file runs against the default setup (in-process bus); the files in `REDIS_BUS_FILES` run a second time
against a server started with `--redis-url` (test id `<name>-redis-bus`), so LiveQuery events go through Redis.
"""
from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

E2E_DIR = Path(__file__).resolve().parent
# setups the `server_extra_args` fixture (conftest.py) knows
MEMORY_BUS, REDIS_BUS, MONGODB = "memory-bus", "redis-bus", "mongodb"
JS_TEST_FILES = sorted(E2E_DIR.glob("*.test.mjs"))
# Only these also run through Redis: the bus matters to LiveQuery alone, and each run starts a server.
REDIS_BUS_FILES = ("livequery.test.mjs", "resume.test.mjs")
# Only these also run on the MongoDB store: files live in GridFS there, not in the data folder.
MONGODB_FILES = ("files.test.mjs",)
JS_TEST_CASES = [
    *(pytest.param(path, MEMORY_BUS, id=path.name.removesuffix(".test.mjs")) for path in JS_TEST_FILES),
    *(pytest.param(path, setup, id=f"{path.name.removesuffix('.test.mjs')}-{setup}")
      for setup, names in ((REDIS_BUS, REDIS_BUS_FILES), (MONGODB, MONGODB_FILES))
      for path in JS_TEST_FILES if path.name in names),
]
NODE_TEST_SECONDS = 180.0
# pytest-timeout also counts fixture setup: the first test may run `npm ci` (conftest allows 300 s) first.
PYTEST_TIMEOUT_SECONDS = NODE_TEST_SECONDS + 300 + 60


def test_the_suite_has_js_test_files() -> None:
    assert JS_TEST_FILES, f"no *.test.mjs files in {E2E_DIR}"
    names = {path.name for path in JS_TEST_FILES}
    assert set(REDIS_BUS_FILES) <= names, f"REDIS_BUS_FILES names missing files: {set(REDIS_BUS_FILES) - names}"
    assert set(MONGODB_FILES) <= names, f"MONGODB_FILES names missing files: {set(MONGODB_FILES) - names}"


@pytest.mark.timeout(PYTEST_TIMEOUT_SECONDS)
@pytest.mark.parametrize(("test_file", "server_extra_args"), JS_TEST_CASES, indirect=["server_extra_args"])
def test_js_sdk_file_passes_against_the_server(test_file: Path, server_extra_args: list[str], e2e_node: Any,
                                               e2e_server: Any) -> None:
    if "--redis-url" in server_extra_args:
        _assert_the_bus_is_redis(e2e_server)
    try:
        done = e2e_node.run_test_file(test_file, e2e_server.client_env(), NODE_TEST_SECONDS)
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout or ""
        text = output.decode(errors="replace") if isinstance(output, bytes) else output
        pytest.fail(f"`node --test {test_file.name}` ran longer than {NODE_TEST_SECONDS:.0f}s\n"
                    f"--- node output ---\n{text[-20000:]}\n--- server log ---\n{e2e_server.log_tail()}",
                    pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"`node --test {test_file.name}` exited with {done.returncode}\n"
                    f"{_failing_tests(done.stdout)}"
                    f"--- node output ---\n{done.stdout[-30000:]}\n{done.stderr[-5000:]}\n"
                    f"--- server log ---\n{e2e_server.log_tail()}", pytrace=False)


def _failing_tests(spec_output: str) -> str:
    """The spec reporter's closing "failing tests" section (which names each failure), to show first."""
    marker = spec_output.rfind("✖ failing tests:")
    return f"{spec_output[marker:][:15000]}\n" if marker >= 0 else ""


def _assert_the_bus_is_redis(server: Any) -> None:
    """The server really publishes through Redis (not a silently ignored flag): /health says so."""
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        bus = json.load(response).get("bus", {})
    assert bus.get("bus") == "redis" and bus.get("connected") is True, f"/health reports the bus as {bus}"
