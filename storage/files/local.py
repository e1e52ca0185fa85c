"""LocalFiles: files in one folder (`<data-dir>/files/`), written under a temporary name and renamed into place.

A crash mid-upload leaves at most a temporary file in `.incoming/` (removed at the next start), never half a file
under a real name. Metadata, when a file has any, is a JSON file in `.metadata/`. Blocking file calls run in
worker threads, so a large file never holds the event loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.files import StoredFile, is_storable_name

READ_CHUNK = 256 * 1024
_INCOMING = ".incoming"
_METADATA = ".metadata"


class LocalFiles:
    """The FilesAdapter on a local folder."""

    def __init__(self, folder: str | Path) -> None:
        self._root = Path(folder)
        self._incoming = self._root / _INCOMING
        self._metadata = self._root / _METADATA

    async def open(self) -> None:
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        try:
            shutil.rmtree(self._incoming, ignore_errors=True)  # what crashed uploads left behind
            for folder in (self._root, self._incoming, self._metadata):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, "The file store cannot be prepared.") from None

    async def close(self) -> None:
        return None

    def _path(self, name: str) -> Path:
        if not is_storable_name(name):
            raise ParseError(ErrorCode.INVALID_FILE_NAME, "Filename contains invalid characters.")
        return self._root / name

    async def create(self, name: str, chunks: AsyncIterable[bytes], *,
                     metadata: dict[str, Any] | None = None) -> StoredFile:
        target = self._path(name)
        temporary = self._incoming / f"{secrets.token_hex(8)}.part"
        try:
            handle: BinaryIO = await asyncio.to_thread(open, temporary, "xb")
        except OSError:
            raise _write_error() from None
        try:
            try:
                async for chunk in chunks:
                    if chunk:
                        await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(_flush_to_disk, handle)
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(self._publish, temporary, target, name, metadata)
        except OSError:
            raise _write_error() from None
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        found = await self.stat(name)
        if found is None:  # deleted in the instant since it was renamed into place
            raise _write_error()
        return found

    def _publish(self, temporary: Path, target: Path, name: str, metadata: dict[str, Any] | None) -> None:
        meta_path = self._metadata / f"{name}.json"
        if metadata:
            meta_temporary = temporary.with_suffix(".meta")
            meta_temporary.write_bytes(msgspec.json.encode(metadata))
            os.replace(meta_temporary, meta_path)
        else:
            meta_path.unlink(missing_ok=True)
        os.replace(temporary, target)  # atomic: readers see the old file or the whole new one
        with contextlib.suppress(OSError):  # make the rename itself durable
            folder = os.open(self._root, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    async def stat(self, name: str) -> StoredFile | None:
        if not is_storable_name(name):
            return None
        return await asyncio.to_thread(self._stat, name)

    def _stat(self, name: str) -> StoredFile | None:
        path = self._root / name
        try:
            info = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        metadata: dict[str, Any] = {}
        with contextlib.suppress(OSError, msgspec.DecodeError):
            decoded = msgspec.json.decode((self._metadata / f"{name}.json").read_bytes())
            metadata = decoded if isinstance(decoded, dict) else {}
        modified = datetime.fromtimestamp(info.st_mtime, timezone.utc)
        version = f"{info.st_ino:x}-{info.st_mtime_ns:x}-{info.st_size:x}"
        return StoredFile(name, info.st_size, modified, version, metadata)

    async def read(self, file: StoredFile, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        stop = file.length if end is None else min(end, file.length)
        try:
            handle: BinaryIO = await asyncio.to_thread(open, self._path(file.name), "rb")
        except OSError:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "File not found.") from None
        try:
            position = start
            if start:
                await asyncio.to_thread(handle.seek, start)
            while position < stop:
                chunk = await asyncio.to_thread(handle.read, min(READ_CHUNK, stop - position))
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, name: str) -> bool:
        if not is_storable_name(name):
            return False
        return await asyncio.to_thread(self._delete, name)

    def _delete(self, name: str) -> bool:
        with contextlib.suppress(OSError):
            (self._metadata / f"{name}.json").unlink(missing_ok=True)
        try:
            (self._root / name).unlink()
        except FileNotFoundError:
            return False
        except OSError:
            raise ParseError(ErrorCode.FILE_DELETE_ERROR, "Could not delete file.") from None
        return True


def _flush_to_disk(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _write_error() -> ParseError:
    return ParseError(ErrorCode.FILE_SAVE_ERROR, "Could not store file.")
