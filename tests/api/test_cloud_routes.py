"""`@cloud.route`: plain HTTP endpoints under /cloud with path parameters, request.api, any content type."""
from __future__ import annotations

from typing import Any

from api.settings import Settings
from livequery.cloud import Cloud, CloudError, HttpResponse
from tests.api.cloud_app import serving, sign_up


def calendar_cloud() -> Cloud:
    cloud = Cloud()

    @cloud.route("GET", "/calendar/{token}.ics")
    async def calendar(request: Any) -> HttpResponse:
        feed = await request.api.first("Feed", {"token": request.path_params["token"]}, master=True)
        if feed is None:
            raise CloudError(101, "no such calendar")
        events = await request.api.find("Event", {"feed": feed["objectId"]}, order="title", master=True)
        lines = ["BEGIN:VCALENDAR", *(f"SUMMARY:{e['title']}" for e in events), "END:VCALENDAR"]
        return HttpResponse("\r\n".join(lines), content_type="text/calendar; charset=utf-8",
                            headers={"Cache-Control": "max-age=60"})

    @cloud.route("POST", "/inbound")
    async def inbound(request: Any) -> dict[str, Any]:
        payload = request.json()
        created = await request.api.create("Inbound", {"payload": payload, "q": request.query_params.get("q")},
                                           master=True)
        return {"stored": created["objectId"]}

    @cloud.route("GET", "/whoami")
    def whoami(request: Any) -> str:
        return request.user["username"] if request.user else "nobody"

    @cloud.route("GET", "/crash")
    def crash(request: Any) -> str:
        raise RuntimeError("secret internals")

    return cloud


async def test_a_calendar_feed_with_a_path_parameter_and_its_content_type(settings: Settings) -> None:
    async with serving(settings, calendar_cloud()) as client:
        feed = await client.create("Feed", {"token": "abc"}, master=True)
        for title in ("b", "a"):
            await client.create("Event", {"feed": feed["objectId"], "title": title}, master=True)
        response = await client.http.get("/cloud/calendar/abc.ics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        assert response.headers["cache-control"] == "max-age=60"
        assert response.text == "BEGIN:VCALENDAR\r\nSUMMARY:a\r\nSUMMARY:b\r\nEND:VCALENDAR"
        missing = await client.http.get("/cloud/calendar/zzz.ics")
        assert missing.status_code == 404 and missing.json() == {"code": 101, "error": "no such calendar"}


async def test_json_in_and_out_and_query_parameters(settings: Settings) -> None:
    async with serving(settings, calendar_cloud()) as client:
        response = await client.http.post("/cloud/inbound?q=1", content=b'{"event": "paid"}')
        stored = response.json()["stored"]
        row = (await client.find("Inbound", master=True))[0]
        assert (row["objectId"], row["payload"], row["q"]) == (stored, {"event": "paid"}, "1")


async def test_session_header_makes_the_caller_a_user(settings: Settings) -> None:
    async with serving(settings, calendar_cloud()) as client:
        user = await sign_up(client, "ann")
        assert (await client.http.get("/cloud/whoami")).text == "nobody"
        headers = {"X-Parse-Session-Token": user["sessionToken"]}
        assert (await client.http.get("/cloud/whoami", headers=headers)).text == "ann"
        bad = await client.http.get("/cloud/whoami", headers={"X-Parse-Session-Token": "r:nope"})
        assert bad.status_code == 400 and bad.json()["code"] == 209


async def test_unknown_route_is_404_and_a_crash_leaks_nothing(settings: Settings) -> None:
    async with serving(settings, calendar_cloud()) as client:
        assert (await client.http.get("/cloud/nothing-here")).status_code == 404
        assert (await client.http.post("/cloud/whoami")).status_code == 404
        crash = await client.http.get("/cloud/crash")
        assert crash.status_code == 400 and crash.json()["code"] == 141 and "secret" not in crash.text
