"""Confluence REST v1 (`/wiki/rest/api`) and v2 (`/wiki/api/v2`) of the sandbox, over HTTP on both flavors.

v2 answers are validated against Atlassian's published v2 OpenAPI document and ADF bodies against the ADF schema,
both from `shared/specs` (the tests that need them skip when it is absent).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

from agentflow.sandbox.site import Site, running
from tests.sandbox.conftest import Served

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
V1, V2 = "/wiki/rest/api", "/wiki/api/v2"
POOL_RUNBOOK = "Runbook: Database connection pool exhaustion"
SEEDED_PAGES = 9
V1_ERROR_KEYS = {"statusCode", "data", "message", "reason"}


def _spec(name: str) -> dict[str, Any]:
    path = SPECS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared/specs is not next to the project)")
    return _load(path)


@cache
def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_v2_conforms(response, path: str, method: str = "get") -> None:
    """`response` validates against the schema the v2 OpenAPI document declares for path+method+status."""
    spec = _spec("confluence-v2.v3.json")
    assert spec["openapi"].startswith("3.0")
    declared = spec["paths"][path][method]["responses"][str(response.status_code)]
    schema = {**declared["content"]["application/json"]["schema"], "components": spec["components"]}
    validator = OAS30ReadValidator(schema, format_checker=oas30_format_checker)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(response.json())]
    assert not errors, errors


def assert_v1_error(response, status: int, message: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == V1_ERROR_KEYS
    assert body["statusCode"] == status
    assert message in body["message"]


def assert_v2_error(response, status: int) -> None:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["status"] == status
    assert set(error) == {"status", "code", "title", "detail"}


@pytest.fixture(scope="module", params=["cloud", "dc"])
def writable(request: pytest.FixtureRequest) -> Iterator[Served]:
    """One site per flavor for this module's writing tests; each writes pages and titles no other test reads."""
    site = Site.open(request.param)
    with running(site) as url:
        yield Served(site, url)


def search(client, cql: str, **params: Any):
    return client.get(f"{V1}/content/search", params={"cql": cql, **params})


# --- v1 search --------------------------------------------------------------------------------------------------


def test_content_search_shape_and_ranking(served):
    with served.client() as client:
        response = search(client, 'label = "runbook" AND text ~ "DB connection pool exhausted"', limit=5)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"results", "start", "limit", "size", "_links"}
    assert (body["start"], body["limit"], body["size"]) == (0, 5, len(body["results"]))
    assert body["results"][0]["title"] == POOL_RUNBOOK
    assert {r["type"] for r in body["results"]} == {"page"}
    assert "next" not in body["_links"] and body["_links"]["base"].endswith("/wiki")


@pytest.mark.parametrize(
    ("expand", "cloud_cap", "dc_cap"), [("", 200, 1000), ("version,space", 200, 200), ("body.storage", 50, 50)]
)
def test_content_search_caps_the_limit(served, expand, cloud_cap, dc_cap):
    with served.client() as client:
        body = search(client, "type = page", limit=5000, expand=expand).json()
    assert body["limit"] == (cloud_cap if served.site.flavor == "cloud" else dc_cap)


def test_following_next_pages_through_everything_once(served):
    seen: list[str] = []
    with served.client() as client:
        body = search(client, "type = page", limit=2).json()
        assert body["_links"]["next"].startswith("/rest/api/content/search?")
        while True:
            seen += [r["id"] for r in body["results"]]
            if "next" not in body["_links"]:
                break
            body = client.get(body["_links"]["base"] + body["_links"]["next"]).json()
            assert body["size"] <= 2
        total = search(client, "type = page", limit=200).json()["size"]
    assert len(seen) == len(set(seen)) == total >= SEEDED_PAGES


def test_start_offsets_the_search(served):
    with served.client() as client:
        everything = [r["id"] for r in search(client, "space = OPS", limit=50).json()["results"]]
        second = search(client, "space = OPS", limit=2, start=2).json()
    assert second["start"] == 2
    assert [r["id"] for r in second["results"]] == everything[2:4]


