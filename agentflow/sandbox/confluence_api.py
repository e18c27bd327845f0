"""Confluence under `/wiki`: REST v1 (CQL search, content, spaces, labels) and v2 (pages, spaces).

Bodies are stored in storage format (XHTML); v2 can also answer `atlas_doc_format` (ADF). v1 pages through
search results with `start`/`limit` and a `cursor` in its `next` link; v2 with a `cursor` only.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox import richtext
from agentflow.sandbox.errors import ConfluenceError, ConfluenceV2Error
from agentflow.sandbox.query import QueryContext, QueryError, compile_cql
from agentflow.sandbox.store import Store, User

SEARCH_LIMIT_WITH_BODY = 50
SEARCH_LIMIT = 200
V2_LIMIT = 250


def iso_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Wiki:
    """One request's view of Confluence: the store, URLs and the user."""

    def __init__(self, request: Request) -> None:
        self.store: Store = request.app.state.store
        self.cloud = request.app.state.flavor == "cloud"
        self.root = str(request.base_url).rstrip("/")
        self.base = self.root + "/wiki"
        self.user: User | None = request.state.user
        if self.user is None:
            raise ConfluenceError(401, "This request requires authentication.")

    def user_json(self, user: User | None) -> dict[str, Any] | None:
        if user is None:
            return None
        picture = {"path": f"/wiki/aa-avatar/{user.id}", "width": 48, "height": 48, "isDefault": True}
        if self.cloud:
            return {
                "type": "known",
                "accountId": user.account_id,
                "accountType": user.account_type,
                "email": user.email,
                "publicName": user.display_name,
                "displayName": user.display_name,
                "profilePicture": picture,
            }
        return {
            "type": "known",
            "username": user.username,
            "userKey": user.username,
            "displayName": user.display_name,
            "profilePicture": picture,
        }

    def space_json(self, space: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": space["id"],
            "key": space["key"],
            "name": space["name"],
            "type": space["type"],
            "status": "current",
            "_links": {"webui": f"/spaces/{space['key']}", "self": f"{self.base}/rest/api/space/{space['key']}"},
            "_expandable": {"description": "", "homepage": "", "metadata": "", "icon": ""},
        }

    def page_links(self, page: sqlite3.Row, space_key: str) -> dict[str, str]:
        slug = quote(page["title"].replace(" ", "+"), safe="+")
        return {
            "webui": f"/spaces/{space_key}/pages/{page['id']}/{slug}",
            "edit": f"/pages/resumedraft.action?draftId={page['id']}",
            "tinyui": f"/x/{base64.urlsafe_b64encode(str(page['id']).encode()).decode().rstrip('=')}",
            "self": f"{self.base}/rest/api/content/{page['id']}",
        }

    def content_json(self, page: sqlite3.Row, expand: set[str]) -> dict[str, Any]:
        """The v1 content shape; only what `expand` asks for is inlined, the rest is `_expandable`."""
        store = self.store
        space = store.query_one("SELECT * FROM spaces WHERE id = ?", (page["space_id"],))
        body: dict[str, Any] = {
            "id": str(page["id"]),
            "type": "page",
            "status": "current",
            "title": page["title"],
            "macroRenderedOutput": {},
            "extensions": {"position": "none"},
        }
        expandable = {
            "container": f"/rest/api/space/{space['key']}",
            "metadata": "",
            "operations": "",
            "children": f"/rest/api/content/{page['id']}/child",
            "restrictions": f"/rest/api/content/{page['id']}/restriction/byOperation",
            "history": f"/rest/api/content/{page['id']}/history",
            "ancestors": "",
            "body": "",
            "version": "",
            "descendants": f"/rest/api/content/{page['id']}/descendant",
            "space": f"/rest/api/space/{space['key']}",
        }
        if "space" in expand:
            body["space"] = self.space_json(space)
            expandable.pop("space")
        if "version" in expand:
            body["version"] = self.version_json(page)
            expandable.pop("version")
        if "history" in expand:
            author = self.user_json(store.user(page["author_id"]))
            body["history"] = {"latest": True, "createdBy": author, "createdDate": iso_time(page["created"])}
            expandable.pop("history")
        if "ancestors" in expand:
            body["ancestors"] = [self.content_json(a, set()) for a in self.ancestors(page)]
            expandable.pop("ancestors")
        bodies = {e.split(".", 1)[1] for e in expand if e.startswith("body.")}
        if bodies:
            body["body"] = {}
            for representation in sorted(bodies & {"storage", "view", "export_view", "atlas_doc_format"}):
                body["body"][representation] = self.body_json(page, representation)
            expandable.pop("body")
        if "metadata.labels" in expand:
            body["metadata"] = {"labels": self.labels_json(page["id"])}
            expandable.pop("metadata")
        body["_links"] = {**self.page_links(page, space["key"]), "base": self.base, "context": "/wiki"}
        body["_expandable"] = expandable
        return body

    def version_json(self, page: sqlite3.Row) -> dict[str, Any]:
        return {
            "by": self.user_json(self.store.user(page["author_id"])),
            "when": iso_time(page["updated"]),
            "friendlyWhen": "recently",
            "message": "",
            "number": page["version"],
            "minorEdit": False,
        }

    def body_json(self, page: sqlite3.Row, representation: str) -> dict[str, Any]:
        if representation == "atlas_doc_format":
            value = json.dumps(richtext.storage_to_adf(page["body"]))
        else:
            value = page["body"]
        return {"value": value, "representation": representation, "embeddedContent": [], "_expandable": {}}

    def ancestors(self, page: sqlite3.Row) -> list[sqlite3.Row]:
        chain = []
        parent_id = page["parent_id"]
        while parent_id is not None:
            parent = self.store.query_one("SELECT * FROM pages WHERE id = ?", (parent_id,))
            chain.append(parent)
            parent_id = parent["parent_id"]
        return list(reversed(chain))

    def labels_json(self, page_id: int) -> dict[str, Any]:
        rows = self.store.query("SELECT label FROM page_labels WHERE page_id = ? ORDER BY label", (page_id,))
        results = [
            {"prefix": "global", "name": r["label"], "id": str(zlib.crc32(r["label"].encode())), "label": r["label"]}
            for r in rows
        ]
        return {"results": results, "start": 0, "limit": 200, "size": len(results), "_links": {}}

    def page(self, page_id: str) -> sqlite3.Row:
        row = self.store.query_one("SELECT * FROM pages WHERE id = ?", (page_id,)) if page_id.isdigit() else None
        if row is None:
            raise ConfluenceError(404, f"No content found with id: ContentId{{id={page_id}}}")
        return row

    def run_cql(self, cql: str, offset: int, limit: int) -> tuple[list[sqlite3.Row], int]:
        visible = self.store.visible_project_ids(self.user.id)
        context = QueryContext(
            conn=self.store.conn, now=self.store.now(), user_id=self.user.id, visible_project_ids=visible
        )
        try:
            compiled = compile_cql(cql, context)
        except QueryError as exc:
            raise ConfluenceError(400, exc.message) from None
        rows = self.store.query(
            f"SELECT p.* FROM pages p WHERE {compiled.where} ORDER BY {compiled.order_by} LIMIT ? OFFSET ?",
            [*compiled.params, limit, offset],
        )
        total = self.store.query_one(f"SELECT COUNT(*) FROM pages p WHERE {compiled.where}", compiled.params)[0]
        return rows, total


