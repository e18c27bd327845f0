"""Third-party Atlassian clients, unchanged, against the served sandbox: the proof that it answers like Atlassian.

`jira` (pycontribs) and `atlassian-python-api`, in both flavors: search, read, create, comment, link, and
Confluence CQL search, page reads and page creation.
"""

from __future__ import annotations

import warnings

import pytest
from atlassian import Confluence, ConfluenceV2, Jira, JiraCloud
from jira import JIRA, JIRAError

ADF_STORY = {
    "version": 1,
    "type": "doc",
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Export invoices as CSV."}]}],
}


def pycontribs(served):
    user = served.site.user("dev")
    if served.site.flavor == "cloud":
        return JIRA(server=served.url, basic_auth=(user.email, user.token))
    return JIRA(server=served.url, token_auth=user.token)


def python_api(served):
    user = served.site.user("dev")
    if served.site.flavor == "cloud":
        return JiraCloud(url=served.url, username=user.email, password=user.token)
    return Jira(url=served.url, token=user.token)


def confluence(served):
    """The library's REST v1 client (`rest/api` under `/wiki`), which both Cloud and Data Center serve."""
    user = served.site.user("dev")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if served.site.flavor == "cloud":
            return Confluence(url=served.url + "/wiki", username=user.email, password=user.token, cloud=False)
        return Confluence(url=served.url + "/wiki", token=user.token, cloud=False)


# --- jira (pycontribs) -------------------------------------------------------------------------------


def test_jira_package_detects_the_flavor_and_reads_an_issue_with_comments(served):
    client = pycontribs(served)
    assert client._is_cloud is (served.site.flavor == "cloud")
    issue = client.issue("PAY-429")
    assert issue.fields.summary.startswith("NullPointerException in PaymentResponseSerializer")
    assert issue.fields.status.name == "To Do"
    assert issue.fields.status.statusCategory.key == "new"
    assert [c.name for c in issue.fields.components] == ["Payments API"]
    assert "h2. What happens" in issue.fields.description  # REST v2 carries wiki markup
    comments = client.comments(issue)
    assert "java.lang.NullPointerException" in comments[0].body
    assert comments[0].author.displayName == "Sam Rivera"


def test_jira_package_searches_with_jql(served):
    client = pycontribs(served)
    found = client.search_issues("project = OPS AND created >= -24h ORDER BY created DESC", maxResults=10)
    assert [i.key for i in found] == ["OPS-141", "OPS-140", "OPS-139"]
    assert found[0].fields.summary.startswith("Deploy payment-gateway 2.14.0")
    paged = client.search_issues("project = PROD ORDER BY key ASC", maxResults=False, fields="summary")
    assert len(paged) == 12
    assert paged[0].key == "PROD-100"


def test_jira_package_reports_bad_jql_with_atlassians_message(served):
    with pytest.raises(JIRAError) as caught:
        pycontribs(served).search_issues("project = NOPE")
    assert caught.value.status_code == 400
    assert "The value 'NOPE' does not exist for the field 'project'." in caught.value.text


def test_jira_package_creates_comments_and_links(fresh):
    client = pycontribs(fresh)
    issue = client.create_issue(
        project="PROD", summary="Bulk edit invoices", issuetype={"name": "Story"}, description="*Bulk* edit"
    )
    assert issue.key.startswith("PROD-")
    comment = client.add_comment(issue, "Raised in the ACME interview")
    assert comment.body == "Raised in the ACME interview"
    client.create_issue_link("Relates", issue.key, "PROD-101")
    reread = client.issue(issue.key)
    assert reread.fields.description == "*Bulk* edit"
    assert [link.type.name for link in reread.fields.issuelinks] == ["Relates"]
    assert reread.fields.issuelinks[0].outwardIssue.key == "PROD-101"


def test_jira_package_writes_and_reads_a_restricted_comment(fresh):
    client = pycontribs(fresh)
    written = client.add_comment("PAY-431", "Key rotated", visibility={"type": "role", "value": "Developers"})
    assert written.visibility.type == "role" and written.visibility.value == "Developers"
    assert [c.body for c in client.comments("PAY-431") if getattr(c, "visibility", None)] == ["Key rotated"]
    with pytest.raises(JIRAError) as caught:
        client.add_comment("PAY-431", "x", visibility={"type": "group", "value": "security-team"})
    assert caught.value.status_code == 400
    assert "You are currently not a member of the group: security-team." in caught.value.text


def test_jira_package_cannot_see_the_restricted_project(served):
    with pytest.raises(JIRAError) as caught:
        pycontribs(served).issue("SEC-7")
    assert caught.value.status_code == 404
    assert "Issue does not exist or you do not have permission to see it." in caught.value.text
    assert pycontribs(served).search_issues("text ~ TOR", maxResults=5) == []


