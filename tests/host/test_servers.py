"""The host connects MCP servers in-process, over stdio and over HTTP, and fails fast and loudly when one breaks."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent

from agentflow.atlassian.server import REQUESTS_META
from agentflow.atlassian.testing import server_for
from agentflow.cli.serving import bind
from agentflow.errors import ConfigError, ServerError, ServerStartError
from agentflow.host.servers import Host
from agentflow.host.specs import ServerSpec
from agentflow.sandbox.site import Site
from tests.conftest import SLOW_MACHINE_SECONDS

pytestmark = pytest.mark.anyio

ECHO = str(Path(__file__).parent / "servers" / "echo_server.py")
WAIT = SLOW_MACHINE_SECONDS  # what one test may take to connect or fail; only a hang comes near it
# A server that does start gets a box well inside WAIT: starting Python and importing the MCP SDK takes half a
# second on a laptop and several on a loaded 2-core machine. Only a test of the box itself sets a short one,
# and then on a server that can never finish inside it.
START = WAIT / 2


def echo_spec(*args: str, **settings) -> ServerSpec:
    settings.setdefault("startup_timeout", START)
    return ServerSpec(name="echo", transport="stdio", command=sys.executable, args=[ECHO, *args], **settings)


def bundled_spec(**settings) -> ServerSpec:
    settings.setdefault("startup_timeout", START)
    return ServerSpec(name="atlassian", transport="bundled", **settings)


def sandbox_server(quota=None) -> MCPServer:
    return server_for(Site.open("cloud"), quota=quota)


def test_a_server_named_twice_is_refused():
    with pytest.raises(ConfigError, match="named twice: echo"):
        Host([echo_spec(), echo_spec()])


# --- the bundled server, in-process ---------------------------------------------------------------------------


async def test_bundled_server_in_process_lists_annotated_tools_and_returns_outcomes():
    with anyio.fail_after(WAIT):
        async with Host([bundled_spec()], bundled=sandbox_server) as host:
            tools = {tool.name: tool for tool in host.tools()}
            found = await host.call("atlassian", "get_jira_issue", {"key": "OPS-141"})
            missing = await host.call("atlassian", "get_jira_issue", {"key": "OPS-99999"})
    assert len(tools) == 13 and {tool.server for tool in tools.values()} == {"atlassian"}
    search = tools["search_jira_issues"]
    assert (search.read_only, search.destructive, search.idempotent) == (True, False, True)
    assert tools["create_jira_issue"].read_only is False and "properties" in search.input_schema
    assert not found.is_error and found.structured["summary"].startswith("Deploy payment-gateway 2.14.0")
    assert "OPS-141" in found.text and found.requests >= 1 and found.duration_ms >= 0
    # A tool's own failure is an outcome for the model to read, not an exception.
    assert missing.is_error and missing.structured is None and "does not exist" in missing.text


async def test_bundled_server_by_default_reads_the_embedded_sandbox_and_honours_read_only():
    with anyio.fail_after(WAIT):
        async with Host([bundled_spec()], read_only=True) as host:
            names = {tool.name for tool in host.tools()}
    assert "search_jira_issues" in names and "create_jira_issue" not in names


# --- a real stdio child ---------------------------------------------------------------------------------------


async def test_stdio_server_gets_only_the_declared_environment(monkeypatch):
    monkeypatch.setenv("HOST_TEST_GREETING", "hello from the parent")
    monkeypatch.setenv("HOST_TEST_SECRET", "must-not-leak")
    spec = echo_spec(env={"GREETING": "${HOST_TEST_GREETING}!", "PLAIN": "as is"})
    with anyio.fail_after(WAIT):
        async with Host([spec]) as host:
            tools = {tool.name: tool for tool in host.tools()}
            echoed = await host.call("echo", "echo", {"text": "ping"})
            failed = await host.call("echo", "fail", {"why": "no such runbook"})
            env = (await host.call("echo", "environment", {})).structured
    assert set(tools) == {"echo", "fail", "slow", "crash", "babble", "environment"}
    assert tools["echo"].read_only is True and tools["fail"].read_only is None
    assert echoed.text == "ping" and not echoed.is_error and echoed.requests is None  # it did not say
    assert failed.is_error and "no such runbook" in failed.text
    assert env["GREETING"] == "hello from the parent!" and env["PLAIN"] == "as is"
    assert "HOST_TEST_SECRET" not in env and "AGENTFLOW_STATE_DIR" not in env


async def test_a_call_over_its_time_box_is_a_server_error_and_the_server_stays_usable():
    with anyio.fail_after(WAIT):
        async with Host([echo_spec(call_timeout=0.5)]) as host:
            with pytest.raises(ServerError, match=r"'echo' failed: slow did not answer within 0\.5 s"):
                await host.call("echo", "slow", {"seconds": 3600})  # can never answer inside the box
            # The box is the spec's, not this one's: an answer that merely comes late on a slow machine must not fail.
            assert (await host.call("echo", "echo", {"text": "still here"}, timeout=WAIT)).text == "still here"


async def test_a_server_dying_mid_call_is_a_server_error_quoting_its_stderr():
    with anyio.fail_after(WAIT):
        async with Host([echo_spec()]) as host:
            with pytest.raises(ServerError) as died:
                await host.call("echo", "crash", {})
            with pytest.raises(ServerError):
                await host.call("echo", "echo", {"text": "anyone?"})
    assert died.value.server == "echo" and "out of cheese" in str(died.value)


@pytest.mark.parametrize(
    ("spec", "reason", "stderr"),
    [
        (
            ServerSpec(name="ghost", transport="stdio", command="agentflow-no-such-command", startup_timeout=START),
            "cannot run 'agentflow-no-such-command'",
            "",
        ),
        # It exits by itself: a short box would race its start-up (importing the SDK) on a slow machine.
        (echo_spec("broken"), "closed the connection before completing", "ECHO_TOKEN is not set"),
        # The box under test: it never answers, so it fails the same way however slow the machine is.
        (echo_spec("silent", startup_timeout=1), "did not complete the MCP handshake within 1 s", ""),
    ],
    ids=["command-not-found", "exits-at-start", "never-answers"],
)
async def test_a_server_that_cannot_start_is_named_with_its_stderr(spec, reason, stderr):
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError) as caught:
        async with Host([spec]):
            pytest.fail("the host should not have started")
    assert caught.value.server == spec.name and reason in caught.value.reason
    assert stderr in caught.value.stderr_tail and stderr in str(caught.value)


async def test_unset_variables_are_refused_rather_than_passed_empty(monkeypatch):
    monkeypatch.delenv("HOST_TEST_UNSET", raising=False)
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError, match=r"reference \$\{HOST_TEST_UNSET\}"):
        async with Host([echo_spec(env={"TOKEN": "${HOST_TEST_UNSET}"})]):
            pass


# --- stdout carries JSON-RPC only ------------------------------------------------------------------------------

NOT_MCP = "wrote something that is not MCP to stdout"


async def test_a_server_printing_to_stdout_before_the_handshake_fails_to_start_with_one_line(caplog):
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError) as caught:
        async with Host([echo_spec("chatty", startup_timeout=WAIT)]):
            pytest.fail("the host should not have started")
    assert str(caught.value) == (
        "MCP server 'echo' did not start: it wrote something that is not MCP to stdout: "
        "'Loading config from ~/.echo.toml...' — servers must write only JSON-RPC to stdout and logs to stderr"
    )
    assert "Traceback" not in caplog.text and not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize(
    ("said", "quoted"),
    [
        ("ready: 3 tools", "'ready: 3 tools'"),
        ('{"level": "info", "msg": "ready"}', """'{"level": "info", "msg": "ready"}'"""),
    ],
    ids=["text", "json-but-not-json-rpc"],
)
async def test_a_server_printing_to_stdout_mid_call_fails_that_call_and_every_later_one(said, quoted, caplog):
    with anyio.fail_after(WAIT):
        async with Host([echo_spec()]) as host:
            assert (await host.call("echo", "echo", {"text": "fine so far"})).text == "fine so far"
            with pytest.raises(ServerError) as caught:
                await host.call("echo", "babble", {"text": said})
            with pytest.raises(ServerError) as later:
                await host.call("echo", "echo", {"text": "anyone?"})
    assert caught.value.server == "echo" and f"{NOT_MCP}: {quoted} — servers must" in str(caught.value)
    assert str(later.value) == str(caught.value) and "\n" not in str(caught.value)
    assert "Traceback" not in caplog.text and not [record for record in caplog.records if record.exc_info]


async def test_what_a_server_printed_is_quoted_short_and_without_secrets():
    secret = "sk-ant-" + "k" * 40
    with anyio.fail_after(WAIT):
        async with Host([echo_spec()]) as host:
            with pytest.raises(ServerError) as caught:
                await host.call("echo", "babble", {"text": f"using key {secret} " + "x" * 1000})
    reason = caught.value.reason
    assert reason.startswith(f"it {NOT_MCP}: 'using key [REDACTED] xxx") and "…" in reason
    assert secret not in reason and len(reason) < 350


async def test_bytes_that_are_not_text_are_reported_too_not_waited_out():
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError) as caught:
        async with Host([echo_spec("garbled", startup_timeout=WAIT * 2)]):
            pytest.fail("the host should not have started")
    assert f"{NOT_MCP}: '\ufffd\ufffd\\x00garbled'" in caught.value.reason


async def test_the_sdk_log_is_quiet_only_for_the_lines_we_report(caplog, tmp_path):
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError):
        async with Host([echo_spec("chatty", startup_timeout=WAIT)]):
            pass
    assert "Failed to parse" not in caplog.text
    # Another client of the SDK in this process (ours is not) still gets its log line.
    params = StdioServerParameters(command=sys.executable, args=[ECHO, "chatty"])
    with open(tmp_path / "stderr.log", "w") as errlog, anyio.fail_after(WAIT):
        async with Client(stdio_client(params, errlog=errlog)) as client:
            assert (await client.call_tool("echo", {"text": "hi"})).content
    assert "Failed to parse JSONRPC message from server" in caplog.text


async def test_blank_lines_on_stdout_are_passed_over():
    with anyio.fail_after(WAIT):
        async with Host([echo_spec()]) as host:
            assert (await host.call("echo", "babble", {"text": "  "})).text == "said it"
            assert (await host.call("echo", "echo", {"text": "still here"})).text == "still here"


# --- closing, whatever happens --------------------------------------------------------------------------------


class Probe:
    """An in-process server that records whether its session is open."""

    def __init__(self) -> None:
        self.open = False
        self.closed = False
        self.opened = anyio.Event()

    def server(self, quota=None) -> MCPServer:
        @asynccontextmanager
        async def lifespan(server: MCPServer) -> AsyncIterator[None]:
            self.open = True
            self.opened.set()
            try:
                yield
            finally:
                self.closed = True

        probe = MCPServer("probe", lifespan=lifespan)

        @probe.tool()
        def ping() -> str:
            """Answer."""
            return "pong"

        return probe


async def test_when_one_server_fails_to_start_the_others_are_closed():
    probe = Probe()
    specs = [bundled_spec(), echo_spec("broken")]
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError, match="'echo'"):
        async with Host(specs, bundled=probe.server):
            pass
    assert probe.open and probe.closed


async def test_an_error_in_the_body_propagates_unwrapped_after_closing():
    probe = Probe()
    with anyio.fail_after(WAIT), pytest.raises(ServerError, match="'elsewhere' failed: no server"):
        async with Host([bundled_spec()], bundled=probe.server) as host:
            assert (await host.call("atlassian", "ping", {})).text == "pong"
            await host.call("elsewhere", "ping", {})
    assert probe.closed


async def test_cancelling_closes_every_session_including_one_still_starting():
    probe = Probe()

    async def host() -> None:
        async with Host([bundled_spec(), echo_spec("silent", startup_timeout=WAIT)], bundled=probe.server):
            pytest.fail("the silent server never finishes starting")

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(host)
            await probe.opened.wait()  # one session open, the silent one still starting (its box is WAIT)
            group.cancel_scope.cancel()
    assert probe.open and probe.closed


# --- HTTP -------------------------------------------------------------------------------------------------------


class Served:
    """The bundled server on a loopback port, recording the headers of each request it receives."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        server = sandbox_server()
        app = server.sse_app() if kind == "sse" else server.streamable_http_app()
        self.headers: list[dict[str, str]] = []

        async def recording(scope, receive, send):
            if scope["type"] == "http":
                self.headers.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            await app(scope, receive, send)

        sock = bind("127.0.0.1", 0)  # already listening: a client connecting before uvicorn is up just waits
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/{'sse' if kind == 'sse' else 'mcp'}"
        self.uvicorn = uvicorn.Server(uvicorn.Config(recording, log_level="warning"))
        self.thread = threading.Thread(target=self.uvicorn.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(timeout=WAIT)


@pytest.fixture(params=["http", "sse"])
def served(request) -> Iterator[Served]:
    with Served(request.param) as served:
        yield served


async def test_http_and_sse_servers_get_our_bearer_token_and_headers(served, monkeypatch):
    monkeypatch.setenv("HOST_TEST_TOKEN", "s3cret")
    monkeypatch.setenv("HOST_TEST_TEAM", "sre")
    spec = ServerSpec(
        name="remote",
        transport=served.kind,
        url=served.url,
        headers={"X-Team": "${HOST_TEST_TEAM}"},
        bearer_token_env="HOST_TEST_TOKEN",
        startup_timeout=START,
    )
    with anyio.fail_after(WAIT):
        async with Host([spec]) as host:
            assert len(host.tools()) == 13
            found = await host.call("remote", "search_confluence_pages", {"cql": 'label = "runbook"'})
    assert not found.is_error and len(found.structured["pages"]) >= 3
    assert served.headers and all(h.get("authorization") == "Bearer s3cret" for h in served.headers)
    assert all(h.get("x-team") == "sre" for h in served.headers)


async def test_a_refused_http_connection_is_a_start_error():
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()  # a port nobody listens on
    spec = ServerSpec(name="remote", transport="http", url=f"http://127.0.0.1:{port}/mcp", startup_timeout=START)
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError, match=r"'remote' did not start: .*ConnectError"):
        async with Host([spec]):
            pass


async def test_a_missing_bearer_token_is_a_start_error(monkeypatch):
    monkeypatch.delenv("HOST_TEST_TOKEN", raising=False)
    spec = ServerSpec(name="remote", transport="http", url="http://127.0.0.1:9/mcp", bearer_token_env="HOST_TEST_TOKEN")
    with anyio.fail_after(WAIT), pytest.raises(ServerStartError, match=r"HOST_TEST_TOKEN .* is not set"):
        async with Host([spec]):
            pass


@pytest.mark.parametrize(("reported", "believed"), [(3, 3), (0, 0), (-5, None), (10**6, None), (True, None)])
async def test_a_request_count_a_server_reports_is_believed_only_when_plausible(reported, believed):
    server = MCPServer("counting")

    @server.tool()
    def work() -> CallToolResult:
        """Says how many requests it made."""
        return CallToolResult(content=[TextContent(type="text", text="done")], meta={REQUESTS_META: reported})

    with anyio.fail_after(WAIT):
        async with Host([bundled_spec()], bundled=lambda quota: server) as host:
            outcome = await host.call("atlassian", "work", {})
    assert outcome.text == "done" and outcome.requests == believed
