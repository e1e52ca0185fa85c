"""Object ids: Parse's ten characters of [A-Za-z0-9], unguessable, never handed out twice (ids are cut from a
batch of random bytes, so a forked process must not reuse its parent's batch)."""
from __future__ import annotations

import os
import re
import string

from auth.tokens import new_object_id, new_session_token


def test_object_ids_are_ten_alphanumerics_and_distinct_across_many_batches() -> None:
    ids = [new_object_id() for _ in range(5000)]  # a dozen batches
    assert all(re.fullmatch(r"[A-Za-z0-9]{10}", object_id) for object_id in ids)
    assert len(set(ids)) == len(ids)
    assert set("".join(ids)) == set(string.ascii_letters + string.digits)
    assert re.fullmatch(r"[A-Za-z0-9]{24}", new_object_id(24))


def test_a_forked_process_does_not_hand_out_its_parents_next_ids() -> None:
    new_object_id()  # a batch is ready in this process
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(reading)
        os.write(writing, ",".join(new_object_id() for _ in range(20)).encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        childs = set(pipe.read().split(","))
    os.waitpid(child, 0)
    parents = {new_object_id() for _ in range(20)}
    assert len(childs) == 20 and not childs & parents


def test_session_tokens_carry_128_random_bits() -> None:
    tokens = {new_session_token() for _ in range(100)}
    assert len(tokens) == 100 and all(re.fullmatch(r"r:[0-9a-f]{32}", token) for token in tokens)
