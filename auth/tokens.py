"""Unguessable identifiers: object ids and session tokens, from the OS's cryptographic random source."""
from __future__ import annotations

import os
import secrets
import string

_ID_ALPHABET = string.ascii_letters + string.digits
OBJECT_ID_LENGTH = 10
# Random bytes below 248 (= 4 × 62) map onto the alphabet without bias; the others are skipped. One urandom call
# per id: `secrets.choice` per character cost ~10 µs an id, a tenth of the create path's CPU.
_UNBIASED_BELOW = 256 - 256 % len(_ID_ALPHABET)
_ID_TABLE = bytes(ord(_ID_ALPHABET[b % len(_ID_ALPHABET)]) if b < _UNBIASED_BELOW else 0 for b in range(256))


def new_object_id(length: int = OBJECT_ID_LENGTH) -> str:
    """Parse's objectId: `length` characters from `[A-Za-z0-9]`, each uniformly from the OS's random source."""
    chosen = b""
    while len(chosen) < length:
        chosen += os.urandom(length + 8).translate(_ID_TABLE).replace(b"\0", b"")
    return chosen[:length].decode()


def new_session_token() -> str:
    """Parse's session token: `r:` and 32 hex characters (128 random bits)."""
    return "r:" + secrets.token_hex(16)
