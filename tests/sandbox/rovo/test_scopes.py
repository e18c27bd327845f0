"""Which scope a grant lacks for the tool calls of a JSON-RPC message (RFC 6750 §3.1's `scope`)."""

from __future__ import annotations

import json

from agentflow.sandbox.rovo import scopes
from agentflow.sandbox.rovo.endpoint import OPERATION_SCOPES, SPECS

V1 = {spec.tool.name: spec.scope for spec in SPECS["v1"]}
V2 = {spec.tool.name: spec.scope for spec in SPECS["v2"]}
READ_ONLY = frozenset({"read:jira-work", "read:confluence-content.all", "search:confluence"})


def call(tool: str, **arguments) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def test_a_read_only_grant_lacks_the_write_scope_of_any_call_in_a_batch():
    batch = json.dumps([call("getJiraIssue"), {"jsonrpc": "2.0", "method": "ping", "id": 2}, call("createJiraIssue")])
    assert scopes.missing(READ_ONLY, V1, OPERATION_SCOPES, scopes.calls(batch.encode())) == "write:jira-work"
    assert (
        scopes.missing(READ_ONLY, V1, OPERATION_SCOPES, scopes.calls(json.dumps(call("getJiraIssue")).encode())) is None
    )


def test_an_execute_tool_needs_its_operations_scope():
    def lacking(name: str) -> str | None:
        body = json.dumps(call("executeRead", name=name, cloudId="x")).encode()
        return scopes.missing(READ_ONLY, V2, OPERATION_SCOPES, scopes.calls(body))

    assert lacking("lookupJiraAccountId") == "read:jira-user"
    assert lacking("getConfluenceSpaces") is None
    assert lacking("noSuchOperation") is None  # refused by the tool itself, with a message


def test_headless_credentials_and_unreadable_bodies_are_not_refused_here():
    everything = scopes.calls(json.dumps(call("createJiraIssue")).encode())
    assert scopes.missing(None, V1, OPERATION_SCOPES, everything) is None
    assert scopes.calls(b"{not json") == [] and scopes.calls(b"") == []
    assert scopes.insufficient("write:jira-work")[1] == {
        "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="write:jira-work"'
    }
