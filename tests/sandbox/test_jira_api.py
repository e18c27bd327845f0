"""Jira over HTTP: identity, flavors, search paging, writes and their errors, as Atlassian answers them."""

import pytest

from agentflow.sandbox.site import Site, running
from tests.sandbox.conftest import Served

NOT_FOUND = {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}
ADF = {"version": 1, "type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]}


def v(served) -> str:
    """The REST version whose bodies are the flavor's native rich text."""
    return "3" if served.site.flavor == "cloud" else "2"


# --- identity and flavors ------------------------------------------------------------------------------


def test_server_info_is_public_and_tells_the_flavor(served):
    info = served.client(as_user=None).get(f"/rest/api/{v(served)}/serverInfo").json()
    assert info["deploymentType"] == ("Cloud" if served.site.flavor == "cloud" else "Server")
    assert info["baseUrl"] == served.url


def test_myself_has_the_flavors_identity_fields(served):
    me = served.client("sre").get(f"/rest/api/{v(served)}/myself").json()
    assert me["displayName"] == "Sam Rivera"
    if served.site.flavor == "cloud":
        assert me["accountId"].startswith("712020:") and "key" not in me and "name" not in me
    else:
        assert me["name"] == me["key"] == "sre" and "accountId" not in me


def test_missing_or_wrong_credentials_are_401(served):
    anonymous = served.client(as_user=None).get(f"/rest/api/{v(served)}/myself")
    assert anonymous.status_code == 401
    assert anonymous.json()["errorMessages"] == [
        "You are not authenticated. Authentication required to perform this operation."
    ]
    other_scheme = (
        {"Authorization": "Bearer nope"} if served.site.flavor == "cloud" else {"Authorization": "Basic eDp5"}
    )
    for headers in ({"Authorization": "Bearer sbx-wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="}, other_scheme):
        response = served.client(as_user=None).get(f"/rest/api/{v(served)}/serverInfo", headers=headers)
        assert response.status_code == 401
        assert "WWW-Authenticate" in response.headers


def test_a_cloud_token_only_works_with_its_own_email(cloud):
    dev, pm = cloud.site.user("dev"), cloud.site.user("pm")
    import base64

    mixed = base64.b64encode(f"{pm.email}:{dev.token}".encode()).decode()
    response = cloud.client(as_user=None).get("/rest/api/3/myself", headers={"Authorization": f"Basic {mixed}"})
    assert response.status_code == 401


def test_rest_versions_per_flavor(cloud, dc):
    assert cloud.client().get("/rest/api/2/issue/PAY-429").status_code == 200
    assert cloud.client().get("/rest/api/latest/issue/PAY-429").status_code == 200
    assert dc.client().get("/rest/api/3/issue/PAY-429").status_code == 404
    assert dc.client().get("/rest/api/latest/issue/PAY-429").status_code == 200


# --- reading issues ---------------------------------------------------------------------------------------


def test_rich_text_is_adf_on_v3_and_wiki_markup_on_v2(cloud):
    v3 = cloud.client().get("/rest/api/3/issue/PAY-429").json()["fields"]
    v2 = cloud.client().get("/rest/api/2/issue/PAY-429").json()["fields"]
    assert v3["description"]["type"] == "doc"
    assert v2["description"].startswith("h2. What happens")
    assert v2["comment"]["comments"][0]["body"].startswith("Stack trace from payment-gateway")
    assert "{code:java}" in v2["comment"]["comments"][0]["body"]


def test_rendered_fields_are_html(served):
    issue = served.client().get(f"/rest/api/{v(served)}/issue/PAY-429", params={"expand": "renderedFields"}).json()
    assert "<h2>What happens</h2>" in issue["renderedFields"]["description"]
    assert "<table>" in issue["renderedFields"]["description"] or "<table" in issue["renderedFields"]["description"]


def test_fields_parameter_selects_and_excludes(served):
    client = served.client()
    only = client.get(f"/rest/api/{v(served)}/issue/PAY-429", params={"fields": "summary,status"}).json()
    assert set(only["fields"]) == {"summary", "status"}
    without = client.get(f"/rest/api/{v(served)}/issue/PAY-429", params={"fields": "*all,-comment"}).json()
    assert "comment" not in without["fields"] and "summary" in without["fields"]


def test_missing_and_hidden_issues_answer_the_same_404(served):
    client = served.client("dev")
    assert client.get(f"/rest/api/{v(served)}/issue/PAY-99999").json() == NOT_FOUND
    hidden = client.get(f"/rest/api/{v(served)}/issue/SEC-7")
    assert hidden.status_code == 404 and hidden.json() == NOT_FOUND
    assert served.client("sec").get(f"/rest/api/{v(served)}/issue/SEC-7").status_code == 200


def test_epics_are_parent_on_cloud_and_epic_link_on_dc(cloud, dc):
    cloud_story = cloud.client().get("/rest/api/3/issue/PROD-101").json()["fields"]
    assert cloud_story["parent"]["key"] == "PROD-100"
    assert "customfield_10014" not in cloud_story
    dc_story = dc.client().get("/rest/api/2/issue/PROD-101").json()["fields"]
    assert dc_story["customfield_10014"] == "PROD-100" and "parent" not in dc_story
    epic_link = [f for f in dc.client().get("/rest/api/2/field").json() if f["name"] == "Epic Link"]
    assert epic_link and epic_link[0]["id"] == "customfield_10014"
    found = dc.client().get("/rest/api/2/search", params={"jql": '"Epic Link" = PROD-100', "fields": "summary"})
    assert {i["key"] for i in found.json()["issues"]} >= {"PROD-101", "PROD-102"}


@pytest.mark.parametrize("flavor", ["cloud", "dc"])
def test_a_renamed_custom_field_is_a_jql_clause_by_its_new_name(flavor):
    site = Site.open(flavor, field_names={"customfield_10014": "Lien d'epic"})
    with running(site) as url:
        served = Served(site, url)
        path = "/rest/api/3/search/jql" if flavor == "cloud" else "/rest/api/2/search"
        for jql in ('"Lien d\'epic" = PROD-100', "cf[10014] = PROD-100"):
            found = served.client().post(path, json={"jql": jql, "fields": ["summary"]})
            assert {i["key"] for i in found.json()["issues"]} >= {"PROD-101", "PROD-102"}, jql
        old = served.client().post(path, json={"jql": '"Epic Link" = PROD-100'})
        assert old.status_code == 400
        assert old.json()["errorMessages"] == [
            "Field 'Epic Link' does not exist or you do not have permission to view it."
        ]
        if flavor == "dc":  # Cloud's field list leaves Epic Link out
            fields = served.client().get("/rest/api/2/field").json()
            [epic_link] = [f for f in fields if f["id"] == "customfield_10014"]
            assert (epic_link["name"], epic_link["clauseNames"]) == ("Lien d'epic", ["cf[10014]", "Lien d'epic"])


# --- search -----------------------------------------------------------------------------------------------


def test_cloud_removed_the_old_search(cloud):
    for version in ("2", "3"):
        response = cloud.client().get(f"/rest/api/{version}/search", params={"jql": "project = PAY"})
        assert response.status_code == 410
        assert response.json()["errorMessages"][0].startswith("The requested API has been removed.")


def test_cloud_enhanced_search_pages_with_tokens_until_is_last(cloud):
    client, seen, token = cloud.client(), [], None
    while True:
        body = {"jql": "project = PROD ORDER BY key ASC", "maxResults": 5, "fields": ["summary"]}
        if token:
            body["nextPageToken"] = token
        page = client.post("/rest/api/3/search/jql", json=body).json()
        seen += [issue["key"] for issue in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert len(seen) == len(set(seen)) == 12 and seen[0] == "PROD-100"


def test_cloud_enhanced_search_rules(cloud):
    client = cloud.client()
    ids_only = client.get("/rest/api/3/search/jql", params={"jql": "key = PAY-429"}).json()
    assert ids_only["issues"] == [{"id": ids_only["issues"][0]["id"]}]
    unbounded = client.post("/rest/api/3/search/jql", json={"jql": "ORDER BY created DESC"})
    assert unbounded.status_code == 400
    assert unbounded.json()["errorMessages"] == [
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
    ]
    token = client.post("/rest/api/3/search/jql", json={"jql": "project = PROD", "maxResults": 1}).json()
    reused = client.post(
        "/rest/api/3/search/jql", json={"jql": "project = PAY", "nextPageToken": token["nextPageToken"]}
    )
    assert reused.status_code == 400
    assert cloud.client().get("/rest/api/3/search/jql", params={"jql": "project = OPS"}).status_code == 200


def test_dc_search_pages_with_start_at_and_caps_max_results(dc):
    client = dc.client()
    first = client.get("/rest/api/2/search", params={"jql": "project = PROD ORDER BY key", "maxResults": 5}).json()
    assert (first["startAt"], first["maxResults"], first["total"], len(first["issues"])) == (0, 5, 12, 5)
    last = client.post("/rest/api/2/search", json={"jql": "project = PROD ORDER BY key", "startAt": 10}).json()
    assert [i["key"] for i in last["issues"]] == ["PROD-115", "PROD-116"]
    capped = client.get("/rest/api/2/search", params={"jql": "project = PROD", "maxResults": 5000}).json()
    assert capped["maxResults"] == 1000
    assert "comment" not in first["issues"][0]["fields"]  # search returns navigable fields only
    assert dc.client().get("/rest/api/2/search/jql", params={"jql": "project = PROD"}).status_code == 404


def test_bad_jql_is_400_with_jiras_message(served):
    path = "/rest/api/3/search/jql" if served.site.flavor == "cloud" else "/rest/api/2/search"
    response = served.client().post(path, json={"jql": "project = PAY AND status closed"})
    assert response.status_code == 400
    assert response.json()["errorMessages"][0].startswith("Error in the JQL Query: Expecting operator but got 'closed'")
    hidden = served.client("dev").post(path, json={"jql": "project = SEC"})
    assert hidden.json()["errorMessages"] == ["The value 'SEC' does not exist for the field 'project'."]


# --- writes -----------------------------------------------------------------------------------------------


def body_for(served, text: str):
    return ADF if served.site.flavor == "cloud" else text


def test_create_issue_and_read_it_back(fresh):
    client = fresh.client("pm")
    created = client.post(
        f"/rest/api/{v(fresh)}/issue",
        json={
            "fields": {
                "project": {"key": "PROD"},
                "issuetype": {"name": "Story"},
                "summary": "Bulk edit invoices",
                "description": body_for(fresh, "Hi"),
                "labels": ["invoices"],
                "components": [{"name": "Billing"}],
                "priority": {"name": "High"},
            }
        },
    )
    assert created.status_code == 201
    assert created.json()["key"] == "PROD-117"
    assert created.json()["self"].endswith(f"/rest/api/{v(fresh)}/issue/{created.json()['id']}")
    issue = client.get(f"/rest/api/{v(fresh)}/issue/PROD-117").json()["fields"]
    assert issue["labels"] == ["invoices"] and issue["components"][0]["name"] == "Billing"
    assert issue["priority"]["name"] == "High" and issue["status"]["name"] == "To Do"
    assert issue["reporter"]["displayName"] == "Priya Patel"


def test_create_issue_errors_name_the_fields(fresh):
    client = fresh.client("dev")
    response = client.post(
        f"/rest/api/{v(fresh)}/issue",
        json={"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Storey"}, "colour": "red"}},
    )
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [],
        "errors": {
            "project": "Specify a valid project ID or key",
            "issuetype": "Specify a valid issue type",
            "summary": "You must specify a summary of the issue.",
            "colour": "Field 'colour' cannot be set. It is not on the appropriate screen, or unknown.",
        },
    }


