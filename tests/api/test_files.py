"""Files through REST, as the SDKs send them: upload shapes, typed downloads with ranges and validators, the size
limit, Parse's `fileUpload` rules, master-only delete, File fields with server-computed URLs.

Runs on the embedded store (files under <data-dir>/files) and, with LIVEQUERY_TEST_STORE=mongodb, on GridFS.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pymongo
import pytest

from api.app import create_app
from tests.api.conftest import APP_ID, MASTER_KEY, ParseClient, make_settings

NAME = re.compile(r"^[0-9a-f]{32}_(.+)$")
FILES = "http://127.0.0.1:1337/parse/files/test-app"


async def sign_up(client: ParseClient, username: str = "ana") -> str:
    response = await client.request("POST", "/users", {"username": username, "password": "pw"})
    assert response.status_code == 201, response.text
    return str(response.json()["sessionToken"])


async def upload(client: ParseClient, name: str, data: bytes, content_type: str = "application/octet-stream",
                 *, session: str | None = None, master: bool = False) -> httpx.Response:
    headers = client.headers(master, session, **{"Content-Type": content_type})
    return await client.http.post(f"/parse/files/{quote(name)}", content=data, headers=headers)


async def download(client: ParseClient, url_or_name: str, **headers: str) -> httpx.Response:
    name = url_or_name.rsplit("/", 1)[-1]
    return await client.http.get(f"/parse/files/{APP_ID}/{name}", headers=headers)


def js_sdk_body(data: bytes, session: str | None = None, **extra: Any) -> bytes:
    """What Parse.File#save sends: JSON in a text/plain body, the credentials inside."""
    body: dict[str, Any] = {"base64": base64.b64encode(data).decode(), "fileData": {"metadata": {}, "tags": {}},
                            "_ApplicationId": APP_ID, "_ClientVersion": "js6.1.1", "_InstallationId": "i-1",
                            **extra}
    if session:
        body["_SessionToken"] = session
    return msgspec.json.encode(body)


async def app_client(tmp_path: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    application = create_app(make_settings(tmp_path, **overrides))
    await application.state.services.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver")
    return application, http


def stored_file_count(app: Any) -> int:
    """Files the store holds, looked at from outside the server: the folder, or GridFS's collections."""
    settings = app.state.services.settings
    if settings.database_uri.startswith("mongodb"):
        client: pymongo.MongoClient = pymongo.MongoClient(settings.database_uri)
        try:
            db = client.get_default_database()
            return db["fs.files"].count_documents({}) + db["fs.chunks"].count_documents({})
        finally:
            client.close()
    folder = Path(settings.data_dir) / "files"
    return sum(1 for path in folder.rglob("*") if path.is_file())


@pytest.fixture
async def user(client: ParseClient) -> str:
    return await sign_up(client)


# --- upload and download ------------------------------------------------------------------------------------------

async def test_a_raw_upload_answers_201_with_a_unique_name_and_its_url(client: ParseClient, user: str) -> None:
    response = await upload(client, "hello.txt", b"hello, files", "text/plain", session=user)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"url", "name"} and NAME.match(body["name"]).group(1) == "hello.txt"
    assert body["url"] == f"{FILES}/{body['name']}" and response.headers["location"] == body["url"]
    again = await upload(client, "hello.txt", b"hello, files", "text/plain", session=user)
    assert again.json()["name"] != body["name"]
    got = await download(client, body["url"])
    assert got.status_code == 200 and got.content == b"hello, files"
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_the_served_type_comes_from_the_extension_never_from_the_uploader(client: ParseClient,
                                                                                user: str) -> None:
    saved = (await upload(client, "note.txt", b"<script>alert(1)</script>", "text/html", session=user)).json()
    got = await download(client, saved["url"])
    assert got.headers["content-type"].startswith("text/plain") and got.headers["x-content-type-options"] == "nosniff"
    unknown = (await upload(client, "blob.qqq", b"\x00\x01", "text/html", session=user)).json()
    assert (await download(client, unknown["url"])).headers["content-type"] == "application/octet-stream"


