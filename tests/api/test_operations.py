"""What operators and Parse Dashboard rely on: `/serverInfo` tells the truth, `/scriptlog` serves recent log lines
without secrets, unknown routes are logged and answered as Parse does, `/metrics` counts requests."""
from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.router import Router
from api.routes import operations
from tests.api.conftest import MASTER_KEY, ParseClient, make_settings

SESSION_TOKEN = "r:0123456789abcdef0123456789abcdef"


async def test_server_info_reports_what_is_served_jobs_hooks_logs_config_and_no_push(client: ParseClient) -> None:
    body = (await client.request("GET", "/serverInfo", master=True)).json()
    features = body["features"]
    assert body["parseServerVersion"] == "9.0.0"
    assert all(features["logs"].values())
    assert all(features["globalConfig"].values())
    assert features["cloudCode"]["jobs"] is True  # /jobs and /cloud_code/jobs are served (cloud code)
    assert all(features["hooks"].values())  # /hooks/functions and /hooks/triggers are served
    assert not features["push"]["immediatePush"]
    assert features["schemas"]["addClass"] and features["schemas"]["editClassLevelPermissions"]


def test_server_info_turns_off_what_no_registered_route_answers(tmp_path: Any) -> None:
    router = Router()
    operations.register(router)
    served = SimpleNamespace(router=router, settings=make_settings(tmp_path))
    found = operations.features(served)  # type: ignore[arg-type]
    assert all(found["logs"].values())
    assert found["cloudCode"]["jobs"] is False
    assert not any(found["hooks"].values())
    assert not any(found["globalConfig"].values())


async def test_scriptlog_needs_the_master_key(client: ParseClient) -> None:
    response = await client.request("GET", "/scriptlog")
    assert response.status_code == 403


async def test_scriptlog_serves_recent_lines_newest_first_with_size_and_order(client: ParseClient) -> None:
    for number in range(5):
        logging.getLogger("tests.ops").warning("line %d", number)
    newest = (await client.request("GET", "/scriptlog", master=True, params={"size": "3"})).json()
    assert [e["message"] for e in newest] == ["line 4", "line 3", "line 2"]
    assert newest[0]["level"] == "warn" and newest[0]["timestamp"].endswith("Z")
    by_n = (await client.request("GET", "/scriptlog", master=True, params={"n": "2", "size": "4"})).json()
    assert len(by_n) == 2
    oldest = (await client.request("GET", "/scriptlog", master=True, params={"order": "asc", "size": "100"})).json()
    ours = [e["message"] for e in oldest if e["message"].startswith("line ")]
    assert ours == ["line 0", "line 1", "line 2", "line 3", "line 4"]


async def test_scriptlog_level_error_gives_only_errors(client: ParseClient) -> None:
    logging.getLogger("tests.ops").warning("a warning")
    logging.getLogger("tests.ops").error("an error")
    errors = (await client.request("GET", "/scriptlog", master=True, params={"level": "error"})).json()
    assert [e["message"] for e in errors] == ["an error"]


async def test_scriptlog_from_and_until_bound_the_lines(client: ParseClient) -> None:
    logging.getLogger("tests.ops").warning("now")
    future = (await client.request("GET", "/scriptlog", master=True,
                                   params={"from": "2999-01-01T00:00:00.000Z"})).json()
    past = (await client.request("GET", "/scriptlog", master=True,
                                 params={"until": "2000-01-01T00:00:00.000Z"})).json()
    assert future == [] and past == []


async def test_scriptlog_never_shows_a_secret_that_was_logged(client: ParseClient) -> None:
    log = logging.getLogger("tests.ops")
    log.warning("login body {'username': 'ann', 'password': 'hunter2'} with token %s", SESSION_TOKEN)
    log.warning('headers X-Parse-Master-Key: %s, "sessionToken": "%s"', MASTER_KEY, "legacyToken123")
    log.warning("hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA stored")
    try:
        raise ValueError(f"failed with master key {MASTER_KEY}")
    except ValueError:
        log.exception("request failed for password=hunter2&x=1")
    text = (await client.request("GET", "/scriptlog", master=True, params={"size": "10"})).text
    for secret in ("hunter2", SESSION_TOKEN, MASTER_KEY, "legacyToken123", "$argon2id$", "c2FsdA"):
        assert secret not in text
    assert "ann" in text and "failed with master key ***" in text