# Each field rule of create, with the words Jira answers in `errors` (the sandbox's refusal checklist,
# docs/sandbox-fidelity.md): one field wrong at a time, the rest of the issue valid.
FIELD_RULES = [
    ({"summary": "x" * 256}, "summary", "Summary must be less than 255 characters."),
    ({"labels": ["two words"]}, "labels", "The label 'two words' contains spaces which is invalid."),
    ({"labels": "invoices"}, "labels", "Labels must be a list of strings."),
    ({"priority": {"name": "Urgentish"}}, "priority", "The priority selected is invalid."),
    ({"components": "Billing"}, "components", "Components must be a list."),
    ({"components": [{"name": "Nope"}]}, "components", "Component name 'Nope' is not valid"),
    ({"assignee": {"name": "ghost"}, "reporter": {"accountId": "ghost"}}, "assignee", "User 'ghost' does not exist."),
    ({"parent": {"key": "PROD-404"}}, "parent", "Could not find issue by id or key: PROD-404"),
    ({"issuetype": None}, "issuetype", "Specify an issue type"),
]


@pytest.mark.parametrize(("fields", "field", "message"), FIELD_RULES, ids=[rule[1] + str(i) for i, rule in
                                                                          enumerate(FIELD_RULES)])  # fmt: skip
