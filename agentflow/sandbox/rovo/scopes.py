"""The OAuth scopes Rovo's tools need, and the check that refuses a `tools/call` its grant does not cover.

Scopes are Atlassian's classic OAuth 2.0 (3LO) scopes. A headless credential (Basic API token, service-account
key) carries no scopes: the account's own permissions decide (`Identity.scopes is None`). A grant lacking a
tool's scope gets HTTP 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750
§3.1), the signal on which an MCP client signs in again with more scopes (MCP authorization spec).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

JIRA_READ, JIRA_WRITE, JIRA_USER = "read:jira-work", "write:jira-work", "read:jira-user"
WIKI_READ, WIKI_WRITE, WIKI_SEARCH = "read:confluence-content.all", "write:confluence-content", "search:confluence"
COMPASS_READ = "read:compass-component"
ALL = (JIRA_READ, JIRA_WRITE, JIRA_USER, WIKI_READ, WIKI_WRITE, WIKI_SEARCH, COMPASS_READ)
EXECUTE_TOOLS = ("executeRead", "executeWrite", "executeDestructive")


def calls(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The (tool name, arguments) of every `tools/call` in a JSON-RPC message or batch; unreadable bodies are
    left to the MCP transport to refuse."""
    try:
        message = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return []
    found = []
    for item in message if isinstance(message, list) else [message]:
        if isinstance(item, dict) and item.get("method") == "tools/call" and isinstance(item.get("params"), dict):
            params = item["params"]
            arguments = params.get("arguments")
            found.append((str(params.get("name")), arguments if isinstance(arguments, dict) else {}))
    return found


def missing(
    granted: frozenset[str] | None,
    needs: dict[str, str | None],
    operations: dict[str, str],
    requested: Iterable[tuple[str, dict[str, Any]]],
) -> str | None:
    """The first scope the grant lacks for the requested calls: `needs` maps tool names to scopes, `operations`
    catalogue operation names to theirs (an execute tool needs its operation's scope)."""
    if granted is None:
        return None
    for name, arguments in requested:
        scope = operations.get(str(arguments.get("name"))) if name in EXECUTE_TOOLS else needs.get(name)
        if scope is not None and scope not in granted:
            return scope
    return None


def insufficient(scope: str) -> tuple[int, dict[str, str], dict[str, str]]:
    """Status, headers and body of the refusal (RFC 6750 §3.1)."""
    challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
    body = {"error": "insufficient_scope", "error_description": f"this call needs the scope {scope}"}
    return 403, {"WWW-Authenticate": challenge}, body