async def test_unknown_route_answers_404_and_is_logged_once(client: ParseClient) -> None:
    for _ in range(3):
        response = await client.request("GET", "/no_such/route", master=True)
        assert response.status_code == 404
        assert response.json()["error"] == "Cannot GET /no_such/route"
    lines = (await client.request("GET", "/scriptlog", master=True, params={"size": "100"})).json()
    warnings = [e for e in lines if "no route answers GET /no_such/route" in e["message"]]
    assert len(warnings) == 1


async def _metrics(app: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/metrics", headers=headers or {})


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_need_the_master_key_by_default(app: Any) -> None:
    assert (await _metrics(app)).status_code == 403
    assert (await _metrics(app, {"X-Parse-Master-Key": "wrong"})).status_code == 403
    assert (await _metrics(app, {"Authorization": f"Bearer {MASTER_KEY}"})).status_code == 200


async def test_metrics_count_requests_by_route_and_status(app: Any, client: ParseClient) -> None:
    master = {"X-Parse-Master-Key": MASTER_KEY}
    before = (await _metrics(app, master)).text
    labels = {"method": "POST", "route": "/classes/{className}", "status": "201"}
    for number in range(3):
        await client.create("Note", {"n": number})
    await client.request("GET", "/classes/Note/missing")
    await client.request("GET", "/nowhere")
    after = (await _metrics(app, master)).text
    assert _sample(after, "livequery_http_requests_total", **labels) - \
        _sample(before, "livequery_http_requests_total", **labels) == 3
    assert _sample(after, "livequery_http_requests_total", route="/classes/{className}/{objectId}",
                   status="404") == 1
    assert _sample(after, "livequery_http_requests_total", route="unmatched", status="404") == 1
    assert _sample(after, "livequery_http_request_duration_seconds_count", method="POST",
                   route="/classes/{className}") >= 3
    assert _sample(after, "livequery_clients") == 0
    assert _sample(after, "livequery_bus_connected", bus="memory") == 1
    assert _sample(after, "process_resident_memory_bytes") > 0


@pytest.mark.parametrize("mode, status", [("off", 404), ("public", 200)])
async def test_metrics_flag_turns_them_off_or_opens_them(tmp_path: Any, mode: str, status: int) -> None:
    app = create_app(make_settings(tmp_path, metrics=mode))
    await app.state.services.start()
    try:
        assert (await _metrics(app)).status_code == status
    finally:
        await app.state.services.stop()



async def test_ready_reports_the_store_and_the_bus_without_credentials(client: ParseClient) -> None:
    response = await client.http.get("/parse/ready")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert body["store"]["ok"] is True and body["bus"]["connected"] is True


async def test_ready_answers_503_when_the_store_fails_with_a_faked_store_error(app: Any, client: ParseClient) -> None:
    async def lost(class_name: str) -> None:
        raise ConnectionError("database unreachable")

    app.state.services.store.get_schema = lost  # a fake failure: the real store cannot be made to lose its file here
    response = await client.http.get("/parse/ready")
    assert response.status_code == 503
    assert response.json()["store"] == {"ok": False, "error": "ConnectionError"}


async def test_config_storage_is_not_listed_as_a_class(client: ParseClient) -> None:
    assert (await client.request("PUT", "/config", {"params": {"welcome": "hi"}}, master=True)).status_code == 200
    listed = [c["className"] for c in (await client.request("GET", "/schemas", master=True)).json()["results"]]
    assert "_GlobalConfig" not in listed and "_User" in listed
