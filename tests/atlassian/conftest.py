"""Fixtures for the bundled server's tests: both sandbox flavors, and an in-memory MCP client on a server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from mcp import Client

from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site


@pytest.fixture(params=["cloud", "dc"])
def site(request: pytest.FixtureRequest) -> Site:
    return Site.open(request.param)


@pytest.fixture
def client_for() -> Callable[..., AsyncIterator[Client]]:
    """`async with client_for(site) as client:` — an in-memory MCP client on a server for that site."""
    return lambda site, **kw: Client(server_for(site, **kw))
