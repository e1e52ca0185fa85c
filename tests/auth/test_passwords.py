"""Password hashing: argon2id for new hashes, legacy bcrypt accepted and flagged for replacement."""
from __future__ import annotations

import asyncio
import threading

import bcrypt
import pytest

from auth.passwords import Passwords, PasswordSettings

CHEAP = PasswordSettings(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(CHEAP)


def test_new_hash_is_argon2id_and_verifies(passwords: Passwords) -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse") == (True, None)


def test_wrong_password_fails(passwords: Passwords) -> None:
    stored = passwords.hash_password("correct horse")
    assert passwords.verify_password(stored, "battery staple") == (False, None)


def test_same_password_hashes_differently(passwords: Passwords) -> None:
    assert passwords.hash_password("pw") != passwords.hash_password("pw")


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_hash_verifies_and_asks_for_an_argon2id_replacement(passwords: Passwords, prefix: str) -> None:
    legacy = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", prefix, 1)
    ok, new_hash = passwords.verify_password(legacy, "s3cret")
    assert ok
    assert new_hash is not None and new_hash.startswith("$argon2id$")
    assert passwords.verify_password(new_hash, "s3cret") == (True, None)


def test_wrong_password_against_bcrypt_hash_fails_without_replacement(passwords: Passwords) -> None:
    legacy = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    assert passwords.verify_password(legacy, "nope") == (False, None)


def test_bcrypt_compares_only_the_first_72_bytes_like_parse(passwords: Passwords) -> None:
    long_password = "x" * 72
    legacy = bcrypt.hashpw(long_password.encode(), bcrypt.gensalt(rounds=4)).decode()
    assert passwords.verify_password(legacy, long_password + "ignored")[0]


def test_non_ascii_password_round_trips(passwords: Passwords) -> None:
    legacy = bcrypt.hashpw("pässwörd✓".encode(), bcrypt.gensalt(rounds=4)).decode()
    assert passwords.verify_password(legacy, "pässwörd✓")[0]
    assert passwords.verify_password(passwords.hash_password("pässwörd✓"), "pässwörd✓")[0]


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$2b$10$tooshort", "$argon2id$garbage"])
def test_missing_or_malformed_hash_never_verifies(passwords: Passwords, stored: str | None) -> None:
    assert passwords.verify_password(stored, "anything") == (False, None)


def test_unknown_user_still_costs_an_argon2_verification(passwords: Passwords,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = passwords._verify_argon2
    monkeypatch.setattr(passwords, "_verify_argon2", lambda h, p: calls.append(h) or real(h, p))
    assert passwords.verify_password(None, "guess") == (False, None)
    assert calls == [passwords._dummy_hash]


def test_hash_made_with_other_parameters_is_replaced() -> None:
    old = Passwords(PasswordSettings(time_cost=1, memory_cost=8, parallelism=1))
    new = Passwords(PasswordSettings(time_cost=2, memory_cost=16, parallelism=1))
    ok, replacement = new.verify_password(old.hash_password("pw"), "pw")
    assert ok and replacement is not None
    assert new.verify_password(replacement, "pw") == (True, None)


async def test_async_hashing_runs_off_the_event_loop_thread(passwords: Passwords,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda p: seen.append(threading.get_ident()) or real(p))
    stored = await passwords.hash_password_async("pw")
    assert seen and seen[0] != loop_thread
    assert await passwords.verify_password_async(stored, "pw") == (True, None)


async def test_async_hashing_is_bounded_by_max_concurrent(monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = Passwords(PasswordSettings(time_cost=1, memory_cost=8, parallelism=1, max_concurrent=2))
    running, peak = 0, 0
    lock = threading.Lock()
    real = passwords.hash_password

    def slow_hash(password: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            threading.Event().wait(0.05)
            return real(password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords, "hash_password", slow_hash)
    await asyncio.gather(*(passwords.hash_password_async(str(i)) for i in range(6)))
    assert peak == 2
