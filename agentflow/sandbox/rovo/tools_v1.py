"""Rovo v1's tools (`/v1/mcp`), with its exact names and parameters (REMOTE-SERVERS-NOTES.md, "v1 tools" and
"v1 call shapes"): the identity tools, Jira, Confluence and, for OAuth sign-ins only, Compass."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult

from agentflow.sandbox.rovo import operations as op
from agentflow.sandbox.rovo.scopes import (
    COMPASS_READ,
    JIRA_READ,
    JIRA_USER,
    JIRA_WRITE,
    WIKI_READ,
    WIKI_SEARCH,
    WIKI_WRITE,
)
from agentflow.sandbox.rovo.tooling import Spec, call, result, spec


async def atlassianUserInfo() -> CallToolResult:
    """Get the current user's Atlassian account: account id, name, email."""
    return result(await op.user_info(call()))


async def getAccessibleAtlassianResources() -> CallToolResult:
    """List the Atlassian sites you can reach, with the cloudId every other tool needs."""
    return result(op.resources(call()))


async def getJiraIssue(
    cloudId: str, issueIdOrKey: str, fields: list[str] | None = None, expand: str | None = None
) -> CallToolResult:
    """Get a Jira issue by key or id."""
    return result(await op.get_issue(call(cloudId), issueIdOrKey, fields, expand))


async def searchJiraIssuesUsingJql(
    cloudId: str,
    jql: str,
    maxResults: int | None = None,
    nextPageToken: str | None = None,
    fields: list[str] | None = None,
) -> CallToolResult:
    """Search Jira issues with JQL; pass nextPageToken from one answer to get the next page."""
    return result(await op.search_issues(call(cloudId), jql, maxResults, nextPageToken, fields))


async def createJiraIssue(
    cloudId: str,
    projectKey: str,
    issueTypeName: str,
    summary: str,
    description: str | None = None,
    parent: str | None = None,
    assignee_account_id: str | None = None,
    additional_fields: dict[str, Any] | None = None,
) -> CallToolResult:
    """Create a Jira issue; the description is Markdown."""
    context = call(cloudId)
    created = await op.create_issue(
        context, projectKey, issueTypeName, summary, description, parent, additional_fields, assignee_account_id
    )
    return result(created)


async def editJiraIssue(cloudId: str, issueIdOrKey: str, fields: dict[str, Any]) -> CallToolResult:
    """Update fields of a Jira issue."""
    return result(await op.edit_issue(call(cloudId), issueIdOrKey, fields))


async def addCommentToJiraIssue(cloudId: str, issueIdOrKey: str, commentBody: str) -> CallToolResult:
    """Add a Markdown comment to a Jira issue."""
    return result(await op.add_comment(call(cloudId), issueIdOrKey, commentBody))


async def transitionJiraIssue(
    cloudId: str, issueIdOrKey: str, transition: dict[str, Any], fields: dict[str, Any] | None = None
) -> CallToolResult:
    """Move a Jira issue through its workflow: transition is {"id": ...} from getTransitionsForJiraIssue."""
    return result(await op.transition(call(cloudId), issueIdOrKey, transition, fields))


async def getTransitionsForJiraIssue(cloudId: str, issueIdOrKey: str) -> CallToolResult:
    """List the transitions a Jira issue can take now."""
    return result(await op.transitions(call(cloudId), issueIdOrKey))


async def createIssueLink(
    cloudId: str, type: str, inwardIssue: str, outwardIssue: str, comment: str | None = None
) -> CallToolResult:
    """Link two Jira issues with a link type name from getIssueLinkTypes."""
    return result(await op.link_issues(call(cloudId), type, inwardIssue, outwardIssue, comment))


async def getIssueLinkTypes(cloudId: str) -> CallToolResult:
    """List the issue link types."""
    return result(await op.link_types(call(cloudId)))