def test_each_field_rule_of_create_is_refused_in_jiras_words(fresh, fields, field, message):
    valid = {"project": {"key": "PROD"}, "issuetype": {"name": "Task"}, "summary": "A task"}
    response = fresh.client("pm").post(f"/rest/api/{v(fresh)}/issue", json={"fields": {**valid, **fields}})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][field] == message


def test_an_empty_comment_and_an_empty_create_are_refused(fresh):
    client = fresh.client("dev")
    assert client.post(f"/rest/api/{v(fresh)}/issue", json={}).json() == {
        "errorMessages": ["No fields were specified in the request."], "errors": {}
    }  # fmt: skip
    if fresh.site.flavor == "dc":  # a wiki-markup body; Cloud's is an ADF document
        empty = client.post("/rest/api/2/issue/PAY-429/comment", json={"body": ""})
        assert empty.status_code == 400 and empty.json()["errors"] == {"comment": "Comment body can not be empty!"}


TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."


def adf_of(text: str) -> dict:
    return {
        "version": 1,
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def test_a_comment_or_description_over_32767_characters_is_refused(fresh):
    client = fresh.client("dev")
    body = (lambda text: adf_of(text)) if fresh.site.flavor == "cloud" else (lambda text: text)
    long = client.post(f"/rest/api/{v(fresh)}/issue/PAY-429/comment", json={"body": body("x" * 32768)})
    assert long.status_code == 400 and long.json() == {"errorMessages": [], "errors": {"comment": TOO_LONG}}
    fields = {"project": {"key": "PROD"}, "issuetype": {"name": "Task"}, "summary": "x"}
    created = client.post(f"/rest/api/{v(fresh)}/issue", json={"fields": {**fields, "description": body("x" * 32768)}})
    assert created.status_code == 400 and created.json()["errors"] == {"description": TOO_LONG}
    if fresh.site.flavor == "dc":  # wiki markup counts as written: the limit itself is allowed
        at_limit = client.post("/rest/api/2/issue/PAY-429/comment", json={"body": "x" * 32767})
        assert at_limit.status_code == 201


def test_rich_text_must_match_the_api_version(cloud):
    fields = {"project": {"key": "PROD"}, "issuetype": {"name": "Task"}, "summary": "x", "description": "plain"}
    response = cloud.client().post("/rest/api/3/issue", json={"fields": fields})
    assert response.status_code == 400
    assert response.json()["errors"]["description"].startswith("Operation value must be an Atlassian Document")


def test_edit_with_fields_and_update_verbs(fresh):
    client = fresh.client("lead")
    response = client.put(
        f"/rest/api/{v(fresh)}/issue/PROD-110",
        json={
            "fields": {"summary": "Adapt the onboarding checklist to the plan"},
            "update": {
                "labels": [{"add": "stale"}, {"remove": "onboarding"}],
                "comment": [{"add": {"body": body_for(fresh, "Stale for 95 days")}}],
            },
        },
    )
    assert response.status_code == 204 and response.content == b""
    issue = client.get(f"/rest/api/{v(fresh)}/issue/PROD-110").json()["fields"]
    assert issue["summary"] == "Adapt the onboarding checklist to the plan"
    assert issue["labels"] == ["stale"]
    assert issue["comment"]["total"] == 1
    refused = client.put(f"/rest/api/{v(fresh)}/issue/PROD-110", json={"update": {"issuelinks": [{"add": {}}]}})
    assert refused.json()["errors"] == {"issuelinks": "Field does not support update 'issuelinks'"}


FIELD_NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
NOT_UPDATABLE = "Field does not support update '{}'"
SPACES = "The label 'two words' contains spaces which is invalid."
# Each rule of an edit (`PUT /issue/{key}`), through `fields` and through `update` verbs: create's field rules,
# and the verbs a field does not take. One field wrong at a time; the issue is left as it was.
EDIT_RULES = [
    ({"fields": {"summary": ""}}, "summary", "You must specify a summary of the issue."),
    ({"fields": {"summary": "x" * 256}}, "summary", "Summary must be less than 255 characters."),
    ({"update": {"summary": [{"set": "x" * 256}]}}, "summary", "Summary must be less than 255 characters."),
    ({"fields": {"labels": ["two words"]}}, "labels", "The label 'two words' contains spaces which is invalid."),
    (
        {"update": {"labels": [{"add": "two words"}]}},
        "labels",
        "The label 'two words' contains spaces which is invalid.",
    ),
    ({"fields": {"priority": {"name": "Urgentish"}}}, "priority", "The priority selected is invalid."),
    ({"update": {"priority": [{"set": {"name": "Urgentish"}}]}}, "priority", "The priority selected is invalid."),
    ({"fields": {"components": [{"name": "Nope"}]}}, "components", "Component name 'Nope' is not valid"),
    ({"update": {"components": [{"add": {"name": "Nope"}}]}}, "components", "Component name 'Nope' is not valid"),
    ({"fields": {"assignee": {"name": "ghost"}}}, "assignee", "User 'ghost' does not exist."),
    ({"update": {"reporter": [{"set": {"accountId": "ghost"}}]}}, "reporter", "User 'ghost' does not exist."),
    ({"fields": {"parent": {"key": "PROD-404"}}}, "parent", "Could not find issue by id or key: PROD-404"),
    ({"fields": {"colour": "red"}}, "colour", FIELD_NOT_SETTABLE.format("colour")),
    ({"update": {"colour": [{"set": "red"}]}}, "colour", FIELD_NOT_SETTABLE.format("colour")),
    ({"fields": {"project": {"key": "PAY"}}}, "project", FIELD_NOT_SETTABLE.format("project")),
    ({"update": {"summary": [{"add": "more"}]}}, "summary", NOT_UPDATABLE.format("summary")),
    ({"update": {"labels": [{"rename": "x"}]}}, "labels", NOT_UPDATABLE.format("labels")),
    ({"update": {"comment": [{"remove": {"id": "1"}}]}}, "comment", NOT_UPDATABLE.format("comment")),
    ({"update": {"comment": [{"add": {}}]}}, "comment", "Comment body can not be empty!"),
    ({"update": {"issuelinks": [{"add": {}}]}}, "issuelinks", NOT_UPDATABLE.format("issuelinks")),
]


@pytest.mark.parametrize(("body", "field", "message"), EDIT_RULES, ids=[f"{rule[1]}{i}" for i, rule in
                                                                      enumerate(EDIT_RULES)])  # fmt: skip
def test_each_field_rule_of_edit_is_refused_in_jiras_words(fresh, body, field, message):
    client = fresh.client("lead")
    before = client.get(f"/rest/api/{v(fresh)}/issue/PROD-110").json()["fields"]
    response = client.put(f"/rest/api/{v(fresh)}/issue/PROD-110", json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {"errorMessages": [], "errors": {field: message}}
    assert client.get(f"/rest/api/{v(fresh)}/issue/PROD-110").json()["fields"] == before


def test_edit_sets_components_by_verbs(fresh):
    client = fresh.client("lead")
    path = f"/rest/api/{v(fresh)}/issue/PROD-110"
    added = client.put(path, json={"update": {"components": [{"add": {"name": "Billing"}}]}})
    assert added.status_code == 204, added.text
    assert [c["name"] for c in client.get(path).json()["fields"]["components"]] == ["Billing", "Dashboard"]
    client.put(path, json={"update": {"components": [{"remove": {"name": "Dashboard"}}]}})
    assert [c["name"] for c in client.get(path).json()["fields"]["components"]] == ["Billing"]


def test_comments_transitions_and_links(fresh):
    client = fresh.client("dev")
    comment = client.post(f"/rest/api/{v(fresh)}/issue/PAY-429/comment", json={"body": body_for(fresh, "Fixing")})
    assert comment.status_code == 201 and comment.json()["author"]["displayName"] == "Dana Kim"
    empty = client.post(f"/rest/api/{v(fresh)}/issue/PAY-429/comment", json={"body": ""})
    assert empty.status_code == 400
    transitions = client.get(f"/rest/api/{v(fresh)}/issue/PAY-429/transitions").json()["transitions"]
    done = next(t for t in transitions if t["to"]["statusCategory"]["key"] == "done")
    assert (
        client.post(
            f"/rest/api/{v(fresh)}/issue/PAY-429/transitions", json={"transition": {"id": done["id"]}}
        ).status_code
        == 204
    )
    issue = client.get(f"/rest/api/{v(fresh)}/issue/PAY-429").json()["fields"]
    assert issue["status"]["name"] == "Done" and issue["resolution"]["name"] == "Done" and issue["resolutiondate"]
    bad = client.post(f"/rest/api/{v(fresh)}/issue/PAY-429/transitions", json={"transition": {"id": "999"}})
    assert bad.json()["errorMessages"] == ["Transition id '999' is not valid for this issue."]
    link = client.post(
        f"/rest/api/{v(fresh)}/issueLink",
        json={"type": {"name": "Blocks"}, "inwardIssue": {"key": "PAY-431"}, "outwardIssue": {"key": "PAY-433"}},
    )
    assert link.status_code == 201 and link.content == b""
    inward = client.get(f"/rest/api/{v(fresh)}/issue/PAY-431").json()["fields"]["issuelinks"]
    outward = client.get(f"/rest/api/{v(fresh)}/issue/PAY-433").json()["fields"]["issuelinks"]
    assert inward[0]["outwardIssue"]["key"] == "PAY-433" and outward[0]["inwardIssue"]["key"] == "PAY-431"
    unknown = client.post(
        f"/rest/api/{v(fresh)}/issueLink",
        json={"type": {"name": "Causes"}, "inwardIssue": {"key": "PAY-431"}, "outwardIssue": {"key": "PAY-433"}},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_bodies_are_400_not_500(served, raw):
    response = served.client().post(
        f"/rest/api/{v(served)}/issue", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.json()["errorMessages"], list)


def test_unknown_paths_answer_in_jira_shape(served):
    response = served.client().get("/rest/api/2/nothing/here")
    assert response.status_code == 404 and "errorMessages" in response.json()


# --- Compass over HTTP -------------------------------------------------------------------------------------


def test_compass_graphql_over_http(cloud):
    query = {
        "query": 'query($cloudId: ID!) { compass { searchComponents(cloudId: $cloudId, query: {query: "payment"}) '
        "{ ... on CompassSearchComponentConnection { nodes { component { name } } } } } }",
        "variables": {"cloudId": cloud.site.store.meta("cloud_id")},
    }
    answer = cloud.client().post("/gateway/api/graphql", json=query).json()
    names = {n["component"]["name"] for n in answer["data"]["compass"]["searchComponents"]["nodes"]}
    assert "payment-gateway" in names
    assert cloud.client(as_user=None).post("/gateway/api/graphql", json=query).status_code == 401


def test_the_restricted_project_is_invisible_to_a_non_member_everywhere(served):
    client, api = served.client("dev"), f"/rest/api/{v(served)}"
    for path in (
        "issue/SEC-7",
        "issue/SEC-7/comment",
        "issue/SEC-7/transitions",
        "project/SEC",
        "project/SEC/components",
    ):
        assert client.get(f"{api}/{path}").status_code == 404, path
    assert "SEC" not in {p["key"] for p in client.get(f"{api}/project").json()}
    assert client.put(f"{api}/issue/SEC-7", json={"fields": {"summary": "x"}}).status_code == 404
    assert client.post(f"{api}/issue/SEC-7/comment", json={"body": ADF if v(served) == "3" else "x"}).status_code == 404
    link = {"type": {"name": "Relates"}, "inwardIssue": {"key": "SEC-7"}, "outwardIssue": {"key": "PAY-429"}}
    assert client.post(f"{api}/issueLink", json=link).status_code == 404
    search = "/search/jql" if served.site.flavor == "cloud" else "/search"
    found = client.post(f"{api}{search}", json={"jql": "text ~ login ORDER BY key", "fields": ["summary"]}).json()
    assert all(not issue["key"].startswith("SEC-") for issue in found["issues"])
    member = served.client("sec").post(f"{api}{search}", json={"jql": "text ~ login", "fields": ["summary"]}).json()
    assert "SEC-7" in [issue["key"] for issue in member["issues"]]


def test_in_process_clients_need_no_port():
    import asyncio

    import httpx2

    from agentflow.sandbox.site import Site

    site = Site.open("cloud")

    async def fetch() -> dict:
        transport = httpx2.ASGITransport(app=site.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            response = await client.get("/rest/api/3/issue/OPS-141", headers=site.auth_header("sre"))
            return response.json()

    assert asyncio.run(fetch())["fields"]["summary"].startswith("Deploy payment-gateway 2.14.0")
