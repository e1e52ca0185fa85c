"""The official Parse Dashboard (npm `parse-dashboard`, as current with Parse Server 9), unchanged and offline,
pointed at our server and driven in Debian's headless chromium: what a person sees on each page works.

`scripts/test` installs this folder's package-lock.json (parse-dashboard and playwright-core; no browser download:
playwright drives /usr/bin/chromium) and the `chromium` Debian package. The browser run is one scenario
(`drive.mjs`); the tests below each check one part of its report and, where the dashboard wrote, what the server
stored: the data browser (classes and counts, rows, sorting, filtering, adding a row, editing a cell of each type,
deleting rows, adding and removing columns and classes, class-level permissions), users and roles, config, logs,
jobs, webhooks, the API console (a query and a cloud function), and no call the server does not understand.
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

# the whole browser scenario runs in the first test's fixture: it takes a minute, more on a busy machine
pytestmark = pytest.mark.timeout(300)

HERE = Path(__file__).resolve().parent
APP_NAME = "Test"
CHROMIUM = "/usr/bin/chromium"
DRIVE_SECONDS = 200.0


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


def _seed(url: str) -> str:
    """The app the dashboard is shown; returns the objectId of the user `bob` (a pointer the test sets)."""
    for name in ("alpha", "beta", "gamma"):
        assert _request("POST", f"{url}/classes/Game", {"name": name, "score": 3, "done": False})[0] == 201
    assert _request("POST", f"{url}/users", {"username": "ann", "password": "correct horse"})[0] == 201
    assert _request("PUT", f"{url}/config", {"params": {"welcome": "hello"}})[0] == 200
    assert _request("POST", f"{url}/roles", {"name": "Moderators", "ACL": {"*": {"read": True}}})[0] == 201
    _status, ann = _request("GET", f"{url}/users?where=%7B%22username%22%3A%22ann%22%7D")
    _status, bob = _request("POST", f"{url}/users", {"username": "bob", "password": "battery staple"})
    kinds = {"label": "k1", "count": 1, "flag": False, "when": {"__type": "Date", "iso": "2024-01-01T00:00:00.000Z"},
             "owner": {"__type": "Pointer", "className": "_User", "objectId": ann["results"][0]["objectId"]},
             "tags": ["a"], "info": {"a": 1}, "ACL": {"*": {"read": True, "write": True}}}
    assert _request("POST", f"{url}/classes/Kind", kinds)[0] == 201
    for name in ("Scratch1", "Scratch2"):  # rows the test deletes together
        assert _request("POST", f"{url}/classes/Junk", {"name": name})[0] == 201
    return bob["objectId"]


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


def start_dashboard(node: str, server_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [node, str(HERE / "node_modules" / "parse-dashboard" / "bin" / "parse-dashboard"), "--dev",
               "--appId", APP_ID, "--masterKey", MASTER_KEY, "--serverURL", server_url,
               "--appName", APP_NAME, "--host", "127.0.0.1", "--port", str(port)]
    # offline: the dashboard looks up its own latest version on npm at start; give it nowhere to go
    env = {**os.environ, "npm_config_registry": "http://127.0.0.1:9/"}
    with open(log, "wb") as out:
        dashboard = subprocess.Popen(command, cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT)
    _wait_for(f"http://127.0.0.1:{port}/", dashboard, log)
    return dashboard


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    node = _require_tools()
    data_dir = tmp_path_factory.mktemp("dashboard")
    server = ServerProcess(data_dir, "--log-requests", "--cloud", str(HERE / "cloud.py"))
    dashboard: subprocess.Popen[bytes] | None = None
    try:
        server.wait_healthy()
        pointer_id = _seed(server.url)
        port = free_port()
        dashboard = start_dashboard(node, server.url, port, data_dir / "dashboard.log")
        done = subprocess.run([node, str(HERE / "drive.mjs")], cwd=HERE, capture_output=True, text=True,
                              timeout=DRIVE_SECONDS, env={**os.environ, "DASHBOARD_URL": f"http://127.0.0.1:{port}",
                                                          "SERVER_URL": server.url, "APP_NAME": APP_NAME,
                                                          "POINTER_ID": pointer_id,
                                                          "SCREENSHOT_DIR": str(data_dir)})
        assert done.returncode == 0, f"drive.mjs failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["server_url"] = server.url
        result["pointer_id"] = pointer_id
        result["server_log"] = server.log_path.read_text(errors="replace")
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
    assert _passed(report, "add_a_column")["type"] == "String"  # the server's answer to the dashboard


def test_deleting_a_row_deletes_the_object(report: dict[str, Any]) -> None:
    _passed(report, "delete_a_row")
    _status, body = _request("GET", f"{report['server_url']}/classes/Game")
    assert "beta" not in {row.get("name") for row in body["results"]} and len(body["results"]) == 3


def _rows(report: dict[str, Any], class_name: str) -> list[dict[str, Any]]:
    status, body = _request("GET", f"{report['server_url']}/classes/{class_name}")
    assert status == 200, body
    return body["results"]  # type: ignore[no-any-return]


def _schema(report: dict[str, Any], class_name: str) -> tuple[int, dict[str, Any]]:
    return _request("GET", f"{report['server_url']}/schemas/{class_name}")  # type: ignore[no-any-return]


def test_sorting_by_a_column_asks_the_server_and_shows_its_order(report: dict[str, Any]) -> None:
    sorted_by = _passed(report, "sort_rows")
    descending = sorted_by["order"].startswith("-")
    assert sorted_by["order"].lstrip("-") == "name"
    assert sorted_by["names"] == sorted(["omega", "gamma", "delta"], reverse=descending)


def test_filtering_shows_only_the_matching_rows(report: dict[str, Any]) -> None:
    assert _passed(report, "filter_rows") == ["gamma"]


def test_removing_a_column_removes_the_field(report: dict[str, Any]) -> None:
    _passed(report, "remove_a_column")
    status, body = _schema(report, "Game")
    assert status == 200 and "level" not in body["fields"] and "name" in body["fields"]


def test_editing_a_cell_of_each_type_stores_the_typed_value(report: dict[str, Any]) -> None:
    assert set(_passed(report, "edit_each_type")) == {"count", "owner", "tags", "info", "flag", "when", "ACL",
                                                       "label"}
    [row] = _rows(report, "Kind")
    assert row["label"] == "k2"
    assert row["count"] == 42
    assert row["flag"] is True
    assert row["when"] == {"__type": "Date", "iso": "2025-06-01T12:00:00.000Z"}
    assert row["owner"] == {"__type": "Pointer", "className": "_User", "objectId": report["pointer_id"]}
    assert row["tags"] == ["a", "b"]
    assert row["info"] == {"a": 2}
    assert row["ACL"] == {"*": {"read": True}}  # public write unticked in the ACL dialog


def test_deleting_selected_rows_deletes_the_objects(report: dict[str, Any]) -> None:
    assert _passed(report, "delete_rows") == ["Scratch1", "Scratch2"]
    assert _rows(report, "Junk") == []


def test_editing_class_level_permissions_saves_them(report: dict[str, Any]) -> None:
    _passed(report, "edit_class_level_permissions")
    status, body = _schema(report, "Junk")
    permissions = body["classLevelPermissions"]
    assert status == 200
    for operation in ("create", "update", "delete"):  # public write off
        assert "*" not in permissions[operation], permissions
    for operation in ("find", "get", "count"):  # public read kept
        assert permissions[operation].get("*") is True, permissions


def test_creating_and_deleting_a_class_through_the_dashboard(report: dict[str, Any]) -> None:
    _passed(report, "create_a_class")
    _passed(report, "delete_a_class")
    status, body = _schema(report, "Scratchpad")
    assert status == 400 and body["code"] == 103  # INVALID_CLASS_NAME: "Class Scratchpad does not exist."


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


def test_jobs_page_lists_the_cloud_code_jobs(report: dict[str, Any]) -> None:
    assert _passed(report, "jobs_page") == "nightlyCleanup"


def test_webhooks_page_lists_the_registered_hooks(report: dict[str, Any]) -> None:
    _passed(report, "webhooks_page")


def test_api_console_runs_a_cloud_function(report: dict[str, Any]) -> None:
    assert _passed(report, "cloud_function_in_api_console") == "hello world"


def test_every_route_the_dashboard_calls_is_understood(report: dict[str, Any]) -> None:
    # the server logs each call no route answers (answered 404 as Parse Server does): the dashboard made none
    assert "no route answers" not in report["server_log"]


def test_the_dashboard_never_gets_an_error_from_the_server(report: dict[str, Any]) -> None:
    assert report["serverErrors"] == []
    assert report["pageErrors"] == []
