"""The Cloud flavor against Atlassian's own OpenAPI document: every v3 endpoint the sandbox serves, requested for
real and validated against the response schema the document declares for that path, method and status; every
ADF body against the ADF JSON schema; and the shapes no schema catches (string ids, Jira timestamps, `self`
URLs on the site, wiki markup on v2 where v3 carries ADF).

The specs live in `shared/specs` beside the repository (see its SOURCES.md); without them this module skips.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_schema_validator import OAS30ReadValidator

from agentflow.sandbox.site import Site, running
from tests.sandbox.conftest import Served

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
JIRA_SPEC = SPECS / "jira-platform.v3.json"
ADF_SPEC = SPECS / "adf-schema.v1.json"
if not (JIRA_SPEC.is_file() and ADF_SPEC.is_file()):
    pytest.skip(
        f"Atlassian's OpenAPI and ADF schemas are not at {SPECS} (the `shared/specs` folder beside the repo)",
        allow_module_level=True,
    )

V3 = "/rest/api/3"
JIRA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
TIME_KEYS = {"created", "updated", "resolutiondate", "serverTime", "buildDate", "lastViewed", "lastLoginTime"}
# Rich-text fields: ADF on v3, wiki markup on v2.
RICH_FIELDS = ("description", "environment")


@cache
def spec() -> dict[str, Any]:
    return json.loads(JIRA_SPEC.read_text())


@cache
def adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(ADF_SPEC.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def declared_schema(template: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema the document declares for this response, or None when it declares no body."""
    operation = spec()["paths"][template][method.lower()]
    response = operation["responses"][str(status)]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return schema or None


def declared_example(template: str, method: str, status: int) -> Any:
    operation = spec()["paths"][template][method.lower()]
    return operation["responses"][str(status)]["content"]["application/json"]["example"]


@cache
def _validator(template: str, method: str, status: int) -> OAS30ReadValidator:
    schema = declared_schema(template, method, status)
    assert schema is not None, f"the document declares no body for {method} {template} {status}"
    return OAS30ReadValidator({**schema, "components": spec()["components"]})


@cache
def _component_validator(ref: str) -> OAS30ReadValidator:
    return OAS30ReadValidator({"$ref": ref, "components": spec()["components"]})


def conforms(validator: OAS30ReadValidator, body: Any, what: str) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what} does not conform:\n" + "\n".join(
        f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
    )


def check(response: Any, template: str, method: str = "GET", status: int = 200) -> Any:
    """Assert the status, validate the body against the declared schema, and return it."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    conforms(_validator(template, method, status), body, f"{method} {template} {status}")
    return body


def check_error(response: Any, template: str, method: str, status: int) -> dict[str, Any]:
    """An error body against the schema the document declares; where it declares none (most 4xx here), against
    the ErrorCollection schema that the same document gives Jira's other errors."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    schema = declared_schema(template, method, status)
    validator = (
        _validator(template, method, status) if schema else _component_validator("#/components/schemas/ErrorCollection")
    )
    conforms(validator, body, f"{method} {template} {status} error")
    assert body["errorMessages"] or body["errors"], body
    return body


# --- shapes no schema catches ------------------------------------------------------------------------------


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))


def assert_jira_shapes(body: Any, site_url: str) -> None:
    """Ids of resources are strings (status categories' are numbers, as in Jira), timestamps are Jira's
    `2026-11-26T08:06:15.000+0000`, and every `self` and icon or avatar URL points at the site."""
    for path, node in _walk(body):
        where = "/" + "/".join(path)
        key = path[-1] if path else ""
        if isinstance(node, dict) and "self" in node and "id" in node:
            wanted = int if "colorName" in node else str  # a status category's id is a number
            assert isinstance(node["id"], wanted), f"{where}/id is {node['id']!r}"
        if key in TIME_KEYS and node is not None and not {"renderedFields", "names", "schema"} & set(path):
            assert isinstance(node, str) and JIRA_TIME.match(node), f"{where} is {node!r}"
        if key in ("self", "iconUrl", "baseUrl", "nextPage") or (len(path) > 1 and path[-2] == "avatarUrls"):
            assert isinstance(node, str) and (node + "/").startswith(site_url + "/"), f"{where} is {node!r}"
            if key == "self" and "/rest/api/" in node:
                assert node.startswith(f"{site_url}{V3}/"), f"{where} is {node!r}"