def test_site_search_shape(served):
    with served.client() as client:
        response = client.get(f"{V1}/search", params={"cql": "space = OPS AND label = runbook", "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["totalSize"] == 3 and body["size"] == 2 and body["cqlQuery"] == "space = OPS AND label = runbook"
    assert "next" in body["_links"]
    for result in body["results"]:
        assert set(result) >= {"content", "title", "excerpt", "url", "resultGlobalContainer", "lastModified", "score"}
        assert set(result["content"]) >= {"id", "type", "status", "title", "_links"}
        assert result["resultGlobalContainer"] == {"title": "Operations", "displayUrl": "/spaces/OPS"}
        assert result["url"].startswith("/spaces/OPS/pages/")
        assert result["lastModified"].endswith("Z") and isinstance(result["score"], float)
        assert result["entityType"] == "content"


def test_site_search_expands_each_hits_content_as_get_content_does(served):
    """`expand=content.body.storage,...` inlines in each result's `content` what `GET content/{id}` with the
    same expansions (without the `content.` prefix) gives; what is not asked for stays out."""
    wanted = "body.storage,version,space,ancestors,metadata.labels"
    query = {"cql": "space = OPS AND label = runbook", "limit": 2}
    with served.client() as client:
        expand = ",".join(f"content.{part}" for part in wanted.split(","))
        found = client.get(f"{V1}/search", params={**query, "expand": expand})
        bare = client.get(f"{V1}/search", params=query)
        assert found.status_code == 200, found.text
        for result in found.json()["results"]:
            content = result["content"]
            page = client.get(f"{V1}/content/{content['id']}", params={"expand": wanted}).json()
            for key in ("body", "version", "space", "ancestors", "metadata"):
                assert content[key] == page[key], key
            assert content["body"]["storage"]["value"].startswith("<")
    assert [r["content"]["id"] for r in found.json()["results"]] == [r["content"]["id"] for r in bare.json()["results"]]
    assert all(set(r["content"]) == {"id", "type", "status", "title", "_links"} for r in bare.json()["results"])


@pytest.mark.parametrize("cql", ["label = = runbook", "text ~", ""])
def test_bad_cql_is_400_in_confluences_shape(served, cql):
    with served.client() as client:
        for path in ("/content/search", "/search"):
            response = client.get(f"{V1}{path}", params={"cql": cql})
            assert_v1_error(response, 400)
            assert response.json()["reason"] == "Bad Request"


# --- v1 content -------------------------------------------------------------------------------------------------

EXPANSIONS = {
    "body.storage": "body",
    "version": "version",
    "space": "space",
    "ancestors": "ancestors",
    "metadata.labels": "metadata",
    "history": "history",
}


@pytest.mark.parametrize("expand", EXPANSIONS)
def test_get_content_expands_only_what_is_asked(served, expand):
    with served.client() as client:
        response = client.get(f"{V1}/content/65601", params={"expand": expand})
    assert response.status_code == 200
    page = response.json()
    assert (page["id"], page["type"], page["title"]) == ("65601", "page", "Payments API")
    key = EXPANSIONS[expand]
    assert key in page and key not in page["_expandable"]
    for other in set(EXPANSIONS.values()) - {key}:
        assert other not in page and other in page["_expandable"]
    value = page[key]
    if expand == "body.storage":
        assert value["storage"]["representation"] == "storage" and "currency" in value["storage"]["value"]
    elif expand == "version":
        assert value["number"] == 1 and value["by"]["displayName"]
        assert ("accountId" in value["by"]) == (served.site.flavor == "cloud")
    elif expand == "space":
        assert value["key"] == "ENG"
    elif expand == "ancestors":
        assert [a["title"] for a in value] == ["Engineering Home"]
    elif expand == "metadata.labels":
        assert [label["name"] for label in value["labels"]["results"]] == ["api", "payments", "spec"]
    else:
        assert value["createdBy"]["displayName"] and value["createdDate"].endswith("Z")


def test_get_content_with_several_expansions(served):
    with served.client() as client:
        page = client.get(f"{V1}/content/65537", params={"expand": "body.storage,version,space,ancestors"}).json()
    assert page["space"]["key"] == "OPS" and page["ancestors"][0]["id"] == "65536"
    assert "pg_stat_activity" in page["body"]["storage"]["value"]
    assert set(page["_expandable"]).isdisjoint({"body", "version", "space", "ancestors"})
    assert page["_links"]["webui"] == "/spaces/OPS/pages/65537/Runbook%3A+Database+connection+pool+exhaustion"


def test_find_content_by_space_and_title(served):
    with served.client() as client:
        found = client.get(f"{V1}/content", params={"spaceKey": "ENG", "title": "Payments API"}).json()
        elsewhere = client.get(f"{V1}/content", params={"spaceKey": "OPS", "title": "Payments API"}).json()
        in_space = client.get(f"{V1}/content", params={"spaceKey": "OPS", "limit": 2}).json()
    assert [r["id"] for r in found["results"]] == ["65601"] and found["size"] == 1
    assert elsewhere["results"] == [] and elsewhere["size"] == 0
    assert in_space["size"] == 2 and "next" in in_space["_links"]


@pytest.mark.parametrize("page_id", ["999999", "abc"])
def test_unknown_content_is_404(served, page_id):
    with served.client() as client:
        response = client.get(f"{V1}/content/{page_id}")
    assert_v1_error(response, 404, f"No content found with id: ContentId{{id={page_id}}}")


def _new_page(title: str = "Incident notes", **extra: Any) -> dict[str, Any]:
    body = {"storage": {"value": "<p>Pool exhausted at 09:12.</p>", "representation": "storage"}}
    return {"type": "page", "title": title, "space": {"key": "OPS"}, "body": body, **extra}


def test_create_content_then_read_it_back(writable):
    with writable.client() as client:
        response = client.post(f"{V1}/content", json=_new_page(ancestors=[{"id": "65537"}]))
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["ancestors"][-1]["id"] == "65537" and created["version"]["number"] == 1
        assert created["space"]["key"] == "OPS" and "09:12" in created["body"]["storage"]["value"]
        found = client.get(f"{V1}/content", params={"spaceKey": "OPS", "title": "Incident notes"}).json()
        assert found["results"][0]["id"] == created["id"]
        hits = search(client, 'text ~ "exhausted at 09:12"').json()["results"]
        assert created["id"] in [r["id"] for r in hits]
        duplicate = client.post(f"{V1}/content", json=_new_page())
    assert_v1_error(duplicate, 400, "A page with this title already exists")


def test_create_content_rejects_bad_requests(writable):
    bad_body = _new_page("Bad body") | {"body": {"storage": {"value": "<p/>", "representation": "wiki"}}}
    with writable.client() as client:
        assert_v1_error(client.post(f"{V1}/content", json=_new_page("X", space={"key": "NOPE"})), 404, "NOPE")
        two = _new_page("Two parents", ancestors=[{"id": "65536"}, {"id": "65537"}])
        assert_v1_error(client.post(f"{V1}/content", json=two), 400, "ancestor")
        assert_v1_error(client.post(f"{V1}/content", json=_new_page("P", ancestors=[{"id": "x"}])), 400)
        assert_v1_error(client.post(f"{V1}/content", json=_new_page("P", ancestors=[{"id": "999999"}])), 404)
        assert_v1_error(client.post(f"{V1}/content", json=bad_body), 400, "representation")
        assert_v1_error(client.post(f"{V1}/content", json=_new_page("No space", space="OPS")), 400)
        assert_v1_error(client.post(f"{V1}/content", json=_new_page("   ")), 400)
        malformed = client.post(f"{V1}/content", content=b"{not json", headers={"Content-Type": "application/json"})
        assert_v1_error(malformed, 400, "JSON")
        assert_v1_error(client.post(f"{V1}/content", json=[_new_page("List")]), 400)
        assert client.get(f"{V1}/content", params={"spaceKey": "OPS", "title": "Bad body"}).json()["size"] == 0


def test_update_content_increments_the_version(writable):
    update = {"type": "page", "title": "Payments API", "body": {"storage": {"value": "<p>v2 of the spec</p>"}}}
    with writable.client() as client:
        stale = client.put(f"{V1}/content/65601", json=update | {"version": {"number": 1}})
        assert_v1_error(stale, 409, "Current version is: 1")
        assert_v1_error(client.put(f"{V1}/content/65601", json=update), 400, "version")
        clash = update | {"title": "Engineering Home", "version": {"number": 2}}
        assert_v1_error(client.put(f"{V1}/content/65601", json=clash), 400, "A page with this title already exists")
        response = client.put(f"{V1}/content/65601", json=update | {"version": {"number": 2}})
        assert response.status_code == 200, response.text
        assert response.json()["version"]["number"] == 2
        page = client.get(f"{V1}/content/65601", params={"expand": "body.storage,version"}).json()
        assert page["version"]["number"] == 2 and page["body"]["storage"]["value"] == "<p>v2 of the spec</p>"
        assert_v1_error(client.put(f"{V1}/content/999999", json=update | {"version": {"number": 2}}), 404)


def test_labels_read_and_add(writable):
    with writable.client() as client:
        before = client.get(f"{V1}/content/65601/label").json()
        assert [r["name"] for r in before["results"]] == ["api", "payments", "spec"]
        added = client.post(f"{V1}/content/65601/label", json=[{"prefix": "global", "name": "Reviewed"}])
        assert added.status_code == 200
        assert "reviewed" in [r["name"] for r in added.json()["results"]]
        hits = search(client, "label = reviewed").json()["results"]
        assert [r["id"] for r in hits] == ["65601"]
        assert_v1_error(client.post(f"{V1}/content/65601/label", json=[{"name": "two words"}]), 400)
        assert_v1_error(client.post(f"{V1}/content/65601/label", json={"name": "x"}), 400)
        assert_v1_error(client.get(f"{V1}/content/999999/label"), 404)


def test_spaces_list_and_get(served):
    with served.client() as client:
        listing = client.get(f"{V1}/space").json()
        eng = client.get(f"{V1}/space/ENG").json()
        missing = client.get(f"{V1}/space/NOPE")
    assert [s["key"] for s in listing["results"]] == ["ENG", "OPS", "PROD"] and listing["size"] == 3
    assert (eng["key"], eng["name"], eng["type"]) == ("ENG", "Engineering", "global")
    assert_v1_error(missing, 404, "No space with key : NOPE")


# --- v2 ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body_format", ["storage", "atlas_doc_format", None])
def test_v2_page_by_id(cloud, body_format):
    params = {"body-format": body_format} if body_format else {}
    with cloud.client() as client:
        response = client.get(f"{V2}/pages/65601", params=params)
    assert response.status_code == 200
    page = response.json()
    assert (page["id"], page["title"], page["spaceId"], page["parentId"]) == ("65601", "Payments API", "2", "65600")
    assert page["version"]["number"] == 1 and page["_links"]["base"].endswith("/wiki")
    assert_v2_conforms(response, "/pages/{id}")
    if body_format is None:
        assert page["body"] == {}
        return
    assert page["body"][body_format]["representation"] == body_format
    value = page["body"][body_format]["value"]
    if body_format == "storage":
        assert "currency" in value
    else:
        doc = json.loads(value)
        schema = Draft4Validator(_spec("adf-schema.v1.json"))
        assert not [e.message for e in schema.iter_errors(doc)]
        assert '"type": "table"' in value


def test_v2_top_level_page_has_no_parent(cloud):
    with cloud.client() as client:
        response = client.get(f"{V2}/pages/65600")
    assert "parentId" not in response.json()
    assert_v2_conforms(response, "/pages/{id}")


def test_v2_list_pages_filters_and_pages_with_a_cursor(cloud):
    seen: list[str] = []
    with cloud.client() as client:
        response = client.get(f"{V2}/pages", params={"space-id": "1", "limit": 2, "body-format": "storage"})
        while True:
            assert response.status_code == 200
            assert_v2_conforms(response, "/pages")
            body = response.json()
            seen += [p["id"] for p in body["results"]]
            assert {p["spaceId"] for p in body["results"]} == {"1"}
            if "next" not in body["_links"]:
                break
            assert body["_links"]["next"].startswith("/wiki/api/v2/pages?") and "cursor=" in body["_links"]["next"]
            assert 'rel="next"' in response.headers["link"]
            response = client.get(body["_links"]["next"])
        [titled] = client.get(f"{V2}/pages", params={"title": "Payments API"}).json()["results"]
        none = client.get(f"{V2}/pages", params={"space-id": "3", "title": "Payments API"}).json()
        by_id = client.get(f"{V2}/pages", params={"id": "65601,65700"}).json()
    assert seen == ["65536", "65537", "65538", "65539", "65540"]
    assert titled["id"] == "65601" and none["results"] == []
    assert [p["id"] for p in by_id["results"]] == ["65601", "65700"]


def test_v2_create_page(writable):
    new = {"spaceId": "2", "status": "current", "title": "Refunds API", "parentId": "65601"}
    new["body"] = {"representation": "storage", "value": "<p>Refunds go through <code>/refunds</code>.</p>"}
    with writable.client() as client:
        if writable.site.flavor != "cloud":
            assert client.post(f"{V2}/pages", json=new).status_code == 404  # Data Center has no REST v2
            return
        response = client.post(f"{V2}/pages", json=new)
        assert response.status_code == 200, response.text
        assert_v2_conforms(response, "/pages", "post")
        created = response.json()
        assert (created["title"], created["parentId"], created["spaceId"]) == ("Refunds API", "65601", "2")
        assert "/refunds" in created["body"]["storage"]["value"]
        assert client.get(f"{V2}/pages/{created['id']}").json()["title"] == "Refunds API"
        assert_v2_error(client.post(f"{V2}/pages", json=new), 400)
        assert_v2_error(client.post(f"{V2}/pages", json=new | {"spaceId": "99"}), 400)
        assert_v2_error(client.post(f"{V2}/pages", json=new | {"title": "T", "parentId": "x"}), 400)
        assert_v2_error(client.post(f"{V2}/pages", json=new | {"title": "T", "body": {"value": "<p/>"}}), 400)
        assert_v2_error(client.post(f"{V2}/pages", content=b"{", headers={"Content-Type": "application/json"}), 400)


def test_v2_spaces_by_key_and_id(cloud):
    with cloud.client() as client:
        by_key = client.get(f"{V2}/spaces", params={"keys": "ENG,PROD"})
        every = client.get(f"{V2}/spaces", params={"limit": 2})
        one = client.get(f"{V2}/spaces/2", params={"description-format": "plain"})
        missing = client.get(f"{V2}/spaces/99")
    assert_v2_conforms(by_key, "/spaces")
    assert_v2_conforms(every, "/spaces")
    assert_v2_conforms(one, "/spaces/{id}")
    assert [s["key"] for s in by_key.json()["results"]] == ["ENG", "PROD"]
    assert by_key.json()["results"][0]["homepageId"] == "65600"
    assert len(every.json()["results"]) == 2 and "cursor=" in every.json()["_links"]["next"]
    assert one.json()["key"] == "ENG" and one.json()["description"]["plain"]["representation"] == "plain"
    assert_v2_error(missing, 404)


def test_v2_errors(cloud):
    with cloud.client() as client:
        assert_v2_error(client.get(f"{V2}/pages/999999"), 404)
        assert_v2_error(client.get(f"{V2}/pages/65601", params={"body-format": "markdown"}), 400)
        assert_v2_error(client.get(f"{V2}/pages", params={"body-format": "view"}), 400)
        assert_v2_error(client.get(f"{V2}/pages", params={"limit": "many"}), 400)
        assert_v2_error(client.get(f"{V2}/pages", params={"space-id": "OPS"}), 400)
        assert_v2_error(client.get(f"{V2}/pages", params={"cursor": "!!"}), 400)
    with cloud.client(as_user=None) as anonymous:
        assert_v2_error(anonymous.get(f"{V2}/pages"), 401)


def test_v2_is_cloud_only(served):
    with served.client() as client:
        response = client.get(f"{V2}/pages/65601")
    assert response.status_code == (200 if served.site.flavor == "cloud" else 404)


# --- authentication ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"{V1}/content/65601", f"{V1}/content/search?cql=type=page", f"{V1}/space"])
def test_401_without_or_with_wrong_credentials(served, path):
    with served.client(as_user=None) as anonymous:
        response = anonymous.get(path)
        assert_v1_error(response, 401, "This request requires authentication.")
        wrong = {"Authorization": "Basic " + "ZGV2QGV4YW1wbGUuY29tOm5vcGU="}
        if served.site.flavor == "dc":
            wrong = {"Authorization": "Bearer not-a-token"}
        response = anonymous.get(path, headers=wrong)
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert "WWW-Authenticate" in response.headers
