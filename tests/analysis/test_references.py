"""Page references, similar-issue JQL and resolved-first merging; on hand-written issues and the seeded bugs."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from agentflow.analysis.references import page_references, quote, resolved_first, similar_queries, summary_terms
from agentflow.analysis.traces import traces_for_issues
from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site

LINKS = """\
Spec: [the API spec](https://acme.atlassian.net/wiki/spaces/ENG/pages/65601/Payments+API), see also \
<https://wiki.acme.com/pages/viewpage.action?pageId=770> and https://wiki.acme.com/display/OPS/DB+pool+runbook.
Old link: /wiki/spaces/ENG/pages/65601 (same page). Follow the "Incident checklist" page, then [ENG:Release notes].
"""

NOT_PAGES = """\
- [x] done, status [STABLE], [attachment: trace.png], blocked by [PAY-12], see [the board](https://jira.acme.com/browse/PAY)
Approved, add the comment "no action needed" to SEC-7.
```json
{"page": "[Not a page]", "url": "/wiki/spaces/X/pages/999/Hidden"}
```
"""


def test_links_titles_and_named_pages_in_order():
    result = page_references([{"key": "PAY-1", "description": LINKS, "comments": [{"body": NOT_PAGES}]}])
    assert result == {
        "page_ids": ["65601", "770"],
        "titles": ["the API spec", "Payments API", "DB pool runbook", "Incident checklist", "Release notes"],
        "by_issue": {
            "PAY-1": {
                "page_ids": ["65601", "770"],
                "titles": ["the API spec", "Payments API", "DB pool runbook", "Incident checklist", "Release notes"],
            }
        },
    }


def test_references_are_unique_across_issues_and_kept_per_issue():
    issues = [
        {"key": "A-1", "description": "See [On-call handbook] and [Payments API](/wiki/spaces/ENG/pages/65601)."},
        {"key": "A-2", "description": "", "comments": [{"body": "Per the page titled “on-call handbook”."}]},
        {"key": "A-3"},
        "not an issue",
    ]
    result = page_references(issues)  # type: ignore[arg-type]
    assert result["page_ids"] == ["65601"]
    assert result["titles"] == ["On-call handbook", "Payments API"]
    assert result["by_issue"] == {
        "A-1": {"page_ids": ["65601"], "titles": ["On-call handbook", "Payments API"]},
        "A-2": {"page_ids": [], "titles": ["on-call handbook"]},
        "A-3": {"page_ids": [], "titles": []},
    }


def test_quote_escapes_backslashes_and_double_quotes():
    assert quote('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'


def test_summary_terms_are_the_longest_words_that_are_not_stop_words_in_order():
    assert summary_terms("Reconciliation job crashes on empty fee column") == ["Reconciliation", "crashes", "column"]
    assert summary_terms("The error is not working") == []
    assert summary_terms("Login fails") == ["Login"]


def test_similar_queries_from_exceptions_or_summaries():
    issues = [
        {"key": "PAY-1", "summary": "Boom", "components": ['Pay "API"', "Other"]},
        {"key": "PAY-2", "summary": "Invoice export to PDF times out for large merchants", "components": []},
        {"key": "PAY-3", "summary": "the bug"},
    ]
    traces = {"issues": [{"key": "PAY-1", "exception_types": ["NullPointerException", "IOException"]}]}
    assert similar_queries(issues, traces) == {
        "queries": [
            {
                "key": "PAY-1",
                "jql": 'text ~ "NullPointerException" AND component = "Pay \\"API\\"" AND key != PAY-1 '
                "ORDER BY resolved DESC, updated DESC",
            },
            {
                "key": "PAY-2",
                "jql": 'text ~ "Invoice export merchants" AND key != PAY-2 ORDER BY resolved DESC, updated DESC',
            },
        ]
    }
    assert similar_queries(issues[1:2], None)["queries"][0]["key"] == "PAY-2"


def summary(key: str, status_category: str = "To Do", resolution: str | None = None) -> dict[str, object]:
    return {"key": key, "summary": key, "status_category": status_category, "resolution": resolution}


def test_resolved_first_merges_searches_once_each():
    first = {"jql": "a", "issues": [summary("A-1"), summary("A-2", "Done"), summary("A-9", "Done")]}
    second = {"jql": "b", "issues": [summary("A-3", "In Progress", "Won't Do"), summary("A-1"), summary("A-4")]}
    result = resolved_first([first, second, None], exclude=["A-9"])  # type: ignore[list-item]
    assert [issue["key"] for issue in result["similar"]] == ["A-2", "A-3", "A-1", "A-4"]
    assert result["similar"][0] == summary("A-2", "Done")
    assert [i["key"] for i in resolved_first(second, [])["similar"]] == ["A-3", "A-1", "A-4"]
    assert resolved_first([], ["A-1"]) == {"similar": []}


@pytest.mark.anyio
@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_pay_429_links_the_payments_api_page(flavor: str):
    async with Client(server_for(Site.open(flavor))) as client:
        issue = (await client.call_tool("get_jira_issue", {"key": "PAY-429"})).structured_content
    result = page_references([issue])
    assert result["page_ids"] == ["65601"]
    assert result["titles"] == ["Payments API"]
    assert result["by_issue"] == {"PAY-429": {"page_ids": ["65601"], "titles": ["Payments API"]}}


@pytest.mark.anyio
@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_similar_past_issues_of_pay_429_resolved_first(flavor: str):
    async with Client(server_for(Site.open(flavor))) as client:

        async def call(tool: str, arguments: dict[str, object]) -> dict:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error
            return result.structured_content

        issues = [await call("get_jira_issue", {"key": "PAY-429"})]
        [query] = similar_queries(issues, traces_for_issues(issues))["queries"]
        assert query == {
            "key": "PAY-429",
            "jql": 'text ~ "NullPointerException" AND component = "Payments API" AND key != PAY-429 '
            "ORDER BY resolved DESC, updated DESC",
        }
        similar = await call("search_jira_issues", {"jql": query["jql"]})
        assert [issue["key"] for issue in similar["issues"]] == ["PAY-388"]
        # Open bugs found by another search come after the resolved one, whatever the order of the searches.
        open_bugs = await call("search_jira_issues", {"jql": "key in (PAY-429, PAY-431, PAY-432) ORDER BY key"})
    result = resolved_first([open_bugs, similar], exclude=["PAY-429"])
    json.dumps(result)
    assert [issue["key"] for issue in result["similar"]] == ["PAY-388", "PAY-431", "PAY-432"]
    assert result["similar"][0]["status_category"] == "Done"