def assert_adf(doc: Any, what: str) -> None:
    assert isinstance(doc, dict) and doc.get("type") == "doc", f"{what} is not an ADF document: {doc!r:.200}"
    errors = list(adf_validator().iter_errors(doc))
    assert not errors, f"{what} is not valid ADF: " + "; ".join(
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5]
    )


# Field values: IssueBean.fields is a free-form map in the document, so each value is held to the schema the
# document gives that kind of object elsewhere.
FIELD_SCHEMAS = {
    "status": "StatusDetails",
    "issuetype": "IssueTypeDetails",
    "priority": "Priority",
    "assignee": "UserDetails",
    "reporter": "UserDetails",
    "creator": "UserDetails",
    "resolution": "Resolution",
    "project": "Project",
    "parent": "LinkedIssue",
    "comment": "PageOfComments",
}
FIELD_ITEM_SCHEMAS = {"components": "ProjectComponent", "subtasks": "LinkedIssue"}


def assert_issue_link_on_issue(link: dict[str, Any], what: str) -> None:
    """On an issue, a link names only the *other* issue (IssueLink, which requires both ends, is the shape of
    `GET /issueLink/{id}`): its `type` is an IssueLinkType and that one end a LinkedIssue."""
    ends = [end for end in ("inwardIssue", "outwardIssue") if end in link]
    assert len(ends) == 1 and set(link) == {"id", "self", "type", *ends}, f"{what}: {sorted(link)}"
    conforms(_component_validator("#/components/schemas/IssueLinkType"), link["type"], f"{what}.type")
    conforms(_component_validator("#/components/schemas/LinkedIssue"), link[ends[0]], f"{what}.{ends[0]}")


def assert_fields(issue: dict[str, Any]) -> None:
    for name, value in issue["fields"].items():
        if value is None:
            continue
        if name in FIELD_SCHEMAS:
            validator = _component_validator(f"#/components/schemas/{FIELD_SCHEMAS[name]}")
            conforms(validator, value, f"{issue['key']} fields.{name}")
        elif name in FIELD_ITEM_SCHEMAS:
            validator = _component_validator(f"#/components/schemas/{FIELD_ITEM_SCHEMAS[name]}")
            for index, item in enumerate(value):
                conforms(validator, item, f"{issue['key']} fields.{name}[{index}]")
        elif name == "issuelinks":
            for index, link in enumerate(value):
                assert_issue_link_on_issue(link, f"{issue['key']} fields.issuelinks[{index}]")
        elif name in RICH_FIELDS:
            assert_adf(value, f"{issue['key']} fields.{name}")
        elif name in ("summary",):
            assert isinstance(value, str)
        elif name == "labels":
            assert all(isinstance(label, str) for label in value)


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(cloud: Served) -> Iterator[Any]:
    with cloud.client("sre") as client:  # sre is a member of the restricted SEC project
        yield client


@pytest.fixture(scope="module")
def scratch() -> Iterator[Served]:
    """A Cloud site of this module's own, for the writes."""
    site = Site.open("cloud")
    with running(site) as url:
        yield Served(site, url)


# --- reads -------------------------------------------------------------------------------------------------


def test_server_info_and_myself(cloud: Served, http: Any) -> None:
    response = http.get(f"{V3}/serverInfo")
    info = response.json()
    # The document's own example for this response carries `defaultLocale`, which Jira Cloud sends, while its
    # ServerInformation schema forbids any property it does not list: hold it to the example, the rest to the schema.
    example = json.loads(declared_example(f"{V3}/serverInfo", "GET", 200))
    locale = info.pop("defaultLocale")
    assert set(locale) == set(example["defaultLocale"]) and isinstance(locale["locale"], str)
    conforms(_validator(f"{V3}/serverInfo", "GET", 200), info, "GET /serverInfo 200")
    assert info["deploymentType"] == "Cloud" and info["baseUrl"] == cloud.url
    me = check(http.get(f"{V3}/myself"), f"{V3}/myself")
    assert me["accountId"] == cloud.site.user("sre").account_id
    assert "key" not in me and "name" not in me  # removed on Cloud for GDPR
    for body in (info, me):
        assert_jira_shapes(body, cloud.url)


