"""`/aggregate/{className}`: a MongoDB pipeline, or the distinct values of a field, over a class (master key only).

As parse-server's AggregateRouter: `pipeline` is a JSON array of one-key stages (an object is split into
stages; without `pipeline` the other parameters are the stages), stage names start with `$`, a `$group` has an
`_id` and no `objectId`, and every failure is INVALID_QUERY (102). `distinct=<field>` with an optional `where`
answers the field's distinct values. Only a store with `aggregate` and `distinct` (the MongoDB store) runs them.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol, cast

from api.request import Call
from api.router import Reply, Router
from api.routes.system import require_master
from storage.adapter import Document, StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.query import Node, parse_where
from storage.schema import validate_class_name

if TYPE_CHECKING:
    from api.services import Services

NOT_SUPPORTED = "aggregate is only available with the MongoDB store"
_OPTIONS = frozenset({"distinct", "where"})  # parameters that are never stages
_VISIBLE_KEY = re.compile(r"^[A-Za-z][0-9A-Za-z_]*$")  # parse-server's removeHiddenProperties


class AggregatingStore(Protocol):
    """What a store offers beyond StorageAdapter to answer `/aggregate` (storage.mongo.MongoAdapter)."""

    async def aggregate(self, class_name: str, pipeline: list[dict[str, Any]]) -> list[Document]:
        ...

    async def distinct(self, class_name: str, field: str, where: Node) -> list[Any]:
        ...


def aggregating(store: StorageAdapter) -> AggregatingStore:
    """The store, if it runs pipelines; else INVALID_QUERY (the SQLite store has none)."""
    if not (callable(getattr(store, "aggregate", None)) and callable(getattr(store, "distinct", None))):
        raise ParseError(ErrorCode.INVALID_QUERY, NOT_SUPPORTED)
    return cast(AggregatingStore, store)


def pipeline_stages(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages a request names, checked as parse-server checks them (102 otherwise)."""
    raw = params["pipeline"] if "pipeline" in params else {k: v for k, v in params.items() if k not in _OPTIONS}
    if isinstance(raw, dict):
        raw = [{name: spec} for name, spec in raw.items()]
    if not isinstance(raw, list):
        raise ParseError(ErrorCode.INVALID_QUERY, "pipeline must be an array of stages")
    stages: list[dict[str, Any]] = []
    for stage in raw:
        if not isinstance(stage, dict) or len(stage) != 1:
            keys = ", ".join(stage) if isinstance(stage, dict) else repr(stage)
            raise ParseError(ErrorCode.INVALID_QUERY, f"Pipeline stages should only have one key but found {keys}")
        ((name, spec),) = stage.items()
        if not name.startswith("$"):
            raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid aggregate stage '{name}'.")
        if name == "$group":
            if not isinstance(spec, dict):
                raise ParseError(ErrorCode.INVALID_QUERY, "Invalid parameter for query: group. Missing key _id")
            if "objectId" in spec:
                raise ParseError(ErrorCode.INVALID_QUERY, "Cannot use 'objectId' in aggregation stage $group.")
            if "_id" not in spec:
                raise ParseError(ErrorCode.INVALID_QUERY, "Invalid parameter for query: group. Missing key _id")
        stages.append({name: spec})
    return stages


def visible(row: Any) -> Any:
    """A result row without internal keys (`_rperm`, `_hashed_password`, ...), as parse-server sends it."""
    if not isinstance(row, dict):
        return row
    return {key: value for key, value in row.items() if key == "__type" or _VISIBLE_KEY.match(key)}


async def aggregate(call: Call, s: Services) -> Reply:
    require_master(call)
    class_name = validate_class_name(call.path_params["className"])
    params = call.params
    distinct = params.get("distinct")
    store = aggregating(s.store)
    stages = None if distinct is not None else pipeline_stages(params)
    schema = await s.schemas.get(class_name)
    if schema is None:
        return Reply({"results": []})
    if stages is not None:
        return Reply({"results": [visible(row) for row in await store.aggregate(class_name, stages)]})
    field = str(distinct)
    if not field:
        raise ParseError(ErrorCode.INVALID_QUERY, "distinct needs a field name")
    where = params.get("where")
    if isinstance(where, str):
        raise ParseError(ErrorCode.INVALID_JSON, "where must be a JSON object")
    scope = await s.queries.scoped_where(call.principal, schema, parse_where(where, internal=True), "find", None)
    return Reply({"results": [visible(value) for value in await store.distinct(class_name, field, scope)]})


def register(router: Router) -> None:
    router.add("/aggregate/{className}", "GET", aggregate)
