"""Parse Server's GraphQL API, generated from the class schemas, at `--graphql-path` (default `/graphql`) on
the REST port: another door to the same checked data path as REST (see `context.py`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api.graphql.endpoint import GraphQLEndpoint, SchemaHolder
from api.graphql.subscriptions import serve_socket, subscription_fields

if TYPE_CHECKING:
    from api.services import Services


class GraphQLMount:
    """The GraphQL routes of one app: HTTP queries and mutations, and subscriptions over websockets."""

    def __init__(self, services: Services, cors_headers: dict[str, str]) -> None:
        self.services = services
        self.schemas = SchemaHolder(services, subscription_fields)
        self.endpoint = GraphQLEndpoint(services, self.schemas, cors_headers)

    def start(self) -> None:
        """Build the schema now, so name collisions are reported at start-up."""
        self.schemas.current()

    def routes(self) -> list[Any]:
        path = self.services.settings.graphql_path
        return [Route(path, self.endpoint.handle, methods=["GET", "POST", "OPTIONS"]),
                WebSocketRoute(path, self._socket)]

    async def _socket(self, websocket: WebSocket) -> None:
        await serve_socket(websocket, self.endpoint, self.services.hub)
