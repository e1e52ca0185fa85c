"""What operators and Parse Dashboard ask of a server: `/serverInfo` (version and the features this server really
has, read from its routes), `/scriptlog` (its recent log lines) and `/ready` (readiness for a load balancer)."""
from __future__ import annotations

import asyncio
import datetime
import time
from typing import TYPE_CHECKING, Any

from api.request import Call
from api.router import Reply, Router
from api.routes.system import require_master

if TYPE_CHECKING:
    from api.services import Services

# The Parse Server release whose REST API, LiveQuery protocol and dashboard this server is tested against.
# Parse Dashboard compares it (>= 3.7.0: default values of columns, >= 3.9.0: master-key-only config).
PARSE_SERVER_VERSION = "9.0.0"
MAX_LOG_LINES = 100  # one /scriptlog answer, whatever `size` asks for
READY_STORE_SECONDS = 2.0  # a store slower than this to answer one small read counts as lost


def features(s: Services) -> dict[str, Any]:
    """Parse Server's `features`, each true only when a registered route answers it, so a feature turns on by
    itself in the release that adds its routes (hooks, jobs, push)."""
    has = s.router.handles
    config_write = has("PUT", "/config")
    hooks_read = has("GET", "/hooks/functions") and has("GET", "/hooks/triggers")
    hooks_write = has("PUT", "/hooks/functions/name")  # Parse deletes a hook with PUT {"__op": "Delete"}
    logs = has("GET", "/scriptlog")
    push = has("POST", "/push")
    return {
        "globalConfig": {"create": config_write, "read": has("GET", "/config"), "update": config_write,
                         "delete": config_write},
        "hooks": {"create": has("POST", "/hooks/functions"), "read": hooks_read, "update": hooks_write,
                  "delete": hooks_write},
        "cloudCode": {"jobs": has("GET", "/cloud_code/jobs") and has("POST", "/jobs/name")},
        "logs": {"level": logs, "size": logs, "order": logs, "until": logs, "from": logs},
        "push": {"immediatePush": push, "scheduledPush": False, "storedPushData": push,
                 "pushAudiences": has("GET", "/push_audiences"), "localization": push},
        "schemas": {"addField": has("PUT", "/schemas/Name"), "removeField": has("PUT", "/schemas/Name"),
                    "addClass": has("POST", "/schemas/Name"), "removeClass": has("DELETE", "/schemas/Name"),
                    "clearAllDataFromClass": has("DELETE", "/purge/Name"), "exportClass": False,
                    "editClassLevelPermissions": has("PUT", "/schemas/Name"),
                    "editPointerPermissions": has("PUT", "/schemas/Name")},
        "settings": {"securityCheck": has("GET", "/security")},
        "liveQuery": {"classNames": list(s.settings.live_classes or [])},
    }


async def server_info(call: Call, s: Services) -> Reply:
    require_master(call)
    return Reply({"parseServerVersion": PARSE_SERVER_VERSION, "features": features(s)})


def _epoch(value: Any) -> float | None:
    """A `from`/`until` parameter (an ISO date as the dashboard sends it, or epoch milliseconds); None when it is
    not a date, as Parse ignores an invalid one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _size(params: dict[str, Any]) -> int:
    raw = params.get("n") or params.get("size")  # `n` overrides `size`, as in Parse
    try:
        size = int(raw) if raw is not None and not isinstance(raw, bool) else 10
    except (TypeError, ValueError):
        size = 10
    return min(size if size > 0 else 10, MAX_LOG_LINES)


async def script_log(call: Call, s: Services) -> Reply:
    """Parse's logs route: `level` (info|error), `size`/`n` (default 10), `order` (desc|asc), `from`, `until`."""
    require_master(call)
    params = call.params
    level = params.get("level") if isinstance(params.get("level"), str) else "info"
    order = "asc" if params.get("order") == "asc" else "desc"
    lines = s.logs.query(level=level, size=_size(params), order=order, since=_epoch(params.get("from")),
                         until=_epoch(params.get("until")))
    return Reply([{"level": e.level, "message": e.message, "timestamp": e.timestamp} for e in lines])


async def ready(call: Call, s: Services) -> Reply:
    """Readiness, for a load balancer: 503 when the store does not answer a small read in time. The bus is
    reported but does not decide: with Redis gone REST still works here, and every process would lose it at once."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(s.store.get_schema("_User"), READY_STORE_SECONDS)
        store: dict[str, Any] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000.0, 1)}
    except Exception as error:  # unreachable, timed out, or failing: all mean "send traffic elsewhere"
        store = {"ok": False, "error": type(error).__name__}
    body = {"status": "ready" if store["ok"] else "unavailable", "store": store, "bus": s.bus.health()}
    return Reply(body, 200 if store["ok"] else 503)


def register(router: Router) -> None:
    router.add("/ready", "GET", ready)
    router.public_paths.add("/ready")
    router.add("/serverInfo", "GET", server_info)
    router.add("/scriptlog", "GET", script_log)
