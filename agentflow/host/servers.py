"""Connecting the MCP servers a workflow names, and calling their tools within a time box.

Servers are described by `ServerSpec`s (`host.specs`, read from the config). `Host` connects them all
concurrently, each within its `startup_timeout`: the bundled Atlassian server in-process, others as stdio
children, streamable HTTP or legacy SSE. A server that cannot start is a `ServerStartError` that names it and
quotes the end of its stderr; a server that fails mid-run (times out, dies, breaks the protocol) is a
`ServerError`. A stdio server that writes anything but JSON-RPC to its stdout has failed, at start or mid-run
(`agentflow.host.stdio`). A tool's own failure (`is_error`) is neither: it is an outcome the model reads.

A server other than the bundled one that reaches an Atlassian site says so with `site` (the site whose hourly
budget it spends) and `requests_per_call` (the gate's estimate, reserved before each call and corrected by what
the result's `_meta["agentflow/requests"]` reports); `meters_itself` exempts a server that reserves its own
requests in the shared budget (another agentflow `mcp serve`), so nothing is counted twice.

A remote server is signed in to as its spec says (`host.auth`): Basic or Bearer headers from the environment,
or OAuth 2.1 from the sign-in `agentflow servers login` stored. A run never signs in itself: a missing sign-in,
or one the server will not refresh or lacks a scope for, ends the connection at once and is `SignInRequired`
at start (the run is deferred) or the server's failure mid-run, both saying which command fixes it.

A stdio child gets only the variables its spec declares (plus the SDK's few safe ones: HOME, PATH, ...), with
`${VAR}` references expanded from our environment: a server never sees secrets it was not given.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
from anyio.abc import TaskStatus
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, CallToolResult, TextContent, Tool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentflow.atlassian.quota import Quota
from agentflow.atlassian.server import (
    BUDGET_META,
    EXHAUSTED,
    METERED_META,
    REQUESTS_META,
    RETRY_AFTER_META,
    AtlassianServer,
)
from agentflow.atlassian.sites import SiteConfig, resolve_site
from agentflow.errors import AgentflowError, ConfigError, ServerError, ServerStartError, ServerTimeout, SignInRequired
from agentflow.host import auth as signing
from agentflow.host.credentials import CredentialStore, open_vault
from agentflow.host.pins import PinLock, pin_of
from agentflow.host.specs import MAX_REQUESTS_PER_CALL, AuthKind, ServerSpec
from agentflow.host.stdio import stdio_transport

STDERR_LINES = 20
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class HostTool(BaseModel):
    """A tool one connected server offers; the hints are None where the server says nothing. `annotations`: all
    the server said of it (MCP's camelCase names), and `pin` the SHA-256 of its definition (`host.pins`), which
    its audit lines carry."""

    model_config = ConfigDict(frozen=True)

    server: str
    name: str
    description: str = ""
    input_schema: dict[str, Any]
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    annotations: dict[str, Any] = Field(default_factory=dict)
    pin: str = ""


class ToolOutcome(BaseModel):
    """What one tool call returned. `is_error` is the tool's own verdict, for the model to read.

    `requests`: the Atlassian HTTP requests the call made, as the server reported them (None: it did not say;
    the gate fills in its estimate, or 0 for a server that reaches no Atlassian site). `metered_in`: the
    identity of the ledger the server says it reserved them in itself. `budget_exhausted`: nothing (more) was
    sent because the budget had no room."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False
    requests: int | None = None
    duration_ms: int = 0
    retry_after: float | None = None  # the site asked to wait this long (a 429): the budget pauses it
    metered_in: str | None = None
    budget_exhausted: bool = False


class _Connection:
    """One live server: its client, its tools, where its stderr goes, and why its session ended if it did."""

    def __init__(self, spec: ServerSpec, client: Client, tools: list[HostTool], stderr: IO[str] | None) -> None:
        self.spec = spec
        self.client = client
        self.tools = tools
        self.stderr = stderr
        self.failure: str | None = None
        self.calls: set[anyio.CancelScope] = set()  # the calls waiting on it, ended at once if its sign-in fails

    def end_calls(self, reason: str) -> None:
        self.failure = reason
        for call in list(self.calls):
            call.cancel()


class Host:
    """`async with Host(specs) as host:` — every server connected on enter, every one closed on exit.

    Use it from one task: each server's session lives in a task of the host's task group, which spans the
    `async with` body, so that every session is opened and closed by the same task, as anyio requires.
    """

    def __init__(
        self,
        specs: list[ServerSpec],
        *,
        site: SiteConfig | None = None,
        read_only: bool = False,
        bundled: Callable[[Quota | None], AtlassianServer] | None = None,
        quota: Quota | None = None,
        withhold_restricted: bool = False,
        credentials: CredentialStore | None = None,
        pins: PinLock | None = None,
    ) -> None:
        """`site`: the bundled server's site (None: the default site); `bundled` makes the bundled server (tests
        inject one); `quota` is handed to it to meter its requests; `withhold_restricted` makes it leave
        comments restricted to a role or group out of its results (a report read beyond that role or group);
        `credentials`: where OAuth sign-ins are kept (default: the vault `host.credentials.open_vault` picks);
        `pins`: the lock every server's tools are checked against once all are connected, before the host is
        handed out and so before any tool can be called (None: not checked, as when a person reviews them)."""
        names = [spec.name for spec in specs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ConfigError(f"MCP server(s) named twice: {', '.join(repeated)}")
        self._specs = list(specs)
        self._site = site
        self._read_only = read_only
        self._bundled = bundled
        self._quota = quota
        self._withhold_restricted = withhold_restricted
        self._credentials = credentials
        self._pins = pins
        self._connections: dict[str, _Connection] = {}
        self._closing = anyio.Event()
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Host:
        await self._stack.__aenter__()
        try:
            group = await self._stack.enter_async_context(anyio.create_task_group())
            # Unwinding sets this first: every session task leaves its client, then the group waits for them.
            self._stack.callback(self._closing.set)
            failures: dict[str, AgentflowError] = {}

            async def start(spec: ServerSpec) -> None:
                try:
                    self._connections[spec.name] = await group.start(self._serve, spec)
                except (ConfigError, SignInRequired) as error:
                    failures[spec.name] = error

            async with anyio.create_task_group() as starting:
                for spec in self._specs:
                    starting.start_soon(start, spec)
            # Every start has ended (each is time-boxed); report the first failure in the order given.
            for spec in self._specs:
                if spec.name in failures:
                    raise failures[spec.name]
            if self._pins is not None:
                # File I/O under a lock another run may hold for a moment: off the event loop.
                checked = [(spec, self._connections[spec.name].tools) for spec in self._specs]
                await anyio.to_thread.run_sync(self._pins.check, checked)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # The body's exception is not handed to the task group, which would wrap it in an ExceptionGroup:
        # it propagates unchanged once every session is closed.
        await self._stack.aclose()

    def spec(self, server: str) -> ServerSpec:
        """The spec of a connected server; `ServerError` for a name the host does not know."""
        connection = self._connections.get(server)
        if connection is None:
            raise ServerError(server, "no server of that name is connected")
        return connection.spec

    def tool(self, server: str, name: str) -> HostTool | None:
        """A connected server's tool by its own name; None when it offers none of that name."""
        connection = self._connections.get(server)
        found = [tool for tool in connection.tools if tool.name == name] if connection else []
        return found[0] if found else None

    def tools(self) -> list[HostTool]:
        """Every connected server's tools, servers in the order given."""
        return [tool for spec in self._specs for tool in self._connections[spec.name].tools]

    async def call(
        self, server: str, name: str, arguments: dict[str, Any], *, timeout: float | None = None
    ) -> ToolOutcome:
        """Call one tool within `timeout` seconds, the server's `call_timeout` unless given; only the server's own
        failure raises `ServerError`."""
        connection = self._connections.get(server)
        if connection is None:
            raise ServerError(server, "no server of that name is connected")
        if connection.failure is not None:
            raise ServerError(server, connection.failure)
        timeout = connection.spec.call_timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            with anyio.fail_after(timeout), anyio.CancelScope() as waiting:
                connection.calls.add(waiting)
                try:
                    result = await connection.client.call_tool(name, arguments)
                finally:
                    connection.calls.discard(waiting)
            if waiting.cancelled_caught:
                raise ServerError(server, connection.failure or "its session ended")
        except TimeoutError:
            raise ServerTimeout(server, f"{name} did not answer within {timeout:g} s") from None
        except (
            MCPError,
            ValidationError,
            httpx2.HTTPError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            OSError,
        ) as error:
            if connection.failure is not None:  # the server failed while we waited: that is the reason
                raise ServerError(server, connection.failure) from None
            reason = f"calling {name}: {_describe(error)}"
            raise ServerError(server, _with_stderr(reason, connection.stderr)) from None
        return _outcome(result, round((time.monotonic() - started) * 1000))

    async def _serve(self, spec: ServerSpec, *, task_status: TaskStatus[_Connection]) -> None:
        """Own one server's session from connect to close, in one task; a failure to start is raised."""
        with _stderr_file(spec) as stderr:
            connected: _Connection | None = None
            not_mcp: str | None = None
            signed_out: str | None = None

            def transport_failed(reason: str) -> None:
                # A stdio server wrote something else than MCP on its stdout, or a remote one refused its
                # credentials: at start, that fails the start; once connected, the call it wakes and every later
                # one report this.
                nonlocal not_mcp
                not_mcp = reason
                if connected is not None:
                    connected.failure = reason

            def sign_in_failed(reason: str) -> None:
                # Nobody can sign in during a run: end the session now rather than let a request wait forever.
                nonlocal signed_out
                signed_out = reason
                if connected is not None:
                    connected.end_calls(reason)
                startup.cancel()

            # The deadline covers the start only; once connected it is lifted, as the session outlives it.
            with anyio.CancelScope(deadline=anyio.current_time() + spec.startup_timeout) as startup:
                held = None
                try:
                    if spec.sign_in is AuthKind.OAUTH and signing.refresh_due(spec, self._credential_store()):
                        # Another process may be refreshing the same sign-in: wait, then read what it stored.
                        held = await self._credential_store().refreshing(spec.name, spec.url or "")
                    async with self._client(spec, stderr, transport_failed, sign_in_failed) as client:
                        tools = await _list_tools(client, spec.name)
                        if held is not None:
                            held.release()
                        startup.deadline = math.inf
                        connected = _Connection(spec, client, tools, stderr)
                        task_status.started(connected)
                        await self._closing.wait()
                except (ConfigError, SignInRequired):
                    raise
                except Exception as error:  # whatever broke, it is this server's failure, not the host's
                    if signed_out is not None:
                        pass  # the sign-in's reason is reported below, not what it broke on its way out
                    elif connected is not None:
                        # Raising now would cancel the whole host; the next call to this server reports it.
                        connected.failure = _with_stderr(f"its session ended: {_describe(error)}", stderr)
                    elif not startup.cancel_called:
                        reason = not_mcp or _start_failure(spec, error)
                        raise ServerStartError(spec.name, reason, _tail(stderr)) from None
                finally:
                    if held is not None:
                        held.release()
            if connected is None and signed_out is not None:
                raise SignInRequired(spec.name, signed_out)
            if connected is None:
                reason = f"it did not complete the MCP handshake within {spec.startup_timeout:g} s"
                raise ServerStartError(spec.name, reason, _tail(stderr))

    def _credential_store(self) -> CredentialStore:
        if self._credentials is None:
            self._credentials = CredentialStore(open_vault())
        return self._credentials

    def _client(
        self,
        spec: ServerSpec,
        stderr: IO[str] | None,
        not_mcp: Callable[[str], None],
        sign_in_failed: Callable[[str], None],
    ) -> Client:
        if spec.transport == "bundled":
            if self._bundled is not None:
                server = self._bundled(self._quota)
            else:
                server = AtlassianServer(self._site or resolve_site(), read_only=self._read_only, quota=self._quota)
            server.withhold_restricted = self._withhold_restricted
            return Client(server)
        if spec.transport == "stdio":
            env = _expand(spec.env, spec.name)
            # Bytes that are not UTF-8 become U+FFFD, so a line of them is reported as not MCP like any other:
            # strict decoding stops the SDK's reader without ending the session, and the call waits out its box.
            params = StdioServerParameters(
                command=spec.command or "", args=spec.args, env=env, cwd=spec.cwd, encoding_error_handler="replace"
            )
            return Client(stdio_transport(params, stderr or sys.stderr, not_mcp))
        signing_in: httpx2.Auth | None = None
        if spec.sign_in is AuthKind.OAUTH:
            store = self._credential_store()
            signing.require_sign_in(spec, store)
            signing_in = signing.oauth(spec, store, on_failure=sign_in_failed).provider
        return remote_client(spec, signing_in, refused=not_mcp)


def remote_client(
    spec: ServerSpec, signing_in: httpx2.Auth | None = None, refused: Callable[[str], None] | None = None
) -> Client:
    """A client of a streamable HTTP or SSE server: its headers (with a Basic or Bearer sign-in), `signing_in`
    (an OAuth flow) and its TLS and proxy options on every request. `refused` is told, in words that name the
    variables to check, when the server refuses a Basic or Bearer sign-in (the SDK says only that it failed)."""
    headers = _expand(spec.headers, spec.name) | signing.static_headers(spec)
    verify = signing.verify_for(spec)

    async def watch(response: httpx2.Response) -> None:
        if refused is not None and response.status_code in (401, 403) and str(response.request.url) == spec.url:
            refused(signing.refusal(spec, response))

    hooks = {"response": [watch]} if signing_in is None else {}

    def http_client(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers, timeout=timeout, auth=auth, verify=verify, proxy=spec.proxy, event_hooks=hooks
        )

    if spec.transport == "sse":
        # An idle session must not end between calls: `call_timeout` is what boxes each call.
        idle = 24 * 3600.0
        transport = sse_client(spec.url or "", headers=headers, timeout=spec.startup_timeout, sse_read_timeout=idle,
                               httpx_client_factory=http_client, auth=signing_in)  # fmt: skip
        return Client(transport)
    timeout = httpx2.Timeout(spec.startup_timeout, read=None)
    return Client(_streamable_http(spec.url or "", http_client(headers, timeout, signing_in)))


@asynccontextmanager
async def _streamable_http(url: str, http: httpx2.AsyncClient) -> AsyncIterator[Any]:
    """Streamable HTTP over `http` (our headers, sign-in and TLS on every request); the client lives as long as
    the transport. No read timeout: the server's event stream stays open between calls, and `call_timeout`
    boxes each call."""
    async with http, streamable_http_client(url, http_client=http) as streams:
        yield streams


async def _list_tools(client: Client, server: str) -> list[HostTool]:
    tools: list[HostTool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(_host_tool(server, tool) for tool in page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools


def _host_tool(server: str, tool: Tool) -> HostTool:
    hints = tool.annotations
    annotations = hints.model_dump(mode="json", by_alias=True, exclude_none=True) if hints else {}
    found = HostTool(
        server=server,
        name=tool.name,
        description=tool.description or "",
        input_schema=tool.input_schema,
        read_only=hints.read_only_hint if hints else None,
        destructive=hints.destructive_hint if hints else None,
        idempotent=hints.idempotent_hint if hints else None,
        annotations=annotations,
    )
    return found.model_copy(update={"pin": pin_of(found)})


def _outcome(result: CallToolResult, duration_ms: int) -> ToolOutcome:
    # Non-text blocks are named, not dropped, so the model knows something came back that it cannot see.
    text = "\n".join(
        block.text if isinstance(block, TextContent) else f"[{block.type} content not shown]"
        for block in result.content
    )
    structured = result.structured_content if isinstance(result.structured_content, dict) else None
    meta = result.meta or {}
    requests, retry_after = meta.get(REQUESTS_META), meta.get(RETRY_AFTER_META)
    return ToolOutcome(
        text=text,
        structured=structured,
        is_error=bool(result.is_error),
        requests=requests if _plausible_count(requests) else None,
        duration_ms=duration_ms,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        metered_in=meta.get(METERED_META) if isinstance(meta.get(METERED_META), str) else None,
        budget_exhausted=bool(result.is_error) and meta.get(BUDGET_META) == EXHAUSTED,
    )


def _plausible_count(value: Any) -> bool:
    """A request count a server may report for one call; anything else is not believed (the gate then uses
    its estimate), so a buggy server cannot lock a site's budget for an hour with one bogus number."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REQUESTS_PER_CALL


def _expand(values: Mapping[str, str], server: str) -> dict[str, str]:
    """`${VAR}` references resolved from our environment; an unset one is an error rather than an empty secret."""

    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None:
            raise ServerStartError(server, f"its settings reference ${{{match.group(1)}}}, which is not set")
        return found

    return {key: _VARIABLE.sub(value, text) for key, text in values.items()}


@contextmanager
def _stderr_file(spec: ServerSpec) -> Iterator[IO[str] | None]:
    """A stdio child writes its stderr to a file we can quote from; a pipe nobody reads could block it.

    The child shares the file's offset with us; append mode makes its writes land at the end wherever we read.
    """
    if spec.transport != "stdio":
        yield None
        return
    with (
        tempfile.TemporaryDirectory(prefix="agentflow-mcp-") as folder,
        open(Path(folder) / "stderr.log", "a+", encoding="utf-8", errors="replace") as file,
    ):
        yield file


def _tail(stderr: IO[str] | None) -> str:
    if stderr is None:
        return ""
    stderr.seek(0)
    return "\n".join(stderr.read().splitlines()[-STDERR_LINES:])


def _with_stderr(reason: str, stderr: IO[str] | None) -> str:
    tail = _tail(stderr)
    return f"{reason}\n--- last lines of its stderr ---\n{tail}" if tail.strip() else reason


def _start_failure(spec: ServerSpec, error: BaseException) -> str:
    error = _innermost(error)
    if isinstance(error, FileNotFoundError | PermissionError) and spec.transport == "stdio":
        return f"cannot run {spec.command!r}: {error.strerror}"
    if _closed(error):
        return "it closed the connection before completing the MCP handshake (did it exit?)"
    return f"{spec.url}: {_describe(error)}" if spec.url else _describe(error)


def _describe(error: BaseException) -> str:
    error = _innermost(error)
    if _closed(error):
        return "the connection closed (did the server exit?)"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _closed(error: BaseException) -> bool:
    return isinstance(error, MCPError) and error.code == CONNECTION_CLOSED


def _innermost(error: BaseException) -> BaseException:
    """Task groups wrap what failed in exception groups; the one inside is what a person needs to read."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
