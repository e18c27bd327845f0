"""What the Rovo tools do, once for v1 and v2: each operation is a few calls to the site's REST or GraphQL API.

Results are the site's JSON, reshaped only where Rovo answers in another shape (the identity tools). Jira bodies
given as text become ADF and Confluence bodies become storage XHTML, as Rovo converts Markdown for the caller.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from agentflow.sandbox.richtext import is_adf, text_to_adf
from agentflow.sandbox.richtext.adf_html import adf_to_html
from agentflow.sandbox.rovo import scopes
from agentflow.sandbox.rovo.rest import Call, answer, json_of

JIRA = "/rest/api/3"
WIKI_V2 = "/wiki/api/v2"
_UNSEEN = re.compile(r"does not exist for (the )?field")
SEARCH_FIELDS = ["summary", "status", "issuetype", "priority", "assignee", "created", "updated"]


def adf(value: Any) -> Any:
    """ADF for a Jira rich-text field given as ADF or as text."""
    if is_adf(value):
        return value
    return text_to_adf(value if isinstance(value, str) else json.dumps(value))


def storage(fmt: str, value: Any) -> str:
    """Confluence storage XHTML for a body in `fmt`: storage as is, ADF rendered, Markdown's blocks and headings."""
    if fmt == "storage":
        return str(value)
    if fmt in ("adf", "atlas_doc_format"):
        doc = json.loads(value) if isinstance(value, str) else value
        if not is_adf(doc):
            raise ToolError("body: an ADF document (type 'doc', version 1) was expected")
        return adf_to_html(doc)
    blocks = []
    for block in re.split(r"\n\s*\n", str(value).strip()):
        heading = re.match(r"(#{1,6})\s+(.*)", block)
        if heading:
            level = len(heading[1])
            blocks.append(f"<h{level}>{html.escape(heading[2])}</h{level}>")
        elif block:
            blocks.append("<p>" + "<br/>".join(html.escape(line) for line in block.splitlines()) + "</p>")
    return "".join(blocks)


# --- identity --------------------------------------------------------------------------------------


async def user_info(call: Call) -> dict[str, Any]:
    """The caller's profile in the shape of Atlassian's `GET /me` (what Rovo's atlassianUserInfo returns)."""
    me = await call.get(f"{JIRA}/myself")
    return {
        "account_id": me["accountId"],
        "email": me.get("emailAddress"),
        "name": me["displayName"],
        "nickname": me["displayName"],
        "picture": (me.get("avatarUrls") or {}).get("48x48"),
        "account_status": "active" if me.get("active", True) else "inactive",
        "account_type": me.get("accountType", "atlassian"),
        "zoneinfo": me.get("timeZone"),
        "locale": me.get("locale", "en-US"),
        "email_verified": True,
        "extended_profile": {},
    }


def resources(call: Call) -> list[dict[str, Any]]:
    """The sites the caller reaches, as Atlassian's accessible-resources API lists them (here: this one)."""
    # A headless credential is limited by the account's permissions only: it stands for every scope.
    granted = sorted(call.identity.scopes if call.identity.scopes is not None else scopes.ALL)
    return [
        {
            "id": call.cloud_id,
            "url": call.site_url,
            "name": "sandbox",
            "scopes": granted,
            "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png",
        }
    ]


# --- Jira ------------------------------------------------------------------------------------------


async def get_issue(call: Call, key: str, fields: list[str] | None, expand: str | None) -> Any:
    return await call.get(f"{JIRA}/issue/{key}", fields=",".join(fields) if fields else None, expand=expand)


async def search_issues(
    call: Call, jql: str, max_results: int | None, next_page_token: str | None, fields: list[str] | None
) -> Any:
    body: dict[str, Any] = {"jql": jql, "fields": fields or SEARCH_FIELDS, "maxResults": max_results or 50}
    if next_page_token:
        body["nextPageToken"] = next_page_token
    response = await call.http.post(f"{JIRA}/search/jql", json=body)
    refused = json_of(response) if response.status_code == 400 else None
    messages = refused.get("errorMessages") if isinstance(refused, dict) else None
    if messages and all(_UNSEEN.search(str(m)) for m in messages) and not refused.get("errors"):
        # A project or key the caller cannot see reads to Jira as one that does not exist; Rovo answers such a
        # query with no issues and no error (REMOTE-SERVERS-NOTES.md), as Jira's `validateQuery=warn` does.
        return {"issues": [], "isLast": True, "warningMessages": messages}
    return answer(response)


async def create_issue(
    call: Call,
    project_key: str,
    issue_type: str,
    summary: str,
    description: str | None,
    parent: str | None,
    additional_fields: dict[str, Any] | None,
    assignee_account_id: str | None = None,
) -> Any:
    fields: dict[str, Any] = {
        **(additional_fields or {}),
        "project": {"key": project_key},
        "issuetype": {"name": issue_type},
        "summary": summary,
    }
    if description is not None:
        fields["description"] = adf(description)
    if parent:
        fields["parent"] = {"key": parent}
    if assignee_account_id:
        fields["assignee"] = {"accountId": assignee_account_id}
    created = await call.post(f"{JIRA}/issue", {"fields": fields})
    return await get_issue(call, created["key"], None, None)


