"""Rovo v2's primary tools (`/v2/mcp`) and its catalogue doors (REMOTE-SERVERS-NOTES.md, "v2 primary tools"):
v1's Jira tools under the same names (`createJiraIssue` takes `issueType`), the renamed Confluence and comment
tools, `listJiraProjects`, and `discover` / `executeRead` / `executeWrite` / `executeDestructive`."""

from __future__ import annotations

from typing import Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel

from agentflow.sandbox.rovo import catalogue
from agentflow.sandbox.rovo import operations as op
from agentflow.sandbox.rovo import tools_v1 as v1
from agentflow.sandbox.rovo.scopes import JIRA_READ, JIRA_WRITE, WIKI_READ, WIKI_SEARCH, WIKI_WRITE
from agentflow.sandbox.rovo.tooling import Spec, call, result, spec


class Parent(BaseModel):
    spaceId: str
    parentContentId: str | None = None


class Body(BaseModel):
    format: Literal["markdown", "storage", "adf"] = "markdown"
    value: Any


async def createJiraIssue(
    cloudId: str,
    projectKey: str,
    issueType: str,
    summary: str,
    description: str | None = None,
    parent: str | None = None,
    assigneeAccountId: str | None = None,
    additionalFields: dict[str, Any] | None = None,
) -> CallToolResult:
    """Create a Jira issue; the description is Markdown."""
    context = call(cloudId)
    created = await op.create_issue(
        context, projectKey, issueType, summary, description, parent, additionalFields, assigneeAccountId
    )
    return result(created)


async def addOrEditJiraIssueComment(
    cloudId: str, issueIdOrKey: str, commentBody: str, commentId: str | None = None
) -> CallToolResult:
    """Add a Markdown comment to a Jira issue, or replace the body of the comment commentId."""
    context = call(cloudId)
    if commentId is None:
        return result(await op.add_comment(context, issueIdOrKey, commentBody))
    edited = await context.put(f"{op.JIRA}/issue/{issueIdOrKey}/comment/{commentId}", {"body": op.adf(commentBody)})
    return result(edited)


async def getConfluenceContent(cloudId: str, contentId: str, contentFormat: str | None = None) -> CallToolResult:
    """Get a Confluence page with its body (storage, or adf)."""
    return result(await op.get_page(call(cloudId), contentId, contentFormat))


async def searchConfluence(
    cloudId: str, cql: str, limit: int | None = None, cursor: str | None = None
) -> CallToolResult:
    """Search Confluence with CQL."""
    return result(await op.search_confluence(call(cloudId), cql, limit, cursor))


async def createConfluenceContent(
    cloudId: str, parent: Parent, title: str, body: Body, contentType: Literal["page"] = "page"
) -> CallToolResult:
    """Create Confluence content (a page) under parent {spaceId (numeric), parentContentId?}; body {format, value}."""
    context = call(cloudId)
    created = await op.create_page(context, parent.spaceId, title, body.value, parent.parentContentId, body.format)
    return result(created)


async def listJiraProjects(
    cloudId: str, searchString: str | None = None, maxResults: int | None = None
) -> CallToolResult:
    """List the Jira projects you can see."""
    return result(await op.projects(call(cloudId), searchString, maxResults))


async def discover(query: str | None = None) -> CallToolResult:
    """List the catalogue operations (name, tier, inputSchema) matching query; run them with executeRead,
    executeWrite or executeDestructive according to their tier."""
    oauth = call().identity.via == "oauth"
    words = (query or "").lower().split()
    found = [
        o.describe()
        for o in catalogue.visible(oauth)
        if all(w in (o.name + " " + o.description).lower() for w in words)
    ]
    return result({"operations": found})


async def _execute(tier: catalogue.Tier, name: str, cloud_id: str, inputs: dict[str, Any] | None) -> CallToolResult:
    context = call(cloud_id)
    operation = catalogue.find(name, tier, context.identity.via == "oauth")
    return result(await operation.execute(context, inputs or {}))


async def executeRead(name: str, cloudId: str, inputs: dict[str, Any] | None = None) -> CallToolResult:
    """Run a read operation from the catalogue (see discover); inputs are its flat arguments."""
    return await _execute("read", name, cloudId, inputs)


async def executeWrite(name: str, cloudId: str, inputs: dict[str, Any] | None = None) -> CallToolResult:
    """Run a write operation from the catalogue (see discover); inputs are its flat arguments."""
    return await _execute("write", name, cloudId, inputs)


async def executeDestructive(name: str, cloudId: str, inputs: dict[str, Any] | None = None) -> CallToolResult:
    """Run a destructive operation from the catalogue (see discover); inputs are its flat arguments."""
    return await _execute("destructive", name, cloudId, inputs)


SPECS: list[Spec] = [
    spec(v1.getJiraIssue, scope=JIRA_READ, capability=None),
    spec(v1.searchJiraIssuesUsingJql, scope=JIRA_READ, capability=None),
    spec(createJiraIssue, scope=JIRA_WRITE, capability=None, write=True),
    spec(v1.editJiraIssue, scope=JIRA_WRITE, capability=None, write=True),
    spec(v1.transitionJiraIssue, scope=JIRA_WRITE, capability=None, write=True),
    spec(addOrEditJiraIssueComment, scope=JIRA_WRITE, capability=None, write=True),
    spec(getConfluenceContent, scope=WIKI_READ, capability=None),
    spec(searchConfluence, scope=WIKI_SEARCH, capability=None),
    spec(createConfluenceContent, scope=WIKI_WRITE, capability=None, write=True),
    spec(v1.getAccessibleAtlassianResources, scope=None, capability=None),
    spec(v1.atlassianUserInfo, scope=None, capability=None),
    spec(listJiraProjects, scope=JIRA_READ, capability=None),
    spec(discover, scope=None, capability=None),
    spec(executeRead, scope=None, capability=None),  # the operation's own scope is checked (scopes.py)
    spec(executeWrite, scope=None, capability=None, write=True),
    spec(executeDestructive, scope=None, capability=None, write=True),
]
