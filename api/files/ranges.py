"""HTTP conditional and range requests on a stored file (RFC 9110): `ETag`/`Last-Modified` validators, `304`,
single byte ranges (`206`), and `416` for a range past the end. Pure functions over header values."""
from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from storage.files import StoredFile


class Unsatisfiable(Exception):
    """A byte range that starts past the end of the file: answered 416."""


def etag_of(file: StoredFile) -> str:
    return f'"{file.version}"'


def http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _tags(header: str) -> list[str]:
    """An If-None-Match / If-Range list, weak tags compared by their opaque part (weak comparison)."""
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def is_not_modified(file: StoredFile, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """Whether a GET may be answered 304: If-None-Match decides when present, else If-Modified-Since."""
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or etag_of(file) in tags
    if if_modified_since is not None:
        since = _parse_http_date(if_modified_since)
        return since is not None and file.modified.replace(microsecond=0) <= since
    return False


def requested_range(file: StoredFile, range_header: str | None, if_range: str | None) -> tuple[int, int] | None:
    """The one byte range to send as `(start, end_exclusive)`, or None for the whole file.

    Malformed, multi-range or non-byte requests get the whole file (RFC 9110 lets a server ignore Range); an
    If-Range that no longer matches the file does too. Raises Unsatisfiable for a range starting past the end.
    """
    if not range_header or (if_range is not None and not _if_range_holds(file, if_range)):
        return None
    unit, _, spec = range_header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or not (first or last):
        return None
    length = file.length
    if not first:  # a suffix: the last N bytes
        count = int(last)
        if count == 0:
            raise Unsatisfiable()
        return max(0, length - count), length
    start = int(first)
    end = length if not last else min(int(last) + 1, length)
    if last and int(last) < start:
        return None
    if start >= length:
        raise Unsatisfiable()
    return start, end


def _if_range_holds(file: StoredFile, if_range: str) -> bool:
    value = if_range.strip()
    if value.startswith(('"', 'W/"')):
        return not value.startswith("W/") and value == etag_of(file)  # If-Range needs a strong match
    since = _parse_http_date(value)
    return since is not None and file.modified.replace(microsecond=0) <= since
