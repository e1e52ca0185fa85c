"""The files service: who may upload, names, the size limit and the cloud hooks around a FilesAdapter.

HTTP stays in `api.files.http`: this service takes a principal and a stream of bytes and answers Parse's
`{url, name}`. Uploads pass through it chunk by chunk; nothing larger than a chunk is held here.
"""
from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import quote

import msgspec

from api.files.hooks import FileHooks, FileTrigger
from api.files.policy import UploadRules, bare_type, check_extension, check_uploader, stored_name
from api.objects import by_id
from auth.principal import Principal
from storage.adapter import FindOptions, StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.files import FilesAdapter, StoredFile, check_upload_name, is_storable_name

_ONE = FindOptions(limit=1)


class FileTooLarge(ParseError):
    """More bytes than `maxUploadSize`: answered 413, and nothing is stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(ErrorCode.FILE_TOO_LARGE, f"File size exceeds maximum allowed: {limit} bytes.")


class FileService:
    """Uploads, downloads and deletes files for a principal. `hooks` (cloud code's file triggers) is optional."""

    def __init__(self, adapter: FilesAdapter, rules: UploadRules, store: StorageAdapter, files_url: str) -> None:
        """`files_url` is the public prefix files are served under: `<server url>/files/<app id>`."""
        self.adapter = adapter
        self.rules = rules
        self.hooks: FileHooks | None = None
        self._store = store
        self._files_url = files_url

    def url_for(self, name: str) -> str:
        return f"{self._files_url}/{quote(name, safe='')}"

    async def check_may_upload(self, principal: Principal) -> None:
        """Parse's `fileUpload` switches; cheap enough to run before a byte of the body is read."""
        rules = self.rules
        anonymous = False
        if (principal.user_id is not None and not principal.is_master
                and rules.enable_for_anonymous_user != rules.enable_for_authenticated_user):
            anonymous = await self._is_anonymous_user(principal.user_id)
        check_uploader(rules, principal, anonymous)

    async def upload(self, principal: Principal, filename: str, declared_type: str | None,
                     chunks: AsyncIterable[bytes], *, size: int | None = None,
                     metadata: dict[str, Any] | None = None, tags: dict[str, Any] | None = None) -> dict[str, str]:
        """Store the bytes under a new unique name; `size` is the length when known in advance (checked early).
        Returns Parse's `{"url", "name"}`."""
        await self.check_may_upload(principal)
        declared = bare_type(declared_type)
        check_upload_name(filename)
        check_extension(self.rules, principal, filename, declared)
        if size is not None and size > self.rules.max_upload_bytes:
            raise FileTooLarge(self.rules.max_upload_bytes)
        trigger = FileTrigger(filename, principal, declared, size, dict(metadata or {}), dict(tags or {}))
        if self.hooks is not None:
            trigger = await self.hooks.before_save_file(trigger) or trigger
            if trigger.name != filename:
                check_upload_name(trigger.name)
                check_extension(self.rules, principal, trigger.name, trigger.content_type)
        name = stored_name(trigger.name, trigger.content_type)
        stored = await self.adapter.create(name, self._limited(chunks), metadata=trigger.metadata)
        saved = {"url": self.url_for(name), "name": name}
        if self.hooks is not None:
            await self.hooks.after_save_file(msgspec.structs.replace(trigger, name=name, size=stored.length,
                                                                     url=saved["url"]))
        return saved

    async def _limited(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The upload's bytes, stopped (so the adapter discards them) past the limit or when there are none."""
        limit, total = self.rules.max_upload_bytes, 0
        async for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise FileTooLarge(limit)
            yield chunk
        if total == 0:
            raise ParseError(ErrorCode.FILE_SAVE_ERROR, "Invalid file upload.")

    async def find(self, name: str) -> StoredFile | None:
        return await self.adapter.stat(name) if is_storable_name(name) else None

    def read(self, file: StoredFile, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.adapter.read(file, start, end)

    async def delete(self, principal: Principal, name: str) -> None:
        """Master key only (the caller checks it); a file that is not there is 153, as in Parse."""
        if principal.is_read_only_master:
            raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                             "read-only masterKey isn't allowed to perform the delete operation.")
        trigger = FileTrigger(name, principal, url=self.url_for(name))
        if self.hooks is not None:
            await self.hooks.before_delete_file(trigger)
        if not is_storable_name(name) or not await self.adapter.delete(name):
            raise ParseError(ErrorCode.FILE_DELETE_ERROR, "Could not delete file.")
        if self.hooks is not None:
            await self.hooks.after_delete_file(trigger)

    async def _is_anonymous_user(self, user_id: str) -> bool:
        """Whether the user signed up through Parse's anonymous auth (`authData.anonymous`)."""
        found = await self._store.find("_User", by_id(user_id), _ONE)
        auth_data = found[0].get("authData") if found else None
        return isinstance(auth_data, dict) and bool(auth_data.get("anonymous"))