# --- atlassian-python-api ----------------------------------------------------------------------------


def test_atlassian_python_api_reads_and_searches(served):
    client = python_api(served)
    issue = client.get_issue("PAY-429") if served.site.flavor == "cloud" else client.issue("PAY-429")
    assert issue["key"] == "PAY-429"
    if served.site.flavor == "cloud":
        assert issue["fields"]["description"]["type"] == "doc"  # REST v3 carries ADF
        found = client.enhanced_jql(
            "project = PAY AND text ~ NullPointerException ORDER BY created DESC", fields="summary"
        )
        assert [i["key"] for i in found["issues"]] == ["PAY-429", "PAY-388"]
        assert found["isLast"] is True
    else:
        assert issue["fields"]["description"].startswith("h2. What happens")
        found = client.jql("project = PAY AND text ~ NullPointerException ORDER BY created DESC", fields="summary")
        assert [i["key"] for i in found["issues"]] == ["PAY-429", "PAY-388"]
        assert found["total"] == 2


def test_atlassian_python_api_creates_comments_and_links(fresh):
    client = python_api(fresh)
    if fresh.site.flavor == "cloud":
        created = client.create_issue(
            data={
                "fields": {
                    "project": {"key": "PROD"},
                    "issuetype": {"name": "Story"},
                    "summary": "Bulk edit invoices",
                    "description": ADF_STORY,
                }
            }
        )
        client.add_comment(created["key"], data={"body": ADF_STORY})
        client.link_issues(
            data={
                "type": {"name": "Duplicate"},
                "inwardIssue": {"key": created["key"]},
                "outwardIssue": {"key": "PROD-101"},
            }
        )
        reread = client.get_issue(created["key"])
    else:
        created = client.create_issue(
            fields={
                "project": {"key": "PROD"},
                "issuetype": {"name": "Story"},
                "summary": "Bulk edit invoices",
                "description": "Export invoices as CSV.",
                "customfield_10014": "PROD-100",
            }
        )
        client.issue_add_comment(created["key"], "Export invoices as CSV.")
        client.create_issue_link(
            {"type": {"name": "Duplicate"}, "inwardIssue": {"key": created["key"]}, "outwardIssue": {"key": "PROD-101"}}
        )
        reread = client.issue(created["key"])
        assert reread["fields"]["customfield_10014"] == "PROD-100"
    assert reread["fields"]["summary"] == "Bulk edit invoices"
    assert reread["fields"]["comment"]["total"] == 1
    assert reread["fields"]["issuelinks"][0]["type"]["name"] == "Duplicate"


@pytest.mark.filterwarnings("ignore:V1 methods are deprecated:DeprecationWarning")
def test_atlassian_python_api_confluence_search_read_and_create(fresh):
    wiki = confluence(fresh)
    found = wiki.cql('label = "runbook" AND text ~ "DB connection pool exhausted"', limit=5)
    titles = [result["title"] for result in found["results"]]
    assert titles[0] == "Runbook: Database connection pool exhaustion"
    page_id = found["results"][0]["content"]["id"]
    page = wiki.get_page_by_id(page_id, expand="body.storage,version,space")
    assert page["space"]["key"] == "OPS"
    assert "pg_stat_activity" in page["body"]["storage"]["value"]
    [by_title] = wiki.get_page_by_title("ENG", "Payments API", expand="body.storage")["results"]
    assert "currency" in by_title["body"]["storage"]["value"]
    created = wiki.create_page("OPS", "Incident notes", "<p>Pool exhausted at 09:12.</p>", parent_id=page_id)
    assert created["title"] == "Incident notes"
    assert created["ancestors"][-1]["id"] == page_id
    assert wiki.get_page_by_title("OPS", "Incident notes")["results"][0]["id"] == created["id"]


@pytest.mark.filterwarnings("ignore:V1 methods are deprecated:DeprecationWarning")
def test_atlassian_python_api_confluence_v2_on_cloud(cloud):
    user = cloud.site.user("pm")
    wiki = ConfluenceV2(url=cloud.url + "/wiki", username=user.email, password=user.token)
    space = wiki.get_space_by_key("ENG")
    assert space["key"] == "ENG"
    [page] = wiki.get_page_by_title("ENG", "Payments API")["results"]
    adf = wiki.get_page_by_id(page["id"], body_format="atlas_doc_format")
    assert adf["title"] == "Payments API"
    assert '"type": "table"' in adf["body"]["atlas_doc_format"]["value"]
