"""The bundled server as MCP clients meet it: a real stdio child process and a real streamable-HTTP port."""

import os
import re
import selectors
import subprocess
import sys

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


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
    with anyio.fail_after(60):
        async with Client(params) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("get_jira_issue", {"key": "OPS-141"})
    assert "search_jira_issues" in tools and len(tools) == 13
    assert not result.is_error
    assert result.structured_content["summary"].startswith("Deploy payment-gateway 2.14.0")
    assert (tmp_path / "sandbox.db").exists()


def start_http(tmp_path, *extra: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "agentflow", "mcp", "serve", "--http", "--port", "0", *extra]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(tmp_path), text=True
    )
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=30):
            server.kill()
            raise AssertionError("the MCP server printed nothing within 30 s: " + server.stderr.read())
    line = server.stdout.readline()
    found = re.search(r"(http://\S+?/mcp)", line)
    assert found, f"no URL in {line!r}"
    return server, found.group(1)


async def test_streamable_http_server_answers_and_refuses_foreign_hosts(tmp_path):
    server, url = start_http(tmp_path, "--read-only")
    try:
        with anyio.fail_after(60):
            async with Client(url) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                found = await client.call_tool("search_confluence_pages", {"cql": 'label = "runbook"'})
        assert tools and not any(name.startswith(("create_", "add_", "update_", "link_")) for name in tools)
        assert not found.is_error and len(found.structured_content["pages"]) >= 3
        rebinding = httpx2.post(url, headers={"Host": "evil.example.com"}, json={}, timeout=10)
        assert rebinding.status_code in (400, 403, 421)
    finally:
        server.terminate()
        server.wait(timeout=10)
