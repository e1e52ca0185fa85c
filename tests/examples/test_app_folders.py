"""`livequery serve --example NAME`: the flag, the page and the pinned Parse JS SDK it is served with, the seed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import cli
from api.examples import EXAMPLES_DIR, available_examples, find_app_folder
from api.settings import parse_settings
from tests.storage.mongo_server import switched_database_uri

ROOT = Path(__file__).resolve().parent.parent.parent


def test_example_without_data_dir_asks_for_a_fresh_folder() -> None:
    assert parse_settings(["--example", "event_registration"], environ={}).data_dir == ""
    given = parse_settings(["--example", "event_registration", "--data-dir", "/tmp/keep"], environ={})
    assert given.data_dir == "/tmp/keep"
    assert parse_settings([], environ={}).data_dir == "./data"


def test_a_fresh_data_folder_is_made_and_removed_after_serving() -> None:
    settings = parse_settings(["--example", "event_registration"], environ={})
    with cli.fresh_data_dir(settings) as served:
        folder = Path(served.data_dir)
        assert folder.is_dir() and not any(folder.iterdir())
    assert not folder.exists()


def test_an_unknown_example_stops_serve_naming_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--example", "no_such_app"])
    assert stopped.value.code == 2
    assert "event_registration" in capsys.readouterr().err


def test_every_example_has_a_schema_cloud_code_seed_and_page() -> None:
    assert "event_registration" in available_examples()
    for name in available_examples():
        folder = find_app_folder(name)
        assert folder.schema_file and folder.cloud_file and (folder.path / "web" / "index.html").exists()


def test_the_vendored_parse_sdk_is_the_version_the_e2e_suite_pins() -> None:
    pinned = json.loads((ROOT / "tests" / "e2e" / "package.json").read_text())["dependencies"]["parse"]
    vendored = (EXAMPLES_DIR / "vendor" / "parse" / "parse.min.js").read_text()
    assert f'VERSION: "js{pinned}"' in vendored
    assert (EXAMPLES_DIR / "vendor" / "parse" / "LICENSE").exists()


async def test_the_page_its_config_and_the_sdk_are_served(served_example: Any) -> None:
    served = await served_example("event_registration", javascript_key="page-key")
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        page = await http.get("/apps/event_registration/")
        assert page.status_code == 200 and "vendor/parse/parse.min.js" in page.text
        assert (await http.get("/apps/event_registration")).status_code in (301, 302, 307)
        config = (await http.get("/apps/event_registration/config.js")).text
        assert '"appId": "example-app"' in config and '"javascriptKey": "page-key"' in config
        sdk = await http.get("/apps/vendor/parse/parse.min.js")
        assert sdk.status_code == 200 and "javascript" in sdk.headers["content-type"]
        assert (await http.get("/apps/event_registration/../app.json")).status_code == 404


async def test_without_an_example_no_page_is_served(tmp_path: Path) -> None:
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(data_dir=str(tmp_path), master_key="k", database_uri=switched_database_uri(tmp_path)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as http:
        assert (await http.get("/apps/event_registration/")).status_code == 404


async def test_the_seed_runs_once_on_a_kept_data_folder(served_example: Any, tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    keep.mkdir()
    first = await served_example("event_registration", data_dir=str(keep))  # on MongoDB: the test's database
    users = await first.parse.find("_User", master=True)
    assert {u["username"] for u in users} == {"olivia", "oscar", "ann", "ben", "cara", "dan"}
    event_count = len(await first.parse.find("Event"))
    second = await served_example("event_registration", data_dir=str(keep))
    assert len(await second.parse.find("_User", master=True)) == len(users)
    assert len(await second.parse.find("Event")) == event_count
