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
import re
from collections.abc import Callable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from agentflow.atlassian.server import AtlassianServer

METADATA_PATH = "/.well-known/oauth-protected-resource"
MCP_PATH = "/mcp"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_SAFE = re.compile(r"[^A-Za-z0-9.:\[\]-]")  # what may go from a Host header into a header value we send


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the port to this machine (`localhost`, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_app(
    server: AtlassianServer, *, host: str, token: Callable[[], str] | None, allow_hosts: list[str] = ()
) -> ASGIApp:
    """The ASGI app for `server` bound on `host`: the token (read at each request, so a rotation takes effect at
    once) required unless `token` is None (loopback only, the caller checks); Host and Origin limited to loopback
    names plus `allow_hosts` (names or addresses, any port or none)."""
    names = [*LOOPBACK_NAMES, *allow_hosts]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names] + list(names),
        allowed_origins=[
            f"{scheme}://{name}{port}" for name in names for scheme in ("http", "https") for port in (":*", "")
        ],
    )
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=host)
    return BearerToken(app, token, names)


class BearerToken:
    """Pure ASGI middleware: the protected-resource metadata for anyone on an allowed host; everything else only
    with the token."""

    def __init__(self, app: ASGIApp, token: Callable[[], str] | None, hosts: list[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = {name.lower() for name in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        base = f"{scope.get('scheme', 'http')}://{_SAFE.sub('', host)}"
        if scope["path"] == METADATA_PATH:
            if self._host_name(host) not in self.hosts:
                await _json(send, 421, {"error": "misdirected_request"}, {})
            elif scope["method"] not in ("GET", "HEAD"):
                await _json(send, 405, {"error": "method_not_allowed"}, {"allow": "GET, HEAD"})
            else:
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
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token().encode())

    @staticmethod
    def _host_name(host: str) -> str:
        """The name in a Host header, without its port (`[::1]:8765` -> `[::1]`), lower-cased."""
        name = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
        return name.lower()


async def _json(send: Send, status: int, body: dict, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
