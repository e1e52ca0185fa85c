"""`callCloudCode`: Parse's GraphQL door to cloud functions.

`CloudCodeFunction` is an enum of the functions in force (the cloud module's and webhook functions), so a client
can only name one that exists; with no function neither the enum nor the mutation is in the schema. The call
goes through `services.functions.call`, the entry point of REST's `POST /functions/<name>`: validators
(`require_user`, ...), `request.user`, `request.master` and error codes are the same as there.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from graphql import GraphQLEnumType, GraphQLEnumValue, GraphQLField, GraphQLNonNull, GraphQLResolveInfo

from api.cloud.values import decode_params, encode_result
from api.graphql.context import RequestContext
from api.graphql.types import SharedTypes, relay_mutation

TYPE_NAMES = ("CloudCodeFunction", "CallCloudCodeInput", "CallCloudCodePayload")
# a GraphQL name (Parse's filter); true/false/null are names GraphQL does not allow as enum values
_ENUM_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_NOT_ENUM_VALUES = frozenset({"true", "false", "null"})


def cloud_code_fields(function_names: Iterable[str], shared: SharedTypes) -> dict[str, GraphQLField]:
    """`{"callCloudCode": ...}`, or nothing when no function can be named in GraphQL."""
    names = [name for name in function_names if _ENUM_NAME.match(name) and name not in _NOT_ENUM_VALUES]
    if not names:
        return {}
    functions = GraphQLEnumType(
        "CloudCodeFunction", {name: GraphQLEnumValue(name) for name in names},
        description="The CloudCodeFunction enum type contains a list of all available cloud code functions.")

    async def call(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        params = decode_params(input.get("params") or {})
        result = await context.services.functions.call(context.caller(), input["functionName"], params)
        return {"result": encode_result(result), "clientMutationId": input.get("clientMutationId")}

    return {"callCloudCode": relay_mutation("CallCloudCode", {"functionName": GraphQLNonNull(functions),
                                                              "params": shared.Object},
                                            {"result": shared.Any}, call)}
