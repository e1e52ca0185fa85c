"""GraphQL inputs to Parse REST JSON: `where` inputs to a REST `where`, ACL inputs to a REST ACL, and field values
to REST values. Pure and never mutating their input; the pointer and relation inputs that need writes are in
`mutations.py`."""
from __future__ import annotations

from typing import Any, Mapping

from api.graphql.names import object_id_of
from storage.schema import ClassSchema

_OPS = {
    "equalTo": "$eq", "notEqualTo": "$ne", "lessThan": "$lt", "lessThanOrEqualTo": "$lte", "greaterThan": "$gt",
    "greaterThanOrEqualTo": "$gte", "in": "$in", "notIn": "$nin", "exists": "$exists", "inQueryKey": "$select",
    "notInQueryKey": "$dontSelect", "containedBy": "$containedBy", "contains": "$all", "matchesRegex": "$regex",
    "options": "$options", "nearSphere": "$nearSphere", "maxDistance": "$maxDistance",
    "maxDistanceInRadians": "$maxDistanceInRadians", "maxDistanceInMiles": "$maxDistanceInMiles",
    "maxDistanceInKilometers": "$maxDistanceInKilometers", "within": "$within", "geoWithin": "$geoWithin",
    "geoIntersects": "$geoIntersects", "text": "$text",
}
_COMPOUND = {"OR": "$or", "AND": "$and", "NOR": "$nor"}
_LINKS = ("Pointer", "Relation")


def geo_point(value: Mapping[str, Any]) -> dict[str, Any]:
    return {"__type": "GeoPoint", "latitude": value["latitude"], "longitude": value["longitude"]}


def where_to_rest(where: Mapping[str, Any] | None, class_name: str,
                  schemas: Mapping[str, ClassSchema]) -> dict[str, Any]:
    """A `<T>WhereInput` value as the REST `where` Parse's GraphQL builds from it."""
    out: dict[str, Any] = {}
    if not where:
        return out
    schema = schemas.get(class_name)
    for name, value in where.items():
        if name in _COMPOUND:
            out[_COMPOUND[name]] = [where_to_rest(item, class_name, schemas) for item in value or ()]
            continue
        if value is None:
            continue
        if name in ("id", "objectId"):
            merged = {**out.get("objectId", {}), **_id_constraints(value, class_name)}
            out["objectId"] = merged
            continue
        kind = schema.fields.get(name) if schema is not None else None
        if kind is not None and kind.type in _LINKS and kind.target_class in schemas:
            out[name] = _link_constraint(value, kind.type, kind.target_class or "", schemas)
            continue
        for op, operand in value.items():
            if isinstance(operand, dict) and "key" in operand and "value" in operand:  # KeyValueInput
                out.setdefault(f"{name}.{operand['key']}", {})[_OPS[op]] = operand["value"]
            elif op in ("in", "notIn") and operand and isinstance(operand[0], dict) and "key" in operand[0]:
                for item in operand:
                    out.setdefault(f"{name}.{item['key']}", {}).setdefault(_OPS[op], []).append(item["value"])
            else:
                out.setdefault(name, {})[_OPS[op]] = _operand(op, operand)
    return out


def _id_constraints(constraints: Mapping[str, Any], class_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op, operand in constraints.items():
        if isinstance(operand, str):
            operand = object_id_of(operand, class_name)
        elif isinstance(operand, list):
            operand = [object_id_of(v, class_name) if isinstance(v, str) else v for v in operand]
        out[_OPS[op]] = _operand(op, operand)
    return out


def _link_constraint(value: Mapping[str, Any], kind: str, target: str,
                     schemas: Mapping[str, ClassSchema]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if value.get("have") is not None:
        out["$inQuery"] = {"where": where_to_rest(value["have"], target, schemas), "className": target}
    if value.get("haveNot") is not None:
        out["$notInQuery"] = {"where": where_to_rest(value["haveNot"], target, schemas), "className": target}
    if value.get("exists") is not None:
        if kind == "Pointer":
            out["$exists"] = value["exists"]
        else:
            key = "$inQuery" if value["exists"] else "$notInQuery"
            out[key] = {"where": {"objectId": {"$exists": True}}, "className": target}
    return out


def _operand(op: str, operand: Any) -> Any:
    if op == "nearSphere":
        return geo_point(operand)
    if op == "within":
        box = operand["box"]
        return {"$box": [geo_point(box["bottomLeft"]), geo_point(box["upperRight"])]}
    if op == "geoWithin":
        out: dict[str, Any] = {}
        if operand.get("polygon") is not None:
            out["$polygon"] = [geo_point(p) for p in operand["polygon"]]
        if operand.get("centerSphere") is not None:
            sphere = operand["centerSphere"]
            out["$centerSphere"] = [geo_point(sphere["center"]), sphere["distance"]]
        return out
    if op == "geoIntersects":
        return {"$point": geo_point(operand["point"])} if operand.get("point") else {}
    if op == "text":
        search = operand["search"]
        return {"$search": {f"${k}": v for k, v in search.items() if v is not None}}
    if op in ("inQueryKey", "notInQueryKey"):
        return {"query": {"className": operand["query"]["className"], "where": operand["query"]["where"]},
                "key": operand["key"]}
    return operand


def acl_to_rest(acl: Mapping[str, Any]) -> dict[str, Any]:
    """An `ACLInput` as a REST ACL; user ids may be global ids."""
    out: dict[str, Any] = {}
    for entry in acl.get("users") or ():
        out[object_id_of(entry["userId"], "_User")] = _rights(entry)
    for entry in acl.get("roles") or ():
        out[f"role:{entry['roleName']}"] = _rights(entry)
    if acl.get("public") is not None:
        out["*"] = _rights(acl["public"])
    return {key: rights for key, rights in out.items() if rights}


def _rights(entry: Mapping[str, Any]) -> dict[str, bool]:
    return {right: True for right in ("read", "write") if entry.get(right)}


def value_to_rest(parse_type: str, value: Any) -> Any:
    """A non-link field input as its REST value (None is left to the caller: it means unset)."""
    if parse_type == "GeoPoint":
        return geo_point(value)
    if parse_type == "Polygon":
        return {"__type": "Polygon", "coordinates": [[p["latitude"], p["longitude"]] for p in value]}
    if parse_type == "File":
        return value.get("file") if isinstance(value, dict) and "file" in value else value
    if parse_type == "ACL":
        return acl_to_rest(value)
    return value


def polygon_output(value: Any) -> list[dict[str, float]] | None:
    if not isinstance(value, dict):
        return None
    return [{"latitude": lat, "longitude": lng} for lat, lng in value.get("coordinates") or ()]
