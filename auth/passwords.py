"""Password hashing: argon2id for every new hash, and verification of the bcrypt hashes Parse databases hold.

Hashing is deliberately slow, so the async methods run it in a worker thread and cap how many run at once
(each argon2 hash holds `memory_cost` KiB while it runs).
"""
from __future__ import annotations

import asyncio
import secrets

import argon2
import bcrypt
import msgspec

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72  # bcrypt (and Parse's bcryptjs) only ever look at the first 72 bytes


class PasswordSettings(msgspec.Struct, frozen=True):
    """argon2id cost. The defaults are argon2-cffi's (RFC 9106 low-memory profile)."""

    time_cost: int = argon2.DEFAULT_TIME_COST
    memory_cost: int = argon2.DEFAULT_MEMORY_COST  # KiB
    parallelism: int = argon2.DEFAULT_PARALLELISM
    max_concurrent: int = 4  # hashes running at once in worker threads


class Passwords:
    """Hashes with argon2id; verifies argon2 and legacy bcrypt (`$2a$/$2b$/$2y$`) hashes.

    `verify_password` answers `(ok, new_hash)`: `new_hash` is set when the stored hash should be replaced
    (a bcrypt hash, or an argon2 hash made with other parameters) and is the argon2id hash of the password
    just checked.
    A missing hash (unknown user, user without a password) costs one dummy argon2 verification, so the
    response time does not tell whether the user exists.
    """

    def __init__(self, settings: PasswordSettings = PasswordSettings()) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.time_cost, memory_cost=settings.memory_cost,
            parallelism=settings.parallelism, type=argon2.Type.ID)
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        self._slots = asyncio.Semaphore(settings.max_concurrent)

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_password(self, stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        if not stored_hash or not isinstance(password, str):
            self._verify_argon2(self._dummy_hash, password if isinstance(password, str) else "")
            return False, None
        if stored_hash.startswith(_BCRYPT_PREFIXES):
            if not _verify_bcrypt(stored_hash, password):
                return False, None
            return True, self.hash_password(password)
        if not self._verify_argon2(stored_hash, password):
            return False, None
        return True, (self.hash_password(password) if self._needs_rehash(stored_hash) else None)

    async def hash_password_async(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hash_password, password)

    async def verify_password_async(self, stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        async with self._slots:
            return await asyncio.to_thread(self.verify_password, stored_hash, password)

    def _verify_argon2(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def _needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except argon2.exceptions.InvalidHashError:
            return True


def _verify_bcrypt(stored_hash: str, password: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:_BCRYPT_MAX_BYTES], stored_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):  # malformed hash
        return False
