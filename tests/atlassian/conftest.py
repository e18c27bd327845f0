"""The bundled server against the embedded sandbox, in-process: a real HTTP client stack over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2
import pytest
from mcp import Client

from agentflow.atlassian.backend import SANDBOX_URL, Backend, connect
from agentflow.atlassian.server import AtlassianServer
from agentflow.atlassian.sites import SiteConfig
from agentflow.sandbox.site import Site


async def no_sleep(seconds: float) -> None:
    """Retries in tests wait on nothing; `sleeps` records what they would have waited."""


def site_config(site: Site, user: str = "dev") -> SiteConfig:
    """The sandbox described the way a real site is configured (URLs, email, token)."""
    account = site.user(user)
    return SiteConfig(
        name=f"sandbox-{site.flavor}",
        flavor=site.flavor,
        jira_url=SANDBOX_URL,
        confluence_url=f"{SANDBOX_URL}/wiki",
        compass_url=f"{SANDBOX_URL}/gateway/api/graphql",
        email=account.email if site.flavor == "cloud" else None,
        token=account.token,
    )


def server_for(site: Site, user: str = "dev", read_only: bool = False, sleep=no_sleep, quota=None) -> AtlassianServer:
    def connector(config: SiteConfig) -> Backend:
        return connect(config, transport=httpx2.ASGITransport(app=site.app), sleep=sleep)

    return AtlassianServer(site_config(site, user), read_only=read_only, connector=connector, quota=quota)


@pytest.fixture(params=["cloud", "dc"])
def site(request: pytest.FixtureRequest) -> Site:
    return Site.open(request.param)


@pytest.fixture
def client_for() -> Callable[..., AsyncIterator[Client]]:
    """`async with client_for(site) as client:` — an in-memory MCP client on a server for that site."""
    return lambda site, **kw: Client(server_for(site, **kw))
