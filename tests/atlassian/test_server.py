"""Every tool of the bundled server, through an in-memory MCP client, against both sandbox flavors."""

import pytest
from mcp import Client

from agentflow.atlassian import catalog
from agentflow.atlassian.server import BUDGET_META, METERED_META, REQUESTS_META
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings, SiteQuota
from agentflow.ledger import SQLiteLedger
from agentflow.sandbox import requestlog
from agentflow.sandbox.limits import Faults
from agentflow.sandbox.site import Site

pytestmark = pytest.mark.anyio


def schema_titles(node) -> list[str]:
    """Every `title` annotation in a JSON schema (a property named "title" is not one)."""
    if isinstance(node, dict):
        own = [node["title"]] if isinstance(node.get("title"), str) else []
        return own + [t for value in node.values() for t in schema_titles(value)]
    if isinstance(node, list):
        return [t for value in node for t in schema_titles(value)]
    return []


def text(result) -> str:
    return "\n".join(block.text for block in result.content)


async def call(client, name: str, **arguments):
    result = await client.call_tool(name, arguments)
    assert not result.is_error, text(result)
    return result


# --- the catalogue -------------------------------------------------------------------------------------------


async def test_the_thirteen_tools_with_annotations_and_lean_schemas(client_for):
    async with client_for(Site.open("cloud")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == catalog.TOOL_NAMES
    for name, tool in tools.items():
        assert tool.description and tool.input_schema["type"] == "object"
        assert not schema_titles(tool.input_schema), name
        notes = tool.annotations
        assert notes.read_only_hint is (name in catalog.READ_TOOLS)
        assert notes.destructive_hint is False
    assert "delete" not in " ".join(tools)


async def test_read_only_hides_and_refuses_write_tools(client_for):
    async with client_for(Site.open("cloud"), read_only=True) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == catalog.READ_TOOLS
        refused = await client.call_tool("add_jira_comment", {"key": "PAY-429", "body": "hi"})
    assert refused.is_error
    assert "add_jira_comment is a write tool and this server is read-only" in text(refused)


# --- Jira reads ------------------------------------------------------------------------------------------------


async def test_search_returns_markdown_structure_and_request_count(site, client_for):
    async with client_for(site) as client:
        result = await call(client, "search_jira_issues", jql="project = OPS AND created >= -24h ORDER BY created DESC")
    keys = [issue["key"] for issue in result.structured_content["issues"]]
    assert keys == ["OPS-141", "OPS-140", "OPS-139"]
    assert "**OPS-141** Deploy payment-gateway 2.14.0" in text(result)
    assert result.meta[REQUESTS_META] >= 1


async def test_search_pages_with_tokens_on_both_flavors(site, client_for):
    seen, token = [], None
    async with client_for(site) as client:
        while True:
            arguments = {"jql": "project = PROD ORDER BY key ASC", "limit": 5}
            if token:
                arguments["page_token"] = token
            page = (await call(client, "search_jira_issues", **arguments)).structured_content
            seen += [issue["key"] for issue in page["issues"]]
            token = page["next_page_token"]
            if not token:
                break
    assert len(seen) == len(set(seen)) == 12


async def test_the_first_search_learns_the_custom_field_ids_from_its_own_answer(site, client_for, tmp_path):
    """No `/field` request: the first search asks for the navigable fields with their names and schema and
    finds Epic Link and story points there; later searches and reads ask only for what they show, and all read
    the same epics and points as a server that listed `/field` first."""
    log = tmp_path / "requests.jsonl"
    jql = "project = PROD ORDER BY key ASC"
    logged = Site.open(site.flavor, request_log=log)
    async with client_for(logged) as client:
        first = await call(client, "search_jira_issues", jql=jql, fields=["description"])
        again = await call(client, "search_jira_issues", jql=jql, fields=["description"])
        story = await call(client, "get_jira_issue", key="PROD-101")
    searched = requestlog.read(log)
    async with client_for(logged) as client:
        read_first = await call(client, "get_jira_issue", key="PROD-101")  # no search yet: `/field`, the issue
        listed = await call(client, "search_jira_issues", jql=jql, fields=["description"])
    assert [r.meta[REQUESTS_META] for r in (first, again, story, read_first)] == [1, 1, 1, 2]
    assert len(searched) == 3 and not any(line["path"].endswith("/field") for line in searched)
    assert first.structured_content == again.structured_content == listed.structured_content
    issues = {issue["key"]: issue for issue in first.structured_content["issues"]}
    assert issues["PROD-101"]["epic"] == "PROD-100" and story.structured_content == read_first.structured_content
    assert any(issue["story_points"] is not None for issue in issues.values())
    assert issues["PROD-101"]["extra"]["description"]


async def test_get_issue_has_markdown_description_comments_links_and_epic(site, client_for):
    async with client_for(site) as client:
        bug = await call(client, "get_jira_issue", key="PAY-429")
        story = await call(client, "get_jira_issue", key="PROD-101")
    body = text(bug)
    assert "# PAY-429: NullPointerException in PaymentResponseSerializer" in body
    assert "What happens" in body and "java.lang.NullPointerException" in body
    assert "```java" in body
    data = bug.structured_content
    assert data["comment_total"] == 3 and data["comments"][0]["author"] == "Sam Rivera"
    assert {link["key"] for link in data["links"]} >= {"PAY-388"}
    assert story.structured_content["epic"] == "PROD-100"


async def test_comment_limit_keeps_the_newest(site, client_for):
    async with client_for(site) as client:
        result = await call(client, "get_jira_issue", key="PAY-429", comment_limit=1)
    assert [c["author"] for c in result.structured_content["comments"]] == ["Dana Kim"]
    assert "older comments left out" in text(result)


async def test_a_restricted_comment_is_marked_for_who_may_read_it_and_absent_for_others(site, client_for):
    async with client_for(site, user="dev") as client:
        dev = await call(client, "get_jira_issue", key="PAY-429")
    async with client_for(site, user="pm") as client:
        pm = await call(client, "get_jira_issue", key="PAY-429")
    [restricted] = [c for c in dev.structured_content["comments"] if c["restricted_to"]]
    assert restricted["restricted_to"] == "Developers" and "Halvorsen" in restricted["body"]
    assert "(visible to Developers only):" in text(dev)
    assert "Halvorsen" not in text(pm) and pm.structured_content["comment_total"] == 2
    assert "withheld" not in text(dev) + text(pm)


async def test_a_server_that_withholds_restricted_comments_counts_them_and_shows_none(site, client_for):
    async with client_for(site, user="lead") as client:
        shown = await call(client, "get_jira_issue", key="PAY-388")
    server = server_for(site, user="lead")
    server.withhold_restricted = True
    async with Client(server) as client:
        withheld = await call(client, "get_jira_issue", key="PAY-388")
    assert "service credit" in text(shown)
    data = withheld.structured_content
    assert "service credit" not in text(withheld) and "service credit" not in str(data)
    assert data["comments_withheld"] == 1 and data["comment_total"] == 1
    assert [c["restricted_to"] for c in data["comments"]] == [None]
    assert "1 comment(s) restricted to a project role or group withheld" in text(withheld)


async def test_a_withholding_server_leaves_them_out_of_a_searchs_comment_field_too(site):
    server = server_for(site, user="dev")
    server.withhold_restricted = True
    async with Client(server) as client:
        found = await call(client, "search_jira_issues", jql="key = PAY-429", fields=["comment"])
    [issue] = found.structured_content["issues"]
    comments = issue["extra"]["comment"]["comments"]
    assert len(comments) == 2 and "Halvorsen" not in str(found.structured_content) + text(found)


async def test_a_fault_inside_a_tool_is_an_error_result_that_names_it(site, client_for, monkeypatch):
    """Not the SDK's bare "Error executing tool ...": the model and the record learn what failed."""
    from agentflow.atlassian.jira import JiraAPI

    async def broken(*args, **kwargs):
        raise ValueError("Invalid isoformat string: 'soon'")

    monkeypatch.setattr(JiraAPI, "search", broken)
    async with client_for(site) as client:
        result = await client.call_tool("search_jira_issues", {"jql": "project = OPS"})
    assert result.is_error
    assert "failed on this call (ValueError: Invalid isoformat string: 'soon')" in text(result)
    assert "fault in agentflow" in text(result) and result.meta[REQUESTS_META] == 0


async def test_a_fault_after_the_call_names_the_tool(site, client_for, monkeypatch):
    from agentflow.atlassian import render

    def broken(result):
        raise KeyError("status_category")

    monkeypatch.setattr(render, "issue_search", broken)
    async with client_for(site) as client:
        result = await client.call_tool("search_jira_issues", {"jql": "project = OPS"})
    assert result.is_error
    assert text(result).startswith("search_jira_issues: agentflow's Atlassian server failed on this call (KeyError:")


async def test_jira_errors_quote_atlassian(site, client_for):
    async with client_for(site, user="dev") as client:
        bad = await client.call_tool("search_jira_issues", {"jql": "project = NOPE"})
        missing = await client.call_tool("get_jira_issue", {"key": "PAY-9999"})
        hidden = await client.call_tool("get_jira_issue", {"key": "SEC-7"})
    assert bad.is_error and "The value 'NOPE' does not exist for the field 'project'." in text(bad)
    assert bad.meta[REQUESTS_META] >= 1
    for result in (missing, hidden):
        assert result.is_error
        assert "Issue does not exist or you do not have permission to see it." in text(result)


# --- Jira writes -----------------------------------------------------------------------------------------------


async def test_create_under_an_epic_comment_link_label_and_transition(site, client_for):
    async with client_for(site, user="pm") as client:
        created = await call(
            client, "create_jira_issue", project="PROD", issue_type="Story", summary="Bulk edit invoices",
            description="As a **finance user** I want to edit many invoices at once.", labels=["invoices"],
            epic="PROD-100",
        )  # fmt: skip
        key = created.structured_content["key"]
        await call(client, "add_jira_comment", key=key, body="From the ACME interview")
        await call(client, "link_jira_issues", link_type="relates", inward=key, outward="PROD-101")
        await call(client, "update_jira_issue", key=key, add_labels=["from-interview"], priority="High")
        moved = await call(client, "transition_jira_issue", key=key, status="in progress")
        issue = (await call(client, "get_jira_issue", key=key)).structured_content
    assert moved.structured_content["detail"] == f"moved {key} to In Progress"
    assert issue["epic"] == "PROD-100"
    assert issue["labels"] == ["from-interview", "invoices"] and issue["priority"] == "High"
    assert issue["status"] == "In Progress"
    assert "**finance user**" in issue["description"]
    assert issue["comments"][0]["body"].strip() == "From the ACME interview"
    assert issue["links"][0]["key"] == "PROD-101"


async def test_link_to_epic_and_the_errors_that_help(site, client_for):
    async with client_for(site, user="pm") as client:
        await call(client, "link_to_epic", issue="PROD-112", epic="PROD-100")
        story = (await call(client, "get_jira_issue", key="PROD-112")).structured_content
        stuck = await client.call_tool("transition_jira_issue", {"key": "PROD-112", "status": "Shipped"})
        wrong_link = await client.call_tool("link_jira_issues", {"link_type": "causes", "inward": "PROD-1",
                                                                 "outward": "PROD-2"})  # fmt: skip
        nothing = await client.call_tool("update_jira_issue", {"key": "PROD-112"})
    assert story["epic"] == "PROD-100"
    assert stuck.is_error and "cannot move to 'Shipped'" in text(stuck) and "Done" in text(stuck)
    assert wrong_link.is_error and "no link type 'causes'" in text(wrong_link)
    assert nothing.is_error and "nothing to update" in text(nothing)


# --- Confluence --------------------------------------------------------------------------------------------------


async def test_confluence_search_and_read_pages(site, client_for):
    async with client_for(site) as client:
        found = await call(client, "search_confluence_pages",
                           cql='label = "runbook" AND text ~ "DB connection pool exhausted"')  # fmt: skip
        first = found.structured_content["pages"][0]
        by_id = await call(client, "get_confluence_page", page_id=first["id"])
        by_title = await call(client, "get_confluence_page", space="ENG", title="Payments API")
    assert first["title"] == "Runbook: Database connection pool exhaustion" and first["space"] == "OPS"
    assert "```sql" in by_id.structured_content["body"] and "pg_stat_activity" in text(by_id)
    assert "runbook" in by_id.structured_content["labels"]
    assert "| currency |" in by_title.structured_content["body"].replace("  ", " ")


async def test_confluence_search_includes_the_best_match_in_full_in_the_same_request(site, client_for, tmp_path):
    """`include_body`: the search's own request brings the first hit's page, the same as get_confluence_page
    reads it; without it, the result is as it was (`top_page` null)."""
    log = tmp_path / "requests.jsonl"
    cql = 'label = "runbook" AND text ~ "DB connection pool exhausted"'
    async with client_for(Site.open(site.flavor, request_log=log)) as client:
        found = await call(client, "search_confluence_pages", cql=cql, include_body=True, max_chars=800)
        sent = len(requestlog.read(log))
        plain = await call(client, "search_confluence_pages", cql=cql)
        page = await call(client, "get_confluence_page", page_id=found.structured_content["pages"][0]["id"],
                          max_chars=800)  # fmt: skip
    assert found.meta[REQUESTS_META] == 1 == sent
    top = found.structured_content["top_page"]
    assert top == page.structured_content and top["title"] == "Runbook: Database connection pool exhaustion"
    assert top["body_truncated"] and "runbook" in top["labels"] and top["version"] >= 1
    assert found.structured_content["pages"] == plain.structured_content["pages"]
    assert plain.structured_content["top_page"] is None and "in full" not in text(plain)
    assert "The best match in full:" in text(found) and "[page cut at 800 characters" in text(found)


async def test_confluence_create_and_errors(site, client_for):
    async with client_for(site) as client:
        created = await call(
            client,
            "create_confluence_page",
            space="OPS",
            title="Incident 42 notes",
            body="## Timeline\n- 09:12 pool exhausted\n- 09:20 rolled back",
            parent_id="65536",
        )
        page = await call(client, "get_confluence_page", page_id=created.structured_content["id"])
        duplicate = await client.call_tool(
            "create_confluence_page", {"space": "OPS", "title": "Incident 42 notes", "body": "again"}
        )
        bad_cql = await client.call_tool("search_confluence_pages", {"cql": "label = = runbook"})
        neither = await client.call_tool("get_confluence_page", {})
    assert "Timeline" in page.structured_content["body"] and page.structured_content["ancestors"] == ["Operations Home"]
    assert duplicate.is_error and "A page with this title already exists" in text(duplicate)
    assert bad_cql.is_error
    assert neither.is_error and "give page_id, or both space and title" in text(neither)


# --- Compass ----------------------------------------------------------------------------------------------------


async def test_compass_component_with_owner_on_call_and_dependencies(site, client_for):
    async with client_for(site) as client:
        found = await call(client, "search_compass_components", query="payment")
        gateway = await call(client, "get_compass_component", id_or_name="payment-gateway")
        missing = await client.call_tool("get_compass_component", {"id_or_name": "billing-engine"})
    assert "payment-gateway" in {c["name"] for c in found.structured_content["components"]}
    data = gateway.structured_content
    assert data["owner_team"] == "Payments Team" and data["on_call"] == "Dana Kim"
    assert [c["name"] for c in data["depends_on"]] == ["payments-db"]
    assert sorted(c["name"] for c in data["dependents"]) == ["checkout-web", "customer-api"]
    assert "Depended on by: " in text(gateway)
    assert missing.is_error and "no Compass component named 'billing-engine'" in text(missing)


async def test_a_compass_component_by_name_is_one_request_after_the_cloud_id(site, client_for, tmp_path):
    """The name's search brings the whole component: the cloud id once per server, then one request per call;
    by name and by id the same component."""
    log = tmp_path / "requests.jsonl"
    async with client_for(Site.open(site.flavor, request_log=log)) as client:
        first = await call(client, "get_compass_component", id_or_name="payment-gateway")
        again = await call(client, "get_compass_component", id_or_name="Customer-API")
        by_id = await call(client, "get_compass_component", id_or_name=first.structured_content["id"])
    assert [first.meta[REQUESTS_META], again.meta[REQUESTS_META], by_id.meta[REQUESTS_META]] == [2, 1, 1]
    assert len(requestlog.read(log)) == 4
    assert by_id.structured_content == first.structured_content
    assert again.structured_content["name"] == "customer-api"
    assert [c["name"] for c in again.structured_content["depends_on"]] == ["payment-gateway"]


# --- retries ----------------------------------------------------------------------------------------------------


async def test_503s_are_retried_a_bounded_number_of_times_then_reported(client_for):
    site = Site.open("cloud", faults=Faults.parse("503=1"))
    async with client_for(site) as client:
        result = await client.call_tool("get_jira_issue", {"key": "PAY-429"})
    assert result.is_error and "HTTP 503" in text(result) and "Injected fault" in text(result)
    assert result.meta[REQUESTS_META] == 4


async def test_injected_429s_are_waited_out_as_retry_after_says(client_for):
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    site = Site.open("dc", faults=Faults.parse("429=0.5", seed=3))
    async with client_for(site, sleep=sleep) as client:
        results = [await client.call_tool("search_jira_issues", {"jql": "project = PAY"}) for _ in range(6)]
    assert all(not r.is_error for r in results)
    assert waits and set(waits) == {1.0}  # the sandbox's injected 429s say Retry-After: 1
    assert sum(r.meta[REQUESTS_META] for r in results) == 6 + len(waits)  # the first search learns the field ids


async def test_a_long_retry_after_is_reported_not_waited_for(client_for):
    class Clock:
        now = 1_800_000_000.0

        def __call__(self) -> float:
            return self.now

    site = Site.open("cloud", per_hour=2, clock=Clock())
    async with client_for(site) as client:
        await call(client, "get_jira_issue", key="PAY-429")  # /field and the issue use up the hour
        throttled = await client.call_tool("get_jira_issue", {"key": "PAY-388"})
    assert throttled.is_error
    assert "HTTP 429" in text(throttled) and "the site asks to wait 3600 s" in text(throttled)
    assert throttled.meta[REQUESTS_META] == 1
    assert throttled.meta["agentflow/retry_after"] == 3600


async def test_compass_is_asked_at_the_gateway_url_itself_not_redirected(tmp_path, client_for):
    log = tmp_path / "requests.jsonl"
    async with client_for(Site.open("cloud", request_log=log)) as client:
        found = await call(client, "search_compass_components", query="payment")
    received = requestlog.read(log)
    assert [(line["path"], line["status"]) for line in received] == [("/gateway/api/graphql", 200)] * 2
    assert found.meta[REQUESTS_META] == 2  # the cloud id, then the search


# --- the budget: the server reserves every request it sends ----------------------------------------------------


def ledger_quota(per_hour: int) -> SiteQuota:
    return SiteQuota(Budget(SQLiteLedger(":memory:"), Settings(per_hour=per_hour)), "sandbox", "interactive")


async def test_every_request_is_reserved_and_a_call_without_room_is_not_sent(tmp_path, client_for):
    log = tmp_path / "requests.jsonl"
    quota = ledger_quota(per_hour=3)
    async with client_for(Site.open("dc", request_log=log), quota=quota) as client:
        read = await call(client, "get_jira_issue", key="PAY-429")  # /field, then the issue
        search = await call(client, "search_jira_issues", jql="project = PAY")
        refused = await client.call_tool("get_jira_issue", {"key": "PAY-388"})
    assert read.meta[REQUESTS_META] == 2 and search.meta[REQUESTS_META] == 1
    assert read.meta[METERED_META] == quota.ledger
    assert refused.is_error and refused.meta[BUDGET_META] == "exhausted" and refused.meta[REQUESTS_META] == 0
    assert text(refused).startswith("Not sent to 127.0.0.1: the hourly budget for sandbox is used up")
    assert len(requestlog.read(log)) == 3 == quota.budget.status("sandbox")["used"]


async def test_a_write_that_does_not_fit_whole_is_not_started(tmp_path, client_for):
    site = Site.open("cloud")
    quota = ledger_quota(per_hour=2)
    quota.reserve(1)  # one request left; a link needs two (the link types, then the link)
    async with client_for(site, quota=quota) as client:
        refused = await client.call_tool("link_jira_issues", {"link_type": "Relates", "inward": "PAY-429",
                                                              "outward": "OPS-139"})  # fmt: skip
    assert refused.is_error and refused.meta[BUDGET_META] == "exhausted" and refused.meta[REQUESTS_META] == 0
    assert quota.budget.status("sandbox")["used"] == 1
    async with client_for(site) as client:  # unmetered, to look
        read = await call(client, "get_jira_issue", key="PAY-429")
    assert "OPS-139" not in text(read)  # nothing half-written


async def test_a_write_gives_back_what_it_reserved_and_did_not_need(client_for):
    quota = ledger_quota(per_hour=10)
    async with client_for(Site.open("cloud"), quota=quota) as client:
        created = await call(client, "create_jira_issue", project="PAY", issue_type="Task", summary="Tidy up",
                             description="Nothing urgent.")  # fmt: skip
    # a create reserves two (Data Center looks up the Epic Link field first); on Cloud it needs one
    assert created.meta[REQUESTS_META] == 1
    assert quota.budget.status("sandbox")["used"] == 1