async def edit_issue(call: Call, key: str, fields: dict[str, Any]) -> Any:
    if "description" in fields and fields["description"] is not None:
        fields = {**fields, "description": adf(fields["description"])}
    await call.put(f"{JIRA}/issue/{key}", {"fields": fields})
    return await get_issue(call, key, None, None)


async def add_comment(call: Call, key: str, body: str) -> Any:
    return await call.post(f"{JIRA}/issue/{key}/comment", {"body": adf(body)})


async def transitions(call: Call, key: str) -> Any:
    return await call.get(f"{JIRA}/issue/{key}/transitions")


async def transition(call: Call, key: str, to: dict[str, Any], fields: dict[str, Any] | None) -> Any:
    body: dict[str, Any] = {"transition": to}
    if fields:
        body["fields"] = fields
    await call.post(f"{JIRA}/issue/{key}/transitions", body)
    issue = await get_issue(call, key, ["status"], None)
    return {"success": True, "issueKey": issue["key"], "status": issue["fields"]["status"]}


async def link_issues(call: Call, link_type: str, inward: str, outward: str, comment: str | None) -> Any:
    body: dict[str, Any] = {
        "type": {"name": link_type},
        "inwardIssue": {"key": inward},
        "outwardIssue": {"key": outward},
    }
    if comment:
        body["comment"] = {"body": adf(comment)}
    await call.post(f"{JIRA}/issueLink", body)
    return {"success": True, "type": link_type, "inwardIssue": inward, "outwardIssue": outward}


async def link_types(call: Call) -> Any:
    return await call.get(f"{JIRA}/issueLinkType")


async def projects(call: Call, search: str | None, max_results: int | None) -> Any:
    return await call.get(f"{JIRA}/project/search", query=search, maxResults=max_results)


async def lookup_account(call: Call, search: str) -> Any:
    return await call.get(f"{JIRA}/user/search", query=search)


# --- Confluence ------------------------------------------------------------------------------------


async def get_page(call: Call, page_id: str, body_format: str | None) -> Any:
    fmt = "atlas_doc_format" if body_format in ("adf", "atlas_doc_format") else "storage"
    return await call.get(f"{WIKI_V2}/pages/{page_id}", **{"body-format": fmt})


async def search_confluence(call: Call, cql: str, limit: int | None, cursor: str | None) -> Any:
    return await call.get("/wiki/rest/api/search", cql=cql, limit=limit, cursor=cursor)


async def create_page(
    call: Call, space_id: str, title: str, body: Any, parent_id: str | None, body_format: str | None
) -> Any:
    page: dict[str, Any] = {
        "spaceId": space_id,
        "status": "current",
        "title": title,
        "body": {"representation": "storage", "value": storage(body_format or "markdown", body)},
    }
    if parent_id:
        page["parentId"] = parent_id
    return await call.post(f"{WIKI_V2}/pages", page)


async def spaces(call: Call, keys: list[str] | None, limit: int | None) -> Any:
    return await call.get(f"{WIKI_V2}/spaces", keys=",".join(keys) if keys else None, limit=limit)


# --- Compass ---------------------------------------------------------------------------------------

FIELDS = "id name typeId description ownerId ownerTeam { id displayName } labels { name } links { id name type url }"
COMPONENT = (
    f"... on CompassComponent {{ {FIELDS} }} ... on QueryError {{ message extensions {{ statusCode errorType }} }}"
)


async def compass(call: Call, query: str, variables: dict[str, Any]) -> Any:
    answer = await call.post("/gateway/api/graphql", {"query": query, "variables": variables})
    if answer.get("errors"):
        raise ToolError("; ".join(str(error.get("message")) for error in answer["errors"]))
    return answer["data"]["compass"]


async def component(call: Call, component_id: str) -> Any:
    found = await compass(
        call, f"query($id: ID!) {{ compass {{ component(id: $id) {{ {COMPONENT} }} }} }}", {"id": component_id}
    )
    result = found["component"]
    if result is None or "message" in result:
        raise ToolError((result or {}).get("message") or f"Component {component_id} not found")
    return result


async def components(call: Call, search: str | None, first: int | None, after: str | None) -> Any:
    query = (
        "query($cloudId: ID!, $query: CompassSearchComponentQuery) { compass { searchComponents(cloudId: $cloudId, "
        "query: $query) { ... on CompassSearchComponentConnection { nodes { component { "
        f"{FIELDS} }} link }} pageInfo {{ hasNextPage endCursor }} totalCount }} "
        "... on QueryError { message } } } }"
    )
    variables = {"cloudId": call.cloud_id, "query": {"query": search, "first": first or 25, "after": after}}
    result = (await compass(call, query, variables))["searchComponents"]
    if "message" in result:
        raise ToolError(result["message"])
    return result
