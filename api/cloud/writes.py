"""The write path with object triggers: before_save → write → after_save, before_delete → delete → after_delete.

A class without triggers goes straight to ObjectService (one dict look-up). A before-trigger runs after the
permission checks and before anything is written, schema included, so a refusal leaves no trace. What it changes
in `request.object` becomes part of the write and is echoed in the answer, as Parse 9 does.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import msgspec

from api.cloud.runner import Caller, HookRunner
from api.objects import ObjectService
from api.output import to_rest
from auth.principal import MASTER
from livequery.cloud import Hook
from storage.adapter import Document
from storage.changes import Changes, apply_changes, parse_changes
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.settings import Settings

_SYSTEM = ("objectId", "createdAt", "updatedAt")
_DELETE = {"__op": "Delete"}


class Saved(msgspec.Struct):
    """A finished create or update: the stored documents, the changes applied, and the fields a before_save
    trigger changed (to add to the answer, so the SDK's object matches what was stored)."""

    after: Document
    before: Document | None = None
    changes: Changes | None = None
    echo: dict[str, Any] = {}


class CloudWrites:
    """Creates, updates and deletes with the class's triggers around ObjectService."""

    def __init__(self, settings: Settings, objects: ObjectService, hooks: HookRunner) -> None:
        self._objects = objects
        self._hooks = hooks
        self._files_url = f"{settings.server_url}/files/{settings.app_id}"

    def present(self, document: Document, class_name: str) -> dict[str, Any]:
        """A stored document as a trigger sees it: REST JSON with every field but internal ones and secrets."""
        return to_rest(document, class_name, MASTER, files_url=self._files_url)

    # --- create -------------------------------------------------------------------------------------------
    async def create(self, caller: Caller, class_name: str, body: dict[str, Any], *,
                     internal: dict[str, Any] | None = None, object_id: str | None = None,
                     shown: dict[str, Any] | None = None) -> Saved:
        """`shown`: fields a before_save trigger sees but that are not written as given (a `_User`'s plaintext
        `password`, as Parse shows it); changes to them are ignored."""
        hooks = self._hooks
        before, after = hooks.around("save", class_name)
        if before is None and after is None:
            return Saved(await self._objects.create(caller.principal, class_name, body, internal=internal,
                                                    object_id=object_id))
        context = dict(caller.context or {})
        echo: dict[str, Any] = {}
        if before is not None:
            await self._objects.check_create(caller.principal, class_name)
            view = _view({}, body, is_create=True)
            body, echo = await self._before_save(before, caller, class_name, body, view, None, context, shown)
        document = await self._objects.create(caller.principal, class_name, body, internal=internal,
                                              object_id=object_id)
        if after is not None:
            await self._after(after, caller, class_name, context, object=self.present(document, class_name))
        return Saved(document, echo=echo)

    # --- update -------------------------------------------------------------------------------------------
    async def update(self, caller: Caller, class_name: str, object_id: str, body: dict[str, Any], *,
                     internal: dict[str, Any] | None = None, shown: dict[str, Any] | None = None) -> Saved:
        hooks = self._hooks
        before, after = hooks.around("save", class_name)
        if before is None and after is None:
            old, new, changes = await self._objects.update(caller.principal, class_name, object_id, body,
                                                           internal=internal)
            return Saved(new, old, changes)
        context = dict(caller.context or {})
        echo: dict[str, Any] = {}
        if before is not None:
            stored = await self._objects.writable(caller.principal, class_name, object_id, "update")
            if stored is None:
                raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
            original = self.present(stored, class_name)
            view = _view(original, body, is_create=False)
            body, echo = await self._before_save(before, caller, class_name, body, view, original, context, shown)
        old, new, changes = await self._objects.update(caller.principal, class_name, object_id, body,
                                                       internal=internal)
        if after is not None:
            await self._after(after, caller, class_name, context, object=self.present(new, class_name),
                              original=self.present(old, class_name))
        return Saved(new, old, changes, echo)

    # --- delete -------------------------------------------------------------------------------------------
    async def delete(self, caller: Caller, class_name: str, object_id: str) -> Document:
        hooks = self._hooks
        before, after = hooks.around("delete", class_name)
        if before is None and after is None:
            return await self._objects.delete(caller.principal, class_name, object_id)
        context = dict(caller.context or {})
        if before is not None:
            stored = await self._objects.writable(caller.principal, class_name, object_id, "delete")
            if stored is None:
                raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
            request = await hooks.request_for(before, caller, object=self.present(stored, class_name),
                                              context=context)
            await hooks.run(before, request, caller.principal)
        deleted = await self._objects.delete(caller.principal, class_name, object_id)
        if after is not None:
            await self._after(after, caller, class_name, context, object=self.present(deleted, class_name))
        return deleted

    # --- triggers -----------------------------------------------------------------------------------------
    async def _before_save(self, hook: Hook, caller: Caller, class_name: str, body: dict[str, Any],
                           view: dict[str, Any], original: dict[str, Any] | None, context: dict[str, Any],
                           shown: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        request = await self._hooks.request_for(hook, caller, object={**copy.deepcopy(view), **(shown or {})},
                                                original=original, context=context)
        await self._hooks.run(hook, request, caller.principal, request.object)
        result = request.object
        if not isinstance(result, dict):
            raise ParseError(ErrorCode.SCRIPT_FAILED, "before_save must leave request.object a dict")
        for key in shown or ():
            result.pop(key, None)
        return merged_body(body, view, result, is_create=original is None)

    async def _after(self, hook: Hook, caller: Caller, class_name: str, context: dict[str, Any],
                     **fields: Any) -> None:
        request = await self._hooks.request_for(hook, caller, context=context, **fields)
        await self._hooks.run_after(hook, request, caller.principal)


def _view(original: dict[str, Any], body: dict[str, Any], *, is_create: bool) -> dict[str, Any]:
    """The object as it will be if the client's body is written: what a before_save trigger sees."""
    fields = {k: v for k, v in body.items() if k != "ACL" and k not in _SYSTEM}
    view = apply_changes(original, parse_changes(fields, is_create=is_create))
    if "ACL" in body:
        if body["ACL"] is None:
            view.pop("ACL", None)
        else:
            view["ACL"] = body["ACL"]
    return view


def merged_body(body: dict[str, Any], view: dict[str, Any], result: dict[str, Any], *,
                is_create: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body to write after a before_save trigger turned `view` into `result`, and the fields to echo.

    The client's operations stand for fields the trigger left alone (so an Increment stays atomic); a field the
    trigger set becomes a plain value, one it removed a Delete."""
    out: dict[str, Any] = {}
    echo: dict[str, Any] = {}
    for key, value in body.items():
        top = key.split(".", 1)[0]
        if key in _SYSTEM:
            out[key] = value
        elif top not in result:
            if not is_create:
                out[top] = _DELETE
            if top in view:
                echo[top] = _DELETE
        elif result[top] == view.get(top):
            out[key] = value
        else:
            out[top] = result[top]
            echo[top] = result[top]
    for key, value in result.items():
        if key in _SYSTEM or key in out or (key in view and view[key] == value):
            continue
        out[key] = value
        echo[key] = value
    for key in view:
        if key not in result and key not in _SYSTEM and key not in out and not is_create:
            out[key] = _DELETE
            echo[key] = _DELETE
    return out, {k: v for k, v in echo.items() if not _is_pointer(v)}


def _is_pointer(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__type") == "Pointer"
