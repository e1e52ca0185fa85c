"""What a GraphQL resolver may use for one request: the caller, the REST services, and a batching pointer loader.

Every read goes through `QueryService` and every write through the REST route handlers (which call
`ObjectService`), with the caller's principal: GraphQL is another door to the same checked data path.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Mapping

from api.cloud.runner import Caller
from api.graphql.names import type_name
from api.request import Call, Credentials, cloud_context
from api.routes.system import MasterRequired
from auth.principal import Principal
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

# sibling resolvers of one level are started one loop turn apart: wait a few turns so they all join one batch
_BATCH_TURNS = 3
_BATCH_SIZE = 1000


def tagged(row: dict[str, Any], class_name: str) -> dict[str, Any]:
    """A REST object ready for GraphQL: it names its type (for Node, ParseObject and ArrayResult)."""
    row["__typename"] = type_name(class_name)
    row["__className"] = class_name
    return row


class PointerLoader:
    """Loads the targets of pointer fields in one `find` per class and level (a DataLoader): every pointer asked
    for while the resolvers of one level run is collected, then each class is queried once with `$in`, with
    the caller's permissions (ACL, CLP, protectedFields). A target the caller cannot read resolves to None."""

    def __init__(self, services: Services, principal: Principal) -> None:
        self._services = services
        self._principal = principal
        self._results: dict[tuple[str, str], asyncio.Future[dict[str, Any] | None]] = {}
        self._pending: dict[str, list[str]] = {}
        self._flush: asyncio.Task[None] | None = None

    def resolve(self, class_name: str, object_id: str) -> Any:
        """The target if it is loaded already (so the field resolves without a task), else an awaitable."""
        future = self._results.get((class_name, object_id))
        if future is not None and future.done() and future.exception() is None:
            found = future.result()
            return dict(found) if found is not None else None
        return self.load(class_name, object_id)

    async def load(self, class_name: str, object_id: str) -> dict[str, Any] | None:
        future = self._want(class_name, object_id)
        if self._flush is None and self._pending:
            self._flush = asyncio.create_task(self._dispatch())
        found = await asyncio.shield(future)
        return dict(found) if found is not None else None

    async def prefetch(self, pointers: list[tuple[str, str]]) -> None:
        """Load these targets now, in one query per class: the rows of a page are known before their fields
        are resolved, so their pointer fields then resolve without waiting."""
        for class_name, object_id in pointers:
            self._want(class_name, object_id)
        await self._flush_pending()

    def _want(self, class_name: str, object_id: str) -> asyncio.Future[dict[str, Any] | None]:
        key = (class_name, object_id)
        future = self._results.get(key)
        if future is None:
            future = self._results[key] = asyncio.get_running_loop().create_future()
            self._pending.setdefault(class_name, []).append(object_id)
        return future

    async def _dispatch(self) -> None:
        for _ in range(_BATCH_TURNS):
            await asyncio.sleep(0)
        self._flush = None
        await self._flush_pending()

    async def _flush_pending(self) -> None:
        pending, self._pending = self._pending, {}
        await asyncio.gather(*(self._load_class(name, ids) for name, ids in pending.items()))

    async def _load_class(self, class_name: str, ids: list[str]) -> None:
        found: dict[str, dict[str, Any]] = {}
        error: BaseException | None = None
        try:
            for start in range(0, len(ids), _BATCH_SIZE):
                chunk = ids[start:start + _BATCH_SIZE]
                reply = await self._services.queries.find(
                    self._principal, class_name, {"where": {"objectId": {"$in": chunk}}, "limit": len(chunk)})
                for row in reply["results"]:
                    found[row["objectId"]] = tagged(row, class_name)
        except Exception as exc:  # handed to every waiting resolver: each answers the error for its field
            error = exc
        for object_id in ids:
            future = self._results[(class_name, object_id)]
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(found.get(object_id))


class RequestContext:
    """Per request: the caller, the services, the class schemas the GraphQL schema was built from."""

    def __init__(self, services: Services, principal: Principal, credentials: Credentials,
                 schemas: dict[str, Any], headers: Mapping[str, str] | None = None, ip: str | None = None) -> None:
        self.services = services
        self.principal = principal
        self.credentials = credentials
        self.schemas = schemas
        self.headers = headers  # the HTTP request's, for cloud code (as REST's Call carries them)
        self.ip = ip
        self.loader = PointerLoader(services, principal)
        self.live: Any = None  # a subscription socket's LiveSession (subscriptions.py)

    def caller(self) -> Caller:
        """The caller as cloud code sees it, built as REST builds it (`api.cloud.runner.caller_of`)."""
        context = cloud_context(self.headers.get("x-parse-cloud-context"), None) if self.headers else None
        return Caller(self.principal, self.credentials.installation_id, self.ip, self.headers, context)

    async def rest(self, method: str, path: str, body: dict[str, Any] | None = None,
                   params: dict[str, Any] | None = None, principal: Principal | None = None) -> Any:
        """Run a Parse REST call through the same route handler REST uses; returns its JSON body."""
        call = Call(method=method, path=path, body=dict(body or {}), params=dict(params or {}),
                    credentials=self.credentials, principal=principal or self.principal)
        handler, call.path_params = self.services.router.resolve(method, path)
        try:
            reply = await handler(call, self.services)
        except MasterRequired:
            raise ParseError(ErrorCode.OPERATION_FORBIDDEN, "unauthorized: master key is required") from None
        return reply.body
