"""File triggers (`@cloud.before_save_file` ...): the cloud side of the files service's FileHooks seam
(api/files/hooks.py: `FileService.hooks`). Each method takes the service's FileTrigger (name, principal,
content_type, size, metadata, tags, url); a hook sees it as `request.object`, the REST form
`{"__type": "File", "name", "url", "contentType", "size", "metadata", "tags"}`, and may change `name`, `metadata`
or `tags` before a save, or raise to refuse. Without file triggers each call is a dict look-up.
"""
from __future__ import annotations

from typing import Any

import msgspec

from api.cloud.runner import Caller, HookRunner
from storage.errors import ErrorCode, ParseError

FILE_TARGET = "@File"
_CHANGEABLE = ("name", "metadata", "tags")


class FileTriggers:
    def __init__(self, hooks: HookRunner) -> None:
        self._hooks = hooks

    async def before_save_file(self, file: Any) -> Any | None:
        """A changed copy of `file` (new name, metadata or tags), or None to keep it; ParseError refuses."""
        changed = await self._before("before_save_file", file)
        if changed is None:
            return None
        updates = {name: changed[name] for name in _CHANGEABLE if changed.get(name) != getattr(file, name)}
        if "name" in updates and (not isinstance(updates["name"], str) or not updates["name"]):
            raise ParseError(ErrorCode.INVALID_FILE_NAME, "before_save_file must leave the file a name")
        return msgspec.structs.replace(file, **updates) if updates else None

    async def after_save_file(self, file: Any) -> None:
        await self._after("after_save_file", file)

    async def before_delete_file(self, file: Any) -> None:
        await self._before("before_delete_file", file)

    async def after_delete_file(self, file: Any) -> None:
        await self._after("after_delete_file", file)

    async def _before(self, kind: str, file: Any) -> dict[str, Any] | None:
        hook = self._hooks.find(kind, FILE_TARGET)
        if hook is None:
            return None
        request = await self._hooks.request_for(hook, Caller(file.principal), object=file_json(file))
        await self._hooks.run(hook, request, file.principal, request.object)
        if not isinstance(request.object, dict):
            raise ParseError(ErrorCode.SCRIPT_FAILED, f"{kind} must leave request.object a dict")
        return request.object

    async def _after(self, kind: str, file: Any) -> None:
        hook = self._hooks.find(kind, FILE_TARGET)
        if hook is not None:
            request = await self._hooks.request_for(hook, Caller(file.principal), object=file_json(file))
            await self._hooks.run_after(hook, request, file.principal)


def file_json(file: Any) -> dict[str, Any]:
    return {"__type": "File", "name": file.name, "url": file.url, "contentType": file.content_type,
            "size": file.size, "metadata": dict(file.metadata), "tags": dict(file.tags)}