def _expand(request: Request) -> set[str]:
    return {part.strip() for part in request.query_params.get("expand", "").split(",") if part.strip()}


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise ConfluenceError(400, f"Parameter '{name}' must be an integer") from None


def _offset(request: Request) -> int:
    """`start`, or the offset a `cursor` from one of our `next` links carries."""
    cursor = request.query_params.get("cursor")
    if cursor:
        try:
            return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except ValueError:
            raise ConfluenceError(400, "Invalid cursor") from None
    return max(_int(request, "start", 0), 0)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _page_links(wiki: Wiki, request: Request, path: str, offset: int, count: int, total: int) -> dict[str, str]:
    links = {"base": wiki.base, "context": "/wiki", "self": f"{wiki.base}{path}?{request.url.query}"}
    if offset + count < total:
        params = {k: v for k, v in request.query_params.items() if k not in ("start", "cursor")}
        params["cursor"] = _cursor(offset + count)
        links["next"] = f"{path}?{urlencode(params)}"
    return links


async def content_search(request: Request) -> Response:
    wiki = Wiki(request)
    expand = _expand(request)
    cap = SEARCH_LIMIT_WITH_BODY if any(e.startswith("body") for e in expand) else SEARCH_LIMIT
    offset, limit = _offset(request), min(max(_int(request, "limit", 25), 1), cap)
    rows, total = wiki.run_cql(request.query_params.get("cql", ""), offset, limit)
    return JSONResponse(
        {
            "results": [wiki.content_json(r, expand) for r in rows],
            "start": offset,
            "limit": limit,
            "size": len(rows),
            "_links": _page_links(wiki, request, "/rest/api/content/search", offset, len(rows), total),
        }
    )


