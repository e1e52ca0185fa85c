"""Parse's webhooks: cloud functions and triggers implemented by another HTTP server, registered in `_Hooks`.

The server POSTs the hook's request as JSON (Parse's shape: params, object, original, user, master,
installationId, headers, ip, context, functionName / triggerName) to the hook's URL, with `X-Parse-Webhook-Key`
when `--webhook-key` is set, and expects `{"success": value}` or `{"error": message | {code, error}}`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import httpx
import msgspec

from api.cloud.values import encode_result
from auth.principal import MASTER
from livequery.cloud import SYSTEM_ALIASES, CloudError, CloudQuery, CloudRequest, Hook
from storage.errors import ErrorCode, ParseError
from storage.query import MATCH_ALL

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger("livequery.cloud.webhooks")

HOOKS_CLASS = "_Hooks"
TIMEOUT_SECONDS = 30.0
# Parse's trigger names on the wire and ours
TRIGGER_KINDS = {"beforeSave": "before_save", "afterSave": "after_save", "beforeDelete": "before_delete",
                 "afterDelete": "after_delete", "beforeFind": "before_find", "afterFind": "after_find"}
_WIRE_NAMES = {kind: name for name, kind in TRIGGER_KINDS.items()}


class Webhooks:
    """The `_Hooks` rows, and the hooks they put in force (HookRunner.use_webhooks)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._http: httpx.AsyncClient | None = None  # one connection pool for every webhook call

    def client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def rows(self) -> list[dict[str, Any]]:
        """The rows in Parse's shape. `className` is a reserved field name for our write path, so a trigger's
        class is stored as `hookClassName` (a row Parse Server wrote, with `className`, is read as well)."""
        if await self._services.schemas.get(HOOKS_CLASS) is None:
            return []
        rows = await self._services.store.find(HOOKS_CLASS, MATCH_ALL)
        for row in rows:
            if "hookClassName" in row:
                row["className"] = row.pop("hookClassName")
        return rows

    async def load(self) -> None:
        table: dict[str, dict[str, Hook]] = {}
        for row in await self.rows():
            hook = self.hook_of(row)
            if hook is not None:
                table.setdefault(hook.kind, {})[hook.target] = hook
        self._services.hooks.use_webhooks(table)

    def hook_of(self, row: dict[str, Any]) -> Hook | None:
        url = row.get("url")
        if not isinstance(url, str):
            return None
        if isinstance(row.get("functionName"), str):
            kind, target, wire = "function", row["functionName"], {"functionName": row["functionName"]}
        elif row.get("triggerName") in TRIGGER_KINDS and isinstance(row.get("className"), str):
            kind, target = TRIGGER_KINDS[row["triggerName"]], SYSTEM_ALIASES.get(row["className"], row["className"])
            wire = {"triggerName": row["triggerName"]}
        else:
            return None
        return Hook(kind, target, _caller_of(self.client, url, kind, wire, self._services.settings.webhook_key),
                    source=url)

    async def save(self, key: dict[str, Any], url: str) -> dict[str, Any]:
        """Create or re-point the hook `key` names (the caller checked both); returns it as Parse answers."""
        existing = await self._find(key)
        row = {**key, "url": url}
        body = {"url": url}
        if existing is None:
            stored = {("hookClassName" if name == "className" else name): value for name, value in row.items()}
            await self._services.objects.create(MASTER, HOOKS_CLASS, {**stored, "ACL": {}})
        else:
            await self._services.objects.update(MASTER, HOOKS_CLASS, existing["objectId"], body)
        await self.load()
        return row

    async def delete(self, key: dict[str, Any]) -> bool:
        existing = await self._find(key)
        if existing is None:
            return False
        await self._services.objects.delete(MASTER, HOOKS_CLASS, existing["objectId"])
        await self.load()
        return True

    async def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        found = await self._find(key)
        return None if found is None else public(found)

    async def _find(self, key: dict[str, Any]) -> dict[str, Any] | None:
        for row in await self.rows():
            if all(row.get(name) == value for name, value in key.items()):
                return row
        return None


def public(row: dict[str, Any]) -> dict[str, Any]:
    names = ("functionName", "url") if "functionName" in row else ("className", "triggerName", "url")
    return {name: row[name] for name in names if name in row}


def _caller_of(client: Callable[[], httpx.AsyncClient], url: str, kind: str, wire: dict[str, Any],
               key: str | None) -> Callable[[CloudRequest], Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-Parse-Webhook-Key"] = key

    async def call_webhook(request: CloudRequest) -> Any:
        payload = {**wire, **_payload(request)}
        try:
            response = await client().post(url, content=msgspec.json.encode(payload), headers=headers)
            body = response.json() if response.content else {}
        except (httpx.HTTPError, ValueError) as error:
            log.warning("webhook %s %s at %s failed: %r", kind, wire, url, error)
            raise ParseError(ErrorCode.WEBHOOK_ERROR, "Webhook request failed.") from None
        if not isinstance(body, dict):
            raise ParseError(ErrorCode.WEBHOOK_ERROR, "Malformed webhook response.")
        if "error" in body:
            error = body["error"]
            if isinstance(error, dict):
                raise CloudError(int(error.get("code", ErrorCode.SCRIPT_FAILED)),
                                 str(error.get("error") or error.get("message") or "Webhook failed."))
            raise CloudError(str(error))
        return _apply(kind, request, body.get("success"))

    return call_webhook


def _payload(request: CloudRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {"master": request.master, "ip": request.ip, "headers": request.headers,
                               "installationId": request.installation_id, "context": request.context}
    if request.user is not None:
        payload["user"] = {**request.user, "className": "_User"}
    if request.params:
        payload["params"] = request.params
    for name in ("object", "original"):
        value = getattr(request, name)
        if value is not None:
            payload[name] = value
    if isinstance(request.query, CloudQuery):
        payload["query"] = {"className": request.query.class_name, "where": request.query.where}
    if request.objects is not None:
        payload["objects"] = request.objects
    return encode_result(payload)  # type: ignore[no-any-return]


def _apply(kind: str, request: CloudRequest, result: Any) -> Any:
    """What a webhook's `success` means for each kind: a before_save returns the object to save, a before_find
    may return a where, an after_find the objects."""
    if kind == "before_save" and isinstance(result, dict) and request.object is not None:
        for name in ("createdAt", "updatedAt", "className", "objectId"):
            result.pop(name, None)
        request.object.update(result)
        return None
    if kind == "before_find" and isinstance(result, dict) and isinstance(result.get("where"), dict):
        return result["where"]
    if kind == "after_find":
        return result if isinstance(result, list) else None
    return result


def wire_name(kind: str) -> str:
    return _WIRE_NAMES.get(kind, kind)
