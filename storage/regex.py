"""`$regex` patterns compiled for linear-time matching (RE2), shared by the SQLite store and the LiveQuery matcher.

Python's `re` backtracks: `^(a+)+$` against forty `a`s and a `!` runs for hours while holding the GIL, so one
request would stop the whole server. RE2 matches in time linear in the input for every pattern it accepts; the
patterns it refuses (backreferences, lookaround) are refused here with INVALID_QUERY before any store sees them.
Parse's options map onto RE2's inline flags: `i`, `m`, `s`; `x` (extended) is applied here, as RE2 has no such
flag, by dropping unescaped whitespace and `#` comments outside character classes.
"""
from __future__ import annotations

import functools
import re
from typing import Protocol

import re2

from storage.errors import ErrorCode, ParseError

OPTION_LETTERS = "imsx"
_CACHE_SIZE = 1024
_MAX_MEMORY = 8 << 20  # RE2's own default; a pattern needing more is refused, never slow


class CompiledRegex(Protocol):
    def search(self, text: str) -> object | None: ...


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the client's error, answered as 102: not our log's
    options.max_mem = _MAX_MEMORY
    return options


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_regex(pattern: str, options: str = "") -> CompiledRegex:
    """The compiled pattern (cached: the SQL function and the matcher call this per row / per subscription).

    Raises INVALID_QUERY for unknown options and for patterns RE2 cannot run in linear time."""
    if any(letter not in OPTION_LETTERS for letter in options):
        raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid regex options: {options}")
    if "x" in options:
        pattern = _strip_extended(pattern)
    flags = "".join(letter for letter in "ims" if letter in options)
    source = f"(?{flags}){pattern}" if flags else pattern
    try:
        return re2.compile(source, _options())
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ParseError(ErrorCode.INVALID_QUERY,
                         f"Invalid regex {pattern!r}: {reason} (backreferences and lookaround are not "
                         "supported: every pattern is matched in linear time)") from None


def translate_quoted(pattern: str) -> str:
    r"""Turn PCRE's `\Q...\E` literal spans (which the SDKs send for startsWith/contains) into escapes."""
    out, position = [], 0
    while True:
        start = pattern.find("\\Q", position)
        if start < 0:
            out.append(pattern[position:])
            return "".join(out)
        out.append(pattern[position:start])
        end = pattern.find("\\E", start + 2)
        literal = pattern[start + 2:] if end < 0 else pattern[start + 2:end]
        out.append(re.escape(literal))
        if end < 0:
            return "".join(out)
        position = end + 2


def _strip_extended(pattern: str) -> str:
    """PCRE's `x` option: whitespace and `#...` comments outside classes are not part of the pattern."""
    out: list[str] = []
    in_class = in_comment = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if in_comment:
            in_comment = char != "\n"
        elif char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index:index + 2])
            index += 2
            continue
        elif in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "#":
            in_comment = True
        elif not char.isspace():
            out.append(char)
        index += 1
    return "".join(out)