async def site_search(request: Request) -> Response:
    """`/wiki/rest/api/search`: results wrap the content with an excerpt, a URL and the container."""
    wiki = Wiki(request)
    cql = request.query_params.get("cql", "")
    offset, limit = _offset(request), min(max(_int(request, "limit", 25), 1), SEARCH_LIMIT)
    rows, total = wiki.run_cql(cql, offset, limit)
    results = []
    for rank, row in enumerate(rows):
        space = wiki.store.query_one("SELECT * FROM spaces WHERE id = ?", (row["space_id"],))
        content = wiki.content_json(row, set())
        results.append(
            {
                "content": {k: content[k] for k in ("id", "type", "status", "title", "_links")},
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
    return JSONResponse(
        {
            "results": results,
            "start": offset,
            "limit": limit,
            "size": len(results),
            "totalSize": total,
            "cqlQuery": cql,
            "searchDuration": 3,
            "_links": _page_links(wiki, request, "/rest/api/search", offset, len(results), total),
        }
    )


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
    offset, limit = _offset(request), min(max(_int(request, "limit", 25), 1), SEARCH_LIMIT)
    page = rows[offset : offset + limit]
    expand = _expand(request)
    return JSONResponse(
        {
            "results": [wiki.content_json(r, expand) for r in page],
            "start": offset,
            "limit": limit,
            "size": len(page),
            "_links": _page_links(wiki, request, "/rest/api/content", offset, len(page), len(rows)),
        }
    )


def _storage_value(body: Any) -> str:
    storage = body.get("storage") if isinstance(body, dict) else None
    if not isinstance(storage, dict) or not isinstance(storage.get("value"), str):
        raise ConfluenceError(400, "Content body must have a 'storage' representation with a string 'value'")
    if storage.get("representation", "storage") != "storage":
        raise ConfluenceError(400, f"Unsupported representation: {storage.get('representation')}")
    return storage["value"]


def _insert_page(wiki: Wiki, space: sqlite3.Row, title: str, value: str, parent_id: int | None, error: type) -> int:
    if not title.strip():
        raise error(400, "Title cannot be empty")
    if wiki.store.query_one("SELECT 1 FROM pages WHERE space_id = ? AND title = ?", (space["id"], title)):
        raise error(
            400, "A page with this title already exists: A page already exists with the same TITLE in this space"
        )
    if parent_id is not None and wiki.store.query_one("SELECT 1 FROM pages WHERE id = ?", (parent_id,)) is None:
        raise error(404, f"No content found with id: ContentId{{id={parent_id}}}")
    now = wiki.store.now()
    with wiki.store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO pages (space_id, parent_id, title, body, body_text, author_id, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (space["id"], parent_id, title, value, richtext.storage_to_text(value), wiki.user.id, now, now),
        )
    return cursor.lastrowid


async def create_content(request: Request) -> Response:
    wiki = Wiki(request)
    body = await _json(request, ConfluenceError)
    if body.get("type", "page") != "page":
        raise ConfluenceError(400, f"Unsupported content type: {body.get('type')}")
    space_key = (body.get("space") or {}).get("key")
    space = wiki.store.query_one("SELECT * FROM spaces WHERE key = ?", (space_key,))
    if space is None:
        raise ConfluenceError(404, f"No space with key : {space_key}")
    ancestors = body.get("ancestors") or []
    if len(ancestors) > 1:
        raise ConfluenceError(400, "Only one ancestor may be given")
    parent_id = int(ancestors[0]["id"]) if ancestors else None
    page_id = _insert_page(
        wiki, space, str(body.get("title") or ""), _storage_value(body.get("body")), parent_id, ConfluenceError
    )
    row = wiki.page(str(page_id))
    return JSONResponse(wiki.content_json(row, {"body.storage", "version", "space", "ancestors"}))


async def update_content(request: Request) -> Response:
    wiki = Wiki(request)
    page = wiki.page(request.path_params["page_id"])
    body = await _json(request, ConfluenceError)
    number = (body.get("version") or {}).get("number")
    if number != page["version"] + 1:
        raise ConfluenceError(409, f"Version must be incremented on update. Current version is: {page['version']}")
    title = str(body.get("title") or page["title"])
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
    body = await _json(request, ConfluenceError, want=list)
    names = [item.get("name") for item in body if isinstance(item, dict)]
    if not names or not all(isinstance(n, str) and n and " " not in n for n in names):
        raise ConfluenceError(400, "Label names must be non-empty and contain no spaces")
    with wiki.store.transaction() as conn:
        conn.executemany("INSERT OR IGNORE INTO page_labels VALUES (?, ?)", [(page["id"], n.lower()) for n in names])
    return JSONResponse(wiki.labels_json(page["id"]))


async def list_spaces(request: Request) -> Response:
    wiki = Wiki(request)
    rows = wiki.store.query("SELECT * FROM spaces ORDER BY key")
    offset, limit = _offset(request), min(max(_int(request, "limit", 25), 1), 500)
    page = rows[offset : offset + limit]
    return JSONResponse(
        {
            "results": [wiki.space_json(r) for r in page],
            "start": offset,
            "limit": limit,
            "size": len(page),
            "_links": _page_links(wiki, request, "/rest/api/space", offset, len(page), len(rows)),
        }
    )


async def get_space(request: Request) -> Response:
    wiki = Wiki(request)
    row = wiki.store.query_one("SELECT * FROM spaces WHERE key = ?", (request.path_params["key"],))
    if row is None:
        raise ConfluenceError(404, f"No space with key : {request.path_params['key']}")
    return JSONResponse(wiki.space_json(row))


async def _json(request: Request, error: type, want: type = dict) -> Any:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise error(400, "Could not parse the request body as JSON") from None
    if not isinstance(body, want):
        raise error(400, f"Request body must be a JSON {'object' if want is dict else 'array'}")
    return body


# --- v2 ------------------------------------------------------------------------------------------------


def _v2_page(wiki: Wiki, page: sqlite3.Row, body_format: str | None) -> dict[str, Any]:
    space = wiki.store.query_one("SELECT key FROM spaces WHERE id = ?", (page["space_id"],))
    author = wiki.store.user(page["author_id"])
    links = wiki.page_links(page, space["key"])
    result: dict[str, Any] = {
        "id": str(page["id"]),
        "status": "current",
        "title": page["title"],
        "spaceId": str(page["space_id"]),
        "parentId": str(page["parent_id"]) if page["parent_id"] else None,
        "parentType": "page" if page["parent_id"] else None,
        "position": page["id"],
        "authorId": author.account_id,
        "ownerId": author.account_id,
        "lastOwnerId": None,
        "createdAt": iso_time(page["created"]),
        "version": {
            "number": page["version"],
            "message": "",
            "minorEdit": False,
            "authorId": author.account_id,
            "createdAt": iso_time(page["updated"]),
        },
        "body": {},
        "_links": {"webui": links["webui"], "editui": links["edit"], "tinyui": links["tinyui"]},
    }
    if body_format in ("storage", "atlas_doc_format"):
        value = page["body"] if body_format == "storage" else json.dumps(richtext.storage_to_adf(page["body"]))
        result["body"] = {body_format: {"representation": body_format, "value": value}}
    elif body_format is not None:
        raise ConfluenceV2Error(400, f"Invalid body-format: {body_format}")
    return result


def _v2_wiki(request: Request) -> Wiki:
    try:
        return Wiki(request)
    except ConfluenceError as exc:
        raise ConfluenceV2Error(exc.status, exc.message) from None


async def v2_get_page(request: Request) -> Response:
    wiki = _v2_wiki(request)
    page_id = request.path_params["page_id"]
    row = wiki.store.query_one("SELECT * FROM pages WHERE id = ?", (page_id,)) if page_id.isdigit() else None
    if row is None:
        raise ConfluenceV2Error(404, f"Page {page_id} not found")
    return JSONResponse(_v2_page(wiki, row, request.query_params.get("body-format")))


async def v2_list_pages(request: Request) -> Response:
    wiki = _v2_wiki(request)
    params = request.query_params
    conditions, values = ["1"], []
    if params.get("space-id"):
        ids = [i for i in params["space-id"].split(",") if i.strip().isdigit()]
        conditions.append(f"space_id IN ({','.join('?' * len(ids)) or 'NULL'})")
        values += ids
    if params.get("title"):
        conditions.append("title = ?")
        values.append(params["title"])
    rows = wiki.store.query(f"SELECT * FROM pages WHERE {' AND '.join(conditions)} ORDER BY id", values)
    offset = _offset(request)
    limit = min(max(_int(request, "limit", 25), 1), V2_LIMIT)
    page = rows[offset : offset + limit]
    links: dict[str, str] = {"base": wiki.base}
    if offset + len(page) < len(rows):
        query = {k: v for k, v in params.items() if k != "cursor"}
        query["cursor"] = _cursor(offset + len(page))
        links["next"] = f"/wiki/api/v2/pages?{urlencode(query)}"
    body_format = params.get("body-format")
    return JSONResponse({"results": [_v2_page(wiki, r, body_format) for r in page], "_links": links})


async def v2_create_page(request: Request) -> Response:
    wiki = _v2_wiki(request)
    body = await _json(request, ConfluenceV2Error)
    space = wiki.store.query_one("SELECT * FROM spaces WHERE id = ?", (str(body.get("spaceId", "")),))
    if space is None:
        raise ConfluenceV2Error(400, "A valid spaceId is required")
    content = body.get("body") or {}
    if content.get("representation") != "storage" or not isinstance(content.get("value"), str):
        raise ConfluenceV2Error(400, "body must have representation 'storage' and a string value")
    parent = body.get("parentId")
    page_id = _insert_page(
        wiki, space, str(body.get("title") or ""), content["value"], int(parent) if parent else None, ConfluenceV2Error
    )
    row = wiki.store.query_one("SELECT * FROM pages WHERE id = ?", (page_id,))
    return JSONResponse(_v2_page(wiki, row, "storage"))


def _v2_space(wiki: Wiki, space: sqlite3.Row) -> dict[str, Any]:
    homepage = wiki.store.query_one(
        "SELECT id FROM pages WHERE space_id = ? AND parent_id IS NULL ORDER BY id LIMIT 1", (space["id"],)
    )
    return {
        "id": str(space["id"]),
        "key": space["key"],
        "name": space["name"],
        "type": space["type"],
        "status": "current",
        "authorId": wiki.user.account_id,
        "createdAt": iso_time(wiki.store.now()),
        "homepageId": str(homepage["id"]) if homepage else None,
        "description": None,
        "_links": {"webui": f"/spaces/{space['key']}"},
    }


async def v2_list_spaces(request: Request) -> Response:
    wiki = _v2_wiki(request)
    keys = [k for k in request.query_params.get("keys", "").split(",") if k]
    if keys:
        rows = wiki.store.query(f"SELECT * FROM spaces WHERE key IN ({','.join('?' * len(keys))}) ORDER BY id", keys)
    else:
        rows = wiki.store.query("SELECT * FROM spaces ORDER BY id")
    return JSONResponse({"results": [_v2_space(wiki, r) for r in rows], "_links": {"base": wiki.base}})


async def v2_get_space(request: Request) -> Response:
    wiki = _v2_wiki(request)
    row = wiki.store.query_one("SELECT * FROM spaces WHERE id = ?", (request.path_params["space_id"],))
    if row is None:
        raise ConfluenceV2Error(404, f"Space {request.path_params['space_id']} not found")
    return JSONResponse(_v2_space(wiki, row))


def routes() -> list[Route]:
    v1, v2 = "/wiki/rest/api", "/wiki/api/v2"
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
        Route(f"{v2}/pages", v2_list_pages, methods=["GET"]),
        Route(f"{v2}/pages", v2_create_page, methods=["POST"]),
        Route(f"{v2}/pages/{{page_id}}", v2_get_page),
        Route(f"{v2}/spaces", v2_list_spaces),
        Route(f"{v2}/spaces/{{space_id}}", v2_get_space),
    ]
