"""Rovo v1's tools on the sandbox: names, parameters, result shapes, cloudId, permissions, capabilities."""

from __future__ import annotations

import pytest

from tests.sandbox.rovo.conftest import data, error

pytestmark = pytest.mark.anyio
EVERY_TOOL = {
    "atlassianUserInfo", "getAccessibleAtlassianResources", "getJiraIssue", "searchJiraIssuesUsingJql",
    "createJiraIssue", "editJiraIssue", "addCommentToJiraIssue", "transitionJiraIssue", "getTransitionsForJiraIssue",
    "createIssueLink", "getIssueLinkTypes", "getVisibleJiraProjects", "lookupJiraAccountId", "getConfluencePage",
    "searchConfluenceUsingCql", "createConfluencePage", "getConfluenceSpaces",
}  # fmt: skip


async def test_headless_sign_ins_list_every_tool_but_compass(rovo):
    async with rovo.client("v1", rovo.basic("dev")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == EVERY_TOOL
    assert tools["getJiraIssue"].input_schema["required"] == ["cloudId", "issueIdOrKey"]
    assert tools["getJiraIssue"].input_schema["additionalProperties"] is False
    assert tools["createJiraIssue"].annotations.read_only_hint is False


async def test_identity_tools_need_no_cloud_id_and_name_the_site(rovo):
    async with rovo.client("v1", rovo.bearer("pm")) as client:
        me = data(await client.call_tool("atlassianUserInfo", {}))
        sites = data(await client.call_tool("getAccessibleAtlassianResources", {}))
    assert me["email"] == "priya.patel@example.com" and me["name"] == "Priya Patel" and me["account_id"]
    assert sites == [
        {
            "id": rovo.cloud_id,
            "url": rovo.url,
            "name": "sandbox",
            "scopes": sites[0]["scopes"],
            "avatarUrl": sites[0]["avatarUrl"],
        }
    ]
    assert "write:jira-work" in sites[0]["scopes"]


async def test_cloud_id_is_required_and_must_name_this_site_by_id_or_url(rovo):
    async with rovo.client("v1", rovo.basic("dev")) as client:
        missing = await client.call_tool("getJiraIssue", {"issueIdOrKey": "OPS-141"})
        wrong = await client.call_tool("getJiraIssue", {"cloudId": "not-a-site", "issueIdOrKey": "OPS-141"})
        by_url = await client.call_tool("getJiraIssue", {"cloudId": rovo.url + "/", "issueIdOrKey": "OPS-141"})
    assert "cloudId" in error(missing)
    assert "Cloud id 'not-a-site' is not a site you can access" in error(wrong)
    assert data(by_url)["key"] == "OPS-141"


async def test_unknown_parameters_are_refused(rovo):
    async with rovo.client("v1", rovo.basic("dev")) as client:
        result = await client.call_tool("getJiraIssue", {"cloudId": rovo.cloud_id, "issueIdOrKey": "OPS-141", "key": 1})
    assert error(result).endswith("getJiraIssue: unknown parameter(s) key")


async def test_jira_reads_are_the_sites_answers(rovo):
    cloud = {"cloudId": rovo.cloud_id}
    async with rovo.client("v1", rovo.basic("dev")) as client:
        issue = data(await client.call_tool("getJiraIssue", {**cloud, "issueIdOrKey": "OPS-141", "fields": ["status"]}))
        found = data(
            await client.call_tool("searchJiraIssuesUsingJql", {**cloud, "jql": "project = OPS", "maxResults": 2})
        )
        page2 = data(
            await client.call_tool(
                "searchJiraIssuesUsingJql", {**cloud, "jql": "project = OPS", "nextPageToken": found["nextPageToken"]}
            )
        )
        moves = data(await client.call_tool("getTransitionsForJiraIssue", {**cloud, "issueIdOrKey": "OPS-141"}))
        types = data(await client.call_tool("getIssueLinkTypes", cloud))
        projects = data(await client.call_tool("getVisibleJiraProjects", cloud))
        people = data(await client.call_tool("lookupJiraAccountId", {**cloud, "searchString": "Priya"}))
    assert issue["key"] == "OPS-141" and set(issue["fields"]) == {"status"}
    assert len(found["issues"]) == 2 and found["isLast"] is False and "summary" in found["issues"][0]["fields"]
    assert {i["key"] for i in page2["issues"]}.isdisjoint({i["key"] for i in found["issues"]})
    assert {t["name"] for t in moves["transitions"]} >= {"To Do", "In Progress"}
    assert "Blocks" in {t["name"] for t in types["issueLinkTypes"]}
    assert "OPS" in {p["key"] for p in projects["values"]} and "SEC" not in {p["key"] for p in projects["values"]}
    assert [p["displayName"] for p in people] == ["Priya Patel"]


async def test_the_restricted_project_stays_hidden(rovo):
    cloud = {"cloudId": rovo.cloud_id}
    async with rovo.client("v1", rovo.basic("dev")) as client:
        hidden = await client.call_tool("getJiraIssue", {**cloud, "issueIdOrKey": "SEC-7"})
        nothing = data(await client.call_tool("searchJiraIssuesUsingJql", {**cloud, "jql": "project = SEC"}))
        bad = await client.call_tool("searchJiraIssuesUsingJql", {**cloud, "jql": "project = = OPS"})
    async with rovo.client("v1", rovo.basic("sec")) as client:
        seen = data(await client.call_tool("searchJiraIssuesUsingJql", {**cloud, "jql": "project = SEC"}))
    assert "404: Issue does not exist or you do not have permission to see it." in error(hidden)
    assert nothing["issues"] == [] and nothing["isLast"] is True
    assert error(bad).startswith("Error executing tool searchJiraIssuesUsingJql: 400:")
    assert {i["key"] for i in seen["issues"]} >= {"SEC-7"}


async def test_jira_writes_go_through_the_sites_validation(rovo):
    cloud = {"cloudId": rovo.cloud_id}
    async with rovo.client("v1", rovo.basic("pm")) as client:
        created = data(
            await client.call_tool(
                "createJiraIssue",
                {**cloud, "projectKey": "OPS", "issueTypeName": "Task", "summary": "Rotate keys", "description": "Now"},
            )
        )
        key = created["key"]
        edited = data(
            await client.call_tool("editJiraIssue", {**cloud, "issueIdOrKey": key, "fields": {"summary": "Rotate"}})
        )
        comment = data(
            await client.call_tool("addCommentToJiraIssue", {**cloud, "issueIdOrKey": key, "commentBody": "Done."})
        )
        moved = data(
            await client.call_tool("transitionJiraIssue", {**cloud, "issueIdOrKey": key, "transition": {"id": "41"}})
        )
        linked = data(
            await client.call_tool(
                "createIssueLink", {**cloud, "type": "Relates", "inwardIssue": key, "outwardIssue": "OPS-141"}
            )
        )
        refused = await client.call_tool(
            "createJiraIssue", {**cloud, "projectKey": "SEC", "issueTypeName": "Task", "summary": "x"}
        )
    assert created["fields"]["summary"] == "Rotate keys" and created["fields"]["description"]["type"] == "doc"
    assert edited["fields"]["summary"] == "Rotate"
    assert comment["body"]["content"][0]["content"][0]["text"] == "Done."
    assert moved["status"]["name"] == "Done"
    assert linked["success"] is True
    assert "project: Specify a valid project ID or key" in error(refused)


async def test_confluence_tools(rovo):
    cloud = {"cloudId": rovo.cloud_id}
    async with rovo.client("v1", rovo.bearer("dev")) as client:
        spaces = data(await client.call_tool("getConfluenceSpaces", cloud))
        ops = next(s for s in spaces["results"] if s["key"] == "OPS")
        found = data(await client.call_tool("searchConfluenceUsingCql", {**cloud, "cql": 'label = "runbook"'}))
        page = data(await client.call_tool("getConfluencePage", {**cloud, "pageId": "65540"}))
        created = data(
            await client.call_tool(
                "createConfluencePage",
                {**cloud, "spaceId": ops["id"], "title": "Rovo notes", "body": "# Hello\n\nA <b> body"},
            )
        )
        bad_space = await client.call_tool(
            "createConfluencePage", {**cloud, "spaceId": "999", "title": "x", "body": "y"}
        )
    assert len(found["results"]) >= 3
    assert page["title"] == "On-call handbook" and page["body"]["storage"]["value"]
    assert created["title"] == "Rovo notes"
    assert created["body"]["storage"]["value"] == "<h1>Hello</h1><p>A &lt;b&gt; body</p>"
    assert "A valid spaceId is required" in error(bad_space)


async def test_capabilities_filter_the_tool_list(rovo):
    async with rovo.client("v1", rovo.basic("dev"), "?capabilities=SEARCH_JIRA,READ_CONFLUENCE") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert tools == {
        "atlassianUserInfo", "getAccessibleAtlassianResources", "searchJiraIssuesUsingJql", "getConfluencePage",
        "getConfluenceSpaces",
    }  # fmt: skip
