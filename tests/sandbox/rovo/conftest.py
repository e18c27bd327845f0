"""Rovo endpoint fixtures: a served Cloud site per module, and MCP clients over streamable HTTP with a header."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS


@dataclass
class Rovo:
    site: Site
    url: str

    @property
    def cloud_id(self) -> str:
        return self.site.app.state.cloud_id

    def basic(self, username: str) -> dict[str, str]:
        """Basic email:API token, what Rovo takes on whatever flavor the site's REST side speaks."""
        user = self.site.user(username)
        return {"Authorization": "Basic " + base64.b64encode(f"{user.email}:{user.token}".encode()).decode()}

    def bearer(self, username: str) -> dict[str, str]:
        key = next(u for u in self.site.describe(self.url)["users"] if u["username"] == username)
        return {"Authorization": f"Bearer {key['service_account_key']}"}

    @asynccontextmanager
    async def client(self, version: str, headers: dict[str, str], query: str = "") -> AsyncIterator[Client]:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=SLOW_MACHINE_SECONDS) as http,
            Client(streamable_http_client(f"{self.url}/{version}/mcp{query}", http_client=http)) as client,
        ):
            yield client


def data(result: CallToolResult) -> Any:
    """The JSON a successful tool call answered."""
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def error(result: CallToolResult) -> str:
    assert result.is_error, result.content
    return result.content[0].text


@pytest.fixture(scope="module")
def rovo() -> Iterator[Rovo]:
    """A Cloud site per test module: modules that write do not disturb the others."""
    site = Site.open("cloud")
    with running(site) as url:
        yield Rovo(site, url)
