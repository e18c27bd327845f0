"""The sandbox's Compass GraphQL API, driven with queries written the way real Compass clients write them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentflow.sandbox.compass import component_ari, execute
from agentflow.sandbox.store import Store

CLOUD_ID = "0b7a5bb4-5d3c-4c1e-9a0e-5a1c2b3d4e5f"
HOST = "acme.atlassian.net"
PAYMENTS_TEAM = "ari:cloud:identity::team/11111111-1111-1111-1111-111111111111"
WEB_TEAM = "ari:cloud:identity::team/22222222-2222-2222-2222-222222222222"

COMPONENT_FIELDS = """
  __typename
  ... on CompassComponent {
    id name typeId type description ownerId
    ownerTeam { id displayName }
    labels { name }
    links { id name type url }
  }
  ... on QueryError { message identifier extensions { statusCode errorType } }
"""

RELATIONSHIPS = """
query relationships($id: ID!, $direction: CompassRelationshipDirection!) {
  compass {
    component(id: $id) {
      ... on CompassComponent {
        relationships(query: {direction: $direction, relationshipType: DEPENDS_ON, first: 50}) {
          ... on CompassRelationshipConnection {
            edges { node { relationshipType type startNode { id name } endNode { id name } } }
            pageInfo { hasNextPage }
          }
          ... on QueryError { message }
        }
      }
    }
  }
}
"""

SEARCH = """
query searchComponents($cloudId: ID!, $query: CompassSearchComponentQuery) {
  compass {
    searchComponents(cloudId: $cloudId, query: $query) {
      ... on CompassSearchComponentConnection {
        nodes { component { id name ownerTeam { displayName } } link }
        pageInfo { hasNextPage endCursor }
        totalCount
      }
      ... on QueryError { message extensions { statusCode } }
    }
  }
}
"""


def ari(key: str) -> str:
    return component_ari(CLOUD_ID, key)


@pytest.fixture
def store() -> Store:
    store = Store.open()
    components = [
        ("payment-gateway", "SERVICE", "Takes card payments", "Payments", PAYMENTS_TEAM, "Dana Lee", ["payments"]),
        ("customer-api", "SERVICE", "Customer accounts", "Web Platform", WEB_TEAM, None, ["customers"]),
        ("checkout-web", "APPLICATION", "The checkout pages", "Web Platform", WEB_TEAM, None, ["frontend"]),
        ("payments-db", "CLOUD_RESOURCE", "Postgres for payments", "Payments", PAYMENTS_TEAM, None, ["payments"]),
    ]
    with store.transaction() as conn:
        for name, type_id, description, team, team_id, on_call, labels in components:
            conn.execute(
                "INSERT INTO compass_components(id, name, type_id, description, owner_team, owner_id, on_call, labels) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ari(name), name, type_id, description, team, team_id, on_call, json.dumps(labels)),
            )
        conn.execute(
            "INSERT INTO compass_links(id, component_id, name, type, url) VALUES (?, ?, ?, ?, ?)",
            ("link-1", ari("payment-gateway"), "Source", "REPOSITORY", "https://github.com/acme/payment-gateway"),
        )
        for start, end in [
            ("checkout-web", "payment-gateway"),
            ("customer-api", "payment-gateway"),
            ("payment-gateway", "payments-db"),
        ]:
            conn.execute("INSERT INTO compass_relationships(start_id, end_id) VALUES (?, ?)", (ari(start), ari(end)))
    return store


def run(store: Store, document: str, /, **variables: Any) -> dict:
    """The `data` of a request that must not fail at the top level."""
    response = execute(store, {"query": document, "variables": variables}, cloud_id=CLOUD_ID, host_name=HOST)
    assert "errors" not in response, response
    return response["data"]


def test_tenant_contexts_gives_the_cloud_id(store: Store) -> None:
    query = "query getCloudId($hostName: String!) { tenantContexts(hostNames: [$hostName]) { cloudId } }"
    assert run(store, query, hostName=HOST) == {"tenantContexts": [{"cloudId": CLOUD_ID}]}
    assert run(store, query, hostName="elsewhere.atlassian.net") == {"tenantContexts": []}


def test_component_ids_are_deterministic_compass_aris() -> None:
    assert component_ari(CLOUD_ID, "payments-db") == component_ari(CLOUD_ID, "payments-db")
    assert component_ari(CLOUD_ID, "payments-db") != component_ari(CLOUD_ID, "payment-gateway")
    assert component_ari(CLOUD_ID, "payments-db").startswith(f"ari:cloud:compass:{CLOUD_ID}:component/")


def test_get_component_by_id_gives_owner_links_and_labels(store: Store) -> None:
    query = f"query getComponent($id: ID!) {{ compass {{ component(id: $id) {{ {COMPONENT_FIELDS} }} }} }}"
    component = run(store, query, id=ari("payment-gateway"))["compass"]["component"]
    assert component["__typename"] == "CompassComponent"
    assert (component["name"], component["typeId"], component["type"]) == ("payment-gateway", "SERVICE", "SERVICE")
    assert component["ownerId"] == PAYMENTS_TEAM
    assert component["ownerTeam"] == {"id": PAYMENTS_TEAM, "displayName": "Payments"}
    assert component["labels"] == [{"name": "payments"}]
    repository, on_call = component["links"]
    assert repository == {
        "id": "link-1",
        "name": "Source",
        "type": "REPOSITORY",
        "url": "https://github.com/acme/payment-gateway",
    }
    assert (on_call["type"], on_call["name"]) == ("ON_CALL", "Dana Lee")


def test_type_ids_the_legacy_enum_lacks_read_as_other(store: Store) -> None:
    query = "query($id: ID!) { compass { component(id: $id) { ... on CompassComponent { typeId type } } } }"
    assert run(store, query, id=ari("payments-db"))["compass"]["component"] == {
        "typeId": "CLOUD_RESOURCE",
        "type": "OTHER",
    }


def test_unknown_component_is_a_query_error_in_the_union(store: Store) -> None:
    query = f"query getComponent($id: ID!) {{ compass {{ component(id: $id) {{ {COMPONENT_FIELDS} }} }} }}"
    missing = ari("no-such-thing")
    error = run(store, query, id=missing)["compass"]["component"]
    assert error["__typename"] == "QueryError"
    assert error["identifier"] == missing
    assert error["extensions"] == [{"statusCode": 404, "errorType": "NOT_FOUND"}]


def test_component_by_slug_reference(store: Store) -> None:
    query = """
    query getComponent($cloudId: ID!, $slug: String!) {
      compass { componentByReference(reference: {slug: {slug: $slug, cloudId: $cloudId}}) {
        ... on CompassComponent { id name }
        ... on QueryError { extensions { statusCode } }
      } }
    }"""
    found = run(store, query, cloudId=CLOUD_ID, slug="customer-api")["compass"]["componentByReference"]
    assert found == {"id": ari("customer-api"), "name": "customer-api"}
    missing = run(store, query, cloudId=CLOUD_ID, slug="nope")["compass"]["componentByReference"]
    assert missing == {"extensions": [{"statusCode": 404}]}


def test_relationships_outward_are_what_it_depends_on(store: Store) -> None:
    component = run(store, RELATIONSHIPS, id=ari("payment-gateway"), direction="OUTWARD")["compass"]["component"]
    edges = component["relationships"]["edges"]
    assert [(e["node"]["startNode"]["name"], e["node"]["endNode"]["name"]) for e in edges] == [
        ("payment-gateway", "payments-db")
    ]
    assert (edges[0]["node"]["relationshipType"], edges[0]["node"]["type"]) == ("DEPENDS_ON", "DEPENDS_ON")


def test_relationships_inward_are_what_depends_on_it(store: Store) -> None:
    component = run(store, RELATIONSHIPS, id=ari("payment-gateway"), direction="INWARD")["compass"]["component"]
    edges = component["relationships"]["edges"]
    assert [e["node"]["startNode"]["name"] for e in edges] == ["checkout-web", "customer-api"]
    assert {e["node"]["endNode"]["name"] for e in edges} == {"payment-gateway"}


def test_search_by_text_finds_the_component(store: Store) -> None:
    result = run(store, SEARCH, cloudId=CLOUD_ID, query={"query": "postgres"})["compass"]["searchComponents"]
    assert [node["component"]["name"] for node in result["nodes"]] == ["payments-db"]
    assert result["nodes"][0]["component"]["ownerTeam"] == {"displayName": "Payments"}
    assert result["nodes"][0]["link"].startswith(f"https://{HOST}/compass/component/")
    assert result["totalCount"] == 1


def test_search_with_field_filters(store: Store) -> None:
    by_type = {"fieldFilters": [{"name": "typeId", "filter": {"eq": "SERVICE"}}]}
    result = run(store, SEARCH, cloudId=CLOUD_ID, query=by_type)["compass"]["searchComponents"]
    assert [node["component"]["name"] for node in result["nodes"]] == ["customer-api", "payment-gateway"]
    by_label = {"fieldFilters": [{"name": "labels", "filter": {"in": ["frontend", "customers"]}}]}
    result = run(store, SEARCH, cloudId=CLOUD_ID, query=by_label)["compass"]["searchComponents"]
    assert [node["component"]["name"] for node in result["nodes"]] == ["checkout-web", "customer-api"]
    unknown = {"fieldFilters": [{"name": "colour", "filter": {"eq": "red"}}]}
    error = run(store, SEARCH, cloudId=CLOUD_ID, query=unknown)["compass"]["searchComponents"]
    assert error["extensions"] == [{"statusCode": 400}]


def test_search_pages_with_first_and_after(store: Store) -> None:
    names, after = [], None
    while True:
        page = run(store, SEARCH, cloudId=CLOUD_ID, query={"first": 3, "after": after})["compass"]["searchComponents"]
        names += [node["component"]["name"] for node in page["nodes"]]
        assert page["totalCount"] == 4
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == ["checkout-web", "customer-api", "payment-gateway", "payments-db"]
    bad = run(store, SEARCH, cloudId=CLOUD_ID, query={"after": "not a cursor"})["compass"]["searchComponents"]
    assert bad["extensions"] == [{"statusCode": 400}]


def test_search_on_another_site_is_a_query_error(store: Store) -> None:
    result = run(store, SEARCH, cloudId="someone-else")["compass"]["searchComponents"]
    assert result["extensions"] == [{"statusCode": 404}]


def test_create_component_and_relationship_then_read_back(store: Store) -> None:
    create = """
    mutation createComponent($cloudId: ID!, $componentDetails: CreateCompassComponentInput!) {
      compass { createComponent(cloudId: $cloudId, input: $componentDetails) {
        success errors { message } componentDetails { id name typeId ownerTeam { displayName } }
      } }
    }"""
    details = {
        "name": "fraud-check",
        "typeId": "SERVICE",
        "ownerId": PAYMENTS_TEAM,
        "labels": ["payments"],
        "links": [{"type": "REPOSITORY", "name": "Source", "url": "https://github.com/acme/fraud-check"}],
    }
    created = run(store, create, cloudId=CLOUD_ID, componentDetails=details)["compass"]["createComponent"]
    assert (created["success"], created["errors"]) == (True, None)
    new = created["componentDetails"]
    assert (new["name"], new["typeId"], new["ownerTeam"]) == ("fraud-check", "SERVICE", {"displayName": "Payments"})
    assert new["id"].startswith(f"ari:cloud:compass:{CLOUD_ID}:component/")

    relate = """
    mutation createRelationship($input: CreateCompassRelationshipInput!) {
      compass { createRelationship(input: $input) {
        success errors { message } createdCompassRelationship { relationshipType startNode { name } endNode { name } }
      } }
    }"""
    edge = {"startNodeId": ari("payment-gateway"), "endNodeId": new["id"], "relationshipType": "DEPENDS_ON"}
    related = run(store, relate, input=edge)["compass"]["createRelationship"]
    assert related["success"] is True
    assert related["createdCompassRelationship"] == {
        "relationshipType": "DEPENDS_ON",
        "startNode": {"name": "payment-gateway"},
        "endNode": {"name": "fraud-check"},
    }
    again = run(store, relate, input=edge)["compass"]["createRelationship"]
    assert (again["success"], again["errors"][0]["message"]) == (False, "This relationship already exists.")

    inward = run(store, RELATIONSHIPS, id=new["id"], direction="INWARD")["compass"]["component"]
    assert [e["node"]["startNode"]["name"] for e in inward["relationships"]["edges"]] == ["payment-gateway"]
    found = run(store, SEARCH, cloudId=CLOUD_ID, query={"query": "fraud"})["compass"]["searchComponents"]
    assert [node["component"]["id"] for node in found["nodes"]] == [new["id"]]


def test_create_component_rejects_duplicates_and_unknown_types(store: Store) -> None:
    create = """
    mutation($cloudId: ID!, $input: CreateCompassComponentInput!) {
      compass { createComponent(cloudId: $cloudId, input: $input) {
        success errors { message extensions { statusCode } }
      } }
    }"""
    duplicate = run(store, create, cloudId=CLOUD_ID, input={"name": "customer-api"})["compass"]["createComponent"]
    assert (duplicate["success"], duplicate["errors"][0]["extensions"]) == (False, {"statusCode": 409})
    odd = run(store, create, cloudId=CLOUD_ID, input={"name": "x", "typeId": "GADGET"})["compass"]["createComponent"]
    assert (odd["success"], odd["errors"][0]["extensions"]) == (False, {"statusCode": 400})


def test_invalid_query_is_a_top_level_error(store: Store) -> None:
    response = execute(store, {"query": "{ compass { nonsense } }"}, cloud_id=CLOUD_ID, host_name=HOST)
    assert response["data"] is None
    assert "nonsense" in response["errors"][0]["message"]
    assert response["errors"][0]["locations"]


@pytest.mark.parametrize(
    "body",
    [[], "query", {}, {"query": ""}, {"query": "{ __typename }", "variables": []}, {"query": "{", "variables": None}],
)
def test_malformed_requests_get_graphql_errors_not_exceptions(store: Store, body: Any) -> None:
    response = execute(store, body, cloud_id=CLOUD_ID, host_name=HOST)
    assert response["errors"][0]["message"]
