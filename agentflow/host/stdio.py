"""A stdio MCP server's stdout carries JSON-RPC only; the first thing it writes that is not ends its session.

The SDK's stdio transport logs a parser traceback for every stdout line it cannot read, hands the error on
through its read stream, and the session drops it and carries on: a server printing a banner or its logs to
stdout fills our stderr with tracebacks while the run goes on. `stdio_transport` wraps that read stream
instead: the first such line becomes one reason, quoting a short, scrubbed sample of it, handed to
`not_mcp`; the stream then ends, so the session closes as if the server had exited. The SDK's traceback for a
line reported this way is filtered out of its log. A blank line says nothing and is passed over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import anyio
from anyio.abc import ObjectReceiveStream
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from agentflow.redact import scrub

SAMPLE_CHARS = 200
# The SDK's stdio transport logs each line it cannot parse under this logger, with this message.
_SDK_LOGGER = "mcp.client.stdio"
_PARSE_FAILURE = "Failed to parse JSONRPC message from server"
# Set while a wrapped transport is entered; the SDK's reader task inherits it, so the filter below drops only
# the tracebacks of lines we report ourselves.
_REPORTING: ContextVar[bool] = ContextVar("agentflow_stdio_reporting", default=False)


class _ReportedHere(logging.Filter):
    """Drops the SDK's traceback for a stdout line that a wrapped transport reports itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_REPORTING.get() and record.msg == _PARSE_FAILURE)


_FILTER = _ReportedHere()


@asynccontextmanager
async def stdio_transport(
    params: StdioServerParameters, errlog: TextIO, not_mcp: Callable[[str], None]
) -> AsyncIterator[Any]:
    """The SDK's stdio transport, ended at the first stdout line that is not JSON-RPC; `not_mcp` gets why."""
    logging.getLogger(_SDK_LOGGER).addFilter(_FILTER)  # logging keeps one copy of the same filter
    reporting = _REPORTING.set(True)
    try:
        async with stdio_client(params, errlog=errlog) as (read_stream, write_stream):
            yield _JsonRpcOnly(read_stream, not_mcp), write_stream
    finally:
        _REPORTING.reset(reporting)


class _JsonRpcOnly(ObjectReceiveStream[SessionMessage | Exception]):
    """The transport's read stream, ending at the first line that is not a message (the SDK passes it on as the
    parse error, an `Exception`, and keeps reading)."""

    def __init__(self, stream: ObjectReceiveStream[SessionMessage | Exception], not_mcp: Callable[[str], None]):
        self._stream = stream
        self._not_mcp = not_mcp

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._stream.receive()
            if not isinstance(item, Exception):
                return item
            sample = _sample(item)
            if sample.strip():
                break
        # Told first, so that whoever the closed session wakes already finds the reason.
        self._not_mcp(_reason(sample))
        await self._stream.aclose()  # the SDK's reader stops parsing, and logging, what follows
        raise anyio.EndOfStream

    async def aclose(self) -> None:
        await self._stream.aclose()


def _sample(error: Exception) -> str:
    """What the server wrote, as far as the parse error kept it: the line itself when it is not JSON; when it is
    JSON of another shape, the parsed value (the widest input the validation errors name is the whole)."""
    if not isinstance(error, ValidationError):
        return str(error)
    inputs = [item["input"] for item in error.errors()]
    return max((value if isinstance(value, str) else json.dumps(value) for value in inputs), key=len)


def _reason(sample: str) -> str:
    shown = scrub(sample)
    quoted = repr(shown[:SAMPLE_CHARS]) + ("…" if len(shown) > SAMPLE_CHARS else "")
    return (
        f"it wrote something that is not MCP to stdout: {quoted} — servers must write only JSON-RPC to stdout "
        "and logs to stderr"
    )
