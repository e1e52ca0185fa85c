"""before_find / after_find: a rewritten query holds for find, get and count; results can be rewritten."""
from __future__ import annotations

from typing import Any

from api.settings import Settings
from livequery.cloud import Cloud, CloudError, CloudQuery
from tests.api.cloud_app import serving


def visible_only() -> Cloud:
    cloud = Cloud()

    @cloud.before_find("Post")
    def only_visible(request: Any) -> None:
        if not request.master:
            request.query.equal_to("visible", True)

    @cloud.after_find("Post")
    def shout(request: Any) -> list[dict[str, Any]]:
        return [{**post, "title": post.get("title", "").upper()} for post in request.objects]

    @cloud.before_find("Closed")
    def closed(request: Any) -> None:
        raise CloudError("closed for maintenance")

    @cloud.before_find("Newest")
    def newest(request: Any) -> CloudQuery:
        return CloudQuery("Newest", request.query.where, order="-n", limit=2)

    @cloud.after_find("Hidden")
    def hide_all(request: Any) -> list[Any]:
        return []

    return cloud


async def _posts(client: Any) -> tuple[str, str]:
    shown = await client.create("Post", {"title": "shown", "visible": True})
    hidden = await client.create("Post", {"title": "hidden", "visible": False})
    return shown["objectId"], hidden["objectId"]


async def test_before_find_constraint_holds_for_find_get_and_count(settings: Settings) -> None:
    async with serving(settings, visible_only()) as client:
        shown, hidden = await _posts(client)
        found = await client.find("Post")
        assert [p["objectId"] for p in found] == [shown]
        assert (await client.request("GET", f"/classes/Post/{hidden}")).status_code == 404
        assert (await client.request("GET", f"/classes/Post/{shown}")).status_code == 200
        counted = await client.request("GET", "/classes/Post", params={"count": 1, "limit": 0})
        assert counted.json()["count"] == 1
        # ANDed with the client's own constraints
        assert await client.find("Post", where={"title": "hidden"}) == []
        assert len(await client.find("Post", master=True)) == 2


async def test_after_find_rewrites_results_of_find_and_get(settings: Settings) -> None:
    async with serving(settings, visible_only()) as client:
        shown, _ = await _posts(client)
        assert (await client.find("Post"))[0]["title"] == "SHOWN"
        assert (await client.request("GET", f"/classes/Post/{shown}")).json()["title"] == "SHOWN"


async def test_before_find_refusal_and_returned_query(settings: Settings) -> None:
    async with serving(settings, visible_only()) as client:
        await client.create("Closed", {"a": 1})
        refused = await client.request("GET", "/classes/Closed")
        assert refused.json() == {"code": 141, "error": "closed for maintenance"}
        for n in (1, 3, 2):
            await client.create("Newest", {"n": n})
        assert [o["n"] for o in await client.find("Newest")] == [3, 2]


async def test_get_whose_object_after_find_drops_is_101(settings: Settings) -> None:
    async with serving(settings, visible_only()) as client:
        hidden = await client.create("Hidden", {"a": 1})
        response = await client.request("GET", f"/classes/Hidden/{hidden['objectId']}")
        assert response.status_code == 404 and response.json()["code"] == 101


async def test_request_api_reads_go_through_find_triggers(settings: Settings) -> None:
    cloud = visible_only()

    @cloud.define("titles")
    async def titles(request: Any) -> list[str]:
        return [p["title"] for p in await request.api.find("Post")]

    async with serving(settings, cloud) as client:
        await _posts(client)
        assert (await client.request("POST", "/functions/titles", {})).json() == {"result": ["SHOWN"]}


async def test_before_find_of_an_included_class_limits_what_is_included(settings: Settings) -> None:
    async with serving(settings, visible_only()) as client:
        shown, hidden = await _posts(client)
        for post_id in (shown, hidden):
            pointer = {"__type": "Pointer", "className": "Post", "objectId": post_id}
            await client.create("Comment", {"post": pointer, "about": post_id})
        comments = await client.find("Comment", include="post")
        included = {c["about"]: c["post"] for c in comments}
        assert included[shown]["__type"] == "Object" and included[shown]["title"] == "shown"
        assert included[hidden] == {"__type": "Pointer", "className": "Post", "objectId": hidden}
