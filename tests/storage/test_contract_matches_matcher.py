"""Store contract, differential: for generated queries a store finds exactly the documents the LiveQuery matcher
accepts, on typed fields (known to the schema) and on untyped paths holding values of every kind."""
from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livequery.matcher import compile_query
from storage.query import parse_where


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def date(iso: str) -> dict[str, str]:
    return {"__type": "Date", "iso": iso}


DATES = [date("2024-01-01T00:00:00.000Z"), date("2024-03-01T00:00:00.000Z"), date("2024-06-01T00:00:00.000Z")]
POINTERS = [pointer("T", "1"), pointer("T", "2")]
SCALARS: list[Any] = [None, True, False, -1, 0, 1, 2, 0.0, 2.5, "", "a", "b", "1", *DATES, *POINTERS,
                      pointer("U", "1"), "2024-03-01T00:00:00.000Z"]
TYPED: dict[str, list[Any]] = {
    "s": ["a", "b", "1", ""], "n": [-1, 0, 1, 2.5], "f": [True, False], "d": DATES, "p": POINTERS,
    "t": [["a"], ["a", "b"], [1, "a"], [], [None, 2], [POINTERS[0]], [DATES[1], 0]],
}
DOCUMENTS = 60


def make_documents(seed: int) -> list[dict[str, Any]]:
    """Bodies with typed top-level fields and an untyped `o.v` that may hold anything."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(DOCUMENTS):
        body: dict[str, Any] = {k: rng.choice([*choices, None]) for k, choices in TYPED.items() if rng.random() < 0.7}
        if rng.random() < 0.8:
            value = rng.choice(SCALARS + [list(rng.sample(SCALARS, 2)), {"x": rng.choice(SCALARS)}])
            body["o"] = {"v": value} if rng.random() < 0.9 else {}
        bodies.append(body)
    return bodies


operands = st.one_of(st.sampled_from(SCALARS), st.lists(st.sampled_from(SCALARS), max_size=2))
constraints = st.one_of(
    st.tuples(st.sampled_from(["$eq", "$ne", "$lt", "$lte", "$gt", "$gte"]), operands),
    st.tuples(st.sampled_from(["$in", "$nin", "$all", "$containedBy"]), st.lists(operands, max_size=3)),
    st.tuples(st.just("$exists"), st.booleans()),
    st.tuples(st.just("$regex"), st.sampled_from(["^a", "1", ".", "^$"])),
)
paths = st.sampled_from([*TYPED, "o.v", "o.v.x", "o", "objectId", "createdAt", "missing"])
fields = st.builds(lambda path, c: {path: {c[0]: c[1]}}, paths, constraints)
wheres = st.recursive(fields, lambda inner: st.one_of(
    st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$nor": xs}, st.lists(inner, min_size=1, max_size=3)),
), max_leaves=4)


async def test_store_finds_what_the_matcher_accepts(objects: Any) -> None:
    documents = {}
    for i, body in enumerate(make_documents(seed=7)):
        documents[f"d{i:02}"] = await objects.create("D", f"d{i:02}", body)
    examples: list[dict[str, Any]] = []

    # hypothesis explores synchronously: gather its examples, then run each against the store and the matcher
    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)
    @given(where=wheres)
    def gather(where: dict[str, Any]) -> None:
        examples.append(where)

    gather()
    mismatches = []
    for where in examples:
        node = parse_where(where)
        accepted = compile_query(node)
        expected = {object_id for object_id, doc in documents.items() if accepted(doc)}
        found = set(await objects.ids("D", where))
        if found != expected:
            mismatches.append((where, sorted(found - expected), sorted(expected - found)))
    report = "\n".join(f"{json.dumps(w)}: store also found {extra}, missed {missed}" for w, extra, missed in mismatches)
    assert not mismatches, f"{len(mismatches)} of {len(examples)} queries disagree:\n{report}"
