"""Rovo v2's catalogue: operations reached through `discover` / `executeRead` / `executeWrite` /
`executeDestructive` rather than as tools of their own (REMOTE-SERVERS-NOTES.md, "v2 primary tools").

Each operation has a risk tier and each execute tool runs only its own tier, as Rovo's do. The sandbox's
catalogue has no destructive operation (the sandbox deletes nothing), so `executeDestructive` refuses every
name. `inputs` are flat; names an operation does not know are dropped, as v2 drops unknown parameters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver.exceptions import ToolError

from agentflow.sandbox.rovo import operations as op
from agentflow.sandbox.rovo.rest import Call
from agentflow.sandbox.rovo.scopes import COMPASS_READ, JIRA_READ, JIRA_USER, JIRA_WRITE, WIKI_READ

Tier = Literal["read", "write", "destructive"]


@dataclass(frozen=True)
class Operation:
    name: str
    tier: Tier
    scope: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]
    run: Callable[..., Awaitable[Any]]
    oauth_only: bool = False

    def describe(self) -> dict[str, Any]:
        schema = {"type": "object", "properties": self.properties, "required": list(self.required)}
        return {"name": self.name, "tier": self.tier, "description": self.description, "inputSchema": schema}

    async def execute(self, call: Call, inputs: dict[str, Any]) -> Any:
        missing = [name for name in self.required if inputs.get(name) is None]
        if missing:
            raise ToolError(f"{self.name}: missing required input(s): {', '.join(missing)}")
        return await self.run(call, **{k: v for k, v in inputs.items() if k in self.properties})


STRING = {"type": "string"}
INTEGER = {"type": "integer"}


async def _link(call: Call, type: str, inwardIssue: str, outwardIssue: str, comment: str | None = None) -> Any:
    return await op.link_issues(call, type, inwardIssue, outwardIssue, comment)


async def _transitions(call: Call, issueIdOrKey: str) -> Any:
    return await op.transitions(call, issueIdOrKey)


async def _link_types(call: Call) -> Any:
    return await op.link_types(call)


async def _lookup(call: Call, searchString: str) -> Any:
    return await op.lookup_account(call, searchString)


async def _spaces(call: Call, keys: list[str] | None = None, limit: int | None = None) -> Any:
    return await op.spaces(call, keys, limit)


async def _component(call: Call, componentId: str) -> Any:
    return await op.component(call, componentId)


async def _components(call: Call, searchString: str | None = None, first: int | None = None, after: str | None = None):
    return await op.components(call, searchString, first, after)


OPERATIONS: dict[str, Operation] = {
    o.name: o
    for o in [
        Operation(
            "createJiraIssueLink",
            "write",
            JIRA_WRITE,
            "Link two Jira issues with a link type name.",
            {"type": STRING, "inwardIssue": STRING, "outwardIssue": STRING, "comment": STRING},
            ("type", "inwardIssue", "outwardIssue"),
            _link,
        ),
        Operation(
            "getTransitionsForJiraIssue",
            "read",
            JIRA_READ,
            "List the transitions a Jira issue can take now.",
            {"issueIdOrKey": STRING},
            ("issueIdOrKey",),
            _transitions,
        ),
        Operation("getIssueLinkTypes", "read", JIRA_READ, "List the issue link types.", {}, (), _link_types),
        Operation(
            "lookupJiraAccountId",
            "read",
            JIRA_USER,
            "Find Jira users by name or email.",
            {"searchString": STRING},
            ("searchString",),
            _lookup,
        ),
        Operation(
            "getConfluenceSpaces",
            "read",
            WIKI_READ,
            "List Confluence spaces with their numeric ids.",
            {"keys": {"type": "array", "items": STRING}, "limit": INTEGER},
            (),
            _spaces,
        ),
        Operation(
            "getCompassComponent",
            "read",
            COMPASS_READ,
            "Get a Compass component by id.",
            {"componentId": STRING},
            ("componentId",),
            _component,
            oauth_only=True,
        ),
        Operation(
            "getCompassComponents",
            "read",
            COMPASS_READ,
            "Search Compass components by name.",
            {"searchString": STRING, "first": INTEGER, "after": STRING},
            (),
            _components,
            oauth_only=True,
        ),
    ]
}


def visible(oauth: bool) -> list[Operation]:
    """The operations a caller can discover: Compass only for OAuth sign-ins."""
    return [o for o in OPERATIONS.values() if oauth or not o.oauth_only]


def find(name: str, tier: Tier, oauth: bool) -> Operation:
    """The operation `name` if the caller may run it with the `tier` execute tool, else a ToolError."""
    found = next((o for o in visible(oauth) if o.name == name), None)
    if found is None:
        raise ToolError(f"Unknown operation '{name}'; use discover to list the operations.")
    if found.tier != tier:
        tool = {"read": "executeRead", "write": "executeWrite", "destructive": "executeDestructive"}[found.tier]
        raise ToolError(f"'{name}' is a {found.tier} operation; call it with {tool}, not with this tool.")
    return found
