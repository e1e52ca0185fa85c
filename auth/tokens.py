"""Unguessable identifiers: object ids and session tokens, from the OS's cryptographic random source."""
from __future__ import annotations

import os
import secrets
import string

_ID_ALPHABET = string.ascii_letters + string.digits
OBJECT_ID_LENGTH = 10
# Random bytes below 248 (= 4 × 62) map onto the alphabet without bias; the others are skipped.
_UNBIASED_BELOW = 256 - 256 % len(_ID_ALPHABET)
_ID_TABLE = bytes(ord(_ID_ALPHABET[b % len(_ID_ALPHABET)]) if b < _UNBIASED_BELOW else 0 for b in range(256))
# Ids are cut from one urandom call of this many bytes (~390 ids). `os.urandom` lets go of the GIL: called per id
# on the event loop while a SQLite thread ran Python, getting the GIL back cost the loop up to a switch interval,
# and py-spy put 5 % of the create path's loop time there (and `secrets.choice` per character ~10 µs an id).
_RANDOM_BATCH_BYTES = 4096
_ready_ids: list[str] = []  # list.pop and list.extend are atomic: safe from any thread without a lock
os.register_at_fork(after_in_child=_ready_ids.clear)  # a forked child never hands out its parent's ids


def _random_characters(count: int) -> str:
    chosen = b""
    while len(chosen) < count:
        chosen += os.urandom(count + count // 16 + 8).translate(_ID_TABLE).replace(b"\0", b"")
    return chosen[:count].decode()


def new_object_id(length: int = OBJECT_ID_LENGTH) -> str:
    """Parse's objectId: `length` characters from `[A-Za-z0-9]`, each uniformly from the OS's random source."""
    if length != OBJECT_ID_LENGTH:
        return _random_characters(length)
    while True:
        try:
            return _ready_ids.pop()
        except IndexError:
            characters = _random_characters(_RANDOM_BATCH_BYTES // 16 * 15)
            _ready_ids.extend(characters[i:i + length] for i in range(0, len(characters), length))


def new_session_token() -> str:
    """Parse's session token: `r:` and 32 hex characters (128 random bits)."""
    return "r:" + secrets.token_hex(16)
