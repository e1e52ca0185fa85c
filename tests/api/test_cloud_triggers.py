"""Object triggers through REST: before_save/after_save/before_delete/after_delete, what they change, refuse
and answer, with Parse's codes."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.settings import Settings
from livequery.cloud import Cloud, CloudError
from tests.api.cloud_app import serving, sign_up


def review_cloud() -> Cloud:
    cloud = Cloud()

    @cloud.before_save("Review", fields={"stars": {"required": True, "type": "Number", "options": [1, 2, 3, 4, 5]}})
    def check_review(request: Any) -> None:
        if len(request.object.get("comment", "")) > 140:
            raise CloudError("comment too long")
        request.object["checked"] = True
        if isinstance(request.object.get("title"), str):
            request.object["title"] = request.object["title"].strip()
        request.context["seen_by_before"] = True

    @cloud.after_save("Review")
    async def count_review(request: Any) -> None:
        movie = request.object.get("movie")
        if movie is not None:
            await request.api.update("Movie", movie["objectId"], {"reviews": {"__op": "Increment", "amount": 1}},
                                     master=True)
        if request.context.get("seen_by_before") and request.object.get("title") == "ctx":
            await request.api.create("Log", {"context": request.context}, master=True)

    return cloud


async def test_before_save_change_reaches_the_stored_object_and_the_answer(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        created = await client.create("Review", {"stars": 4, "title": "  Great  "})
        assert created["checked"] is True and created["title"] == "Great"
        stored = (await client.find("Review"))[0]
        assert stored["checked"] is True and stored["title"] == "Great"


async def test_cloud_error_refuses_with_141_and_writes_nothing_not_even_the_class(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        response = await client.request("POST", "/classes/Review", {"stars": 3, "comment": "x" * 141})
        assert response.status_code == 400
        assert response.json() == {"code": 141, "error": "comment too long"}
        schema = await client.request("GET", "/schemas/Review", master=True)
        assert schema.status_code == 400  # the refused write created no class


async def test_validator_failure_is_142_with_parses_message(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        missing = await client.request("POST", "/classes/Review", {"title": "no stars"})
        assert missing.json() == {"code": 142, "error": "Validation failed. Please specify data for stars."}
        wrong_type = await client.request("POST", "/classes/Review", {"stars": "five"})
        assert wrong_type.json() == {"code": 142,
                                     "error": "Validation failed. Invalid type for stars. Expected: number"}
        bad_option = await client.request("POST", "/classes/Review", {"stars": 6})
        assert bad_option.json() == {"code": 142,
                                     "error": "Validation failed. Invalid option for stars. Expected: 1, 2, 3, 4, 5"}


async def test_after_save_side_effect_is_done_when_the_save_answers(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        movie = await client.create("Movie", {"title": "M", "reviews": 0})
        pointer = {"__type": "Pointer", "className": "Movie", "objectId": movie["objectId"]}
        await client.create("Review", {"stars": 5, "movie": pointer})
        await client.create("Review", {"stars": 2, "movie": pointer})
        assert (await client.find("Movie"))[0]["reviews"] == 2


async def test_context_from_before_save_reaches_after_save(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        headers = client.headers(**{"X-Parse-Cloud-Context": '{"from": "client"}'})
        response = await client.request("POST", "/classes/Review", {"stars": 1, "title": "ctx"}, headers=headers)
        assert response.status_code == 201, response.text
        logs = await client.find("Log", master=True)
        assert logs[0]["context"] == {"from": "client", "seen_by_before": True}


async def test_context_that_is_not_an_object_is_107(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        headers = client.headers(**{"X-Parse-Cloud-Context": "[1]"})
        response = await client.request("POST", "/classes/Review", {"stars": 1}, headers=headers)
        assert response.json() == {"code": 107, "error": "Invalid object for context."}


async def test_update_trigger_sees_original_and_keeps_client_ops_atomic(settings: Settings) -> None:
    cloud = Cloud()
    seen: list[tuple[Any, Any]] = []

    @cloud.before_save("Counter")
    def remember(request: Any) -> None:
        seen.append((request.original and request.original.get("n"), request.object.get("n")))
        if request.original is not None:
            request.object["previous"] = request.original.get("n")

    async with serving(settings, cloud) as client:
        created = await client.create("Counter", {"n": 1})
        path = f"/classes/Counter/{created['objectId']}"
        answers = await asyncio.gather(*(client.request("PUT", path, {"n": {"__op": "Increment", "amount": 1}})
                                         for _ in range(5)))
        assert all(a.status_code == 200 for a in answers)
        assert (await client.find("Counter"))[0]["n"] == 6  # no increment lost to the trigger's view
        assert seen[0] == (None, 1) and seen[1] == (1, 2)
        assert all("previous" in a.json() for a in answers)  # a field the trigger set is echoed


async def test_trigger_unsetting_a_field_deletes_it_and_echoes_delete(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.before_save("Note")
    def drop_secret(request: Any) -> None:
        request.object.pop("secret", None)

    async with serving(settings, cloud) as client:
        created = await client.create("Note", {"text": "a", "secret": "s"})
        assert created["secret"] == {"__op": "Delete"}
        note = (await client.find("Note"))[0]
        assert "secret" not in note


async def test_before_delete_refuses_and_the_object_stays(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.before_delete("Pinned")
    def refuse(request: Any) -> None:
        if request.object.get("pinned"):
            raise CloudError(119, "pinned objects stay")

    async with serving(settings, cloud) as client:
        pinned = await client.create("Pinned", {"pinned": True})
        loose = await client.create("Pinned", {"pinned": False})
        refused = await client.request("DELETE", f"/classes/Pinned/{pinned['objectId']}")
        assert refused.status_code == 400 and refused.json() == {"code": 119, "error": "pinned objects stay"}
        done = await client.request("DELETE", f"/classes/Pinned/{loose['objectId']}")
        assert done.status_code == 200
        assert [o["objectId"] for o in await client.find("Pinned")] == [pinned["objectId"]]


async def test_after_delete_sees_the_whole_object_and_its_failure_never_fails_the_delete(settings: Settings) -> None:
    cloud = Cloud()
    deleted: list[dict[str, Any]] = []

    @cloud.after_delete("Thing")
    def record(request: Any) -> None:
        deleted.append(request.object)
        raise CloudError("after_delete went wrong")

    async with serving(settings, cloud) as client:
        thing = await client.create("Thing", {"name": "x"})
        response = await client.request("DELETE", f"/classes/Thing/{thing['objectId']}")
        assert response.status_code == 200 and response.json() == {}
        assert deleted[0]["name"] == "x" and deleted[0]["objectId"] == thing["objectId"]


async def test_after_save_failure_or_slowness_never_changes_the_answer(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.after_save("Broken")
    def broken(request: Any) -> None:
        raise ValueError("a bug")

    @cloud.after_save("Slow", timeout=0.05)
    async def slow(request: Any) -> None:
        await asyncio.sleep(30)

    async with serving(settings, cloud) as client:
        assert (await client.request("POST", "/classes/Broken", {"a": 1})).status_code == 201
        assert (await client.request("POST", "/classes/Slow", {"a": 1})).status_code == 201


async def test_an_unexpected_exception_is_141_without_internals(settings: Settings,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    cloud = Cloud()

    @cloud.before_save("Buggy")
    def buggy(request: Any) -> None:
        {}["missing-key-internal-detail"]

    async with serving(settings, cloud) as client:
        response = await client.request("POST", "/classes/Buggy", {"a": 1})
        body = response.json()
        assert response.status_code == 400 and body["code"] == 141
        assert "missing-key-internal-detail" not in body["error"] and "KeyError" not in body["error"]
        assert "missing-key-internal-detail" in caplog.text  # the traceback is in the log


async def test_before_save_does_not_run_when_the_caller_may_not_write(settings: Settings) -> None:
    cloud = Cloud()
    calls: list[str] = []

    @cloud.before_save("Private")
    def count(request: Any) -> None:
        calls.append(request.object.get("objectId", "new"))

    async with serving(settings, cloud) as client:
        owner = await sign_up(client, "owner")
        acl = {owner["objectId"]: {"read": True, "write": True}}
        private = await client.create("Private", {"v": 1, "ACL": acl}, session=owner["sessionToken"])
        stranger = await client.request("PUT", f"/classes/Private/{private['objectId']}", {"v": 2})
        assert stranger.status_code == 404 and stranger.json()["code"] == 101
        assert calls == ["new"]


async def test_triggers_run_for_each_item_of_a_batch(settings: Settings) -> None:
    async with serving(settings, review_cloud()) as client:
        requests = [{"method": "POST", "path": "/parse/classes/Review", "body": {"stars": s}} for s in (1, 9, 3)]
        response = await client.request("POST", "/batch", {"requests": requests})
        results = response.json()
        assert results[0]["success"]["checked"] is True
        assert results[1]["error"]["code"] == 142
        assert "success" in results[2]
        assert sorted(r["stars"] for r in await client.find("Review")) == [1, 3]


async def test_user_class_given_as_User_and_signup_runs_user_triggers(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.before_save("User")
    def plan(request: Any) -> None:
        if len(request.object.get("password", "")) < 2:  # as Parse: the plaintext password is visible here
            raise CloudError("password too short")
        request.object.setdefault("plan", "free")

    async with serving(settings, cloud) as client:
        user = await sign_up(client, "ann")
        assert user["plan"] == "free" and user["sessionToken"]
        assert "password" not in user
        me = await client.request("GET", "/users/me", session=user["sessionToken"])
        assert me.json()["plan"] == "free" and "password" not in me.json()
        short = await client.request("POST", "/users", {"username": "bo", "password": "x"})
        assert short.json() == {"code": 141, "error": "password too short"}
        login = await client.request("POST", "/login", {"username": "ann", "password": "pw"})
        assert login.status_code == 200


async def test_typed_fields_date_and_pointer_are_checked_by_their_rest_type(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.before_save("Event", fields={"time": {"type": "Date", "required": True},
                                        "owner": {"type": "Pointer"}})
    def accept(request: Any) -> None:
        pass

    async with serving(settings, cloud) as client:
        when = {"__type": "Date", "iso": "2025-01-01T10:00:00.000Z"}
        assert (await client.request("POST", "/classes/Event", {"time": when})).status_code == 201
        as_text = await client.request("POST", "/classes/Event", {"time": "2025-01-01"})
        assert as_text.json() == {"code": 142, "error": "Validation failed. Invalid type for time. Expected: date"}
        missing = await client.request("POST", "/classes/Event", {"owner": None})
        assert missing.json()["error"] == "Validation failed. Please specify data for time."
        not_pointer = await client.request("POST", "/classes/Event", {"time": when, "owner": {"objectId": "x"}})
        assert not_pointer.json()["error"] == "Validation failed. Invalid type for owner. Expected: pointer"


async def test_the_hook_helpers_read_pointers_and_tell_what_a_save_changes(settings: Settings) -> None:
    """`pointer`, `id_of` and `changed` from livequery.cloud, as the example apps' rules use them."""
    from livequery.cloud import changed, id_of, pointer

    cloud = Cloud()
    seen: list[dict[str, Any]] = []

    @cloud.before_save("Post")
    def note_changes(request: Any) -> None:
        seen.append({"title": changed(request, "title"), "stars": changed(request, "stars"),
                     "author": id_of(request.object.get("author")), "missing": id_of(request.object.get("none"))})
        request.object["self"] = pointer("Post", "fixed00001")

    async with serving(settings, cloud) as client:
        created = await client.create("Post", {"title": "a", "author": {"__type": "Pointer", "className": "_User",
                                                                      "objectId": "u1"}})
        await client.request("PUT", f"/classes/Post/{created['objectId']}", {"stars": 3})
        stored = (await client.find("Post"))[0]
    assert seen == [{"title": True, "stars": False, "author": "u1", "missing": None},
                    {"title": False, "stars": True, "author": "u1", "missing": None}]
    assert stored["self"] == {"__type": "Pointer", "className": "Post", "objectId": "fixed00001"}
