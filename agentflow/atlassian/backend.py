"""Connecting to a site: HTTP clients for Jira, Confluence and Compass, configured from a `SiteConfig`.

This is the one place the bundled server reaches into the embedded sandbox: when the site is the sandbox,
requests go to its ASGI app in-process (no port, no subprocess) with the sandbox user's own credentials.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import httpx2

from agentflow.atlassian.compass import CompassAPI
from agentflow.atlassian.confluence import ConfluenceAPI
from agentflow.atlassian.http import AtlassianHTTP, Auth, Sleep
from agentflow.atlassian.jira import JiraAPI
from agentflow.atlassian.sites import SiteConfig

# Links shown for sandbox objects point where `agentflow sandbox serve` listens by default.
SANDBOX_URL = "http://127.0.0.1:8990"
SANDBOX_REMEDY = "move it aside (or delete it): agentflow seeds a new sandbox, without what was written to the old one"


@dataclass
class Backend:
    site: SiteConfig
    jira: JiraAPI | None
    confluence: ConfluenceAPI | None
    compass: CompassAPI | None
    clients: list[AtlassianHTTP] = field(default_factory=list)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def connect(
    site: SiteConfig,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    max_body_chars: int = 6000,
) -> Backend:
    """HTTP clients for the site's products; the sandbox is opened (and seeded if new) in-process."""
    options: dict = {"transport": transport} if transport else {}
    if sleep is not None:
        options["sleep"] = sleep
    jira_url, wiki_url, compass_url = site.jira_url, site.confluence_url, site.compass_url
    jira_auth = _auth(site.email, site.token.get_secret_value() if site.token else None, site.flavor)
    wiki_auth = jira_auth
    if site.sandbox:
        jira_auth, options["transport"] = _sandbox(site)
        wiki_auth = jira_auth
        jira_url, wiki_url, compass_url = SANDBOX_URL, f"{SANDBOX_URL}/wiki", f"{SANDBOX_URL}/gateway/api/graphql"
    else:
        if site.confluence_token:
            wiki_auth = _auth(
                site.confluence_email or site.email, site.confluence_token.get_secret_value(), site.flavor
            )
        if site.flavor == "cloud" and jira_url:
            wiki_url = wiki_url or f"{jira_url.rstrip('/')}/wiki"
            compass_url = compass_url or f"{jira_url.rstrip('/')}/gateway/api/graphql"
    if not site.sandbox:
        options["ca_bundle"] = site.ca_bundle
    clients: list[AtlassianHTTP] = []

    def client(url: str, auth: Auth) -> AtlassianHTTP:
        made = AtlassianHTTP(url, auth, **options)
        clients.append(made)
        return made

    cloud = site.flavor == "cloud"
    jira = JiraAPI(client(jira_url, jira_auth), cloud, jira_url, max_body_chars) if jira_url else None
    confluence = ConfluenceAPI(client(wiki_url, wiki_auth), wiki_url, max_body_chars) if wiki_url else None
    compass = CompassAPI(client(compass_url, jira_auth), jira_url or compass_url) if compass_url else None
    return Backend(site, jira, confluence, compass, clients)


def _auth(email: str | None, token: str | None, flavor: str) -> Auth:
    return Auth(token=token or "", email=email if flavor == "cloud" else None)


def _sandbox(site: SiteConfig) -> tuple[Auth, httpx2.AsyncBaseTransport]:
    """The state directory's sandbox (the one `agentflow sandbox serve` shows), spoken to in-process."""
    from agentflow.config import sandbox_db
    from agentflow.sandbox.site import Site
    from agentflow.statefiles import damaged, private_dir

    db = sandbox_db()
    private_dir(db.parent)
    try:
        sandbox = Site.open(site.flavor, db)
    except sqlite3.DatabaseError as exc:
        raise damaged(db, "sandbox database", str(exc), SANDBOX_REMEDY) from None
    user = sandbox.user(site.sandbox_user)
    auth = _auth(user.email, user.token, site.flavor)
    return auth, httpx2.ASGITransport(app=sandbox.app)
