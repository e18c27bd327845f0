"""Server specs from the config: `[servers.NAME]` tables and the `mcpServers` JSON other hosts write, each
mistake naming the server and the problem."""

from __future__ import annotations

import pytest

from agentflow.errors import ConfigError
from agentflow.host.specs import load_server_specs


def test_servers_tables_infer_the_transport_and_keep_the_bundled_default():
    specs = load_server_specs(
        {
            "servers": {
                "files": {"command": "npx", "args": ["-y", "files"], "env": {"ROOT": "${HOME}"}, "call_timeout": 30},
                "docs": {"url": "https://docs.example.com/mcp", "bearer_token_env": "DOCS_TOKEN"},
                "legacy": {"transport": "sse", "url": "http://127.0.0.1:9000/sse"},
            }
        }
    )
    assert list(specs) == ["files", "docs", "legacy", "atlassian"]
    assert specs["files"].transport == "stdio" and specs["files"].env == {"ROOT": "${HOME}"}
    assert specs["files"].call_timeout == 30 and specs["files"].startup_timeout == 20
    assert specs["docs"].transport == "http" and specs["docs"].bearer_token_env == "DOCS_TOKEN"
    assert specs["legacy"].transport == "sse"
    assert specs["atlassian"].transport == "bundled"


def test_mcp_servers_json_shape_as_other_hosts_write_it():
    specs = load_server_specs(
        {
            "mcpServers": {
                "git": {"command": "uvx", "args": ["mcp-server-git"], "env": {"GIT_DIR": "/repo"}, "autoApprove": []},
                "remote": {"url": "https://mcp.example.com/mcp", "headers": {"X-Team": "sre"}},
                "events": {"type": "sse", "url": "https://mcp.example.com/sse"},
                "streamed": {"type": "streamable-http", "url": "https://mcp.example.com/v2"},
                "off": {"command": "nothing", "disabled": True},
                "atlassian": {"command": "uvx", "args": ["mcp-atlassian"]},
            }
        }
    )
    assert {name: spec.transport for name, spec in specs.items()} == {
        "git": "stdio",
        "remote": "http",
        "events": "sse",
        "streamed": "http",
        "atlassian": "stdio",
    }
    assert specs["git"].env == {"GIT_DIR": "/repo"} and specs["remote"].headers == {"X-Team": "sre"}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"servers": {"x": {"args": ["a"]}}}, "server 'x' (servers.x): needs a command"),
        ({"servers": {"x": {"transport": "carrier-pigeon", "url": "http://a"}}}, "unknown transport 'carrier-pigeon'"),
        ({"servers": {"x": {"url": "ftp://files.example.com"}}}, "server 'x' (servers.x): http servers need a url"),
        ({"servers": {"x": {"command": "run", "url": "http://a"}}}, "url is not used by stdio servers"),
        ({"servers": {"x": {"command": "run", "timeout": 3}}}, "timeout: Extra inputs are not permitted"),
        ({"servers": {"x": {"command": "run", "startup_timeout": 0}}}, "startup_timeout: Input should be greater"),
        ({"servers": {"x": {"command": "run", "args": "--fast"}}}, "args: Input should be a valid list"),
        ({"servers": {"x": "run"}}, "server 'x' (servers.x): must be a table"),
        ({"servers": ["x"]}, "'servers' in the config must map server names"),
        ({"mcpServers": {"x y": {"command": "run"}}}, "server 'x y' (mcpServers.x y): a server name may use only"),
        ({"mcpServers": {"x": {"env": {}}}}, "server 'x' (mcpServers.x): needs a command (stdio) or a url"),
        (
            {"servers": {"x": {"command": "a"}}, "mcpServers": {"x": {"command": "b"}}},
            "server 'x' (mcpServers.x): defined twice",
        ),
    ],
)
def test_malformed_server_entries_name_the_server_and_the_problem(config, expected):
    with pytest.raises(ConfigError) as caught:
        load_server_specs(config)
    assert expected in str(caught.value)
