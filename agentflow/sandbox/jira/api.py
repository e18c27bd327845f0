"""Jira's read endpoints and search, for both flavors.

Cloud serves REST v2 (wiki markup) and v3 (ADF), searches with `/search/jql` and `nextPageToken`, and answers
the removed `/search` with 410. Data Center serves v2 (and `latest`) and searches with `/search`, `startAt`
and `total`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox.errors import ISSUE_NOT_FOUND, JiraError
from agentflow.sandbox.jira.issue import comment_json, comments_page, issue_json, readable_comments, select_fields
from agentflow.sandbox.jira.shapes import (
    Api,
    component_json,
    field_defs,
    field_json,
    issue_type_json,
    jira_time,
    jql_custom_clauses,
    link_type_json,
    myself_json,
    priority_json,
    project_json,
    resolution_json,
    status_category_json,
    status_json,
    transitions_json,
    user_json,
)
from agentflow.sandbox.query import QueryContext, QueryError, compile_jql

SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
    "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
BAD_TOKEN = "The provided next page token is invalid or expired."
VERSIONS = {"cloud": {"2", "3", "latest"}, "dc": {"2", "latest"}}
DC_MAX_RESULTS = 1000
CLOUD_MAX_RESULTS = 100
CLOUD_MAX_ID_RESULTS = 5000
SEARCH_LEVEL_EXPAND = {"names", "schema"}


def api_for(request: Request) -> Api:
    """The request's view of the site; unknown REST versions are 404 like on the real service."""
    state = request.app.state
    version = request.path_params.get("version", "2")
    if version not in VERSIONS[state.flavor]:
        raise JiraError(404, f"No REST API version {version} here")
    base = str(request.base_url).rstrip("/")
    return Api(store=state.store, flavor=state.flavor, base=base, version=version, user=request.state.user)


def require_user(api: Api) -> Api:
    if api.user is None:
        raise JiraError(401, "You are not authenticated. Authentication required to perform this operation.")
    return api


def visible_issue(api: Api, key_or_id: str) -> sqlite3.Row:
    """The issue by key or id, or the same 404 whether it is missing or hidden from this user."""
    store = api.store
    column = "id" if key_or_id.isdigit() else "key"
    row = store.query_one(f"SELECT * FROM issues WHERE {column} = ?", (key_or_id.upper(),))
    if row is None or row["project_id"] not in store.visible_project_ids(api.user.id):
        raise JiraError(404, ISSUE_NOT_FOUND)
    return row


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise JiraError(400, f"The '{name}' parameter must be an integer.") from None


