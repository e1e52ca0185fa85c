"""One module per area of the Parse REST API; `register_all` puts every route on a Router."""
from __future__ import annotations

from api.router import Router


def register_all(router: Router) -> None:
    from api.routes import batch, classes, schemas, system

    for module in (system, classes, batch, schemas):
        module.register(router)