@pytest.mark.parametrize(
    "params",
    [{}, {"expand": "renderedFields,names"}, {"fields": "summary,status"}],
    ids=["plain", "expanded", "some-fields"],
)
def test_get_issue(cloud: Served, http: Any, params: dict[str, str]) -> None:
    template = f"{V3}/issue/{{issueIdOrKey}}"
    issue = check(http.get(f"{V3}/issue/PAY-429", params=params), template)
    assert issue["key"] == "PAY-429" and isinstance(issue["id"], str)
    assert_fields(issue)
    assert_jira_shapes(issue, cloud.url)
    if params.get("fields"):
        assert set(issue["fields"]) == {"summary", "status"}
    if params.get("expand"):
        assert isinstance(issue["renderedFields"]["description"], str)
        assert "<" in issue["renderedFields"]["description"]  # HTML
        assert issue["names"]["summary"] == "Summary"
    else:
        assert "renderedFields" not in issue and "names" not in issue


def test_issue_with_parent_links_and_subtasks(cloud: Served, http: Any) -> None:
    for key in ("PROD-101", "PROD-116", "OPS-141"):
        issue = check(http.get(f"{V3}/issue/{key}"), f"{V3}/issue/{{issueIdOrKey}}")
        assert_fields(issue)
        assert_jira_shapes(issue, cloud.url)


def test_comments_and_one_comment(cloud: Served, http: Any) -> None:
    page = check(http.get(f"{V3}/issue/PAY-429/comment"), f"{V3}/issue/{{issueIdOrKey}}/comment")
    assert page["comments"] and page["total"] >= len(page["comments"])
    assert_jira_shapes(page, cloud.url)
    first = page["comments"][0]
    assert_adf(first["body"], "comment body")
    one = check(http.get(f"{V3}/issue/PAY-429/comment/{first['id']}"), f"{V3}/issue/{{issueIdOrKey}}/comment/{{id}}")
    assert one == first