async def test_a_10_mb_binary_file_round_trips_exactly(client: ParseClient, user: str) -> None:
    data = os.urandom(10 * 1024 * 1024)
    saved = await upload(client, "big.bin", data, session=user)
    assert saved.status_code == 201, saved.text
    got = await download(client, saved.json()["url"])
    assert got.status_code == 200 and int(got.headers["content-length"]) == len(data)
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_the_js_sdk_json_body_with_base64_and_credentials_inside_is_a_file(client: ParseClient,
                                                                                 user: str) -> None:
    data = bytes(range(256)) * 40
    body = js_sdk_body(data, user, _ContentType="image/png",
                       fileData={"metadata": {"album": "summer"}, "tags": {"t": "1"}})
    response = await client.http.post("/parse/files/photo.png", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 201, response.text
    saved = response.json()
    got = await download(client, saved["url"])
    assert got.content == data and got.headers["content-type"] == "image/png"
    meta = await client.http.get(f"/parse/files/{APP_ID}/metadata/{saved['name']}")
    assert meta.json() == {"metadata": {"album": "summer"}}


async def test_a_base64_json_body_with_header_credentials_is_decoded(client: ParseClient, user: str) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    body = msgspec.json.encode({"base64": base64.b64encode(data).decode()})
    response = await upload(client, "pic.png", body, "application/json", session=user)
    assert response.status_code == 201, response.text
    assert (await download(client, response.json()["url"])).content == data


async def test_js_sdk_8_binary_uploads_carry_metadata_in_a_header(client: ParseClient, user: str) -> None:
    headers = client.headers(session=user, **{"Content-Type": "application/pdf", "X-Parse-Upload-Mode": "stream",
                                              "X-Parse-File-Metadata": '{"pages": 3}'})
    response = await client.http.post("/parse/files/doc.pdf", content=b"%PDF-1.7", headers=headers)
    meta = await client.http.get(f"/parse/files/{APP_ID}/metadata/{response.json()['name']}")
    assert meta.json() == {"metadata": {"pages": 3}}


async def test_a_json_file_that_is_not_an_upload_shape_is_stored_as_it_is(client: ParseClient, user: str) -> None:
    data = b'{"base64": "aGk=", "other": 1}'
    response = await upload(client, "data.json", data, "application/json", session=user)
    assert (await download(client, response.json()["url"])).content == data


async def test_a_name_without_extension_gets_one_from_the_declared_type(client: ParseClient, user: str) -> None:
    saved = (await upload(client, "avatar", b"\x89PNG", "image/png", session=user)).json()
    assert NAME.match(saved["name"]).group(1) == "avatar.png"
    assert (await download(client, saved["url"])).headers["content-type"] == "image/png"


async def test_names_with_spaces_are_url_encoded_and_download(client: ParseClient, user: str) -> None:
    saved = (await upload(client, "my photo.jpg", b"jpeg", "image/jpeg", session=user)).json()
    assert NAME.match(saved["name"]).group(1) == "my photo.jpg" and saved["url"].endswith("_my%20photo.jpg")
    assert (await client.http.get(saved["url"].replace("http://127.0.0.1:1337", ""))).content == b"jpeg"


async def test_a_missing_file_is_404_and_a_wrong_app_id_is_403(client: ParseClient) -> None:
    missing = await download(client, "nothing_here.txt")
    assert missing.status_code == 404 and missing.text == "File not found."
    wrong = await client.http.get("/parse/files/other-app/x.txt")
    assert wrong.status_code == 403 and wrong.json() == {"code": 119, "error": "Invalid application ID."}


# --- ranges and validators ----------------------------------------------------------------------------------------

@pytest.fixture
async def digits(client: ParseClient, user: str) -> str:
    return str((await upload(client, "digits.txt", b"0123456789" * 100, "text/plain", session=user)).json()["url"])


@pytest.mark.parametrize(("header", "content", "content_range"), [
    ("bytes=0-9", b"0123456789", "bytes 0-9/1000"),
    ("bytes=995-", b"56789", "bytes 995-999/1000"),
    ("bytes=-3", b"789", "bytes 997-999/1000"),
    ("bytes=990-5000", b"0123456789", "bytes 990-999/1000"),
])
async def test_a_range_request_answers_206_with_those_bytes(client: ParseClient, digits: str, header: str,
                                                            content: bytes, content_range: str) -> None:
    got = await download(client, digits, range=header)
    assert got.status_code == 206 and got.content == content
    assert got.headers["content-range"] == content_range and got.headers["content-length"] == str(len(content))
    assert got.headers["accept-ranges"] == "bytes"


async def test_a_range_past_the_end_is_416_and_a_bad_one_gets_the_whole_file(client: ParseClient,
                                                                             digits: str) -> None:
    past = await download(client, digits, range="bytes=1000-")
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */1000"
    whole = await download(client, digits, range="pages=1-2")
    assert whole.status_code == 200 and len(whole.content) == 1000


async def test_etag_and_last_modified_make_a_repeat_get_304(client: ParseClient, digits: str) -> None:
    first = await download(client, digits)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = await download(client, digits, **{"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert (await download(client, digits, **{"if-modified-since": modified})).status_code == 304
    assert (await download(client, digits, **{"if-none-match": '"other"'})).status_code == 200
    stale_range = await download(client, digits, range="bytes=0-0", **{"if-range": '"other"'})
    assert stale_range.status_code == 200 and len(stale_range.content) == 1000


async def test_head_answers_the_headers_without_the_bytes(client: ParseClient, digits: str) -> None:
    name = digits.rsplit("/", 1)[-1]
    head = await client.http.head(f"/parse/files/{APP_ID}/{name}")
    assert head.status_code == 200 and head.headers["content-length"] == "1000" and head.content == b""


# --- limits and rules ---------------------------------------------------------------------------------------------

async def test_an_upload_over_the_size_limit_is_413_and_nothing_is_stored(tmp_path: Path) -> None:
    app, http = await app_client(tmp_path, max_upload_size=1000)
    try:
        client = ParseClient(http)
        user = await sign_up(client)
        assert (await upload(client, "fits.bin", b"x" * 1000, session=user)).status_code == 201
        before = stored_file_count(app)

        async def streamed() -> Any:  # no Content-Length: the limit is met while streaming
            for _ in range(5):
                yield b"y" * 300

        headers = client.headers(session=user, **{"Content-Type": "application/octet-stream"})
        too_big = await http.post("/parse/files/big.bin", content=streamed(), headers=headers)
        assert too_big.status_code == 413 and too_big.json()["code"] == 129
        declared = await upload(client, "big.bin", b"z" * 1001, session=user)
        assert declared.status_code == 413
        assert stored_file_count(app) == before
    finally:
        await http.aclose()
        await app.state.services.stop()


async def test_the_size_limit_counts_decoded_bytes_not_base64_text(tmp_path: Path) -> None:
    app, http = await app_client(tmp_path, max_upload_size=1000)
    try:
        client = ParseClient(http)
        user = await sign_up(client)
        plain = {"Content-Type": "text/plain"}
        fits = await http.post("/parse/files/a.bin", content=js_sdk_body(b"a" * 1000, user), headers=plain)
        assert fits.status_code == 201, fits.text  # 1,336 characters of base64
        over = await http.post("/parse/files/b.bin", content=js_sdk_body(b"b" * 1001, user), headers=plain)
        assert over.status_code == 413 and over.json()["code"] == 129
    finally:
        await http.aclose()
        await app.state.services.stop()


@pytest.mark.parametrize(("name", "content_type"), [
    ("page.html", "text/plain"), ("page.HTM", "text/plain"), ("page.xhtml", "text/plain"), ("p.shtml", "text/plain"),
    ("image.svg", "image/svg+xml"), ("data.xml", "text/xml"), ("style.xsl", "text/plain"),
    ("noextension", "image/svg+xml"), ("noextension", "text/html"),
])
async def test_extensions_a_browser_would_execute_are_refused(client: ParseClient, user: str, name: str,
                                                              content_type: str) -> None:
    response = await upload(client, name, b"<html><script>alert(1)</script></html>", content_type, session=user)
    assert response.status_code == 400 and response.json()["code"] == 130
    assert "is disabled" in response.json()["error"]


async def test_the_master_key_may_upload_any_extension_as_in_parse(client: ParseClient) -> None:
    response = await upload(client, "report.html", b"<p>internal</p>", "text/html", master=True)
    assert response.status_code == 201, response.text


async def test_an_extension_allow_list_replaces_the_default(tmp_path: Path) -> None:
    app, http = await app_client(tmp_path, file_extensions=("^(png|jpe?g)$",))
    try:
        client = ParseClient(http)
        user = await sign_up(client)
        assert (await upload(client, "a.jpeg", b"j", session=user)).status_code == 201
        refused = await upload(client, "a.txt", b"t", session=user)
        assert refused.json() == {"code": 130, "error": "File upload of extension txt is disabled."}
    finally:
        await http.aclose()
        await app.state.services.stop()


@pytest.mark.parametrize("name", ["a%2Fb.txt", "..%2F..%2Fetc%2Fpasswd", "x" * 129 + ".txt", "bad%01name.txt",
                                  "%20lead.txt", ".hidden"])
async def test_bad_file_names_are_invalid_file_name(client: ParseClient, user: str, name: str) -> None:
    headers = client.headers(session=user, **{"Content-Type": "text/plain"})
    response = await client.http.post(f"/parse/files/{name}", content=b"x", headers=headers)
    assert response.status_code == 400 and response.json()["code"] == 122, response.text


async def test_an_upload_without_a_name_is_invalid_file_name(client: ParseClient, user: str) -> None:
    response = await client.http.post("/parse/files", content=b"x", headers=client.headers(session=user))
    assert response.json() == {"code": 122, "error": "Filename not provided."}


async def test_an_empty_upload_is_refused_and_not_stored(client: ParseClient, user: str, app: Any) -> None:
    response = await upload(client, "empty.txt", b"", "text/plain", session=user)
    assert response.json() == {"code": 130, "error": "Invalid file upload."}
    assert stored_file_count(app) == 0


async def test_by_default_only_signed_in_users_and_the_master_key_upload(client: ParseClient, user: str) -> None:
    public = await upload(client, "a.txt", b"a", "text/plain")
    assert public.status_code == 400 and public.json() == {"code": 130, "error": "File upload by public is disabled."}
    assert (await upload(client, "a.txt", b"a", "text/plain", session=user)).status_code == 201
    assert (await upload(client, "a.txt", b"a", "text/plain", master=True)).status_code == 201
    bad_session = await upload(client, "a.txt", b"a", "text/plain", session="r:nope")
    assert bad_session.json()["code"] == 209


async def test_an_anonymous_auth_user_may_not_upload_by_default(client: ParseClient, user: str) -> None:
    # anonymous log-in is not served here: the user gets Parse's anonymous authData from the master key instead
    me = (await client.request("GET", "/users/me", session=user)).json()
    linked = await client.request("PUT", f"/users/{me['objectId']}", {"authData": {"anonymous": {"id": "a1"}}},
                                  master=True)
    assert linked.status_code == 200, linked.text
    refused = await upload(client, "a.txt", b"a", "text/plain", session=user)
    assert refused.json() == {"code": 130, "error": "File upload by anonymous user is disabled."}


async def test_upload_switches_open_to_public_and_close_to_users(tmp_path: Path) -> None:
    app, http = await app_client(tmp_path, file_upload_public=True, file_upload_authenticated=False)
    try:
        client = ParseClient(http)
        user = await sign_up(client)
        assert (await upload(client, "a.txt", b"a", "text/plain")).status_code == 201
        refused = await upload(client, "a.txt", b"a", "text/plain", session=user)
        assert refused.json() == {"code": 130, "error": "File upload by authenticated user is disabled."}
    finally:
        await http.aclose()
        await app.state.services.stop()


async def test_a_wrong_application_id_cannot_upload(client: ParseClient) -> None:
    headers = {"X-Parse-Application-Id": "other", "Content-Type": "text/plain"}
    response = await client.http.post("/parse/files/a.txt", content=b"a", headers=headers)
    assert response.status_code == 403
    no_app = await client.http.post("/parse/files/a.txt", content=b"plain bytes",
                                    headers={"Content-Type": "text/plain"})
    assert no_app.status_code == 403


# --- delete -------------------------------------------------------------------------------------------------------

async def test_only_the_master_key_deletes_a_file(client: ParseClient, user: str) -> None:
    saved = (await upload(client, "doomed.txt", b"bye", "text/plain", session=user)).json()
    as_user = await client.http.delete(f"/parse/files/{saved['name']}", headers=client.headers(session=user))
    assert as_user.status_code == 403 and (await download(client, saved["url"])).status_code == 200
    as_master = await client.http.delete(f"/parse/files/{saved['name']}", headers=client.headers(master=True))
    assert as_master.status_code == 200
    assert (await download(client, saved["url"])).status_code == 404
    again = await client.http.delete(f"/parse/files/{saved['name']}", headers=client.headers(master=True))
    assert again.status_code == 400 and again.json() == {"code": 153, "error": "Could not delete file."}


# --- File fields --------------------------------------------------------------------------------------------------

async def test_a_file_field_reads_back_with_the_servers_url_never_a_stored_one(tmp_path: Path) -> None:
    app, http = await app_client(tmp_path, public_url="https://api.example.com/")
    try:
        client = ParseClient(http)
        user = await sign_up(client)
        saved = (await upload(client, "cv.pdf", b"%PDF-1.4", "application/pdf", session=user)).json()
        assert saved["url"].startswith(f"https://api.example.com/parse/files/{APP_ID}/")
        sent = {"__type": "File", "name": saved["name"], "url": "https://evil.example.com/x.pdf"}
        created = await client.create("Booking", {"document": sent}, session=user)
        expected = {"__type": "File", "name": saved["name"], "url": saved["url"]}
        got = await client.request("GET", f"/classes/Booking/{created['objectId']}", session=user)
        assert got.json()["document"] == expected
        found = await client.find("Booking", where={"document": {"__type": "File", "name": saved["name"]}})
        assert [item["document"] for item in found] == [expected]
    finally:
        await http.aclose()
        await app.state.services.stop()


async def test_log_in_and_users_me_give_a_profile_picture_its_url(client: ParseClient, user: str) -> None:
    saved = (await upload(client, "me.png", b"\x89PNG", "image/png", session=user)).json()
    me = (await client.request("GET", "/users/me", session=user)).json()
    picture = {"__type": "File", "name": saved["name"]}
    assert (await client.request("PUT", f"/users/{me['objectId']}", {"picture": picture}, session=user)).is_success
    expected = {**picture, "url": saved["url"]}
    assert (await client.request("GET", "/users/me", session=user)).json()["picture"] == expected
    logged_in = await client.request("POST", "/login", {"username": "ana", "password": "pw"})
    assert logged_in.json()["picture"] == expected


async def test_storage_failures_answer_without_server_paths(tmp_path: Path, app: Any, client: ParseClient,
                                                           user: str) -> None:
    if app.state.services.settings.database_uri:
        pytest.skip("the embedded store's folder is what this test breaks")
    incoming = tmp_path / "files" / ".incoming"
    incoming.rmdir()
    incoming.write_text("not a folder")  # every upload now fails to open its temporary file
    response = await upload(client, "a.txt", b"a", "text/plain", session=user)
    assert response.json() == {"code": 130, "error": "Could not store file."}
    assert str(tmp_path) not in response.text and MASTER_KEY not in response.text
