"""The FilesAdapter contract, run against every files backend: a folder (LocalFiles) and MongoDB's GridFS
(GridFSFiles, on the session's SecantusDB or MONGODB_URI)."""
from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from storage.errors import ErrorCode, ParseError
from storage.files import FilesAdapter, check_upload_name, is_storable_name


def _local(tmp_path: Path) -> tuple[FilesAdapter, Any]:
    from storage.files.local import LocalFiles

    return LocalFiles(tmp_path / "files"), None


def _gridfs(tmp_path: Path) -> tuple[FilesAdapter, Any]:
    from pymongo import AsyncMongoClient

    from storage.files.gridfs_bucket import GridFSFiles
    from tests.storage.mongo_server import fresh_database_uri

    uri = fresh_database_uri()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    return GridFSFiles(client.get_default_database()), client


FILE_STORES: dict[str, Callable[[Path], tuple[FilesAdapter, Any]]] = {"local": _local, "gridfs": _gridfs}


@pytest.fixture(params=list(FILE_STORES))
async def files(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FilesAdapter]:
    adapter, client = FILE_STORES[request.param](tmp_path)
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()
        if client is not None:
            await client.close()


async def chunks_of(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read_all(files: FilesAdapter, name: str, start: int = 0, end: int | None = None) -> bytes:
    found = await files.stat(name)
    assert found is not None
    return b"".join([chunk async for chunk in files.read(found, start, end)])


class ClientWentAway(Exception):
    pass


async def breaking_after(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ClientWentAway()


async def test_a_created_file_reads_back_byte_for_byte(files: FilesAdapter) -> None:
    data = os.urandom(700_000)  # spans several GridFS chunks
    stored = await files.create("abc_photo.png", chunks_of(data))
    assert stored.name == "abc_photo.png" and stored.length == len(data)
    assert hashlib.sha256(await read_all(files, "abc_photo.png")).digest() == hashlib.sha256(data).digest()


async def test_an_empty_file_is_stored_with_length_zero(files: FilesAdapter) -> None:
    await files.create("empty.txt", chunks_of(b""))
    found = await files.stat("empty.txt")
    assert found is not None and found.length == 0
    assert await read_all(files, "empty.txt") == b""


@pytest.mark.parametrize(("start", "end"), [(0, 1), (10, 20), (261_119, 261_125), (500_000, None), (0, None)])
async def test_a_range_reads_exactly_those_bytes(files: FilesAdapter, start: int, end: int | None) -> None:
    data = os.urandom(600_000)
    await files.create("range.bin", chunks_of(data, 77_777))
    assert await read_all(files, "range.bin", start, end) == data[start:end]


async def test_stat_of_a_missing_file_is_none(files: FilesAdapter) -> None:
    assert await files.stat("nothing_here.txt") is None


async def test_metadata_is_kept(files: FilesAdapter) -> None:
    await files.create("m.txt", chunks_of(b"x"), metadata={"owner": "ana", "n": 2})
    found = await files.stat("m.txt")
    assert found is not None and found.metadata == {"owner": "ana", "n": 2}


async def test_a_failed_upload_leaves_nothing_under_its_name(files: FilesAdapter) -> None:
    with pytest.raises(ClientWentAway):
        await files.create("half.bin", breaking_after(os.urandom(300_000)))
    assert await files.stat("half.bin") is None


async def test_a_failed_upload_keeps_the_previous_file_of_that_name(files: FilesAdapter) -> None:
    await files.create("keep.txt", chunks_of(b"first"))
    with pytest.raises(ClientWentAway):
        await files.create("keep.txt", breaking_after(b"second, broken"))
    assert await read_all(files, "keep.txt") == b"first"


async def test_creating_an_existing_name_replaces_its_bytes_and_version(files: FilesAdapter) -> None:
    first = await files.create("again.txt", chunks_of(b"one"))
    second = await files.create("again.txt", chunks_of(b"two!"))
    assert await read_all(files, "again.txt") == b"two!"
    assert first.version != second.version


async def test_delete_removes_the_file_and_reports_whether_there_was_one(files: FilesAdapter) -> None:
    await files.create("gone.txt", chunks_of(b"bye"))
    assert await files.delete("gone.txt") is True
    assert await files.stat("gone.txt") is None
    assert await files.delete("gone.txt") is False


async def test_names_with_spaces_and_symbols_parse_allows_work(files: FilesAdapter) -> None:
    name = "0f3c_my photo @2x~v1.jpeg"
    await files.create(name, chunks_of(b"jpeg"))
    assert await read_all(files, name) == b"jpeg"


@pytest.mark.parametrize("name", ["", "a/b.txt", "../x.txt", "a\x00b", "line\nbreak.txt", "x" * 129, ".hidden",
                                  "-dash.txt", "é.txt"])
def test_upload_names_parse_refuses_are_invalid_file_name(name: str) -> None:
    with pytest.raises(ParseError) as refused:
        check_upload_name(name)
    assert refused.value.code == ErrorCode.INVALID_FILE_NAME


@pytest.mark.parametrize("name", ["..", ".", "../etc/passwd", "a/b", "a\\b", "", "x\x7f"])
def test_names_that_could_leave_the_folder_are_never_looked_up(name: str) -> None:
    assert not is_storable_name(name)


async def test_the_local_store_refuses_a_path_outside_its_folder(tmp_path: Path) -> None:
    from storage.files.local import LocalFiles

    files = LocalFiles(tmp_path / "files")
    await files.open()
    (tmp_path / "secret.txt").write_text("secret")
    assert await files.stat("../secret.txt") is None
    assert await files.delete("../secret.txt") is False
    with pytest.raises(ParseError) as refused:
        await files.create("../escape.txt", chunks_of(b"x"))
    assert refused.value.code == ErrorCode.INVALID_FILE_NAME and not (tmp_path / "escape.txt").exists()
    assert (tmp_path / "secret.txt").exists()


async def test_the_local_store_clears_what_a_crashed_upload_left_at_start(tmp_path: Path) -> None:
    from storage.files.local import LocalFiles

    files = LocalFiles(tmp_path / "files")
    await files.open()
    leftover = tmp_path / "files" / ".incoming" / "dead.part"
    leftover.write_bytes(b"half")
    await LocalFiles(tmp_path / "files").open()
    assert not leftover.exists()
