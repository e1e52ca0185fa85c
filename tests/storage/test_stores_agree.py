"""Differential, across stores: for generated objects and queries, SQLite, MongoDB and the LiveQuery matcher
return the same objects, and the two stores return them in the same order."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livequery.matcher import compile_query
from storage.query import parse_where
from tests.storage.conftest import STORES, Objects
from tests.storage.test_contract_matches_matcher import make_documents, wheres

ORDERS = ["n,objectId", "-n,objectId", "s,-objectId", "-d,objectId", "createdAt", "-createdAt", "n,-s,objectId"]


async def test_sqlite_mongodb_and_the_matcher_agree_on_objects_and_order(tmp_path: Path) -> None:
    stores = {name: factory(tmp_path) for name, factory in STORES.items()}
    for adapter in stores.values():
        await adapter.open()
    try:
        writers = {name: Objects(adapter) for name, adapter in stores.items()}
        documents = {}
        for i, body in enumerate(make_documents(seed=11)):
            for writer in writers.values():
                documents[f"d{i:02}"] = await writer.create("D", f"d{i:02}", body)
        examples: list[tuple[dict[str, Any], str]] = []

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        @given(where=wheres, order=st.sampled_from(ORDERS))
        def gather(where: dict[str, Any], order: str) -> None:
            examples.append((where, order))

        gather()
        disagreements = []
        for where, order in examples:
            accepted = compile_query(parse_where(where))
            expected = {object_id for object_id, doc in documents.items() if accepted(doc)}
            answers = {name: await writer.ids("D", where, order=order) for name, writer in writers.items()}
            first = answers["sqlite"]
            if set(first) != expected or any(ids != first for ids in answers.values()):
                disagreements.append(f"{json.dumps(where)} order={order}: matcher {sorted(expected)}, {answers}")
        assert not disagreements, f"{len(disagreements)} of {len(examples)} disagree:\n" + "\n".join(disagreements)
    finally:
        for adapter in stores.values():
            await adapter.close()
