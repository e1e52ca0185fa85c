"""What the README promises about configuration: keys, the generated master key, `LIVEQUERY_*` variables."""
from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from api.settings import Settings, parse_settings, with_master_key
from tests.api.conftest import APP_ID, MASTER_KEY, make_settings

READ_ONLY_KEY = "read-only-key"


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    await application.state.services.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://testserver/parse") as http:
            yield http
    finally:
        await application.state.services.stop()


def headers(**extra: str) -> dict[str, str]:
    return {"X-Parse-Application-Id": APP_ID, **extra}


async def test_the_read_only_master_key_reads_everything_and_writes_nothing(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path, read_only_master_key=READ_ONLY_KEY)) as http:
        master = headers(**{"X-Parse-Master-Key": MASTER_KEY})
        read_only = headers(**{"X-Parse-Master-Key": READ_ONLY_KEY})
        made = await http.post("/classes/Vault", json={"gold": 1, "ACL": {}}, headers=master)
        assert made.status_code == 201
        path = f"/classes/Vault/{made.json()['objectId']}"
        assert (await http.get(path, headers=headers())).status_code == 404  # no one else reads it
        got = await http.get(path, headers=read_only)
        assert got.status_code == 200 and got.json()["gold"] == 1
        assert (await http.get("/schemas/Vault", headers=read_only)).status_code == 200
        for method, url, body in (("POST", "/classes/Vault", {"gold": 2}), ("PUT", path, {"gold": 3}),
                                  ("DELETE", path, None)):
            refused = await http.request(method, url, json=body, headers=read_only)
            assert refused.status_code == 400 and refused.json()["code"] == 119, (method, refused.text)
        [vault] = (await http.get("/classes/Vault", headers=master)).json()["results"]
        assert vault["gold"] == 1


async def test_configured_client_keys_are_required_on_every_rest_request(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path, javascript_key="js-key", rest_api_key="rest-key")) as http:
        for missing_or_wrong in (headers(), headers(**{"X-Parse-JavaScript-Key": "nope"})):
            refused = await http.get("/classes/Thing", headers=missing_or_wrong)
            assert refused.status_code == 403 and refused.json() == {"error": "unauthorized"}
        for good in (headers(**{"X-Parse-JavaScript-Key": "js-key"}), headers(**{"X-Parse-REST-API-Key": "rest-key"}),
                     headers(**{"X-Parse-Master-Key": MASTER_KEY})):
            assert (await http.get("/classes/Thing", headers=good)).status_code == 200
        signed = await http.post("/users", json={"username": "u", "password": "p"}, headers=headers())
        assert signed.status_code == 403  # signing up is a request like any other


def test_a_master_key_not_given_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = with_master_key(Settings(data_dir=str(tmp_path / "data")))
    key_file = tmp_path / "data" / "master.key"
    assert len(first.master_key) >= 32 and key_file.read_text().strip() == first.master_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert with_master_key(Settings(data_dir=str(tmp_path / "data"))).master_key == first.master_key
    other = with_master_key(Settings(data_dir=str(tmp_path / "other")))
    assert other.master_key != first.master_key  # never a fixed default
    given = with_master_key(Settings(master_key="mine", data_dir=str(tmp_path / "given")))
    assert given.master_key == "mine" and not (tmp_path / "given" / "master.key").exists()


def test_every_option_reads_its_livequery_environment_variable_and_flags_win() -> None:
    environ: dict[str, Any] = {"LIVEQUERY_PORT": "4040", "LIVEQUERY_APP_ID": "from-env",
                               "LIVEQUERY_LIVE_CLASSES": "Chat, Room", "LIVEQUERY_REDIS_URL": "redis://r:6379/0",
                               "LIVEQUERY_ALLOW_CLIENT_CLASS_CREATION": "true",
                               "LIVEQUERY_READ_ONLY_MASTER_KEY": "ro", "LIVEQUERY_WEBSOCKET_PING_SECONDS": "2.5"}
    settings = parse_settings([], environ)
    assert (settings.port, settings.app_id, settings.live_classes, settings.redis_url) == (
        4040, "from-env", ("Chat", "Room"), "redis://r:6379/0")
    assert settings.allow_client_class_creation is True and settings.read_only_master_key == "ro"
    assert settings.websocket_ping_seconds == 2.5
    flagged = parse_settings(["--port", "5050", "--live-classes", "Chat"], environ)
    assert (flagged.port, flagged.live_classes, flagged.app_id) == (5050, ("Chat",), "from-env")
    assert parse_settings([], {}).live_classes is None and parse_settings([], {}).port == 1337
