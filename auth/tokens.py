"""Unguessable identifiers: object ids and session tokens, from the OS's cryptographic random source."""
from __future__ import annotations

import secrets
import string

_ID_ALPHABET = string.ascii_letters + string.digits
OBJECT_ID_LENGTH = 10


def new_object_id(length: int = OBJECT_ID_LENGTH) -> str:
    """Parse's objectId: `length` characters from `[A-Za-z0-9]`."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_session_token() -> str:
    """Parse's session token: `r:` and 32 hex characters (128 random bits)."""
    return "r:" + secrets.token_hex(16)
