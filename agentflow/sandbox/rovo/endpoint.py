"""`/v1/mcp` and `/v2/mcp`: authenticate, enforce OAuth scopes, then serve one stateless streamable-HTTP MCP
request with the tools this caller may see.

What a caller sees: v1 filters its tools by `?capabilities=READ_JIRA,...` (the identity tools always listed);
Compass tools are listed only to OAuth sign-ins (REMOTE-SERVERS-NOTES.md). Rate limits and injected faults are
the site app's own middleware, in front of these routes, so the endpoints answer 429 with `Retry-After` exactly
as the REST side does.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentflow.sandbox.rovo import catalogue, identity, rest, scopes, tools_v1, tools_v2
from agentflow.sandbox.rovo.server import RovoServer, Version
from agentflow.sandbox.rovo.tooling import Spec
from agentflow.sandbox.store import Store

PATHS = {"v1": "/v1/mcp", "v2": "/v2/mcp"}
SPECS: dict[Version, list[Spec]] = {"v1": tools_v1.SPECS, "v2": tools_v2.SPECS}
OPERATION_SCOPES = {name: operation.scope for name, operation in catalogue.OPERATIONS.items()}


class Endpoint:
    """The ASGI app of one Rovo endpoint over `store`; `proxy` is the Cloud-flavored REST app the tools call."""

    def __init__(self, version: Version, store: Store, proxy: ASGIApp, cloud_id: str) -> None:
        self.version = version
        self.store = store
        self.proxy = proxy
        self.cloud_id = cloud_id
        self.needs = {s.tool.name: s.scope for s in SPECS[version]}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        who = await identity.authenticate(request, self.store)
        if who is None:
            problem = {"error": "invalid_token", "error_description": "Authentication is required."}
            await _json(send, 401, problem, {"WWW-Authenticate": identity.challenge(request)})
            return
        body = await request.body()
        lacking = scopes.missing(who.scopes, self.needs, OPERATION_SCOPES, scopes.calls(body))
        if lacking is not None:
            status, headers, problem = scopes.insufficient(lacking)
            await _json(send, status, problem, headers)
            return
        server = RovoServer(self.version, self.visible(who, request.query_params.get("capabilities")))
        site_url = str(request.base_url).rstrip("/")
        async with rest.client(self.proxy, site_url, who) as http:
            token = rest.current.set(rest.Call(who, http, self.cloud_id, site_url))
            try:
                async with server.session_manager.run():
                    await server.session_manager.handle_request(scope, _replay(body, receive), send)
            finally:
                rest.current.reset(token)

    def visible(self, who: identity.Identity, capabilities: str | None) -> list[Spec]:
        """The tools listed to `who`: Compass only with OAuth; on v1, only the asked capabilities' tools."""
        wanted = {c.strip().upper() for c in capabilities.split(",")} if capabilities and self.version == "v1" else None
        return [
            s
            for s in SPECS[self.version]
            if (who.via == "oauth" or not s.oauth_only)
            and (wanted is None or s.capability is None or s.capability in wanted)
        ]


def routes(store: Store, proxy: ASGIApp, cloud_id: str) -> list[Route]:
    """POST only: a stateless server has nothing to push on a GET stream, and the streamable-HTTP transport lets a
    server answer GET with 405 (MCP specification, "Listening for messages from the server")."""
    return [
        Route(path, Endpoint(version, store, proxy, cloud_id), methods=["POST", "DELETE"])
        for version, path in PATHS.items()
    ]


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request's body, already read for the scope check, handed to the MCP transport again."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
