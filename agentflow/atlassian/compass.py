"""Compass through the Atlassian GraphQL gateway: component search, and one component with its owner team,
on-call, links and `DEPENDS_ON` relationships in both directions, by id or by name in one request.

Compass answers failures inside the result union (`QueryError`) rather than as HTTP errors; those become
`AtlassianError`s that quote Compass's message. The site's cloud id is looked up once per server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from agentflow.atlassian.errors import AtlassianError, ToolInputError
from agentflow.atlassian.http import AtlassianHTTP
from agentflow.atlassian.models import Component, ComponentLink, ComponentRef, ComponentSearch, ComponentSummary

# Fragments, not string templates: GraphQL's own way to share a selection between queries.
SUMMARY = "fragment Summary on CompassComponent { id name typeId description ownerTeam { displayName } }"
DETAILS = """
fragment Details on CompassComponent {
  ...Summary
  labels { name }
  links { name type url }
  outward: relationships(query: {relationshipType: DEPENDS_ON, direction: OUTWARD, first: 50}) {
    ... on CompassRelationshipConnection { nodes { endNode { id name typeId } } }
  }
  inward: relationships(query: {relationshipType: DEPENDS_ON, direction: INWARD, first: 50}) {
    ... on CompassRelationshipConnection { nodes { startNode { id name typeId } } }
  }
}
"""
SEARCH = (
    """
query search($cloudId: ID!, $text: String!, $first: Int) {
  compass { searchComponents(cloudId: $cloudId, query: {query: $text, first: $first}) {
    __typename
    ... on CompassSearchComponentConnection { nodes { component { ...Summary } } }
    ... on QueryError { message extensions { statusCode } }
  } }
}
"""
    + SUMMARY
)
# A component by name: the search's nodes are whole components, so the one named is read in the same request.
NAMED = (
    """
query named($cloudId: ID!, $text: String!, $first: Int) {
  compass { searchComponents(cloudId: $cloudId, query: {query: $text, first: $first}) {
    __typename
    ... on CompassSearchComponentConnection { nodes { component { ...Details } } }
    ... on QueryError { message extensions { statusCode } }
  } }
}
"""
    + DETAILS
    + SUMMARY
)
COMPONENT = (
    """
query component($id: ID!) {
  compass { component(id: $id) {
    __typename
    ... on CompassComponent { ...Details }
    ... on QueryError { message extensions { statusCode } }
  } }
}
"""
    + DETAILS
    + SUMMARY
)
CLOUD_ID = "query cloudId($host: String!) { tenantContexts(hostNames: [$host]) { cloudId } }"


class CompassAPI:
    def __init__(self, http: AtlassianHTTP, site_url: str) -> None:
        self.http = http
        self.host = urlparse(site_url).hostname or site_url
        self._cloud_id: str | None = None

    async def _query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        # The gateway's own URL, not "" joined to it: that adds a trailing slash the gateway redirects (a 307 hop
        # that costs a request of the budget).
        answer = await self.http.post(self.http.base_url, {"query": query, "variables": variables})
        if answer.get("errors"):
            raise AtlassianError(400, "Compass: " + "; ".join(e.get("message", "") for e in answer["errors"]))
        return answer["data"]

    async def cloud_id(self) -> str:
        if self._cloud_id is None:
            contexts = (await self._query(CLOUD_ID, {"host": self.host}))["tenantContexts"] or []
            if not contexts:
                raise AtlassianError(404, f"Compass: no Atlassian cloud site is known for {self.host}")
            self._cloud_id = contexts[0]["cloudId"]
        return self._cloud_id

    async def search(self, text: str, limit: int = 20) -> ComponentSearch:
        data = await self._query(SEARCH, {"cloudId": await self.cloud_id(), "text": text, "first": limit})
        result = _unwrap(data["compass"]["searchComponents"])
        return ComponentSearch(query=text, components=[_summary(n["component"]) for n in result["nodes"]])

    async def component(self, id_or_name: str) -> Component:
        """By id (an ARI): `compass.component`. By name: `compass.searchComponents` for the name, whose nodes
        carry the whole component, so the exact match (case aside) needs no second request."""
        if id_or_name.startswith("ari:"):
            raw = _unwrap((await self._query(COMPONENT, {"id": id_or_name}))["compass"]["component"])
        else:
            variables = {"cloudId": await self.cloud_id(), "text": id_or_name, "first": 50}
            data = await self._query(NAMED, variables)
            found = [n["component"] for n in _unwrap(data["compass"]["searchComponents"])["nodes"]]
            exact = [c for c in found if c["name"].lower() == id_or_name.lower()]
            if not exact:
                close = ", ".join(c["name"] for c in found[:5]) or "none"
                raise ToolInputError(f"no Compass component named '{id_or_name}' (similar: {close})")
            raw = exact[0]
        links = raw.get("links") or []
        on_call = next((link["name"] for link in links if link.get("type") == "ON_CALL"), None)
        return Component(
            **_summary(raw).model_dump(),
            on_call=on_call,
            labels=[label["name"] for label in raw.get("labels") or []],
            links=[ComponentLink(**link) for link in links if link.get("type") != "ON_CALL"],
            depends_on=[_ref(n["endNode"]) for n in _nodes(raw.get("outward"))],
            dependents=[_ref(n["startNode"]) for n in _nodes(raw.get("inward"))],
        )


def _unwrap(result: dict[str, Any]) -> dict[str, Any]:
    if result.get("__typename") == "QueryError":
        status = next((e.get("statusCode") for e in result.get("extensions") or [] if e.get("statusCode")), 400)
        raise AtlassianError(status, f"Compass: {result.get('message')}")
    return result


def _nodes(connection: dict[str, Any] | None) -> list[dict[str, Any]]:
    return (connection or {}).get("nodes") or []


def _ref(node: dict[str, Any]) -> ComponentRef:
    return ComponentRef(id=node["id"], name=node["name"], type=node.get("typeId") or "")


def _summary(raw: dict[str, Any]) -> ComponentSummary:
    return ComponentSummary(
        id=raw["id"],
        name=raw["name"],
        type=raw.get("typeId") or "",
        description=raw.get("description") or "",
        owner_team=(raw.get("ownerTeam") or {}).get("displayName"),
    )
