"""`POST /graphql` and `GET /graphql?query=`: credentials checked as REST checks them, the request limited,
parsed, validated and run against the schema of the current classes, errors answered in one GraphQL shape.

Statuses as Parse's (Apollo's): 400 for a request that cannot run (syntax, validation, bad variables, limits),
200 with `errors` and `data` for errors while running, each with Parse's numeric code in `extensions.code`.
Unlike Parse, no error carries a stack trace, and bad keys or sessions are answered in the GraphQL shape too.
"""
from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any, Mapping

import msgspec
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import Response

from api.graphql.context import RequestContext
from api.graphql.limits import Complexity, limit_error
from api.graphql.schema import BuiltSchema, build_schema
from api.request import BodyTooLarge, Credentials, Unauthorized, header_credentials, read_body
from auth.principal import Principal
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
DOCUMENT_CACHE_SIZE = 500


class RequestFailed(Exception):
    """A request answered with `errors` only (no `data`) and this status."""

    def __init__(self, status: int, message: str, code: str | int,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors or [{"message": message, "extensions": {"code": code}}]


class SchemaHolder:
    """The GraphQL schema of the current classes, rebuilt when the schema cache's version changes."""

    def __init__(self, services: Services, subscriptions: Any = None) -> None:
        self._services = services
        self._subscriptions = subscriptions
        self._built: BuiltSchema | None = None
        self._version: tuple[int, int] = (-1, -1)
        self._warned: set[str] = set()

    def current(self) -> BuiltSchema:
        # the classes and the cloud functions in force (a --dev reload or a webhook changes them) shape the schema
        version = (self._services.schemas.version, self._services.hooks.version)
        if self._built is None or version != self._version:
            self._built = build_schema(self._services.schemas.known(), self._subscriptions,
                                       self._services.functions.names())
            self._version = version
            for warning in self._built.warnings:
                if warning not in self._warned:  # once per process, not on every rebuild
                    self._warned.add(warning)
                    log.warning("GraphQL: %s", warning)
        return self._built


def error_json(error: GraphQLError) -> dict[str, Any]:
    """One error as Parse sends it: message, locations, path and `extensions.code`; never a stack trace."""
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    original = error.original_error
    if isinstance(original, ParseError):
        out["extensions"] = {"code": original.code}
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL resolver failed at %s", error.path, exc_info=original)
        out["message"] = "Internal server error."
        out["extensions"] = {"code": int(ErrorCode.INTERNAL_SERVER_ERROR)}
    else:
        out["extensions"] = {"code": int(ErrorCode.INTERNAL_SERVER_ERROR)}
    return out


async def execute_operation(built: BuiltSchema, document: DocumentNode, context: RequestContext,
                            variables: dict[str, Any] | None, operation_name: str | None) -> tuple[int, dict[str, Any]]:
    """Run a query or mutation: (HTTP status, body). Bad variables are a 400 without `data`."""
    result = execute(built.schema, document, context_value=context, variable_values=variables,
                     operation_name=operation_name)
    if inspect.isawaitable(result):
        result = await result
    return result_body(result)  # type: ignore[arg-type]


def result_body(result: ExecutionResult) -> tuple[int, dict[str, Any]]:
    if result.data is None and result.errors and all(not e.path for e in result.errors):
        return 400, {"errors": [{**error_json(e), "extensions": {"code": "BAD_USER_INPUT"}} for e in result.errors]}
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [error_json(e) for e in result.errors]
    body["data"] = result.data
    return 200, body


def _redacted(message: str) -> str:
    """Parse hides schema names from callers without the master key: no `Did you mean ...?` suggestions."""
    cut = message.find(" Did you mean")
    return message[:cut] if cut >= 0 else message


class GraphQLEndpoint:
    def __init__(self, services: Services, schemas: SchemaHolder, cors_headers: dict[str, str]) -> None:
        self._services = services
        self._settings = services.settings
        self.schemas = schemas
        self._cors = cors_headers

    @property
    def services(self) -> Services:
        return self._services

    @property
    def settings(self) -> Any:
        return self._settings

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(_encode(body), status_code=status, headers=self._cors, media_type="application/json")

    def _failed(self, failure: RequestFailed) -> Response:
        return self._json({"errors": failure.errors}, failure.status)

    async def principal(self, credentials: Credentials) -> Principal:
        """The caller, as REST decides it; RequestFailed for bad keys (403) or a bad session (400, 209)."""
        try:
            return await self._services.authenticator.principal(credentials)
        except Unauthorized as error:
            raise RequestFailed(403, error.message, "UNAUTHORIZED") from None
        except ParseError as error:
            raise RequestFailed(400, error.message, error.code) from None

    async def handle(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=200, headers=self._cors)
        try:
            credentials = header_credentials(request.headers)
            principal = await self.principal(credentials)
            query, variables, operation_name = await self._read(request)
            return await self.run(request.method, query, variables, operation_name, principal, credentials,
                                  request.headers, request.client.host if request.client else None)
        except RequestFailed as failure:
            return self._failed(failure)

    async def _read(self, request: Request) -> tuple[str, dict[str, Any] | None, str | None]:
        if request.method == "GET":
            raw_variables = request.query_params.get("variables")
            try:
                variables = _decode(raw_variables) if raw_variables else None
            except msgspec.DecodeError:
                raise RequestFailed(400, "Variables are invalid JSON.", "BAD_REQUEST") from None
            body: Any = {"query": request.query_params.get("query"), "variables": variables,
                         "operationName": request.query_params.get("operationName")}
        else:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise RequestFailed(400, "POST body missing, invalid Content-Type, or JSON object has no keys.",
                                    "BAD_REQUEST")
            try:
                body = _decode(await read_body(request, self._settings.max_body_bytes) or b"null")
            except BodyTooLarge:
                raise RequestFailed(413, "request entity too large", int(ErrorCode.OBJECT_TOO_LARGE)) from None
            except msgspec.DecodeError:
                raise RequestFailed(400, "POST body is not valid JSON.", "BAD_REQUEST") from None
            if isinstance(body, list):
                raise RequestFailed(400, "Operation batching disabled.", "BAD_REQUEST")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"]:
            raise RequestFailed(400, "GraphQL operations must contain a non-empty `query`.", "BAD_REQUEST")
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise RequestFailed(400, "`variables` must be an object.", "BAD_REQUEST")
        operation_name = body.get("operationName")
        return body["query"], variables, operation_name if isinstance(operation_name, str) else None

    def prepare(self, built: BuiltSchema, query: str, principal: Principal) -> DocumentNode:
        """The parsed, limited and validated document; RequestFailed (400/403) otherwise."""
        checked = built.documents.get(query)
        if checked is None:
            checked = self._check(built, query)
            if len(built.documents) >= DOCUMENT_CACHE_SIZE:
                built.documents.pop(next(iter(built.documents)))
            built.documents[query] = checked
        document, complexity, errors = checked
        if isinstance(errors, RequestFailed):
            raise errors
        self.check_limits(complexity, principal)
        if errors is None:  # over the limits, so not validated yet: only the master key gets here
            errors = validate(built.schema, document)
        if errors:
            shown = [{**error_json(e), "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in errors]
            if not principal.is_master:
                for item in shown:
                    item["message"] = _redacted(item["message"])
            raise RequestFailed(400, shown[0]["message"], "GRAPHQL_VALIDATION_FAILED", shown)
        return document  # type: ignore[no-any-return]

    def _check(self, built: BuiltSchema, query: str) -> tuple[Any, Complexity | None, Any]:
        try:
            document = parse(query)
        except GraphQLError as error:
            return None, None, RequestFailed(400, error.message, "GRAPHQL_PARSE_FAILED", [
                {**error_json(error), "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}])
        fields = self._settings.graphql_max_fields
        complexity = Complexity(document, fields + 1 if fields >= 0 else 100_000)
        if limit_error(complexity, self._settings.graphql_max_depth, fields) is not None:
            return document, complexity, None  # refused before validation, unless the master key sends it
        return document, complexity, validate(built.schema, document)

    async def run(self, method: str, query: str, variables: dict[str, Any] | None, operation_name: str | None,
                  principal: Principal, credentials: Credentials, headers: Mapping[str, str] | None = None,
                  ip: str | None = None) -> Response:
        built = self.schemas.current()
        document = self.prepare(built, query, principal)
        operation = get_operation_ast(document, operation_name)
        if operation is not None and operation.operation != OperationType.QUERY and method == "GET":
            raise RequestFailed(405, "Mutations can only be sent over POST.", "BAD_REQUEST")
        if operation is not None and operation.operation == OperationType.SUBSCRIPTION:
            raise RequestFailed(400, "Subscriptions are served over websockets (graphql-transport-ws) at this path.",
                                "BAD_REQUEST")
        context = RequestContext(self._services, principal, credentials, built.classes, headers, ip)
        status, body = await execute_operation(built, document, context, variables, operation_name)
        return self._json(body, status)

    def check_limits(self, complexity: Any, principal: Principal) -> None:
        """RequestFailed for a request over the depth or field limits, or an introspection Parse refuses."""
        settings = self._settings
        if complexity.introspects and not (principal.is_master or settings.graphql_public_introspection):
            raise RequestFailed(403, "Introspection is not allowed", int(ErrorCode.OPERATION_FORBIDDEN))
        if principal.is_master:
            return
        problem = limit_error(complexity, settings.graphql_max_depth, settings.graphql_max_fields)
        if problem is not None:
            raise RequestFailed(400, problem, int(ErrorCode.INVALID_QUERY))
