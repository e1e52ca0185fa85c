"""What may be uploaded and how it is served: content types by extension, Parse's `fileUpload` rules, new names.

Pure functions and one frozen struct: no I/O, so every rule is tested on its own.
"""
from __future__ import annotations

import mimetypes
import re
import secrets
from functools import lru_cache

import msgspec

from auth.principal import Principal
from storage.errors import ErrorCode, ParseError

# Parse Server 9's default `fileUpload.fileExtensions`: one pattern that refuses the types a browser would render
# as a page on the server's origin (HTML in all its spellings, XHTML, SVG, XML and XSLT, any `+xml` type), so
# nobody can host a phishing form or a script there. Python regex syntax; the extension is tested without its dot.
DEFAULT_FILE_EXTENSIONS = (r"^(?!(?i:[xs]?html?|xht|svgz?|xml|xslt?|.*\+xml)$)",)
FALLBACK_CONTENT_TYPE = "application/octet-stream"
# Types Python's built-in table (fixed, not the machine's /etc/mime.types) lacks that apps commonly upload
_EXTRA_TYPES = {".webp": "image/webp", ".avif": "image/avif", ".heic": "image/heic", ".heif": "image/heif",
                ".m4a": "audio/mp4", ".aac": "audio/aac", ".flac": "audio/flac", ".ogg": "audio/ogg",
                ".oga": "audio/ogg", ".opus": "audio/opus", ".weba": "audio/webm", ".webm": "video/webm",
                ".ogv": "video/ogg", ".m4v": "video/mp4", ".mkv": "video/x-matroska", ".3gp": "video/3gpp",
                ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
                ".md": "text/markdown", ".ics": "text/calendar", ".epub": "application/epub+zip",
                ".apk": "application/vnd.android.package-archive", ".gz": "application/gzip"}


class UploadRules(msgspec.Struct, frozen=True):
    """Parse's `fileUpload` options (Parse 9 defaults) and `maxUploadSize`."""

    enable_for_public: bool = False
    enable_for_anonymous_user: bool = False
    enable_for_authenticated_user: bool = True
    file_extensions: tuple[str, ...] = DEFAULT_FILE_EXTENSIONS
    max_upload_bytes: int = 20 * 1024 * 1024


@lru_cache(maxsize=1)
def _types() -> mimetypes.MimeTypes:
    table = mimetypes.MimeTypes()  # the built-in table only: the same answers on every machine
    for extension, kind in _EXTRA_TYPES.items():
        table.add_type(kind, extension)
    return table


def content_type_for(name: str) -> str:
    """The type a file is served with: the one its extension implies, never what the uploader declared."""
    kind, _encoding = _types().guess_type(name, strict=False)
    return kind or FALLBACK_CONTENT_TYPE


def bare_type(declared: str | None) -> str | None:
    """`text/plain; charset=utf-8` → `text/plain`; None for nothing usable."""
    if not declared:
        return None
    kind = declared.split(";", 1)[0].strip().lower()
    return kind if "/" in kind else None


def has_extension(name: str) -> bool:
    stem, dot, extension = name.rpartition(".")
    return bool(dot and stem and extension)


def stored_name(name: str, declared_type: str | None) -> str:
    """Parse's new file name: `<32 hex>_<name>`, with an extension from the declared type when it has none."""
    if not has_extension(name) and declared_type:
        extension = _types().guess_extension(declared_type, strict=False)
        if extension:
            name += extension
    return f"{secrets.token_hex(16)}_{name}"


def check_uploader(rules: UploadRules, principal: Principal, is_anonymous_user: bool) -> None:
    """Who may upload: the master key always; users and everyone else as the `fileUpload` options say (130)."""
    if principal.is_read_only_master:
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                         "read-only masterKey isn't allowed to perform the create operation.")
    if principal.is_master:
        return
    if principal.user_id is None:
        if not rules.enable_for_public:
            raise ParseError(ErrorCode.FILE_SAVE_ERROR, "File upload by public is disabled.")
    elif is_anonymous_user:
        if not rules.enable_for_anonymous_user:
            raise ParseError(ErrorCode.FILE_SAVE_ERROR, "File upload by anonymous user is disabled.")
    elif not rules.enable_for_authenticated_user:
        raise ParseError(ErrorCode.FILE_SAVE_ERROR, "File upload by authenticated user is disabled.")


def check_extension(rules: UploadRules, principal: Principal, name: str, declared_type: str | None) -> None:
    """Parse's `fileExtensions` rule (not applied to the master key): the extension is the name's, or for a name
    without one the declared type's subtype (`image/svg+xml` → `svg+xml`); it must match one of the patterns
    (`*` matches all). A refused extension is 130."""
    if principal.is_master:
        return
    if has_extension(name):
        extension = name.rpartition(".")[2]
    elif declared_type:
        extension = declared_type.partition("/")[2]
    else:
        return
    extension = extension.replace(" ", "")
    if not extension:
        return
    if not any(pattern == "*" or _compiled(pattern).search(extension) for pattern in rules.file_extensions):
        raise ParseError(ErrorCode.FILE_SAVE_ERROR, f"File upload of extension {extension} is disabled.")


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check_patterns(patterns: tuple[str, ...]) -> None:
    """At start-up: a pattern that does not compile stops the server with a clear message."""
    for pattern in patterns:
        if pattern == "*":
            continue
        try:
            _compiled(pattern)
        except re.error as exc:
            raise ValueError(f"--file-extensions: {pattern!r} is not a valid regular expression ({exc})") from None


def parse_size(text: str) -> int:
    """`20mb`, `512kb`, `1gb`, `1048576`: Parse's `maxUploadSize` spellings, to bytes."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*", text.lower())
    if found is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 20mb, 512kb or a number of bytes)")
    number, unit = float(found.group(1)), found.group(2).rstrip("b")
    return int(number * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit])
