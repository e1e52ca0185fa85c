"""The reads LiveQuery's extensions make (a subscription's snapshot, the objects an `include` points to): a port
the composition root fills with the REST read path, so the hub reads as REST does and knows nothing of stores."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from auth.principal import Principal


class Reading(msgspec.Struct, frozen=True, gc=False):
    """What a subscription's snapshot reads: its `where` (after cloud code's before_subscribe), and the `limit` and
    `order` of its subscribe frame (None: the server's default limit, the store's order).

    Left out of garbage collection (`gc=False`): every subscription has one, and nothing it holds (JSON values)
    can refer back to it, so it can never be part of a cycle; full collections need not walk it."""

    where: Mapping[str, Any] | None = None
    limit: int | None = None
    order: str | None = None


class LiveReads(Protocol):
    """Reads made as `principal`, exactly as a REST find would make them: class-level and pointer permissions,
    and the ACL as a filter. The documents come back as stored (the hub filters fields, as for events)."""

    async def find(self, principal: Principal, class_name: str, reading: Reading) -> list[dict[str, Any]]:
        """The objects a REST find with this where/limit/order returns. The limit defaults to the REST default
        and is capped (snapshot.MAX_SNAPSHOT). Raises ParseError as that find would (119 for a denied class)."""
        ...

    async def get_many(self, principal: Principal, class_name: str,
                       object_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Those of the objects that `principal` may read (what a REST `include` of them returns). Raises
        ParseError when the class may not be read at all."""
        ...
