"""Files in a database Parse Server wrote: GridFS documents made with pymongo exactly as Parse Server's
GridFSBucketAdapter makes them download through our URL, and files uploaded here are where Parse Server reads.

Always on MongoDB (the session's SecantusDB, or the server in MONGODB_URI), whatever LIVEQUERY_TEST_STORE says.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gridfs
import httpx
import pymongo
import pytest

from api.app import create_app
from tests.api.conftest import APP_ID, ParseClient, make_settings
from tests.storage.mongo_server import fresh_database


@pytest.fixture
def database_uri() -> Iterator[str]:
    with fresh_database() as uri:
        yield uri


@pytest.fixture
def raw(database_uri: str) -> Iterator[Any]:
    client: pymongo.MongoClient = pymongo.MongoClient(database_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database()
    finally:
        client.close()


@pytest.fixture
async def client(database_uri: str, tmp_path: Path) -> AsyncIterator[ParseClient]:
    application = create_app(make_settings(tmp_path, database_uri=database_uri))
    await application.state.services.start()
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield ParseClient(http)
    finally:
        await application.state.services.stop()


def parse_server_upload(db: Any, name: str, data: bytes, metadata: dict[str, Any] | None = None) -> None:
    """What GridFSBucketAdapter.createFile does: the default bucket, `openUploadStream(name, {metadata})`."""
    gridfs.GridFSBucket(db).upload_from_stream(name, data, metadata=metadata or {})


async def test_a_file_parse_server_stored_in_gridfs_downloads_through_our_url(raw: Any, client: ParseClient) -> None:
    data = os.urandom(600_000)  # three GridFS chunks
    name = "d41d8cd98f00b204e9800998ecf8427e_scan.pdf"
    parse_server_upload(raw, name, data, {"owner": "u1"})
    raw["Booking"].insert_one({"_id": "b1", "_created_at": datetime.now(UTC), "_updated_at": datetime.now(UTC),
                               "document": name})
    raw["_SCHEMA"].insert_one({"_id": "Booking", "objectId": "string", "updatedAt": "date", "createdAt": "date",
                               "document": "file"})
    booking = (await client.request("GET", "/classes/Booking/b1", master=True)).json()
    url = booking["document"]["url"]
    assert booking["document"]["name"] == name and url.endswith(f"/files/{APP_ID}/{name}")
    got = await client.http.get(url.replace("http://127.0.0.1:1337", ""))
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    part = await client.http.get(url.replace("http://127.0.0.1:1337", ""), headers={"Range": "bytes=261000-261200"})
    assert part.status_code == 206 and part.content == data[261000:261201]
    meta = await client.http.get(f"/parse/files/{APP_ID}/metadata/{name}")
    assert meta.json() == {"metadata": {"owner": "u1"}}


async def test_the_newest_revision_of_a_name_is_served_as_parse_server_reads_it(raw: Any,
                                                                                client: ParseClient) -> None:
    parse_server_upload(raw, "same.txt", b"old")
    parse_server_upload(raw, "same.txt", b"new")
    assert (await client.http.get(f"/parse/files/{APP_ID}/same.txt")).content == b"new"
    deleted = await client.http.delete("/parse/files/same.txt", headers=client.headers(master=True))
    assert deleted.status_code == 200 and raw["fs.files"].count_documents({"filename": "same.txt"}) == 0


async def test_a_file_uploaded_here_is_in_parse_servers_layout(raw: Any, client: ParseClient) -> None:
    data = b"written here, read by Parse Server"
    response = await client.http.post("/parse/files/note.txt", content=data,
                                      headers=client.headers(master=True, **{"Content-Type": "text/plain"}))
    name = response.json()["name"]
    [document] = list(raw["fs.files"].find({"filename": name}))
    assert document["length"] == len(data) and document["metadata"] == {}
    assert isinstance(document["uploadDate"], datetime) and document["chunkSize"] == 255 * 1024
    assert gridfs.GridFSBucket(raw).open_download_stream_by_name(name).read() == data
