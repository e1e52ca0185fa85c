"""The pure rules behind /files: Parse's fileUpload switches, the extension rule, names, sizes, byte ranges, and
the seam cloud code's file triggers plug into (exercised with a recording hooks object, the cloud module being
built elsewhere)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.files.hooks import FileTrigger
from api.files.policy import (
    UploadRules,
    check_extension,
    check_uploader,
    content_type_for,
    parse_size,
    stored_name,
)
from api.files.ranges import Unsatisfiable, is_not_modified, requested_range
from api.files.service import FileService
from auth.principal import ANONYMOUS, MASTER, Principal
from storage.errors import ErrorCode, ParseError
from storage.files import StoredFile
from storage.files.local import LocalFiles
from storage.sqlite import SqliteAdapter

USER = Principal(user_id="u1")
READ_ONLY_MASTER = Principal(is_master=True, is_read_only_master=True)


@pytest.mark.parametrize(("rules", "principal", "anonymous", "refusal"), [
    (UploadRules(), ANONYMOUS, False, "File upload by public is disabled."),
    (UploadRules(), USER, False, None),
    (UploadRules(), USER, True, "File upload by anonymous user is disabled."),
    (UploadRules(), MASTER, False, None),
    (UploadRules(enable_for_public=True), ANONYMOUS, False, None),
    (UploadRules(enable_for_anonymous_user=True), USER, True, None),
    (UploadRules(enable_for_authenticated_user=False), USER, False, "File upload by authenticated user is disabled."),
    (UploadRules(enable_for_authenticated_user=False, enable_for_public=False), MASTER, False, None),
])
def test_who_may_upload_follows_parse_9s_file_upload_options(rules: UploadRules, principal: Principal,
                                                             anonymous: bool, refusal: str | None) -> None:
    if refusal is None:
        check_uploader(rules, principal, anonymous)
        return
    with pytest.raises(ParseError) as refused:
        check_uploader(rules, principal, anonymous)
    assert (refused.value.code, refused.value.message) == (ErrorCode.FILE_SAVE_ERROR, refusal)


def test_the_read_only_master_key_cannot_upload() -> None:
    with pytest.raises(ParseError) as refused:
        check_uploader(UploadRules(), READ_ONLY_MASTER, False)
    assert refused.value.code == ErrorCode.OPERATION_FORBIDDEN


@pytest.mark.parametrize(("name", "declared", "allowed"), [
    ("a.png", None, True), ("a.jpeg", None, True), ("a.pdf", None, True), ("a.txt", "text/html", True),
    ("a.mp4", None, True), ("a.json", None, True), ("a.js", None, True), ("archive.tar.gz", None, True),
    ("a.html", None, False), ("a.HTML", None, False), ("a.htm", None, False), ("a.shtml", None, False),
    ("a.xhtml", None, False), ("a.xht", None, False), ("a.svg", None, False), ("a.SVGZ", None, False),
    ("a.xml", None, False), ("a.xsl", None, False), ("a.xslt", None, False), ("a.html5", None, True),
    ("noext", "text/html", False), ("noext", "image/svg+xml", False), ("noext", "application/xhtml+xml", False),
    ("noext", "image/png", True), ("noext", None, True),
])
def test_the_default_extension_rule_refuses_what_a_browser_would_render(name: str, declared: str | None,
                                                                        allowed: bool) -> None:
    if allowed:
        check_extension(UploadRules(), USER, name, declared)
    else:
        with pytest.raises(ParseError) as refused:
            check_extension(UploadRules(), USER, name, declared)
        assert refused.value.code == ErrorCode.FILE_SAVE_ERROR


def test_a_star_allows_every_extension() -> None:
    check_extension(UploadRules(file_extensions=("*",)), USER, "a.html", None)


@pytest.mark.parametrize(("name", "served"), [
    ("a.txt", "text/plain"), ("a.png", "image/png"), ("a.JPG", "image/jpeg"), ("a.webp", "image/webp"),
    ("a.mp4", "video/mp4"), ("a.m4a", "audio/mp4"), ("a.pdf", "application/pdf"), ("noext", "application/octet-stream"),
    ("a.unknownext", "application/octet-stream"),
])
def test_downloads_are_typed_by_extension(name: str, served: str) -> None:
    assert content_type_for(name) == served


@pytest.mark.parametrize(("name", "declared", "suffix"), [
    ("photo.png", "image/jpeg", "_photo.png"), ("photo", "image/jpeg", "_photo.jpg"),
    ("notes", "text/plain", "_notes.txt"), ("blob", None, "_blob"), ("blob", "application/x-unknown", "_blob"),
])
def test_new_names_are_random_hex_then_the_name_with_an_extension_from_the_type(name: str, declared: str | None,
                                                                                suffix: str) -> None:
    made = stored_name(name, declared)
    assert len(made) == 32 + len(suffix) and made.endswith(suffix) and int(made[:32], 16) >= 0


@pytest.mark.parametrize(("text", "size"), [("20mb", 20 * 1024 ** 2), ("512KB", 512 * 1024), ("1gb", 1024 ** 3),
                                            ("1048576", 1048576), ("1.5m", 1572864)])
def test_sizes_are_read_as_parse_writes_them(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_size_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_size("lots")


FILE = StoredFile("f.bin", 100, datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC), "v1")


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("bytes=0-0", (0, 1)), ("bytes=10-19", (10, 20)), ("bytes=90-", (90, 100)),
    ("bytes=-10", (90, 100)), ("bytes=-500", (0, 100)), ("bytes=50-9999", (50, 100)), ("bytes=5-1", None),
    ("bytes=0-1,5-6", None), ("items=0-1", None), ("bytes=a-b", None), ("bytes=-", None),
])
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert requested_range(FILE, header, None) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_a_range_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        requested_range(FILE, header, None)


def test_if_range_sends_the_range_only_while_the_file_is_unchanged() -> None:
    assert requested_range(FILE, "bytes=0-9", '"v1"') == (0, 10)
    assert requested_range(FILE, "bytes=0-9", '"v0"') is None
    assert requested_range(FILE, "bytes=0-9", 'W/"v1"') is None  # If-Range needs a strong validator


@pytest.mark.parametrize(("if_none_match", "if_modified_since", "not_modified"), [
    ('"v1"', None, True), ('"v0", "v1"', None, True), ("*", None, True), ('W/"v1"', None, True),
    ('"v0"', "Wed, 01 May 2024 12:00:00 GMT", False),  # If-None-Match decides when both are sent
    (None, "Wed, 01 May 2024 12:00:00 GMT", True), (None, "Wed, 01 May 2024 11:59:59 GMT", False),
    (None, "not a date", False), (None, None, False),
])
def test_conditional_gets(if_none_match: str | None, if_modified_since: str | None, not_modified: bool) -> None:
    assert is_not_modified(FILE, if_none_match, if_modified_since) is not_modified


class RecordingHooks:
    """Stands in for cloud code's file triggers (the cloud module is not part of this branch)."""

    def __init__(self, rename_to: str | None = None, refuse: bool = False) -> None:
        self.calls: list[tuple[str, FileTrigger]] = []
        self.rename_to = rename_to
        self.refuse = refuse

    async def before_save_file(self, file: FileTrigger) -> FileTrigger | None:
        self.calls.append(("before_save_file", file))
        if self.refuse:
            raise ParseError(ErrorCode.SCRIPT_FAILED, "no files on Sundays")
        return FileTrigger(self.rename_to, file.principal, file.content_type, file.size,
                           {**file.metadata, "checked": True}) if self.rename_to else None

    async def after_save_file(self, file: FileTrigger) -> None:
        self.calls.append(("after_save_file", file))

    async def before_delete_file(self, file: FileTrigger) -> None:
        self.calls.append(("before_delete_file", file))

    async def after_delete_file(self, file: FileTrigger) -> None:
        self.calls.append(("after_delete_file", file))


