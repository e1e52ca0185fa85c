"""The official Parse Dashboard (npm `parse-dashboard`, as current with Parse Server 9), unchanged and offline,
pointed at our server and driven in Debian's headless chromium: what a person sees on each page works.

`scripts/test` installs this folder's package-lock.json (parse-dashboard and playwright-core; no browser download:
playwright drives /usr/bin/chromium) and the `chromium` Debian package. The browser run is one scenario
(`drive.mjs`); the tests below each check one part of its report.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.api.test_serving import APP_ID, MASTER_KEY, ServerProcess, _request
from tests.conftest import free_port

HERE = Path(__file__).resolve().parent
APP_NAME = "Test"
CHROMIUM = "/usr/bin/chromium"
DRIVE_SECONDS = 120.0


def _require_tools() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: run scripts/test, which installs nodejs", pytrace=False)
    if not (HERE / "node_modules" / "parse-dashboard" / "package.json").exists():
        pytest.fail("tests/dashboard/node_modules is missing: run scripts/test (npm ci in tests/dashboard)",
                    pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test, which installs Debian's chromium", pytrace=False)
    return node


def _seed(url: str) -> None:
    for name in ("alpha", "beta", "gamma"):
        assert _request("POST", f"{url}/classes/Game", {"name": name, "score": 3, "done": False})[0] == 201
    assert _request("POST", f"{url}/users", {"username": "ann", "password": "correct horse"})[0] == 201
    assert _request("PUT", f"{url}/config", {"params": {"welcome": "hello"}})[0] == 200
    assert _request("POST", f"{url}/roles", {"name": "Moderators", "ACL": {"*": {"read": True}}})[0] == 201


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"parse-dashboard did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    node = _require_tools()
    data_dir = tmp_path_factory.mktemp("dashboard")
    server = ServerProcess(data_dir, "--log-requests")
    dashboard: subprocess.Popen[bytes] | None = None
    try:
        server.wait_healthy()
        _seed(server.url)
        port = free_port()
        log = data_dir / "dashboard.log"
        command = [node, str(HERE / "node_modules" / "parse-dashboard" / "bin" / "parse-dashboard"), "--dev",
                   "--appId", APP_ID, "--masterKey", MASTER_KEY, "--serverURL", server.url,
                   "--appName", APP_NAME, "--host", "127.0.0.1", "--port", str(port)]
        # offline: the dashboard looks up its own latest version on npm at start; give it nowhere to go
        env = {**os.environ, "npm_config_registry": "http://127.0.0.1:9/"}
        with open(log, "wb") as out:
            dashboard = subprocess.Popen(command, cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        _wait_for(f"http://127.0.0.1:{port}/", dashboard, log)
        done = subprocess.run([node, str(HERE / "drive.mjs")], cwd=HERE, capture_output=True, text=True,
                              timeout=DRIVE_SECONDS, env={**os.environ, "DASHBOARD_URL": f"http://127.0.0.1:{port}",
                                                          "SERVER_URL": server.url, "APP_NAME": APP_NAME,
                                                          "SCREENSHOT_DIR": str(data_dir)})
        assert done.returncode == 0, f"drive.mjs failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["server_url"] = server.url
        result["screenshots"] = str(data_dir)
        yield result
    finally:
        if dashboard is not None and dashboard.poll() is None:
            dashboard.terminate()
            dashboard.wait(10)
        server.stop()


def _passed(report: dict[str, Any], name: str) -> Any:
    outcome = report["steps"][name]
    assert outcome["ok"], f"{name}: {outcome['detail']} (screenshot in {report['screenshots']})"
    return outcome["detail"]


def test_data_browser_lists_the_classes(report: dict[str, Any]) -> None:
    listed = " ".join(_passed(report, "browser_lists_classes"))
    for class_name in ("Game", "_User", "_Role", "_Session"):
        assert class_name in listed
    assert "_GlobalConfig" not in listed  # where /config keeps its parameters: not a class of the app


def test_data_browser_shows_the_rows(report: dict[str, Any]) -> None:
    assert _passed(report, "browser_shows_rows") == ["alpha", "beta", "gamma"]


def test_editing_a_cell_saves_the_object(report: dict[str, Any]) -> None:
    _passed(report, "edit_a_cell")
    _status, body = _request("GET", f"{report['server_url']}/classes/Game")
    names = {row.get("name") for row in body["results"]}
    assert "omega" in names and "alpha" not in names


def test_adding_a_row_creates_an_object(report: dict[str, Any]) -> None:
    _passed(report, "add_a_row")
    _status, body = _request("GET", f"{report['server_url']}/classes/Game?" + "where=%7B%22name%22%3A%22delta%22%7D")
    assert len(body["results"]) == 1


def test_adding_a_column_adds_the_field(report: dict[str, Any]) -> None:
    _passed(report, "add_a_column")
    _status, body = _request("GET", f"{report['server_url']}/schemas/Game")
    assert body["fields"]["level"]["type"] == "String"


def test_deleting_a_row_deletes_the_object(report: dict[str, Any]) -> None:
    _passed(report, "delete_a_row")
    _status, body = _request("GET", f"{report['server_url']}/classes/Game")
    assert "beta" not in {row.get("name") for row in body["results"]} and len(body["results"]) == 3


def test_users_page_shows_the_users(report: dict[str, Any]) -> None:
    _passed(report, "users_page")


def test_roles_page_shows_the_roles(report: dict[str, Any]) -> None:
    _passed(report, "roles_page")


def test_config_page_shows_the_parameters(report: dict[str, Any]) -> None:
    assert _passed(report, "config_page") >= 1


def test_logs_page_shows_the_servers_recent_lines(report: dict[str, Any]) -> None:
    assert _passed(report, "logs_page") >= 1


def test_api_console_sends_a_query(report: dict[str, Any]) -> None:
    _passed(report, "api_console")


def test_the_dashboard_never_gets_an_error_from_the_server(report: dict[str, Any]) -> None:
    assert report["serverErrors"] == []
    assert report["pageErrors"] == []
