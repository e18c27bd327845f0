"""The site's own REST API, called in-process as the signed-in user: how every Rovo tool reaches the data.

The real Rovo server proxies Atlassian's REST APIs with the caller's grant, so permissions, comment visibility,
validation and error texts are the site's. Here the proxy goes through an `httpx2.ASGITransport` into a
Cloud-flavored app over the same store (Rovo fronts Cloud only; REMOTE-SERVERS-NOTES.md), authenticated with
the user's API token. A refusal becomes a `ToolError`, which the MCP SDK turns into an `is_error` result quoting
the site's message.
"""

from __future__ import annotations

import base64
import contextvars
import json
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.server.mcpserver.exceptions import ToolError

from agentflow.sandbox.rovo.identity import Identity


@dataclass
class Call:
    """One MCP request's context: who asks, the REST client acting as them, and the site they may name."""

    identity: Identity
    http: httpx2.AsyncClient
    cloud_id: str
    site_url: str

    def check_site(self, cloud_id: str) -> None:
        """`cloudId` names the site by its UUID or its URL (REMOTE-SERVERS-NOTES.md); anything else is refused."""
        given = cloud_id.strip().rstrip("/").lower()
        site = self.site_url.rstrip("/").lower()
        if given not in (self.cloud_id.lower(), site, site.split("://", 1)[-1]):
            raise ToolError(
                f"Cloud id '{cloud_id}' is not a site you can access; getAccessibleAtlassianResources lists yours."
            )

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return answer(await self.http.request(method, path, **kwargs))

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, json=body)

    async def put(self, path: str, body: Any) -> Any:
        return await self.request("PUT", path, json=body)


current: contextvars.ContextVar[Call] = contextvars.ContextVar("rovo_call")


def client(app: Any, site_url: str, identity: Identity) -> httpx2.AsyncClient:
    """An HTTP client into `app` (the Cloud-flavored REST app) acting as the identity's user."""
    user = identity.user
    pair = base64.b64encode(f"{user.email}:{user.token}".encode()).decode()
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=site_url, headers={"Authorization": f"Basic {pair}"}
    )


def answer(response: httpx2.Response) -> Any:
    """The JSON the site answered (None for an empty body), or a ToolError quoting its refusal."""
    body = json_of(response)
    if response.status_code >= 400:
        raise ToolError(f"{response.status_code}: {_message(body, response)}")
    return body


def json_of(response: httpx2.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _message(body: Any, response: httpx2.Response) -> str:
    """The site's own words: Jira's `errorMessages` and `errors`, Confluence's `message` or v2 `errors[].title`."""
    if isinstance(body, dict):
        texts = [str(m) for m in body.get("errorMessages") or []]
        if isinstance(body.get("errors"), dict):
            texts += [f"{field}: {text}" for field, text in body["errors"].items()]
        elif isinstance(body.get("errors"), list):
            texts += [str(e.get("detail") or e.get("title") or e) for e in body["errors"] if isinstance(e, dict)]
        if body.get("message"):
            texts.append(str(body["message"]))
        if texts:
            return "; ".join(texts)
    return response.reason_phrase or "request failed"