def test_transitions(cloud: Served, http: Any) -> None:
    body = check(http.get(f"{V3}/issue/PAY-429/transitions"), f"{V3}/issue/{{issueIdOrKey}}/transitions")
    assert body["transitions"] and all(isinstance(t["id"], str) for t in body["transitions"])
    assert_jira_shapes(body, cloud.url)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_jql_ids_only_and_with_fields(cloud: Served, http: Any, method: str) -> None:
    template = f"{V3}/search/jql"

    def search(**query: Any) -> Any:
        if method == "GET":
            params = {k: ",".join(v) if isinstance(v, list) else v for k, v in query.items()}
            return http.get(template, params=params)
        return http.post(template, json=query)

    ids = check(search(jql="project = PROD ORDER BY key"), template, method)
    assert ids["issues"] and all(set(i) == {"id"} and isinstance(i["id"], str) for i in ids["issues"])
    full = check(
        search(jql="project = PAY ORDER BY key", fields=["*navigable"], expand="names,schema"), template, method
    )
    assert full["names"]["summary"] == "Summary" and full["schema"]["summary"]["type"] == "string"
    assert all("fields" in i and "names" not in i for i in full["issues"])
    for issue in full["issues"]:
        assert_fields(issue)
    assert_jira_shapes(full, cloud.url)
    seen: list[str] = []
    token = None
    for _ in range(20):
        page = check(
            search(
                jql="project = PROD ORDER BY key",
                fields=["summary"],
                maxResults=5,
                **({"nextPageToken": token} if token else {}),
            ),
            template,
            method,
        )
        seen += [i["key"] for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page or page["nextPageToken"] is None
            break
        token = page["nextPageToken"]
        assert isinstance(token, str) and token
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == len(ids["issues"])


def test_projects(cloud: Served, http: Any) -> None:
    listed = check(http.get(f"{V3}/project"), f"{V3}/project")
    assert {p["key"] for p in listed} >= {"OPS", "PAY", "PROD", "SEC"}
    page = check(http.get(f"{V3}/project/search", params={"maxResults": 2}), f"{V3}/project/search")
    assert len(page["values"]) == 2 and page["isLast"] is False
    project = check(http.get(f"{V3}/project/PAY"), f"{V3}/project/{{projectIdOrKey}}")
    assert project["key"] == "PAY" and isinstance(project["id"], str)
    components = check(http.get(f"{V3}/project/PAY/components"), f"{V3}/project/{{projectIdOrKey}}/components")
    assert components
    statuses = check(http.get(f"{V3}/project/PAY/statuses"), f"{V3}/project/{{projectIdOrKey}}/statuses")
    assert statuses and statuses[0]["statuses"]
    for body in (listed, page, project, components, statuses):
        assert_jira_shapes(body, cloud.url)


@pytest.mark.parametrize(
    "name", ["field", "issuetype", "priority", "status", "resolution", "statuscategory", "issueLinkType"]
)
def test_catalogue(cloud: Served, http: Any, name: str) -> None:
    body = check(http.get(f"{V3}/{name}"), f"{V3}/{name}")
    assert body
    assert_jira_shapes(body, cloud.url)


def test_one_issue_link_type(cloud: Served, http: Any) -> None:
    first = http.get(f"{V3}/issueLinkType").json()["issueLinkTypes"][0]
    body = check(http.get(f"{V3}/issueLinkType/{first['id']}"), f"{V3}/issueLinkType/{{issueLinkTypeId}}")
    assert body == first


def test_users(cloud: Served, http: Any) -> None:
    account = cloud.site.user("dev").account_id
    user = check(http.get(f"{V3}/user", params={"accountId": account}), f"{V3}/user")
    assert user["accountId"] == account
    found = check(http.get(f"{V3}/user/search", params={"query": "dana"}), f"{V3}/user/search")
    assert [u["accountId"] for u in found] == [account]
    for body in (user, found):
        assert_jira_shapes(body, cloud.url)


# --- errors ------------------------------------------------------------------------------------------------


def test_error_bodies(http: Any) -> None:
    check_error(http.get(f"{V3}/issue/NOPE-1"), f"{V3}/issue/{{issueIdOrKey}}", "GET", 404)
    check_error(http.get(f"{V3}/search/jql", params={"jql": "status = = x"}), f"{V3}/search/jql", "GET", 400)
    check_error(http.post(f"{V3}/search/jql", json={"jql": "project ="}), f"{V3}/search/jql", "POST", 400)
    gone = http.get(f"{V3}/search", params={"jql": "project = PAY"})
    assert gone.status_code == 410  # the document no longer declares this status for the removed API
    conforms(_component_validator("#/components/schemas/ErrorCollection"), gone.json(), "GET /search 410")
    body = check_error(http.post(f"{V3}/issue", json={"fields": {}}), f"{V3}/issue", "POST", 400)
    assert body["errors"]


# --- writes ------------------------------------------------------------------------------------------------

ADF = {"version": 1, "type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]}


def test_create_issue_comment_and_link(scratch: Served) -> None:
    with scratch.client("dev") as http:
        created = check(
            http.post(
                f"{V3}/issue",
                json={
                    "fields": {
                        "project": {"key": "PROD"},
                        "issuetype": {"name": "Task"},
                        "summary": "Validate the shapes",
                        "description": ADF,
                        "environment": ADF,
                    }
                },
            ),
            f"{V3}/issue",
            "POST",
            201,
        )
        assert created["self"] == f"{scratch.url}{V3}/issue/{created['id']}"
        comment = check(
            http.post(f"{V3}/issue/{created['key']}/comment", json={"body": ADF}),
            f"{V3}/issue/{{issueIdOrKey}}/comment",
            "POST",
            201,
        )
        assert comment["body"] == ADF
        assert_jira_shapes(comment, scratch.url)
        linked = http.post(
            f"{V3}/issueLink",
            json={
                "type": {"name": "Blocks"},
                "inwardIssue": {"key": created["key"]},
                "outwardIssue": {"key": "PROD-101"},
            },
        )
        assert linked.status_code == 201
        issue = check(http.get(f"{V3}/issue/{created['key']}"), f"{V3}/issue/{{issueIdOrKey}}")
        assert_fields(issue)
        assert_jira_shapes(issue, scratch.url)
        [link] = issue["fields"]["issuelinks"]
        body = check(http.get(f"{V3}/issueLink/{link['id']}"), f"{V3}/issueLink/{{linkId}}")
        assert body["inwardIssue"]["key"] == created["key"] and body["outwardIssue"]["key"] == "PROD-101"
        assert_jira_shapes(body, scratch.url)


def test_edits_transitions_and_assignments_answer_204_and_leave_valid_issues(scratch: Served) -> None:
    account = scratch.site.user("pm").account_id
    with scratch.client("dev") as http:
        template = f"{V3}/issue/{{issueIdOrKey}}"
        edited = http.put(f"{V3}/issue/PROD-113", json={"fields": {"summary": "Fix the flaky login test"}})
        assert edited.status_code == 204 and not edited.content
        assigned = http.put(f"{V3}/issue/PROD-113/assignee", json={"accountId": account})
        assert assigned.status_code == 204 and not assigned.content
        transitions = http.get(f"{V3}/issue/PROD-113/transitions").json()["transitions"]
        done = next(t for t in transitions if t["to"]["statusCategory"]["key"] == "done")
        moved = http.post(f"{V3}/issue/PROD-113/transitions", json={"transition": {"id": done["id"]}})
        assert moved.status_code == 204 and not moved.content
        issue = check(http.get(f"{V3}/issue/PROD-113", params={"expand": "transitions"}), template)
        assert issue["fields"]["resolution"]["name"] == "Done" and issue["fields"]["assignee"]["accountId"] == account
        assert issue["transitions"]
        assert_fields(issue)
        assert_jira_shapes(issue, scratch.url)
        bad = http.put(f"{V3}/issue/PROD-113", json={"fields": {"nonsense": 1}})
        check_error(bad, template, "PUT", 400)
        with scratch.client(None) as anonymous:
            check_error(anonymous.get(f"{V3}/myself"), f"{V3}/myself", "GET", 401)


# --- ADF everywhere, and wiki markup on v2 ----------------------------------------------------------------------


def test_every_adf_body_of_every_visible_issue_is_valid(cloud: Served, http: Any) -> None:
    projects = [p["key"] for p in http.get(f"{V3}/project").json()]
    checked, keys = 0, []
    for key in projects:
        response = http.post(
            f"{V3}/search/jql",
            json={"jql": f"project = {key}", "fields": ["description", "environment", "comment"], "maxResults": 100},
        )
        page = check(response, f"{V3}/search/jql", "POST")
        assert page["isLast"], "more than 100 seeded issues in a project: page through them"
        for issue in page["issues"]:
            keys.append(issue["key"])
            fields = issue["fields"]
            for name in RICH_FIELDS:
                if fields.get(name) is not None:
                    assert_adf(fields[name], f"{issue['key']} {name}")
                    checked += 1
            comments = fields["comment"]["comments"]
            if fields["comment"]["total"] > len(comments):
                comments = http.get(f"{V3}/issue/{issue['key']}/comment", params={"maxResults": 1000}).json()[
                    "comments"
                ]
            for comment in comments:
                assert_adf(comment["body"], f"{issue['key']} comment {comment['id']}")
                checked += 1
    assert {"PAY-429", "OPS-141", "PROD-100", "PROD-116"} <= set(keys)
    assert any(k.startswith("SEC-") for k in keys) and checked > 20


def test_v2_carries_wiki_markup_where_v3_carries_adf(cloud: Served, http: Any) -> None:
    v2 = http.get("/rest/api/2/issue/PAY-429").json()
    v3 = http.get(f"{V3}/issue/PAY-429").json()
    assert isinstance(v2["fields"]["description"], str) and "h2. What happens" in v2["fields"]["description"]
    assert_adf(v3["fields"]["description"], "v3 description")
    v2_comments = http.get("/rest/api/2/issue/PAY-429/comment").json()["comments"]
    v3_comments = http.get(f"{V3}/issue/PAY-429/comment").json()["comments"]
    assert [c["id"] for c in v2_comments] == [c["id"] for c in v3_comments]
    assert all(isinstance(c["body"], str) for c in v2_comments)
    assert all(isinstance(c["body"], dict) for c in v3_comments)
    assert v2["fields"]["comment"]["comments"][0]["self"].startswith(f"{cloud.url}/rest/api/2/")
