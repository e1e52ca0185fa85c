"""Who is asking: the master key, a user (with their roles), or anyone."""
from __future__ import annotations

import msgspec

PUBLIC = "*"


class Principal(msgspec.Struct, frozen=True):
    """The resolved identity of a request or a LiveQuery subscriber.

    `roles` holds role names (without the `role:` prefix), inherited roles included.
    """

    is_master: bool = False
    user_id: str | None = None
    roles: frozenset[str] = frozenset()
    session_token: str | None = None
    is_read_only_master: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def acl_keys(self) -> list[str]:
        """The ACL entries that grant this principal access: `*`, its user id, `role:<name>` for each role."""
        keys = [PUBLIC]
        if self.user_id:
            keys.append(self.user_id)
        keys.extend(f"role:{name}" for name in sorted(self.roles))
        return keys


ANONYMOUS = Principal()
MASTER = Principal(is_master=True)
