"""Cloud functions and `request.api`: params and results as Parse encodes them, validators, error codes, and
request.api acting as the caller, as the master key, or as nobody."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from api.settings import Settings
from livequery.cloud import Cloud, CloudError
from tests.api.cloud_app import serving, sign_up


def movie_cloud() -> Cloud:
    cloud = Cloud()

    @cloud.define("averageStars", require_user=True)
    async def average_stars(request: Any) -> float:
        reviews = await request.api.find("Review", where={"movie": request.params["movie"]}, master=True)
        return sum(r["stars"] for r in reviews) / max(len(reviews), 1)

    @cloud.define("echo")
    def echo(request: Any) -> Any:
        return {"params": request.params, "name": request.function_name, "master": request.master,
                "user": request.user and request.user["username"], "header": request.headers.get("x-custom"),
                "context": request.context, "installation": request.installation_id}

    @cloud.define("when")
    def when(request: Any) -> Any:
        moment = request.params["at"]
        assert isinstance(moment, datetime) and moment.tzinfo is not None
        return {"next": moment.replace(year=moment.year + 1), "nested": [request.params["nested"]]}

    @cloud.define("mine")
    async def mine(request: Any) -> Any:
        return {"mine": await request.api.count("Secret"), "master": await request.api.count("Secret", master=True),
                "anonymous": await request.api.count("Secret", anonymous=True)}

    @cloud.define("refuse")
    def refuse(request: Any) -> None:
        raise CloudError(request.params.get("code", 141), "no") if "code" in request.params else CloudError("no")

    @cloud.define("crash")
    def crash(request: Any) -> None:
        raise TypeError("internal detail")

    @cloud.define("withDefaults", fields={"size": {"default": 10, "type": "Number"},
                                          "kind": {"options": ["a", "b"], "error": "kind must be a or b"}})
    def with_defaults(request: Any) -> Any:
        return request.params

    @cloud.define("adminOnly", require_master=True)
    def admin_only(request: Any) -> str:
        return "ok"

    @cloud.define("needsEmail", require_user_keys=["email"])
    def needs_email(request: Any) -> str:
        return "ok"

    @cloud.define("chain")
    async def chain(request: Any) -> Any:
        return await request.api.run("echo", {"from": "chain"})

    @cloud.define("nothing")
    def nothing(request: Any) -> None:
        return None

    return cloud


async def test_function_from_the_issue_averages_with_master_reads(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        movie = await client.create("Movie", {"title": "M"})
        pointer = {"__type": "Pointer", "className": "Movie", "objectId": movie["objectId"]}
        for stars in (4, 5):
            await client.create("Review", {"movie": pointer, "stars": stars, "ACL": {}}, master=True)
        user = await sign_up(client, "ann")
        response = await client.request("POST", "/functions/averageStars", {"movie": pointer},
                                        session=user["sessionToken"])
        assert response.status_code == 200 and response.json() == {"result": 4.5}


async def test_require_user_refuses_anonymous_with_142(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        response = await client.request("POST", "/functions/averageStars", {"movie": None})
        assert response.status_code == 400
        assert response.json() == {"code": 142, "error": "Validation failed. Please login to continue."}


async def test_function_sees_caller_params_headers_and_context(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        user = await sign_up(client, "bob")
        headers = client.headers(session=user["sessionToken"], **{"X-Custom": "yes", "X-Parse-Installation-Id": "i1",
                                                                  "X-Parse-Cloud-Context": '{"a": 1}'})
        response = await client.request("POST", "/functions/echo", {"x": 1}, headers=headers)
        assert response.json()["result"] == {"params": {"x": 1}, "name": "echo", "master": False, "user": "bob",
                                             "header": "yes", "context": {"a": 1}, "installation": "i1"}


async def test_dates_in_params_are_datetimes_and_come_back_encoded(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        at = {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"}
        pointer = {"__type": "Pointer", "className": "Movie", "objectId": "m1"}
        response = await client.request("POST", "/functions/when", {"at": at, "nested": pointer})
        assert response.json()["result"] == {"next": {"__type": "Date", "iso": "2025-01-02T03:04:05.678Z"},
                                             "nested": [pointer]}


async def test_unknown_function_is_141_invalid_function(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        response = await client.request("POST", "/functions/nope", {})
        assert response.status_code == 400
        assert response.json() == {"code": 141, "error": 'Invalid function: "nope"'}


async def test_cloud_error_codes(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        plain = await client.request("POST", "/functions/refuse", {})
        assert plain.status_code == 400 and plain.json() == {"code": 141, "error": "no"}
        not_found = await client.request("POST", "/functions/refuse", {"code": 101})
        assert not_found.status_code == 404 and not_found.json() == {"code": 101, "error": "no"}
        crash = await client.request("POST", "/functions/crash", {})
        assert crash.json()["code"] == 141 and "internal detail" not in crash.text and "TypeError" not in crash.text


async def test_validator_fields_default_options_and_error(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        ok = await client.request("POST", "/functions/withDefaults", {"kind": "a"})
        assert ok.json() == {"result": {"kind": "a", "size": 10}}
        bad = await client.request("POST", "/functions/withDefaults", {"kind": "c"})
        assert bad.json() == {"code": 142, "error": "kind must be a or b"}
        wrong = await client.request("POST", "/functions/withDefaults", {"size": "big"})
        assert wrong.json() == {"code": 142, "error": "Validation failed. Invalid type for size. Expected: number"}


async def test_require_master_and_validators_skipped_for_master(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        refused = await client.request("POST", "/functions/adminOnly", {})
        assert refused.json() == {"code": 142,
                                  "error": "Validation failed. Master key is required to complete this request."}
        assert (await client.request("POST", "/functions/adminOnly", {}, master=True)).json() == {"result": "ok"}
        # as Parse: the master key skips a validator (require_user here)
        master = await client.request("POST", "/functions/averageStars", {"movie": None}, master=True)
        assert master.json() == {"result": 0}


async def test_require_user_keys(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        without = await sign_up(client, "noemail")
        response = await client.request("POST", "/functions/needsEmail", {}, session=without["sessionToken"])
        assert response.json() == {"code": 142,
                                   "error": "Validation failed. Please set data for email on your account."}
        with_email = await sign_up(client, "hasemail", email="a@example.com")
        response = await client.request("POST", "/functions/needsEmail", {}, session=with_email["sessionToken"])
        assert response.json() == {"result": "ok"}


async def test_request_api_acts_as_the_caller_by_default(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        ann = await sign_up(client, "ann")
        bob = await sign_up(client, "bob")
        for owner in (ann, ann, bob):
            acl = {owner["objectId"]: {"read": True, "write": True}}
            await client.create("Secret", {"v": 1, "ACL": acl}, session=owner["sessionToken"])
        response = await client.request("POST", "/functions/mine", {}, session=ann["sessionToken"])
        assert response.json() == {"result": {"mine": 2, "master": 3, "anonymous": 0}}


async def test_request_api_run_calls_another_function_as_the_same_caller(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        user = await sign_up(client, "cat")
        response = await client.request("POST", "/functions/chain", {}, session=user["sessionToken"])
        result = response.json()["result"]
        assert result["params"] == {"from": "chain"} and result["user"] == "cat"


async def test_function_returning_none_answers_null(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        assert (await client.request("POST", "/functions/nothing", {})).json() == {"result": None}


async def test_request_api_writes_run_their_own_triggers(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.before_save("Tagged")
    def tag(request: Any) -> None:
        request.object["tagged"] = True

    @cloud.define("make")
    async def make(request: Any) -> Any:
        created = await request.api.create("Tagged", {"n": 1}, master=True)
        updated = await request.api.update("Tagged", created["objectId"], {"n": {"__op": "Increment"}}, master=True)
        got = await request.api.get("Tagged", created["objectId"], master=True)
        first = await request.api.first("Tagged", {"n": 2}, master=True)
        await request.api.delete("Tagged", created["objectId"], master=True)
        return {"created": created["tagged"], "n": updated["n"], "got": got["objectId"] == created["objectId"],
                "first": first["n"], "left": await request.api.count("Tagged", master=True)}

    async with serving(settings, cloud) as client:
        response = await client.request("POST", "/functions/make", {})
        assert response.json() == {"result": {"created": True, "n": 2, "got": True, "first": 2, "left": 0}}


async def test_sdk_style_text_plain_body_with_credentials_reaches_the_function(settings: Settings) -> None:
    async with serving(settings, movie_cloud()) as client:
        body = {"x": 2, "_ApplicationId": "test-app", "_ClientVersion": "js8", "_InstallationId": "inst",
                "_context": {"c": True}}
        response = await client.request("POST", "/functions/echo", body, headers={"Content-Type": "text/plain"})
        result = response.json()["result"]
        assert result["params"] == {"x": 2} and result["context"] == {"c": True} and result["installation"] == "inst"




async def test_request_api_calls_nested_without_end_are_refused_not_a_crash(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.define("recurse")
    async def recurse(request: Any) -> Any:
        return await request.api.run("recurse")

    async with serving(settings, cloud) as client:
        response = await client.request("POST", "/functions/recurse", {})
        assert response.status_code == 400 and response.json()["code"] == 141
        assert "nested more than 16 deep" in response.json()["error"]


async def test_request_api_takes_datetimes_in_data_and_where(settings: Settings) -> None:
    cloud = Cloud()

    @cloud.define("schedule")
    async def schedule(request: Any) -> Any:
        at = request.params["at"]
        await request.api.create("Slot", {"at": at}, master=True)
        later = await request.api.find("Slot", {"at": {"$gte": at}}, master=True)
        return later[0]["at"]

    async with serving(settings, cloud) as client:
        at = {"__type": "Date", "iso": "2024-05-06T07:08:09.010Z"}
        response = await client.request("POST", "/functions/schedule", {"at": at})
        assert response.json() == {"result": at}
