"""GridFSFiles: files in MongoDB's GridFS, in the layout of Parse Server's GridFSBucketAdapter.

That layout is the default bucket (`fs.files`, `fs.chunks`), the file's name as `filename`, Parse's file
metadata as `metadata`, nothing else. So the files of a Parse Server database download here unchanged and files
written here are readable by Parse Server. Several documents may share a name (Parse Server never replaces one):
reads take the newest, a delete removes them all. Files Parse Server stored with an `encryptionKey` are not
decrypted.

A file appears only when its `fs.files` document is inserted, after all its chunks, so a failed upload is never
visible (its chunks are removed). The driver buffers an upload's chunks until it ends (up to 48 MB), so memory per
upload is the file's size; downloads stream one chunk (255 KB) at a time.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timezone
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket, AsyncGridOut, NoFile
from gridfs.errors import CorruptGridFile
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from storage.errors import ErrorCode, ParseError
from storage.files import StoredFile

log = logging.getLogger(__name__)

BUCKET = "fs"  # Parse Server's GridFSBucketAdapter uses the driver's default bucket


@contextmanager
def _translated(code: ErrorCode, message: str, action: str) -> Iterator[None]:
    """Driver errors leave as a Parse error whose message quotes no driver text (the log has it)."""
    try:
        yield
    except ParseError:
        raise
    except (PyMongoError, CorruptGridFile) as exc:
        log.error("GridFS error while %s: %r", action, exc)
        raise ParseError(code, message) from None


class GridFSFiles:
    """The FilesAdapter on a MongoDB database's GridFS bucket."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._database = database
        self._bucket = AsyncGridFSBucket(database, bucket_name=BUCKET)
        self._files = database[f"{BUCKET}.files"]

    async def open(self) -> None:
        # the indexes the GridFS spec asks for (the driver also makes them on a first write into an empty bucket)
        with _translated(ErrorCode.INTERNAL_SERVER_ERROR, "The file store cannot be prepared.", "indexing"):
            await self._files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
            await self._database[f"{BUCKET}.chunks"].create_index([("files_id", ASCENDING), ("n", ASCENDING)],
                                                                  unique=True)

    async def close(self) -> None:
        return None  # the client belongs to the store

    async def create(self, name: str, chunks: AsyncIterable[bytes], *,
                     metadata: dict[str, Any] | None = None) -> StoredFile:
        upload = self._bucket.open_upload_stream(name, metadata=metadata or {})
        try:
            with _translated(ErrorCode.FILE_SAVE_ERROR, "Could not store file.", "storing a file"):
                async for chunk in chunks:
                    if chunk:
                        await upload.write(chunk)
                await upload.close()
        except BaseException:
            if not upload.closed:
                with _translated(ErrorCode.FILE_SAVE_ERROR, "Could not store file.", "removing a failed upload"):
                    await upload.abort()
            raise
        return StoredFile(name, int(upload.length), upload.upload_date.astimezone(timezone.utc), str(upload._id),
                          dict(metadata or {}))

    async def stat(self, name: str) -> StoredFile | None:
        with _translated(ErrorCode.INTERNAL_SERVER_ERROR, "Could not read file.", "finding a file"):
            document = await self._files.find_one({"filename": name}, sort=[("uploadDate", DESCENDING)])
        if document is None:
            return None
        uploaded = document.get("uploadDate")
        metadata = document.get("metadata")
        return StoredFile(name, int(document.get("length") or 0), uploaded.astimezone(timezone.utc),
                          str(document["_id"]), metadata if isinstance(metadata, dict) else {})

    async def read(self, file: StoredFile, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        stop = file.length if end is None else min(end, file.length)
        stream = AsyncGridOut(self._database[BUCKET], file_id=_object_id(file.version))
        try:
            with _translated(ErrorCode.INTERNAL_SERVER_ERROR, "Could not read file.", "reading a file"):
                try:
                    await stream.open()
                except NoFile:
                    raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "File not found.") from None
                position = await stream.seek(start)
                while position < stop:
                    chunk = await stream.readchunk()
                    if not chunk:
                        break
                    if position + len(chunk) > stop:
                        chunk = chunk[:stop - position]
                    position += len(chunk)
                    yield chunk
        finally:
            await stream.close()

    async def delete(self, name: str) -> bool:
        with _translated(ErrorCode.FILE_DELETE_ERROR, "Could not delete file.", "deleting a file"):
            ids = [doc["_id"] async for doc in self._files.find({"filename": name}, {"_id": 1})]
            for file_id in ids:
                try:
                    await self._bucket.delete(file_id)
                except NoFile:  # removed by someone else meanwhile
                    pass
        return bool(ids)


def _object_id(version: str) -> Any:
    """`_id`s Parse Server writes are ObjectIds; others (written by other tools) are kept as found."""
    return ObjectId(version) if ObjectId.is_valid(version) else version