def _list_param(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


# --- server and identity -----------------------------------------------------------------------------


async def server_info(request: Request) -> Response:
    api = api_for(request)
    cloud = api.cloud
    version = [1001, 0, 0] if cloud else [9, 12, 15]
    body = {
        "baseUrl": api.base,
        "version": ".".join(map(str, version)) + ("-SNAPSHOT" if cloud else ""),
        "versionNumbers": version,
        "deploymentType": "Cloud" if cloud else "Server",
        "buildNumber": 100295 if cloud else 9120015,
        "buildDate": "2026-11-01T00:00:00.000+0000",
        "serverTime": jira_time(api.store.now()),
        "scmInfo": "0d9e3c6f7a1b",
        "serverTitle": "Jira (agentflow sandbox)",
    }
    if cloud:
        body["defaultLocale"] = {"locale": "en_US"}
        body["serverTimeZone"] = "Etc/UTC"
    return JSONResponse(body)


async def myself(request: Request) -> Response:
    api = require_user(api_for(request))
    return JSONResponse(myself_json(api, api.user))


async def get_user(request: Request) -> Response:
    api = require_user(api_for(request))
    params = request.query_params
    reference = params.get("accountId") or params.get("username") or params.get("key")
    user = api.store.find_user(reference) if reference else None
    if user is None:
        raise JiraError(
            404,
            f"The user with account ID '{reference}' does not exist"
            if api.cloud
            else f"The user named '{reference}' does not exist",
        )
    return JSONResponse(user_json(api, user))


async def search_users(request: Request) -> Response:
    api = require_user(api_for(request))
    params = request.query_params
    text = (params.get("query") or params.get("username") or "").lower()
    if not text:
        raise JiraError(
            400,
            "The query parameter 'query' is required."
            if api.cloud
            else "The username query parameter was not provided",
        )
    start, limit = _int_param(request, "startAt", 0), min(_int_param(request, "maxResults", 50), 1000)
    matches = [
        user
        for user in api.store.users()
        if text in user.display_name.lower() or text in user.email.lower() or text in user.username.lower()
    ]
    return JSONResponse([user_json(api, u) for u in matches[start : start + limit]])


# --- issues -------------------------------------------------------------------------------------------


async def get_issue(request: Request) -> Response:
    api = require_user(api_for(request))
    row = visible_issue(api, request.path_params["key"])
    fields = select_fields(_list_param(request.query_params.getlist("fields")) or None, api.cloud, "*all")
    expand = set(_list_param(request.query_params.get("expand")))
    return JSONResponse(issue_json(api, row, fields, expand))


async def get_comments(request: Request) -> Response:
    api = require_user(api_for(request))
    row = visible_issue(api, request.path_params["key"])
    start = _int_param(request, "startAt", 0)
    limit = min(_int_param(request, "maxResults", 50), 5000)
    page = comments_page(api, row["id"], start, limit)
    page.pop("self")
    return JSONResponse(page)


async def get_comment(request: Request) -> Response:
    api = require_user(api_for(request))
    issue = visible_issue(api, request.path_params["key"])
    # A comment the user may not read is answered as one that does not exist: its existence is not told either.
    comment = api.store.query_one(
        f"{readable_comments(api, issue['id'])} AND c.id = ?", (request.path_params["comment_id"],)
    )
    if comment is None:
        raise JiraError(404, "Can not find a comment for the id: " + request.path_params["comment_id"] + ".")
    return JSONResponse(comment_json(api, comment))


async def get_transitions(request: Request) -> Response:
    api = require_user(api_for(request))
    row = visible_issue(api, request.path_params["key"])
    return JSONResponse({"expand": "transitions", "transitions": transitions_json(api, row)})


# --- search -------------------------------------------------------------------------------------------


async def _search_request(request: Request) -> dict[str, Any]:
    """Search parameters from the query string (GET) or the JSON body (POST)."""
    if request.method == "GET":
        params = request.query_params
        return {
            "jql": params.get("jql", ""),
            "startAt": params.get("startAt"),
            "maxResults": params.get("maxResults"),
            "nextPageToken": params.get("nextPageToken"),
            "fields": _list_param(params.getlist("fields")) or None,
            "expand": _list_param(params.get("expand")),
        }
    body = await json_body(request)
    if not isinstance(body, dict):
        raise JiraError(400, "Can not deserialize the request body: expected a JSON object.")
    return {
        "jql": body.get("jql") or "",
        "startAt": body.get("startAt"),
        "maxResults": body.get("maxResults"),
        "nextPageToken": body.get("nextPageToken"),
        "fields": _list_param(body.get("fields")) or None,
        "expand": _list_param(body.get("expand")),
    }


def _as_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JiraError(400, f"The '{name}' parameter must be an integer.") from None


def run_jql(api: Api, jql: str, offset: int, limit: int) -> tuple[list[sqlite3.Row], int, bool]:
    """Rows of a JQL page for this user, the total, and whether the query was bounded at all."""
    store = api.store
    visible = sorted(store.visible_project_ids(api.user.id))
    context = QueryContext(
        conn=store.conn,
        now=store.now(),
        user_id=api.user.id,
        visible_project_ids=frozenset(visible),
        custom_clauses=jql_custom_clauses(api.cloud, api.renamed),
    )
    try:
        compiled = compile_jql(jql, context)
    except QueryError as exc:
        raise JiraError(400, exc.message) from None
    marks = ",".join("?" * len(visible)) or "NULL"
    where = f"({compiled.where}) AND i.project_id IN ({marks})"
    params = [*compiled.params, *visible]
    rows = store.query(
        f"SELECT i.* FROM issues i WHERE {where} ORDER BY {compiled.order_by} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    total = store.query_one(f"SELECT COUNT(*) FROM issues i WHERE {where}", params)[0]
    return rows, total, compiled.bounded


async def search_dc(request: Request) -> Response:
    """Data Center's `/search`: `startAt`, `maxResults` (capped), `total`."""
    api = require_user(api_for(request))
    if api.cloud:
        raise JiraError(410, SEARCH_GONE)
    query = await _search_request(request)
    start = max(_as_int(query["startAt"], "startAt", 0), 0)
    limit = min(max(_as_int(query["maxResults"], "maxResults", 50), 0), DC_MAX_RESULTS)
    rows, total, _ = run_jql(api, query["jql"], start, limit)
    fields = select_fields(query["fields"], api.cloud, "*navigable")
    expand = set(query["expand"])
    body = {
        "expand": "schema,names",
        "startAt": start,
        "maxResults": limit,
        "total": total,
        "issues": [issue_json(api, r, fields, expand - SEARCH_LEVEL_EXPAND) for r in rows],
    }
    return JSONResponse(body | _search_level_expansions(api, fields, expand))


async def search_jql(request: Request) -> Response:
    """Cloud's enhanced search: ids only unless fields are asked for, `nextPageToken`, `isLast`, no total."""
    api = require_user(api_for(request))
    if not api.cloud:
        raise JiraError(404, "null for uri: " + str(request.url))
    query = await _search_request(request)
    jql = query["jql"]
    offset = _decode_token(query["nextPageToken"], jql) if query["nextPageToken"] else 0
    cap = CLOUD_MAX_RESULTS if query["fields"] else CLOUD_MAX_ID_RESULTS
    limit = min(max(_as_int(query["maxResults"], "maxResults", 50), 1), cap)
    rows, total, bounded = run_jql(api, jql, offset, limit)
    if not bounded:
        raise JiraError(400, UNBOUNDED)
    expand = set(query["expand"])
    fields = select_fields(query["fields"], api.cloud, "*navigable") if query["fields"] else set()
    if query["fields"]:
        issues = [issue_json(api, r, fields, expand - SEARCH_LEVEL_EXPAND) for r in rows]
    else:
        issues = [{"id": str(r["id"])} for r in rows]
    is_last = offset + len(rows) >= total
    body: dict[str, Any] = {"issues": issues, "isLast": is_last, **_search_level_expansions(api, fields, expand)}
    if not is_last:
        body["nextPageToken"] = _encode_token(offset + len(rows), jql)
    return JSONResponse(body)


def _search_level_expansions(api: Api, fields: set[str], expand: set[str]) -> dict[str, Any]:
    """`names` and `schema` describe the fields once for the whole page of a search, not per issue."""
    shown = [f for f in field_defs(api.cloud, api.renamed) if f.id in fields]
    body: dict[str, Any] = {}
    if "names" in expand:
        body["names"] = {f.id: f.name for f in shown}
    if "schema" in expand:
        body["schema"] = {f.id: f.schema for f in shown}
    return body


def _encode_token(offset: int, jql: str) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int:
    """A page token is only valid for the query that made it."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset, digest = raw.split(":")
        if digest != hashlib.sha256(jql.encode()).hexdigest()[:12]:
            raise ValueError
        return int(offset)
    except ValueError:
        raise JiraError(400, BAD_TOKEN) from None


# --- projects and metadata ------------------------------------------------------------------------------


def visible_project(api: Api, key_or_id: str) -> sqlite3.Row:
    column = "id" if key_or_id.isdigit() else "key"
    row = api.store.query_one(f"SELECT * FROM projects WHERE {column} = ? COLLATE NOCASE", (key_or_id,))
    if row is None or row["id"] not in api.store.visible_project_ids(api.user.id):
        raise JiraError(404, f"No project could be found with key '{key_or_id}'.")
    return row


def _visible_projects(api: Api) -> list[sqlite3.Row]:
    visible = api.store.visible_project_ids(api.user.id)
    return [row for row in api.store.query("SELECT * FROM projects ORDER BY key") if row["id"] in visible]


async def list_projects(request: Request) -> Response:
    api = require_user(api_for(request))
    return JSONResponse([project_json(api, row) for row in _visible_projects(api)])


async def search_projects(request: Request) -> Response:
    """Cloud's paginated `/project/search`."""
    api = require_user(api_for(request))
    start = _int_param(request, "startAt", 0)
    limit = min(_int_param(request, "maxResults", 50), 100)
    text = (request.query_params.get("query") or "").lower()
    rows = [r for r in _visible_projects(api) if text in r["key"].lower() or text in r["name"].lower()]
    page = rows[start : start + limit]
    return JSONResponse(
        {
            "self": str(request.url),
            "maxResults": limit,
            "startAt": start,
            "total": len(rows),
            "isLast": start + len(page) >= len(rows),
            "values": [project_json(api, r) for r in page],
        }
    )


async def get_project(request: Request) -> Response:
    api = require_user(api_for(request))
    return JSONResponse(project_json(api, visible_project(api, request.path_params["key"]), full=True))


async def project_components(request: Request) -> Response:
    api = require_user(api_for(request))
    project = visible_project(api, request.path_params["key"])
    rows = api.store.query("SELECT * FROM components WHERE project_id = ? ORDER BY name", (project["id"],))
    return JSONResponse([component_json(api, r) for r in rows])


async def project_statuses(request: Request) -> Response:
    api = require_user(api_for(request))
    visible_project(api, request.path_params["key"])
    statuses = [status_json(api, s) for s in api.store.query("SELECT * FROM statuses ORDER BY id")]
    types = api.store.query("SELECT * FROM issue_types ORDER BY id")
    # Each issue type as IssueTypeWithStatus: only its id, name, self, subtask flag and statuses.
    shown = ("self", "id", "name", "subtask")
    return JSONResponse([{**{k: issue_type_json(api, t)[k] for k in shown}, "statuses": statuses} for t in types])


async def list_fields(request: Request) -> Response:
    api = require_user(api_for(request))
    return JSONResponse([field_json(f) for f in field_defs(api.cloud, api.renamed)])


def _listing(sql: str, shape: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        api = require_user(api_for(request))
        return JSONResponse([shape(api, row) for row in api.store.query(sql)])

    return endpoint


async def list_resolutions(request: Request) -> Response:
    api = require_user(api_for(request))
    names = ["Done", "Won't Do", "Duplicate", "Cannot Reproduce"]
    return JSONResponse([resolution_json(api, n) for n in names])


async def list_status_categories(request: Request) -> Response:
    api = require_user(api_for(request))
    return JSONResponse([status_category_json(api, k) for k in ("new", "indeterminate", "done")])


async def list_link_types(request: Request) -> Response:
    api = require_user(api_for(request))
    rows = api.store.query("SELECT * FROM link_types ORDER BY id")
    return JSONResponse({"issueLinkTypes": [link_type_json(api, r) for r in rows]})


async def get_link_type(request: Request) -> Response:
    api = require_user(api_for(request))
    row = api.store.query_one("SELECT * FROM link_types WHERE id = ?", (request.path_params["link_type_id"],))
    if row is None:
        raise JiraError(404, f"No issue link type with id '{request.path_params['link_type_id']}' exists.")
    return JSONResponse(link_type_json(api, row))


async def json_body(request: Request) -> Any:
    """The request's JSON, or Jira's 400 for a body it cannot read."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise JiraError(400, f"Unexpected character in the request body: {str(exc)[:120]}") from None


def routes() -> list[Route]:
    v = "/rest/api/{version}"
    return [
        Route(f"{v}/serverInfo", server_info),
        Route(f"{v}/myself", myself),
        Route(f"{v}/user", get_user),
        Route(f"{v}/user/search", search_users),
        Route(f"{v}/issue/{{key}}", get_issue, methods=["GET"]),
        Route(f"{v}/issue/{{key}}/comment", get_comments, methods=["GET"]),
        Route(f"{v}/issue/{{key}}/comment/{{comment_id}}", get_comment, methods=["GET"]),
        Route(f"{v}/issue/{{key}}/transitions", get_transitions, methods=["GET"]),
        Route(f"{v}/search", search_dc, methods=["GET", "POST"]),
        Route(f"{v}/search/jql", search_jql, methods=["GET", "POST"]),
        Route(f"{v}/project", list_projects),
        Route(f"{v}/project/search", search_projects),
        Route(f"{v}/project/{{key}}", get_project),
        Route(f"{v}/project/{{key}}/components", project_components),
        Route(f"{v}/project/{{key}}/statuses", project_statuses),
        Route(f"{v}/field", list_fields),
        Route(f"{v}/issuetype", _listing("SELECT * FROM issue_types ORDER BY id", issue_type_json)),
        Route(f"{v}/priority", _listing("SELECT * FROM priorities ORDER BY rank", priority_json)),
        Route(f"{v}/status", _listing("SELECT * FROM statuses ORDER BY id", status_json)),
        Route(f"{v}/resolution", list_resolutions),
        Route(f"{v}/statuscategory", list_status_categories),
        Route(f"{v}/issueLinkType", list_link_types),
        Route(f"{v}/issueLinkType/{{link_type_id}}", get_link_type),
    ]
