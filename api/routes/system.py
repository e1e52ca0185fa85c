"""Server-level routes: `/health`, `/purge/{className}`, `/config`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.request import Call
from api.router import Reply, Router
from storage.changes import Changes, SetValue
from storage.errors import ErrorCode, ParseError
from storage.query import MATCH_ALL, Compare, Field
from storage.schema import validate_class_name
from storage.values import now_iso

if TYPE_CHECKING:
    from api.services import Services

_CONFIG_CLASS, _CONFIG_ID = "_GlobalConfig", "1"


class MasterRequired(Exception):
    """Answered as 403 `{"error": "unauthorized: master key is required"}`."""


def require_master(call: Call, *, write: bool = False) -> None:
    if not call.principal.is_master:
        raise MasterRequired()
    if write and call.principal.is_read_only_master:
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN, "read-only masterKey isn't allowed to perform this operation.")


async def health(call: Call, s: Services) -> Reply:
    return Reply({"status": "ok", **s.health_details()})


async def purge(call: Call, s: Services) -> Reply:
    require_master(call, write=True)
    class_name = validate_class_name(call.path_params["className"])
    if await s.schemas.get(class_name) is not None:
        await s.store.purge(class_name)
    return Reply({})


async def _stored_config(s: Services) -> dict[str, Any]:
    # Parse Server keeps `_GlobalConfig` out of its schemas, so look for the object even without a schema
    found = await s.store.find(_CONFIG_CLASS, Field(("objectId",), (Compare("$eq", _CONFIG_ID),)))
    return found[0] if found else {}


async def get_config(call: Call, s: Services) -> Reply:
    stored = await _stored_config(s)
    params: dict[str, Any] = dict(stored.get("params") or {})
    master_only: dict[str, bool] = dict(stored.get("masterKeyOnly") or {})
    if not call.principal.is_master:
        params = {k: v for k, v in params.items() if not master_only.get(k)}
        return Reply({"params": params})
    return Reply({"params": params, "masterKeyOnly": master_only})


async def put_config(call: Call, s: Services) -> Reply:
    require_master(call, write=True)
    updates, master_only = call.body.get("params", {}), call.body.get("masterKeyOnly", {})
    if not isinstance(updates, dict) or not isinstance(master_only, dict):
        raise ParseError(ErrorCode.INVALID_JSON, "params and masterKeyOnly must be objects")
    stored = await _stored_config(s)
    params = {**(stored.get("params") or {}), **updates}
    for key, value in updates.items():
        if isinstance(value, dict) and value.get("__op") == "Delete":
            params.pop(key, None)
    flags = {**(stored.get("masterKeyOnly") or {}), **{k: bool(v) for k, v in master_only.items()}}
    flags = {k: v for k, v in flags.items() if k in params}
    if not stored:
        if await s.schemas.get(_CONFIG_CLASS) is None:
            await s.schemas.ensure(_CONFIG_CLASS, {})
        now = now_iso()
        await s.store.insert(_CONFIG_CLASS, {"objectId": _CONFIG_ID, "createdAt": now, "updatedAt": now,
                                              "params": params, "masterKeyOnly": flags})
    else:
        changes = Changes({("params",): SetValue(params), ("masterKeyOnly",): SetValue(flags)})
        await s.store.update(_CONFIG_CLASS, _CONFIG_ID, changes, MATCH_ALL, now_iso())
    return Reply({"result": True})


def register(router: Router) -> None:
    router.add("/health", "GET", health)
    router.add("/health", "POST", health)
    router.public_paths.add("/health")
    router.add("/purge/{className}", "DELETE", purge)
    router.add("/config", "GET", get_config)
    router.add("/config", "PUT", put_config)
