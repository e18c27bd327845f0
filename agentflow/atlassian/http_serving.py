"""The bundled server over streamable HTTP, with no door left open: a bearer token on every request, the Host
and Origin allowlists that stop DNS rebinding, and RFC 9728 protected-resource metadata telling a client how to
authenticate.

Anything that can reach the port could otherwise act with the site owner's Atlassian identity: another user of
the machine on loopback, anyone on the network with `--host 0.0.0.0`. The token is compared in constant time
(`hmac.compare_digest`); a request without it gets 401 with `WWW-Authenticate: Bearer ... resource_metadata=`
(RFC 6750 §3, RFC 9728 §5.1). The metadata names no authorization server: the token is a static one the owner
hands to their client (`Authorization: Bearer <token>`), not an OAuth grant.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from agentflow.atlassian.server import AtlassianServer

METADATA_PATH = "/.well-known/oauth-protected-resource"
MCP_PATH = "/mcp"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the port to this machine (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_app(server: AtlassianServer, *, host: str, token: str | None, allow_hosts: list[str] = ()) -> ASGIApp:
    """The ASGI app for `server` bound on `host`: the token required unless `token` is None (loopback only, the
    caller checks), Host/Origin limited to loopback names plus `allow_hosts` (names or addresses, any port)."""
    names = [*LOOPBACK_NAMES, *allow_hosts]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names] + list(names),
        allowed_origins=[f"{scheme}://{name}:*" for name in names for scheme in ("http", "https")],
    )
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=host)
    return BearerToken(app, token)


class BearerToken:
    """Pure ASGI middleware: the protected-resource metadata for anyone; everything else only with the token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        base = f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}"
        if scope["path"] == METADATA_PATH:
            metadata = {
                "resource": base + MCP_PATH,
                "bearer_methods_supported": ["header"],
                "resource_name": "agentflow Atlassian MCP server",
            }
            await _json(send, 200, metadata, {})
            return
        if self.token is not None and not self._authorized(headers.get("authorization", "")):
            challenge = f'Bearer realm="agentflow", error="invalid_token", resource_metadata="{base}{METADATA_PATH}"'
            problem = {
                "error": "invalid_token",
                "error_description": "this server needs its bearer token: Authorization: Bearer <token> "
                "(`agentflow mcp token` shows it)",
            }
            await _json(send, 401, problem, {"www-authenticate": challenge})
            return
        await self.app(scope, receive, send)

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token)


async def _json(send: Send, status: int, body: dict, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