async def one_chunk(data: bytes) -> Any:
    yield data


@pytest.fixture
async def service(tmp_path: Path) -> Any:
    store = SqliteAdapter(str(tmp_path / "db.sqlite"))
    await store.open()
    files = LocalFiles(tmp_path / "files")
    await files.open()
    yield FileService(files, UploadRules(), store, "http://h/parse/files/app")
    await store.close()


async def test_file_hooks_see_uploads_and_may_rename_them(service: FileService) -> None:
    service.hooks = hooks = RecordingHooks(rename_to="renamed.txt")
    saved = await service.upload(USER, "original.txt", "text/plain", one_chunk(b"hi"), size=2,
                                 metadata={"a": 1})
    assert saved["name"].endswith("_renamed.txt")
    [(first, before), (second, after)] = hooks.calls
    assert (first, before.name, before.size, before.metadata) == ("before_save_file", "original.txt", 2, {"a": 1})
    assert (second, after.name, after.url, after.size) == ("after_save_file", saved["name"], saved["url"], 2)
    found = await service.find(saved["name"])
    assert found is not None and found.metadata == {"a": 1, "checked": True}


async def test_a_before_save_file_hook_refuses_and_nothing_is_stored(service: FileService, tmp_path: Path) -> None:
    service.hooks = RecordingHooks(refuse=True)
    with pytest.raises(ParseError) as refused:
        await service.upload(USER, "a.txt", "text/plain", one_chunk(b"hi"))
    assert refused.value.code == ErrorCode.SCRIPT_FAILED
    assert [p for p in (tmp_path / "files").iterdir() if not p.name.startswith(".")] == []


async def test_file_hooks_see_deletes(service: FileService) -> None:
    saved = await service.upload(USER, "a.txt", "text/plain", one_chunk(b"hi"))
    service.hooks = hooks = RecordingHooks()
    await service.delete(MASTER, saved["name"])
    assert [(kind, file.name, file.url) for kind, file in hooks.calls] == [
        ("before_delete_file", saved["name"], saved["url"]), ("after_delete_file", saved["name"], saved["url"])]


def test_flags_and_environment_set_the_upload_rules() -> None:
    from api.services import upload_rules
    from api.settings import parse_settings

    settings = parse_settings(["--max-upload-size", "5mb", "--file-upload-public", "true",
                               "--file-extensions", "^png$, ^jpe?g$"],
                              environ={"LIVEQUERY_FILE_UPLOAD_AUTHENTICATED": "false"})
    assert upload_rules(settings) == UploadRules(enable_for_public=True, enable_for_authenticated_user=False,
                                                 file_extensions=("^png$", "^jpe?g$"), max_upload_bytes=5 * 1024 ** 2)
    assert upload_rules(parse_settings([], environ={})) == UploadRules()


def test_an_extension_pattern_that_does_not_compile_stops_the_server_at_start() -> None:
    from api.services import upload_rules
    from api.settings import parse_settings

    with pytest.raises(ValueError, match="--file-extensions"):
        upload_rules(parse_settings(["--file-extensions", "(unclosed"], environ={}))
