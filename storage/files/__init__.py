"""Stored files: the `FilesAdapter` seam (named byte streams with a little metadata) and its name rules.

Adapters know nothing of HTTP or of who is asking: the API decides names, permissions and limits, then hands an
adapter a stream of bytes. `local.LocalFiles` keeps files in a folder, `gridfs.GridFSFiles` in MongoDB's GridFS
in Parse Server's layout.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Any, Protocol

import msgspec

from storage.errors import ErrorCode, ParseError

MAX_NAME_LENGTH = 128
# Parse's `validateFilename`: what a new upload may be called (downloads accept any name an adapter can hold)
_UPLOAD_NAME = re.compile(r"[_a-zA-Z0-9][a-zA-Z0-9@. ~_-]*")


class StoredFile(msgspec.Struct, frozen=True):
    """What an adapter knows of one stored file. `version` changes whenever the bytes under the name change."""

    name: str
    length: int
    modified: datetime  # aware, UTC
    version: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class FilesAdapter(Protocol):
    """Named files, written whole or not at all, read back as streams.

    Guarantees: `create` makes the file visible under its name only once every byte is stored; if the chunks
    iterator raises (a client went away, a size limit), nothing is left under the name and the error propagates.
    Creating a name that exists replaces it. Readers stream: no method holds a whole file in memory. Errors leave
    as ParseError with messages that name no server path and quote no driver.
    """

    async def open(self) -> None:
        """Prepare storage (folders, indexes). Idempotent."""

    async def close(self) -> None:
        ...

    async def create(self, name: str, chunks: AsyncIterable[bytes], *,
                     metadata: dict[str, Any] | None = None) -> StoredFile:
        ...

    async def stat(self, name: str) -> StoredFile | None:
        """The file under `name`, or None."""

    def read(self, file: StoredFile, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start` to `end` (exclusive; None = to the end) of the file `stat` returned, in chunks."""
        ...

    async def delete(self, name: str) -> bool:
        """Remove the file; False when there was none."""


def check_upload_name(name: str) -> None:
    """A new file's name as Parse allows it: 1-128 of letters, digits and `@. ~_-`, not starting with `.`-like
    punctuation. Anything else (a `/`, a control character, an empty name) is 122 INVALID_FILE_NAME."""
    if not name:
        raise ParseError(ErrorCode.INVALID_FILE_NAME, "Filename not provided.")
    if len(name) > MAX_NAME_LENGTH:
        raise ParseError(ErrorCode.INVALID_FILE_NAME, "Filename too long.")
    if _UPLOAD_NAME.fullmatch(name) is None:
        raise ParseError(ErrorCode.INVALID_FILE_NAME, "Filename contains invalid characters.")


def is_storable_name(name: str) -> bool:
    """A name that can be looked up safely in any adapter: no path separator, no control character, no leading
    dot (so no `.`, `..` or hidden folder), at most 255 bytes. Used for reads and deletes of names that were not
    necessarily uploaded here (a Parse database taken over)."""
    return (0 < len(name.encode()) <= 255 and not name.startswith(".") and "/" not in name and "\\" not in name
            and not any(ord(c) < 32 or ord(c) == 127 for c in name))
