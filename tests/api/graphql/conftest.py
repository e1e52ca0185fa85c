"""The GraphQL tests use the API fixtures (tests/api/conftest.py) and, for subscriptions, the real server of
the LiveQuery endpoint tests."""
from __future__ import annotations

from tests.livequery.conftest import live_cloud, live_server  # noqa: F401  (fixtures, re-exported for these tests)
