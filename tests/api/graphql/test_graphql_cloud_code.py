"""`callCloudCode` with a real GraphQL client (`gql`): the function runs as over REST's POST /functions/<name>
(params, validators, request.user, headers, error codes), and the `CloudCodeFunction` enum follows the functions
in force."""
from __future__ import annotations

from typing import Any

import pytest
from gql import GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError

from api.settings import Settings
from livequery.cloud import Cloud, CloudError
from tests.api.cloud_app import serving, sign_up
from tests.api.conftest import MASTER_KEY
from tests.api.graphql.support import client_for, first_error

CALL = """mutation Call($input: CallCloudCodeInput!) { callCloudCode(input: $input) { clientMutationId result } }"""
MUTATIONS = """query { __schema { mutationType { fields { name } } }
                       __type(name: "CloudCodeFunction") { enumValues { name } } }"""


def app_cloud() -> Cloud:
    cloud = Cloud()

    @cloud.define("hello")
    def hello(request: Any) -> Any:
        return {"hello": request.params["name"], "at": request.params.get("at"), "master": request.master,
                "header": request.headers.get("x-custom"), "installation": request.installation_id,
                "context": request.context}

    @cloud.define("whoAmI", require_user=True)
    def who_am_i(request: Any) -> Any:
        return {"username": request.user["username"], "objectId": request.user["objectId"]}

    @cloud.define("refuse")
    def refuse(request: Any) -> None:
        if "code" in request.params:
            raise CloudError(request.params["code"], "not this one")
        raise CloudError("no")

    return cloud


def call(function_name: str, params: dict[str, Any] | None = None, mutation_id: str | None = None) -> GraphQLRequest:
    payload: dict[str, Any] = {"functionName": function_name, "params": params}
    if mutation_id is not None:
        payload["clientMutationId"] = mutation_id
    return GraphQLRequest(CALL, variable_values={"input": payload})


async def test_call_cloud_code_runs_the_function_with_params_and_echoes_the_mutation_id(settings: Settings) -> None:
    async with serving(settings, app_cloud()) as client:
        headers = {"X-Custom": "yes", "X-Parse-Installation-Id": "i1", "X-Parse-Cloud-Context": '{"a": 1}'}
        at = {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"}
        async with client_for(client.app, headers=headers) as session:  # type: ignore[attr-defined]
            result = await session.execute(call("hello", {"name": "Ada", "at": at}, "f1"))
            literal = await session.execute(gql(
                'mutation { callCloudCode(input: { functionName: hello, params: { name: "Bo" } }) { result } }'))
    assert result["callCloudCode"] == {"clientMutationId": "f1", "result": {
        "hello": "Ada", "at": at, "master": False, "header": "yes", "installation": "i1", "context": {"a": 1}}}
    assert literal["callCloudCode"]["result"]["hello"] == "Bo"


async def test_require_user_is_refused_without_a_session_and_sees_the_user_with_one(settings: Settings) -> None:
    async with serving(settings, app_cloud()) as client:
        user = await sign_up(client, "ann")
        async with client_for(client.app) as session:  # type: ignore[attr-defined]
            with pytest.raises(TransportQueryError) as refused:
                await session.execute(call("whoAmI"))
        async with client_for(client.app,  # type: ignore[attr-defined]
                              headers={"X-Parse-Session-Token": user["sessionToken"]}) as session:
            allowed = await session.execute(call("whoAmI"))
    assert refused.value.errors is not None
    assert refused.value.errors[0]["message"] == "Validation failed. Please login to continue."
    assert refused.value.errors[0]["extensions"]["code"] == 142 and refused.value.data == {"callCloudCode": None}
    assert allowed["callCloudCode"]["result"] == {"username": "ann", "objectId": user["objectId"]}


async def test_cloud_error_answers_its_code_and_message(settings: Settings) -> None:
    async with serving(settings, app_cloud()) as client:
        async with client_for(client.app) as session:  # type: ignore[attr-defined]
            with pytest.raises(TransportQueryError) as plain:
                await session.execute(call("refuse"))
            with pytest.raises(TransportQueryError) as coded:
                await session.execute(call("refuse", {"code": 101}))
    assert plain.value.errors is not None and coded.value.errors is not None
    assert (plain.value.errors[0]["message"], plain.value.errors[0]["extensions"]["code"]) == ("no", 141)
    assert (coded.value.errors[0]["message"], coded.value.errors[0]["extensions"]["code"]) == ("not this one", 101)
    assert coded.value.errors[0]["path"] == ["callCloudCode"]


async def test_function_name_must_be_a_value_of_the_enum(settings: Settings) -> None:
    async with serving(settings, app_cloud()) as client:
        status, error, data = await first_error(
            client, 'mutation { callCloudCode(input: { functionName: "hello" }) { result } }')
        unknown, _, _ = await first_error(client,
                                          "mutation { callCloudCode(input: { functionName: nope }) { result } }")
        schema = (await client.http.post("/graphql", json={"query": MUTATIONS},
                                         headers=client.headers(master=True))).json()["data"]
    assert status == 400 and data is None and error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # graphql-core quotes the type name with ' where graphql-js (Parse) uses "
    assert error["message"].replace("'", '"') == 'Enum "CloudCodeFunction" cannot represent non-enum value: "hello".'
    assert unknown == 400
    assert sorted(v["name"] for v in schema["__type"]["enumValues"]) == ["hello", "refuse", "whoAmI"]
    assert "callCloudCode" in {f["name"] for f in schema["__schema"]["mutationType"]["fields"]}


async def test_no_cloud_functions_no_enum_and_no_mutation(settings: Settings) -> None:
    async with serving(settings, Cloud()) as client:
        async with client_for(client.app, headers={"X-Parse-Master-Key": MASTER_KEY}) as session:  # type: ignore[attr-defined]
            schema = await session.execute(gql(MUTATIONS))
        status, error, _ = await first_error(client, CALL, {"input": {"functionName": "hello"}})
    assert schema["__type"] is None
    assert "callCloudCode" not in {f["name"] for f in schema["__schema"]["mutationType"]["fields"]}
    assert status == 400 and error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_enum_follows_a_reloaded_module_and_webhook_functions(settings: Settings) -> None:
    """The reload is the seam --dev's file watcher calls (HookRunner.use), not the watcher itself."""
    async with serving(settings, app_cloud()) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        reloaded = Cloud()
        reloaded.define("goodbye")(lambda request: "bye")
        services.hooks.use(reloaded)
        registered = await client.request("POST", "/hooks/functions", {"functionName": "remote",
                                                                       "url": "http://127.0.0.1:9/hook"}, master=True)
        assert registered.status_code == 200, registered.text
        async with client_for(client.app, headers={"X-Parse-Master-Key": MASTER_KEY}) as session:  # type: ignore[attr-defined]
            schema = await session.execute(gql(MUTATIONS))
            result = await session.execute(call("goodbye"))
        _, gone, _ = await first_error(client, CALL, {"input": {"functionName": "hello"}})
    assert sorted(v["name"] for v in schema["__type"]["enumValues"]) == ["goodbye", "remote"]
    assert result["callCloudCode"]["result"] == "bye"
    assert gone["extensions"]["code"] == "BAD_USER_INPUT"
