"""The bundled server as MCP clients meet it: a real stdio child process and a real streamable-HTTP port."""

import os
import re
import selectors
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import SLOW_MACHINE_SECONDS

pytestmark = pytest.mark.anyio
WAIT = SLOW_MACHINE_SECONDS  # for a child to start or stop, a request to be answered: only a hang gets near it


def child_env(state_dir) -> dict[str, str]:
    """Only what the server needs: a stdio child must not inherit the parent's secrets."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    config = state_dir / "config.toml"
    config.write_text("")
    return {**keep, "AGENTFLOW_STATE_DIR": str(state_dir), "AGENTFLOW_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}


async def test_stdio_server_reads_the_default_sandbox(tmp_path):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "agentflow", "mcp", "serve"], env=child_env(tmp_path)
    )
    with anyio.fail_after(WAIT):
        async with Client(params) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("get_jira_issue", {"key": "OPS-141"})
    assert "search_jira_issues" in tools and len(tools) == 13
    assert not result.is_error
    assert result.structured_content["summary"].startswith("Deploy payment-gateway 2.14.0")
    assert (tmp_path / "sandbox.db").exists()


def test_the_stdio_server_says_which_site_and_database_it_uses(tmp_path):
    """An MCP client that starts it without AGENTFLOW_STATE_DIR gets another sandbox: stderr tells which."""
    command = [sys.executable, "-m", "agentflow", "mcp", "serve"]
    server = subprocess.Popen(
        command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=child_env(tmp_path),
        text=True,
    )  # fmt: skip
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(server.stderr, selectors.EVENT_READ)
            assert selector.select(timeout=WAIT), "the MCP server said nothing on stderr"
        line = server.stderr.readline()
    finally:
        server.stdin.close()
        server.wait(timeout=WAIT)
    assert line.startswith("agentflow MCP server on stdio: site 'sandbox' (cloud): sandbox database ")
    assert f"{tmp_path / 'sandbox.db'}, as 'bot'; read-write" in line


def start_http(tmp_path, *extra: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "agentflow", "mcp", "serve", "--http", "--port", "0", *extra]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(tmp_path), text=True
    )
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=WAIT):
            server.kill()
            raise AssertionError("the MCP server printed nothing: " + server.stderr.read())
    line = server.stdout.readline()
    assert f"site 'sandbox' (cloud): sandbox database {tmp_path / 'sandbox.db'}" in line
    found = re.search(r"(http://\S+?/mcp)", line)
    assert found, f"no URL in {line!r}"
    return server, found.group(1)


@asynccontextmanager
async def client_with_token(url: str, token: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=WAIT) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def token_of(tmp_path) -> str:
    command = [sys.executable, "-m", "agentflow", "mcp", "token"]
    return subprocess.run(command, env=child_env(tmp_path), capture_output=True, text=True, check=True).stdout.strip()


async def test_streamable_http_server_needs_its_token_and_refuses_foreign_hosts(tmp_path):
    server, url = start_http(tmp_path, "--read-only")
    try:
        token = token_of(tmp_path)
        assert oct((tmp_path / "mcp-token").stat().st_mode & 0o777) == "0o600" and len(token) >= 40
        with anyio.fail_after(WAIT):
            async with client_with_token(url, token) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                found = await client.call_tool("search_confluence_pages", {"cql": 'label = "runbook"'})
        assert tools and not any(name.startswith(("create_", "add_", "update_", "link_")) for name in tools)
        assert not found.is_error and len(found.structured_content["pages"]) >= 3
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": token}):
            refused = httpx2.post(url, headers=headers, json=initialize, timeout=WAIT)
            assert refused.status_code == 401, headers
            challenge = refused.headers["WWW-Authenticate"]
            assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge
        metadata = httpx2.get(url.removesuffix("/mcp") + "/.well-known/oauth-protected-resource", timeout=WAIT).json()
        assert metadata["resource"] == url and metadata["bearer_methods_supported"] == ["header"]
        authorized = {"Authorization": f"Bearer {token}"}
        for foreign in ({"Host": "evil.example.com"}, {"Origin": "http://evil.example"}):
            rebinding = httpx2.post(url, headers={**authorized, **foreign}, json=initialize, timeout=WAIT)
            assert rebinding.status_code in (400, 403, 421), foreign
    finally:
        server.terminate()
        server.wait(timeout=WAIT)


def test_no_auth_is_refused_off_loopback_and_said_on_it(tmp_path):
    command = [sys.executable, "-m", "agentflow", "mcp", "serve", "--http", "--no-auth", "--host", "0.0.0.0"]
    refused = subprocess.run(command, env=child_env(tmp_path), capture_output=True, text=True, timeout=WAIT)
    assert refused.returncode == 2 and "--no-auth is refused on 0.0.0.0" in refused.stderr
    server, url = start_http(tmp_path, "--no-auth")
    try:
        answered = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=WAIT)
        assert answered.status_code != 401
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=WAIT)
    assert "--no-auth: any process of any user on this machine can use these tools as you" in stderr


async def test_a_rotated_token_takes_effect_at_once_and_the_metadata_is_only_read(tmp_path):
    server, url = start_http(tmp_path)
    try:
        old = token_of(tmp_path)
        subprocess.run([sys.executable, "-m", "agentflow", "mcp", "token", "--rotate"], env=child_env(tmp_path),
                       capture_output=True, check=True)  # fmt: skip
        new = token_of(tmp_path)
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        assert new != old
        assert (
            httpx2.post(url, headers={"Authorization": f"Bearer {old}"}, json=initialize, timeout=WAIT).status_code
            == 401
        )
        assert (
            httpx2.post(url, headers={"Authorization": f"Bearer {new}"}, json=initialize, timeout=WAIT).status_code
            != 401
        )
        metadata = url.removesuffix("/mcp") + "/.well-known/oauth-protected-resource"
        assert httpx2.post(metadata, timeout=WAIT).status_code == 405
        assert httpx2.get(metadata, headers={"Host": "evil.example"}, timeout=WAIT).status_code == 421
        sneaky = httpx2.post(url, headers={"Host": 'localhost:1", x="y'}, json=initialize, timeout=WAIT)
        assert '", x="y' not in sneaky.headers.get("WWW-Authenticate", "")
    finally:
        server.terminate()
        server.wait(timeout=WAIT)
