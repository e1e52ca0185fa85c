"""Users over GraphQL: `viewer`, `signUp`, `logIn`, `logOut`, run through the REST user routes (`/users`,
`/login`, `/logout`, `/users/me`), so passwords, sessions and their revocation behave exactly as over REST."""
from __future__ import annotations

from typing import Any, Mapping

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
)

from api.graphql.classes import ClassTypes
from api.graphql.context import RequestContext, tagged
from api.graphql.objects import fields_to_rest
from api.graphql.types import relay_mutation

TYPE_NAMES = ("Viewer", "SignUpInput", "SignUpPayload", "LogInInput", "LogInPayload", "LogOutInput",
              "LogOutPayload", "LogInWithInput", "LogInWithPayload", "UserLoginWithInput")
MUTATION_NAMES = ("signUp", "logIn", "logOut", "logInWith", "resetPassword", "confirmResetPassword",
                  "sendVerificationEmail", "challenge", "callCloudCode", "createFile")


def _viewer_of(user: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in user.items() if k != "sessionToken"}
    return {"sessionToken": user.get("sessionToken"), "user": tagged(row, "_User")}


async def _viewer_for_token(context: RequestContext, token: str) -> dict[str, Any]:
    principal = await context.services.sessions.resolve(token)
    me = await context.rest("GET", "/users/me", principal=principal)
    return _viewer_of({**me, "sessionToken": token})


def _viewer_type(user: ClassTypes) -> GraphQLObjectType:
    return GraphQLObjectType("Viewer", {"sessionToken": GraphQLField(GraphQLNonNull(GraphQLString)),
                                        "user": GraphQLField(GraphQLNonNull(user.output))})


def user_fields(user: ClassTypes) -> tuple[dict[str, GraphQLField], dict[str, GraphQLField]]:
    """The `viewer` query and the user mutations, sharing one Viewer type."""
    viewer_type = _viewer_type(user)
    viewer = GraphQLNonNull(viewer_type)

    async def current(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
        context: RequestContext = info.context
        return _viewer_of({**await context.rest("GET", "/users/me"),
                           "sessionToken": context.principal.session_token})

    async def sign_up(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        body = await fields_to_rest(context, "_User", input.get("fields") or {})
        created = await context.rest("POST", "/users", body)
        return {"viewer": await _viewer_for_token(context, created["sessionToken"]),
                "clientMutationId": input.get("clientMutationId")}

    async def log_in(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        user_json = await context.rest("POST", "/login", {"username": input["username"],
                                                          "password": input["password"]})
        return {"viewer": _viewer_of(user_json), "clientMutationId": input.get("clientMutationId")}

    async def log_out(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        await info.context.rest("POST", "/logout")
        return {"ok": True, "clientMutationId": input.get("clientMutationId")}

    async def log_in_with(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        body = await fields_to_rest(context, "_User", input.get("fields") or {})
        reply = await context.rest("POST", "/users", {**body, "authData": input["authData"]})
        return {"viewer": await _viewer_for_token(context, reply["sessionToken"]),
                "clientMutationId": input.get("clientMutationId")}

    login_with_fields = GraphQLInputObjectType("UserLoginWithInput", lambda: {
        k: v for k, v in user.input_map().items() if k not in ("username", "password")})
    queries = {"viewer": GraphQLField(viewer, resolve=current)}
    return queries, {
        "logInWith": relay_mutation("LogInWith", {"authData": GraphQLNonNull(user.t.Object),
                                                  "fields": login_with_fields}, {"viewer": viewer}, log_in_with),
        "signUp": relay_mutation("SignUp", {"fields": user.create_fields}, {"viewer": viewer}, sign_up),
        "logIn": relay_mutation("LogIn", {"username": GraphQLNonNull(GraphQLString),
                                          "password": GraphQLNonNull(GraphQLString)}, {"viewer": viewer}, log_in),
        "logOut": relay_mutation("LogOut", {}, {"ok": GraphQLNonNull(GraphQLBoolean)}, log_out),
    }
