"""Confluence REST v1 under `/wiki/rest/api`: CQL search, content, labels and spaces.

v1 pages through results with `start`/`limit` and a `cursor` in its `next` link. The shared request view and
content shapes live in `common`; REST v2 (`/wiki/api/v2`) in `v2`.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox import richtext
from agentflow.sandbox.confluence.common import (
    DUPLICATE_TITLE,
    Wiki,
    encode_cursor,
    int_param,
    iso_time,
    offset_param,
    read_json,
)
from agentflow.sandbox.errors import ConfluenceError

SEARCH_LIMIT_WITH_BODY = 50
SEARCH_LIMIT = 200
DC_SEARCH_LIMIT_BARE = 1000  # Data Center lets a search without expansions return up to 1000 results


def _expand(request: Request) -> set[str]:
    return {part.strip() for part in request.query_params.get("expand", "").split(",") if part.strip()}


def _limit(request: Request, cap: int) -> int:
    return min(max(int_param(request, "limit", 25), 1), cap)


def _page_links(wiki: Wiki, request: Request, path: str, offset: int, count: int, total: int) -> dict[str, str]:
    links = {"base": wiki.base, "context": "/wiki", "self": f"{wiki.base}{path}?{request.url.query}"}
    if offset + count < total:
        params = {k: v for k, v in request.query_params.items() if k not in ("start", "cursor")}
        params["cursor"] = encode_cursor(offset + count)
        links["next"] = f"{path}?{urlencode(params)}"
    return links


def _listing(wiki: Wiki, request: Request, path: str, results: list, offset: int, limit: int, total: int) -> dict:
    return {
        "results": results,
        "start": offset,
        "limit": limit,
        "size": len(results),
        "_links": _page_links(wiki, request, path, offset, len(results), total),
    }


async def content_search(request: Request) -> Response:
    wiki = Wiki(request)
    expand = _expand(request)
    if any(e.startswith("body") for e in expand):
        cap = SEARCH_LIMIT_WITH_BODY
    elif expand or wiki.cloud:
        cap = SEARCH_LIMIT
    else:
        cap = DC_SEARCH_LIMIT_BARE
    offset, limit = offset_param(request), _limit(request, cap)
    rows, total = wiki.run_cql(request.query_params.get("cql", ""), offset, limit)
    results = [wiki.content_json(r, expand) for r in rows]
    return JSONResponse(_listing(wiki, request, "/rest/api/content/search", results, offset, limit, total))


async def site_search(request: Request) -> Response:
    """`/wiki/rest/api/search`: results wrap the content with an excerpt, a URL and the container. `expand`
    names properties of the result, so `content.body.storage` inlines each hit's content as `GET content` with
    `expand=body.storage` would (Confluence REST v1, "Search content": "expand: the properties to expand")."""
    wiki = Wiki(request)
    cql = request.query_params.get("cql", "")
    offset, limit = offset_param(request), _limit(request, SEARCH_LIMIT)
    rows, total = wiki.run_cql(cql, offset, limit)
    expand = {e.removeprefix("content.") for e in _expand(request) if e.startswith("content.")}
    shown = ("id", "type", "status", "title", *sorted({e.split(".", 1)[0] for e in expand}), "_links")
    results = []
    for rank, row in enumerate(rows):
        space = wiki.store.query_one("SELECT * FROM spaces WHERE id = ?", (row["space_id"],))
        content = wiki.content_json(row, expand)
        results.append(
            {
                "content": {k: content[k] for k in shown if k in content},
                "title": row["title"],
                "excerpt": " ".join(row["body_text"].split())[:300],
                "url": content["_links"]["webui"],
                "resultGlobalContainer": {"title": space["name"], "displayUrl": f"/spaces/{space['key']}"},
                "breadcrumbs": [],
                "entityType": "content",
                "iconCssClass": "aui-icon content-type-page",
                "lastModified": iso_time(row["updated"]),
                "friendlyLastModified": "recently",
                "score": round(1.0 / (1 + offset + rank), 4),
            }
        )
    listing = _listing(wiki, request, "/rest/api/search", results, offset, limit, total)
    links = listing.pop("_links")
    return JSONResponse({**listing, "totalSize": total, "cqlQuery": cql, "searchDuration": 3, "_links": links})


async def get_content(request: Request) -> Response:
    wiki = Wiki(request)
    return JSONResponse(wiki.content_json(wiki.page(request.path_params["page_id"]), _expand(request)))


async def list_content(request: Request) -> Response:
    """`GET /content?spaceKey=&title=`: how clients find a page by title."""
    wiki = Wiki(request)
    params = request.query_params
    if params.get("type", "page") != "page":
        rows: list[sqlite3.Row] = []
    else:
        conditions, values = ["1"], []
        if params.get("spaceKey"):
            conditions.append("space_id = (SELECT id FROM spaces WHERE key = ?)")
            values.append(params["spaceKey"])
        if params.get("title"):
            conditions.append("title = ?")
            values.append(params["title"])
        rows = wiki.store.query(f"SELECT * FROM pages WHERE {' AND '.join(conditions)} ORDER BY id", values)
    offset, limit = offset_param(request), _limit(request, SEARCH_LIMIT)
    expand = _expand(request)
    results = [wiki.content_json(r, expand) for r in rows[offset : offset + limit]]
    return JSONResponse(_listing(wiki, request, "/rest/api/content", results, offset, limit, len(rows)))


def _storage_value(body: Any) -> str:
    storage = body.get("storage") if isinstance(body, dict) else None
    if not isinstance(storage, dict) or not isinstance(storage.get("value"), str):
        raise ConfluenceError(400, "Content body must have a 'storage' representation with a string 'value'")
    if storage.get("representation", "storage") != "storage":
        raise ConfluenceError(400, f"Unsupported representation: {storage.get('representation')}")
    return storage["value"]


def _parent_id(body: dict[str, Any]) -> int | None:
    ancestors = body.get("ancestors") or []
    if not isinstance(ancestors, list):
        raise ConfluenceError(400, "ancestors must be a list of content references")
    if len(ancestors) > 1:
        raise ConfluenceError(400, "Only one ancestor may be given")
    if not ancestors:
        return None
    ancestor = ancestors[0].get("id") if isinstance(ancestors[0], dict) else None
    if not str(ancestor).isdigit():
        raise ConfluenceError(400, f"Invalid ancestor id: {ancestor}")
    return int(ancestor)


async def create_content(request: Request) -> Response:
    wiki = Wiki(request)
    body = await read_json(request, ConfluenceError)
    if body.get("type", "page") != "page":
        raise ConfluenceError(400, f"Unsupported content type: {body.get('type')}")
    space = body.get("space")
    space_key = space.get("key") if isinstance(space, dict) else None
    if not isinstance(space_key, str) or not space_key:
        raise ConfluenceError(400, "Content must have a space with a 'key'")
    space_row = wiki.store.query_one("SELECT * FROM spaces WHERE key = ?", (space_key,))
    if space_row is None:
        raise ConfluenceError(404, f"No space with key : {space_key}")
    parent_id = _parent_id(body)
    value = _storage_value(body.get("body"))
    page_id = wiki.insert_page(space_row, str(body.get("title") or ""), value, parent_id, ConfluenceError)
    row = wiki.page(str(page_id))
    return JSONResponse(wiki.content_json(row, {"body.storage", "version", "space", "ancestors"}))


async def update_content(request: Request) -> Response:
    wiki = Wiki(request)
    page = wiki.page(request.path_params["page_id"])
    body = await read_json(request, ConfluenceError)
    version = body.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    if number is None:
        raise ConfluenceError(400, "Must supply an incremented version when updating Content. No version supplied.")
    if number != page["version"] + 1:
        raise ConfluenceError(409, f"Version must be incremented on update. Current version is: {page['version']}")
    title = str(body.get("title") or page["title"])
    if wiki.title_taken(page["space_id"], title, except_id=page["id"]):
        raise ConfluenceError(400, DUPLICATE_TITLE)
    value = _storage_value(body["body"]) if "body" in body else page["body"]
    with wiki.store.transaction() as conn:
        conn.execute(
            "UPDATE pages SET title = ?, body = ?, body_text = ?, version = ?, updated = ?, author_id = ? WHERE id = ?",
            (title, value, richtext.storage_to_text(value), number, wiki.store.now(), wiki.user.id, page["id"]),
        )
    return JSONResponse(wiki.content_json(wiki.page(str(page["id"])), {"body.storage", "version", "space"}))


async def get_labels(request: Request) -> Response:
    wiki = Wiki(request)
    page = wiki.page(request.path_params["page_id"])
    return JSONResponse(wiki.labels_json(page["id"]))


async def add_labels(request: Request) -> Response:
    wiki = Wiki(request)
    page = wiki.page(request.path_params["page_id"])
    body = await read_json(request, ConfluenceError, want=list)
    names = [item.get("name") for item in body if isinstance(item, dict)]
    if not names or not all(isinstance(n, str) and n and " " not in n for n in names):
        raise ConfluenceError(400, "Label names must be non-empty and contain no spaces")
    with wiki.store.transaction() as conn:
        conn.executemany("INSERT OR IGNORE INTO page_labels VALUES (?, ?)", [(page["id"], n.lower()) for n in names])
    return JSONResponse(wiki.labels_json(page["id"]))


async def list_spaces(request: Request) -> Response:
    wiki = Wiki(request)
    rows = wiki.store.query("SELECT * FROM spaces ORDER BY key")
    offset, limit = offset_param(request), _limit(request, 500)
    results = [wiki.space_json(r) for r in rows[offset : offset + limit]]
    return JSONResponse(_listing(wiki, request, "/rest/api/space", results, offset, limit, len(rows)))


async def get_space(request: Request) -> Response:
    wiki = Wiki(request)
    row = wiki.store.query_one("SELECT * FROM spaces WHERE key = ?", (request.path_params["key"],))
    if row is None:
        raise ConfluenceError(404, f"No space with key : {request.path_params['key']}")
    return JSONResponse(wiki.space_json(row))


def routes() -> list[Route]:
    v1 = "/wiki/rest/api"
    return [
        Route(f"{v1}/content/search", content_search),
        Route(f"{v1}/search", site_search),
        Route(f"{v1}/content", list_content, methods=["GET"]),
        Route(f"{v1}/content", create_content, methods=["POST"]),
        Route(f"{v1}/content/{{page_id}}", get_content, methods=["GET"]),
        Route(f"{v1}/content/{{page_id}}", update_content, methods=["PUT"]),
        Route(f"{v1}/content/{{page_id}}/label", get_labels, methods=["GET"]),
        Route(f"{v1}/content/{{page_id}}/label", add_labels, methods=["POST"]),
        Route(f"{v1}/space", list_spaces),
        Route(f"{v1}/space/{{key}}", get_space),
    ]
