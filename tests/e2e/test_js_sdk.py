"""Runs each tests/e2e/*.test.mjs file with `node --test` against a fresh server: one pytest test per file.

Fixtures (`e2e_node`, `e2e_server`) come from tests/e2e/conftest.py. A new JS test file is picked up by name.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

E2E_DIR = Path(__file__).resolve().parent
JS_TEST_FILES = sorted(E2E_DIR.glob("*.test.mjs"))
JS_TEST_IDS = [path.name.removesuffix(".test.mjs") for path in JS_TEST_FILES]
NODE_TEST_SECONDS = 180.0
# pytest-timeout also counts fixture setup: the first test may run `npm ci` (conftest allows 300 s) first.
PYTEST_TIMEOUT_SECONDS = NODE_TEST_SECONDS + 300 + 60


def test_the_suite_has_js_test_files() -> None:
    assert JS_TEST_FILES, f"no *.test.mjs files in {E2E_DIR}"


@pytest.mark.timeout(PYTEST_TIMEOUT_SECONDS)
@pytest.mark.parametrize("test_file", JS_TEST_FILES, ids=JS_TEST_IDS)
def test_js_sdk_file_passes_against_the_server(test_file: Path, e2e_node: Any, e2e_server: Any) -> None:
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
