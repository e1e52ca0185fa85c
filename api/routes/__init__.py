"""One module per area of the Parse REST API; `register_all` puts every route on a Router."""
from __future__ import annotations

from api.router import Router


def register_all(router: Router) -> None:
    from api.routes import aggregate, batch, classes, cloud, hooks, roles, schemas, sessions, system, users

    # specific routes first: `/classes/_User` must win over `/classes/{className}`
    for module in (system, users, sessions, roles, classes, batch, schemas, aggregate, cloud, hooks):
        module.register(router)
