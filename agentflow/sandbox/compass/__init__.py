"""Compass on the sandbox's GraphQL gateway (`POST /gateway/api/graphql`).

A real GraphQL schema (compass.graphql, executed by graphql-core) that is a faithful subset of Atlassian's
Compass API: `tenantContexts`, `compass.component`, `compass.componentByReference`, `compass.searchComponents`,
`CompassComponent.relationships(query: {direction, relationshipType, first, after})`, and the mutations
`compass.createComponent` and `compass.createRelationship`. Lookups that fail answer the way Compass does, with a
`QueryError` member of the result union (statusCode 404 etc.), not a top-level error.

The store keeps three facts about ownership; each is exposed under a name real clients already ask for:
- `ownerId` (the team's ARI) as `CompassComponent.ownerId`, as in Compass;
- the team's display name as `CompassComponent.ownerTeam { id displayName }` (the gateway's team field) and as
  `ownerName`;
- the person on call as an extra link of type `ON_CALL` whose `name` is that person, which is where Compass
  keeps on-call information (`links { type name url }`).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

from graphql import GraphQLResolveInfo, GraphQLSchema, build_schema, graphql_sync

from agentflow.sandbox.store import Store

COMPONENT_TYPES = (
    "APPLICATION",
    "CAPABILITY",
    "CLOUD_RESOURCE",
    "DATA_PIPELINE",
    "LIBRARY",
    "MACHINE_LEARNING_MODEL",
    "OTHER",
    "SERVICE",
    "UI_ELEMENT",
    "WEBSITE",
)
# The deprecated `type` enum only knows four of the type ids; the others read as OTHER there.
_LEGACY_TYPES = {"APPLICATION", "LIBRARY", "OTHER", "SERVICE"}
_DEFAULT_PAGE = 25
_MAX_PAGE = 100
# Deterministic ids: the same cloud id and key always give the same ARI, across runs and machines.
_NAMESPACE = uuid.UUID("6f1d7c1e-4a4b-4c0e-9d55-2f1b8f0c5a11")

Json = dict[str, Any]


def component_ari(cloud_id: str, key: str) -> str:
    """The ARI of the component that `key` names on the site `cloud_id` (the seed's way to make ids)."""
    return _ari(cloud_id, str(uuid.uuid5(_NAMESPACE, f"{cloud_id}:component:{key}")))


def execute(store: Store, body: dict, *, cloud_id: str, host_name: str) -> dict:
    """Run one GraphQL request body and return the response document, as the gateway would; never raises."""
    if not isinstance(body, dict):
        return _request_error("The request body must be a JSON object.")
    query, variables, operation = body.get("query"), body.get("variables"), body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return _request_error("The request has no query.")
    if variables is not None and not isinstance(variables, dict):
        return _request_error("'variables' must be a JSON object.")
    if operation is not None and not isinstance(operation, str):
        return _request_error("'operationName' must be a string.")
    result = graphql_sync(
        _schema(),
        query,
        root_value={},
        context_value=_Context(store, cloud_id, host_name),
        variable_values=variables,
        operation_name=operation,
    )
    return dict(result.formatted)


@dataclass(frozen=True)
class _Context:
    store: Store
    cloud_id: str
    host_name: str


def _request_error(message: str) -> dict:
    return {"data": None, "errors": [{"message": message, "extensions": {"classification": "InvalidSyntax"}}]}


# --- schema ---------------------------------------------------------------------------------------------------


@cache
def _schema() -> GraphQLSchema:
    """Built once per process: parsing the SDL and wiring resolvers costs far more than one request."""
    sdl = resources.files(__package__).joinpath("compass.graphql").read_text(encoding="utf-8")
    schema = build_schema(sdl)
    for (type_name, field_name), resolve in _RESOLVERS.items():
        schema.type_map[type_name].fields[field_name].resolve = resolve  # type: ignore[union-attr]
    return schema


def _is_web_url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return bool(parts and parts.scheme in ("http", "https") and parts.netloc)


# --- results --------------------------------------------------------------------------------------------------


def _query_error(message: str, status: int, error_type: str, identifier: str | None = None) -> Json:
    extension = {"__typename": "GenericQueryErrorExtension", "statusCode": status, "errorType": error_type}
    return {"__typename": "QueryError", "identifier": identifier, "message": message, "extensions": [extension]}


def _mutation_failure(message: str, status: int, error_type: str) -> Json:
    extension = {"__typename": "GenericMutationErrorExtension", "statusCode": status, "errorType": error_type}
    return {"success": False, "errors": [{"message": message, "extensions": extension}]}


def _not_found(component_id: str) -> Json:
    return _query_error(f"Component not found: {component_id}", 404, "NOT_FOUND", component_id)


def _ari(cloud_id: str, component_uuid: str) -> str:
    workspace = uuid.uuid5(_NAMESPACE, f"{cloud_id}:workspace")
    return f"ari:cloud:compass:{cloud_id}:component/{workspace}/{component_uuid}"


def _component(row: sqlite3.Row) -> Json:
    """A component as the schema sees it; `links` (which also shows `onCall`) and `relationships` are resolved
    on demand."""
    owner = {"id": row["owner_id"], "displayName": row["owner_team"]} if row["owner_id"] else None
    return {
        "__typename": "CompassComponent",
        "id": row["id"],
        "name": row["name"],
        "slug": row["name"],
        "typeId": row["type_id"],
        "type": row["type_id"] if row["type_id"] in _LEGACY_TYPES else "OTHER",
        "description": row["description"],
        "ownerId": row["owner_id"],
        "ownerName": row["owner_team"],
        "ownerTeam": owner,
        "labels": [{"name": label} for label in json.loads(row["labels"])],
        "onCall": row["on_call"],
    }


def _load(store: Store, component_id: str) -> Json | None:
    row = store.query_one("SELECT * FROM compass_components WHERE id = ?", (component_id,))
    return _component(row) if row else None


def _page(first: int | None, after: str | None) -> tuple[int, int]:
    """(offset, limit) for Relay-style arguments; cursors are opaque base64 offsets."""
    limit = _DEFAULT_PAGE if first is None else first
    if not 0 <= limit <= _MAX_PAGE:
        raise ValueError(f"'first' must be between 0 and {_MAX_PAGE}.")
    if after is None:
        return 0, limit
    try:
        position = base64.b64decode(after, validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        position = ""
    if not position.isdigit():
        raise ValueError(f"Invalid cursor: {after!r}.")
    return int(position) + 1, limit


def _cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def _connection(nodes: list[Json], offset: int, total: int, typename: str) -> Json:
    edges = [{"cursor": _cursor(offset + i), "node": node} for i, node in enumerate(nodes)]
    page_info = {
        "hasNextPage": offset + len(nodes) < total,
        "hasPreviousPage": offset > 0,
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    return {"__typename": typename, "edges": edges, "nodes": nodes, "pageInfo": page_info, "totalCount": total}


# --- resolvers ------------------------------------------------------------------------------------------------
# graphql-core passes arguments under their GraphQL names, hence parameters such as `cloudId`, `id` and `input`.


def _tenant_contexts(
    _root: Any, info: GraphQLResolveInfo, hostNames: list[str] | None = None, cloudIds: list[str] | None = None
) -> list[Json]:
    context: _Context = info.context
    hosts = {host.lower() for host in hostNames or ()}
    if context.host_name.lower() not in hosts and context.cloud_id not in (cloudIds or ()):
        return []
    return [{"cloudId": context.cloud_id, "hostName": context.host_name, "cloudUrl": f"https://{context.host_name}"}]


def _get_component(_root: Any, info: GraphQLResolveInfo, id: str) -> Json:
    return _load(info.context.store, id) or _not_found(id)


def _component_by_reference(_root: Any, info: GraphQLResolveInfo, reference: Json) -> Json:
    context: _Context = info.context
    if reference.get("ari"):
        return _get_component(_root, info, reference["ari"])
    slug = reference.get("slug")
    if not slug:
        return _query_error("A component reference needs an ari or a slug.", 400, "BAD_REQUEST")
    if slug["cloudId"] != context.cloud_id:
        return _query_error(f"Unknown cloudId: {slug['cloudId']}", 404, "NOT_FOUND", slug["cloudId"])
    row = context.store.query_one("SELECT * FROM compass_components WHERE name = ?", (slug["slug"],))
    return _component(row) if row else _not_found(slug["slug"])


# fieldFilters names -> the values each component has for them, as a table of `value`s (labels has several).
_FILTER_SOURCES = {
    "labels": "json_each(labels)",
    "name": "json_each(json_array(name))",
    "ownerId": "json_each(json_array(owner_id))",
    "type": "json_each(json_array(type_id))",
    "typeId": "json_each(json_array(type_id))",
}


def _search_components(_root: Any, info: GraphQLResolveInfo, cloudId: str, query: Json | None = None) -> Json:
    context: _Context = info.context
    query = query or {}
    if cloudId != context.cloud_id:
        return _query_error(f"Unknown cloudId: {cloudId}", 404, "NOT_FOUND", cloudId)
    try:
        offset, limit = _page(query.get("first"), query.get("after"))
        where, params = _search_filter(query)
        order = _search_order(query.get("sort") or [])
    except ValueError as error:
        return _query_error(str(error), 400, "BAD_REQUEST")
    total = context.store.query_one(f"SELECT count(*) AS n FROM compass_components WHERE {where}", params)["n"]
    rows = context.store.query(
        f"SELECT * FROM compass_components WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    nodes = [{"component": _component(row), "link": _component_url(context, row["id"])} for row in rows]
    return _connection(nodes, offset, total, "CompassSearchComponentConnection")


def _search_filter(query: Json) -> tuple[str, list[Any]]:
    """The WHERE clause for the text query (every word must appear somewhere) and the field filters."""
    clauses, params = ["1"], []
    haystack = "lower(name || ' ' || description || ' ' || labels || ' ' || coalesce(owner_team, ''))"
    for word in (query.get("query") or "").lower().split():
        clauses.append(f"{haystack} LIKE ? ESCAPE '\\'")
        params.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    for field_filter in filter(None, query.get("fieldFilters") or []):
        name, condition = field_filter["name"], field_filter.get("filter") or {}
        if name not in _FILTER_SOURCES:
            raise ValueError(f"Cannot filter on {name!r}; known fields: {', '.join(_FILTER_SOURCES)}.")
        source = _FILTER_SOURCES[name]
        if condition.get("eq") is not None:
            clauses.append(f"EXISTS (SELECT 1 FROM {source} WHERE value = ?)")
            params.append(condition["eq"])
        if condition.get("neq") is not None:
            clauses.append(f"NOT EXISTS (SELECT 1 FROM {source} WHERE value = ?)")
            params.append(condition["neq"])
        if condition.get("in") is not None:
            values = [value for value in condition["in"] if value is not None]
            clauses.append(f"EXISTS (SELECT 1 FROM {source} WHERE value IN ({', '.join('?' * len(values))}))")
            params.extend(values)
    return " AND ".join(clauses), params


def _search_order(sort: list[Json | None]) -> str:
    keys = []
    for item in filter(None, sort):
        if item.get("name") not in (None, "name"):
            raise ValueError(f"Cannot sort by {item['name']!r}; sort by 'name'.")
        keys.append("name COLLATE NOCASE " + ("DESC" if item.get("order") == "DESC" else "ASC"))
    return ", ".join([*keys, "name COLLATE NOCASE", "id"])


def _component_url(context: _Context, component_id: str) -> str:
    return f"https://{context.host_name}/compass/component/{component_id.rsplit('/', 1)[-1]}"


def _links(component: Json, info: GraphQLResolveInfo) -> list[Json]:
    context: _Context = info.context
    rows = context.store.query("SELECT * FROM compass_links WHERE component_id = ? ORDER BY rowid", (component["id"],))
    links = [{"id": row["id"], "name": row["name"], "type": row["type"], "url": row["url"]} for row in rows]
    if component["onCall"]:
        # Compass has no on-call person field; an ON_CALL link named after the person is where clients look.
        person = component["onCall"]
        links.append(
            {
                "id": f"{component['id']}/on-call",
                "name": person,
                "type": "ON_CALL",
                "url": f"https://{context.host_name}/people/search?q={quote(person)}",
            }
        )
    return links


def _relationships(component: Json, info: GraphQLResolveInfo, query: Json | None = None) -> Json:
    """OUTWARD (the default): what this component points at, e.g. depends on; INWARD: what points at it."""
    store: Store = info.context.store
    query = query or {}
    try:
        offset, limit = _page(query.get("first"), query.get("after"))
    except ValueError as error:
        return _query_error(str(error), 400, "BAD_REQUEST")
    inward = query.get("direction") == "INWARD"
    mine, other = ("end_id", "start_id") if inward else ("start_id", "end_id")
    # `relationshipType` is the current argument; `filters.types` the older one.
    wanted = [query["relationshipType"]] if query.get("relationshipType") else (query.get("filters") or {}).get("types")
    types = sorted(set(wanted or ()))
    type_clause = f" AND r.type IN ({', '.join('?' * len(types))})" if types else ""
    rows = store.query(
        f"SELECT r.start_id, r.end_id, r.type FROM compass_relationships r "
        f"JOIN compass_components c ON c.id = r.{other} WHERE r.{mine} = ?{type_clause} "
        f"ORDER BY c.name COLLATE NOCASE, r.type",
        [component["id"], *types],
    )
    nodes = [
        _relationship(store, row["start_id"], row["end_id"], row["type"], component)
        for row in rows[offset : offset + limit]
    ]
    return _connection(nodes, offset, len(rows), "CompassRelationshipConnection")


def _relationship(store: Store, start: str, end: str, kind: str, known: Json | None = None) -> Json:
    def node(component_id: str) -> Json | None:
        return known if known and known["id"] == component_id else _load(store, component_id)

    return {"relationshipType": kind, "type": kind, "startNode": node(start), "endNode": node(end)}


def _create_component(_root: Any, info: GraphQLResolveInfo, cloudId: str, input: Json) -> Json:
    context: _Context = info.context
    if cloudId != context.cloud_id:
        return _mutation_failure(f"Unknown cloudId: {cloudId}", 404, "NOT_FOUND")
    name = input["name"].strip()
    type_id = input.get("typeId") or input.get("type") or "OTHER"
    if not name:
        return _mutation_failure("A component needs a name.", 400, "BAD_REQUEST")
    if type_id not in COMPONENT_TYPES:
        return _mutation_failure(
            f"Unknown typeId {type_id!r}; one of {', '.join(COMPONENT_TYPES)}.", 400, "BAD_REQUEST"
        )
    links = input.get("links") or []
    if bad := [link["url"] for link in links if not _is_web_url(link["url"])]:
        return _mutation_failure(f"Link URLs must be absolute http(s) URLs: {bad}", 400, "BAD_REQUEST")
    component_id = _ari(context.cloud_id, str(uuid.uuid4()))
    owner_id = input.get("ownerId")
    with context.store.transaction() as conn:
        if conn.execute("SELECT 1 FROM compass_components WHERE name = ?", (name,)).fetchone():
            return _mutation_failure(f"A component named {name!r} already exists.", 409, "CONFLICT")
        # Compass knows a team's name from its ARI; here, from any component that team already owns.
        team = conn.execute(
            "SELECT owner_team FROM compass_components WHERE owner_id = ? AND owner_team IS NOT NULL LIMIT 1",
            (owner_id,),
        ).fetchone()
        conn.execute(
            "INSERT INTO compass_components(id, name, type_id, description, owner_team, owner_id, labels) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                component_id,
                name,
                type_id,
                input.get("description") or "",
                team["owner_team"] if team else None,
                owner_id,
                json.dumps(input.get("labels") or []),
            ),
        )
        for link in links:
            conn.execute(
                "INSERT INTO compass_links(id, component_id, name, type, url) VALUES (?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), component_id, link.get("name") or link["url"], link["type"], link["url"]),
            )
    return {"success": True, "errors": None, "componentDetails": _load(context.store, component_id)}


def _create_relationship(_root: Any, info: GraphQLResolveInfo, input: Json) -> Json:
    store: Store = info.context.store
    start, end = input["startNodeId"], input["endNodeId"]
    kind = input.get("relationshipType") or input.get("type") or "DEPENDS_ON"
    if start == end:
        return _mutation_failure("A component cannot have a relationship with itself.", 400, "BAD_REQUEST")
    with store.transaction() as conn:
        for component_id in (start, end):
            if not conn.execute("SELECT 1 FROM compass_components WHERE id = ?", (component_id,)).fetchone():
                return _mutation_failure(f"Component not found: {component_id}", 404, "NOT_FOUND")
        try:
            conn.execute(
                "INSERT INTO compass_relationships(start_id, end_id, type) VALUES (?, ?, ?)", (start, end, kind)
            )
        except sqlite3.IntegrityError:
            return _mutation_failure("This relationship already exists.", 409, "CONFLICT")
    return {"success": True, "errors": None, "createdCompassRelationship": _relationship(store, start, end, kind)}


_RESOLVERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("Query", "tenantContexts"): _tenant_contexts,
    ("Query", "compass"): lambda _root, _info: {},
    ("Mutation", "compass"): lambda _root, _info: {},
    ("CompassCatalogQueryApi", "component"): _get_component,
    ("CompassCatalogQueryApi", "componentByReference"): _component_by_reference,
    ("CompassCatalogQueryApi", "searchComponents"): _search_components,
    ("CompassComponent", "links"): _links,
    ("CompassComponent", "relationships"): _relationships,
    ("CompassCatalogMutationApi", "createComponent"): _create_component,
    ("CompassCatalogMutationApi", "createRelationship"): _create_relationship,
}
