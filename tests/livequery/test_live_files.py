"""LiveQuery events carry File fields with the server's URL, as REST reads do."""
from __future__ import annotations

from tests.livequery.conftest import APP_ID, MASTER_KEY, LiveServer


async def test_an_event_carries_the_file_url_computed_by_the_server(live_server: LiveServer) -> None:
    headers = {"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY, "Content-Type": "image/png"}
    async with live_server.http.post(f"{live_server.rest}/files/thumb.png", data=b"\x89PNG",
                                     headers=headers) as reply:
        saved = await reply.json()
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Video", {})
    sent = {"__type": "File", "name": saved["name"], "url": "https://elsewhere.example.com/x.png"}
    await live_server.call("POST", "/classes/Video", {"thumbnail": sent, "title": "launch"})
    created = await client.receive()
    assert created["op"] == "create"
    assert created["object"]["thumbnail"] == {"__type": "File", "name": saved["name"], "url": saved["url"]}
    assert saved["url"] == f"{live_server.rest}/files/{APP_ID}/{saved['name']}"
    async with live_server.http.get(saved["url"]) as download:
        assert download.status == 200 and await download.read() == b"\x89PNG"
    await client.close()
