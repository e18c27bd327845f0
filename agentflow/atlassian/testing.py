"""The bundled server's first-class test double: the real server over the embedded sandbox, in-process (a real
HTTP client stack over an ASGI transport, no port), the way a test, a benchmark or a demo wants it.

    site = Site.open("cloud")
    async with mcp.Client(server_for(site, user="sre")) as client: ...

Retries wait on nothing (`no_sleep`) unless a test passes its own `sleep`; `quota` meters the requests as in a
run. The site is configured the way a real one is (URLs, email, token), not as the sandbox default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx2

from agentflow.atlassian.backend import SANDBOX_URL, Backend, connect
from agentflow.atlassian.quota import Quota
from agentflow.atlassian.server import AtlassianServer
from agentflow.atlassian.sites import SiteConfig
from agentflow.sandbox.site import Site


async def no_sleep(seconds: float) -> None:
    """A retry's wait that waits on nothing."""


def site_config(site: Site, user: str = "dev") -> SiteConfig:
    """The sandbox described the way a real site is configured (URLs, email, token) for a seeded `user`."""
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


def server_for(
    site: Site,
    user: str = "dev",
    read_only: bool = False,
    sleep: Callable[[float], Awaitable[None]] = no_sleep,
    quota: Quota | None = None,
) -> AtlassianServer:
    """The bundled server for `site` as `user`, speaking HTTP to the site's ASGI app in-process."""

    def connector(config: SiteConfig) -> Backend:
        return connect(config, transport=httpx2.ASGITransport(app=site.app), sleep=sleep)

    return AtlassianServer(site_config(site, user), read_only=read_only, connector=connector, quota=quota)