async def getVisibleJiraProjects(
    cloudId: str, searchString: str | None = None, maxResults: int | None = None
) -> CallToolResult:
    """List the Jira projects you can see."""
    return result(await op.projects(call(cloudId), searchString, maxResults))


async def lookupJiraAccountId(cloudId: str, searchString: str) -> CallToolResult:
    """Find Jira users by name or email, for their account ids."""
    return result(await op.lookup_account(call(cloudId), searchString))


async def getConfluencePage(cloudId: str, pageId: str, contentFormat: str | None = None) -> CallToolResult:
    """Get a Confluence page with its body (storage, or adf)."""
    return result(await op.get_page(call(cloudId), pageId, contentFormat))


async def searchConfluenceUsingCql(
    cloudId: str, cql: str, limit: int | None = None, cursor: str | None = None
) -> CallToolResult:
    """Search Confluence with CQL."""
    return result(await op.search_confluence(call(cloudId), cql, limit, cursor))


async def createConfluencePage(
    cloudId: str,
    spaceId: str,
    title: str,
    body: str,
    parentId: str | None = None,
    contentFormat: str = "markdown",
) -> CallToolResult:
    """Create a Confluence page in a space (numeric spaceId); body in contentFormat: markdown, storage or adf."""
    return result(await op.create_page(call(cloudId), spaceId, title, body, parentId, contentFormat))


async def getConfluenceSpaces(cloudId: str, keys: list[str] | None = None, limit: int | None = None) -> CallToolResult:
    """List Confluence spaces, with their numeric ids."""
    return result(await op.spaces(call(cloudId), keys, limit))


async def getCompassComponent(cloudId: str, componentId: str) -> CallToolResult:
    """Get a Compass component by its id (ARI)."""
    return result(await op.component(call(cloudId), componentId))


async def getCompassComponents(
    cloudId: str, searchString: str | None = None, first: int | None = None, after: str | None = None
) -> CallToolResult:
    """Search Compass components by name."""
    return result(await op.components(call(cloudId), searchString, first, after))


SPECS: list[Spec] = [
    spec(atlassianUserInfo, scope=None, capability=None),
    spec(getAccessibleAtlassianResources, scope=None, capability=None),
    spec(getJiraIssue, scope=JIRA_READ, capability="READ_JIRA"),
    spec(searchJiraIssuesUsingJql, scope=JIRA_READ, capability="SEARCH_JIRA"),
    spec(createJiraIssue, scope=JIRA_WRITE, capability="WRITE_JIRA", write=True),
    spec(editJiraIssue, scope=JIRA_WRITE, capability="WRITE_JIRA", write=True),
    spec(addCommentToJiraIssue, scope=JIRA_WRITE, capability="WRITE_JIRA", write=True),
    spec(transitionJiraIssue, scope=JIRA_WRITE, capability="WRITE_JIRA", write=True),
    spec(getTransitionsForJiraIssue, scope=JIRA_READ, capability="READ_JIRA"),
    spec(createIssueLink, scope=JIRA_WRITE, capability="WRITE_JIRA", write=True),
    spec(getIssueLinkTypes, scope=JIRA_READ, capability="READ_JIRA"),
    spec(getVisibleJiraProjects, scope=JIRA_READ, capability="READ_JIRA"),
    spec(lookupJiraAccountId, scope=JIRA_USER, capability="READ_JIRA"),
    spec(getConfluencePage, scope=WIKI_READ, capability="READ_CONFLUENCE"),
    spec(searchConfluenceUsingCql, scope=WIKI_SEARCH, capability="SEARCH_CONFLUENCE"),
    spec(createConfluencePage, scope=WIKI_WRITE, capability="WRITE_CONFLUENCE", write=True),
    spec(getConfluenceSpaces, scope=WIKI_READ, capability="READ_CONFLUENCE"),
    spec(getCompassComponent, scope=COMPASS_READ, capability="READ_COMPASS", oauth_only=True),
    spec(getCompassComponents, scope=COMPASS_READ, capability="READ_COMPASS", oauth_only=True),
]
