"""File triggers (`@cloud.before_save_file` ...), for the files endpoint to call around its store and delete.

The endpoint calls `before_save(caller, file)` before it stores anything (a refusal raises ParseError and
nothing is stored; a trigger may change `name`), `after_save(caller, file)` once the file is stored, and the
delete pair around a delete. `file` is the REST form: `{"__type": "File", "name", "url"?, ...}` plus whatever
metadata the endpoint knows (`contentType`, `size`). Without triggers each call is a dict look-up.
"""
from __future__ import annotations

from typing import Any

from api.cloud.runner import Caller, HookRunner
from storage.errors import ErrorCode, ParseError

FILE_TARGET = "@File"


class FileTriggers:
    def __init__(self, hooks: HookRunner) -> None:
        self._hooks = hooks

    async def before_save(self, caller: Caller, file: dict[str, Any]) -> dict[str, Any]:
        """The file as the trigger leaves it (a new dict); raises ParseError to refuse."""
        return await self._before("before_save_file", caller, file)

    async def after_save(self, caller: Caller, file: dict[str, Any]) -> None:
        await self._after("after_save_file", caller, file)

    async def before_delete(self, caller: Caller, file: dict[str, Any]) -> None:
        await self._before("before_delete_file", caller, file)

    async def after_delete(self, caller: Caller, file: dict[str, Any]) -> None:
        await self._after("after_delete_file", caller, file)

    async def _before(self, kind: str, caller: Caller, file: dict[str, Any]) -> dict[str, Any]:
        hook = self._hooks.find(kind, FILE_TARGET)
        if hook is None:
            return file
        request = await self._hooks.request_for(hook, caller, object=dict(file))
        await self._hooks.run(hook, request, caller.principal, request.object)
        changed = request.object
        if not isinstance(changed, dict) or not isinstance(changed.get("name"), str) or not changed["name"]:
            raise ParseError(ErrorCode.INVALID_FILE_NAME, f"{kind} must leave request.object a file with a name")
        return changed

    async def _after(self, kind: str, caller: Caller, file: dict[str, Any]) -> None:
        hook = self._hooks.find(kind, FILE_TARGET)
        if hook is not None:
            request = await self._hooks.request_for(hook, caller, object=dict(file))
            await self._hooks.run_after(hook, request, caller.principal)
