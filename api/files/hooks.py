"""The seam for cloud code's file triggers (Parse's beforeSave/afterSave/beforeDelete/afterDelete on `Parse.File`).

The files service calls these when `FileService.hooks` is set; the cloud module implements them. Uploads
stream, so a before-save hook sees the file's name, type, metadata and (when the client declared it) size, not
its bytes: it may rename the file or change its metadata and tags by returning a changed `FileTrigger`, or refuse
it by raising a ParseError (the client gets that error and nothing is stored).
"""
from __future__ import annotations

from typing import Any, Protocol

import msgspec

from auth.principal import Principal


class FileTrigger(msgspec.Struct, frozen=True):
    """One file as a trigger sees it. `name` is the name the client gave before a save and the stored name
    after it (and for deletes); `url` is set once the file is stored."""

    name: str
    principal: Principal
    content_type: str | None = None
    size: int | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: dict[str, Any] = msgspec.field(default_factory=dict)
    url: str | None = None


class FileHooks(Protocol):
    async def before_save_file(self, file: FileTrigger) -> FileTrigger | None:
        """Return a changed FileTrigger to rename the file or change its metadata/tags, None to keep it."""

    async def after_save_file(self, file: FileTrigger) -> None:
        ...

    async def before_delete_file(self, file: FileTrigger) -> None:
        ...

    async def after_delete_file(self, file: FileTrigger) -> None:
        ...
