"""A running sandbox site: a store (seeded on first use), its ASGI app, and how to reach it.

`Site.open()` is what tests, the bundled server's default site and `agentflow sandbox serve` use. In-process
clients talk to `site.app` through an ASGI transport and need no port; `serve()` binds one on loopback.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from agentflow.sandbox.app import create_app
from agentflow.sandbox.jira.shapes import RENAMED_META
from agentflow.sandbox.limits import Faults
from agentflow.sandbox.query.common import keep_parser_in
from agentflow.sandbox.rovo.endpoint import PATHS
from agentflow.sandbox.rovo.oauth import OAuthSettings
from agentflow.sandbox.seed import seed, seed_access
from agentflow.sandbox.store import Clock, Store, User


@dataclass
class Site:
    store: Store
    flavor: str
    app: Starlette

    @classmethod
    def open(
        cls,
        flavor: str = "cloud",
        db: str | Path = ":memory:",
        *,
        clock: Clock = time.time,
        per_hour: int | None = None,
        faults: Faults | None = None,
        scale: int = 0,
        request_log: Path | None = None,
        field_names: Mapping[str, str] | None = None,
        oauth: OAuthSettings | None = None,
    ) -> Site:
        """Open the site in `db` (seeding it when new) and build its app for `flavor`. `field_names` renames
        custom fields by id (`{"customfield_10014": "Lien d'epic"}`), as an admin or a translation does: the
        same id and type under another name, for testing clients that must not find fields by name. `oauth` sets
        the lifetimes of the OAuth authorization server in front of the Rovo-like MCP endpoints."""
        store = Store.open(db, clock)
        if str(db) != ":memory:":  # beside a site file, in the private directory it lives in
            keep_parser_in(Path(db).parent)
        if store.is_empty():
            seed(store, scale)
        seed_access(store)
        store.service_account_keys()  # users of a file made before the keys existed get theirs
        if field_names is not None:
            store.set_meta(RENAMED_META, json.dumps(dict(field_names)))
        app = create_app(store, flavor, per_hour=per_hour, faults=faults, request_log=request_log, oauth=oauth)
        return cls(store, flavor, app)

    def users(self) -> list[User]:
        return self.store.users()

    def user(self, username: str) -> User:
        found = self.store.find_user(username)
        if found is None:
            raise KeyError(username)
        return found

    def auth_header(self, username: str) -> dict[str, str]:
        """The Authorization header this flavor expects for a seeded user."""
        user = self.user(username)
        if self.flavor == "cloud":
            pair = base64.b64encode(f"{user.email}:{user.token}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {"Authorization": f"Bearer {user.token}"}

    def env(self, base_url: str, username: str) -> dict[str, str]:
        """The environment variables that point a client (and agentflow) at this site as `username`."""
        user = self.user(username)
        env = {"JIRA_URL": base_url, "CONFLUENCE_URL": f"{base_url}/wiki"}
        if self.flavor == "cloud":
            # A loopback URL does not look like Cloud (*.atlassian.net), so say which flavor it is.
            env["AGENTFLOW_SITE_FLAVOR"] = "cloud"
            env |= {
                "JIRA_USERNAME": user.email,
                "JIRA_API_TOKEN": user.token,
                "CONFLUENCE_USERNAME": user.email,
                "CONFLUENCE_API_TOKEN": user.token,
            }
        else:
            env |= {"JIRA_PERSONAL_TOKEN": user.token, "CONFLUENCE_PERSONAL_TOKEN": user.token}
        return env

    def describe(self, base_url: str) -> dict[str, Any]:
        """What `agentflow sandbox serve` prints: the URL, the users with their tokens and service-account keys,
        env vars, and the Rovo-like MCP endpoints."""
        keys = self.store.service_account_keys()
        return {
            "url": base_url,
            "flavor": self.flavor,
            "users": [
                {
                    "username": u.username,
                    "name": u.display_name,
                    "email": u.email,
                    "account_id": u.account_id,
                    "token": u.token,
                    "service_account_key": keys[u.id],
                }
                for u in self.users()
            ],
            "env": self.env(base_url, "sre"),
            "rovo": {
                "v1": f"{base_url}{PATHS['v1']}",
                "v2": f"{base_url}{PATHS['v2']}",
                "cloud_id": self.app.state.cloud_id,
            },
        }


class _Server(uvicorn.Server):
    """uvicorn, telling a waiting thread the moment it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn writes a response's head and body separately; without TCP_NODELAY (inherited by accepted
    # connections) Nagle's algorithm meets the client's delayed ACK and every keep-alive request waits ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)  # listening before we announce the URL: a client that connects at once must not be refused
    return sock


def serve(site: Site, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until interrupted; `on_ready(base_url)` runs once the port is bound (port 0 picks a free one)."""
    sock = _bind(host, port)
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    server = _Server(uvicorn.Config(site.app, log_level="warning", lifespan="off"))
    on_ready(base_url)
    server.run(sockets=[sock])


@contextmanager
def running(site: Site, host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Serve `site` on a free loopback port in a background thread; yields the base URL.

    `timeout` bounds the wait for it to listen and to stop: a net for a hang, generous for a loaded machine."""
    sock = _bind(host, 0)
    server = _Server(uvicorn.Config(site.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not server.ready.wait(timeout):
        server.should_exit = True
        raise RuntimeError(f"the sandbox did not start listening within {timeout} s")
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
