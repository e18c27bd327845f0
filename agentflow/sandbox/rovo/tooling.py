"""How a Rovo tool is declared: its MCP `Tool`, the OAuth scope it needs, the v1 capability that lists it, and
whether only OAuth sign-ins see it (Compass; REMOTE-SERVERS-NOTES.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.tools.base import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from agentflow.sandbox.rovo.rest import Call, current

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


@dataclass(frozen=True)
class Spec:
    tool: Tool
    scope: str | None  # None: any signed-in caller (the identity tools)
    capability: str | None  # the v1 `?capabilities=` value that lists it; None: always listed
    oauth_only: bool = False


def spec(
    fn: Callable[..., Awaitable[CallToolResult]],
    *,
    scope: str | None,
    capability: str | None,
    write: bool = False,
    oauth_only: bool = False,
) -> Spec:
    """A tool named after `fn` (Rovo's camelCase names), described by its docstring."""
    tool = Tool.from_function(fn, annotations=WRITE if write else READ, structured_output=False)
    return Spec(tool, scope, capability, oauth_only)


def call(cloud_id: str | None = None) -> Call:
    """The current request's context, after checking the `cloudId` the tool was given (when it takes one)."""
    context = current.get()
    if cloud_id is not None:
        context.check_site(cloud_id)
    return context


def result(data: Any) -> CallToolResult:
    """Rovo answers with the JSON in the text content."""
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data))])
