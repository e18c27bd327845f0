"""Confluence REST v2 under `/wiki/api/v2` (Cloud only): pages and spaces, paged with an opaque `cursor`.

Shapes follow Atlassian's v2 OpenAPI document: optional fields with no value (a top-level page's `parentId`, a
space's `description` unless `description-format` asks for it) are left out rather than sent as null, which the
document does not allow for them. The next page is in `_links.next` and in a `Link` header, as on Cloud.
Data Center has no REST v2, so on that flavor these paths are unknown (404).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox import richtext
from agentflow.sandbox.confluence.common import Wiki, encode_cursor, int_param, iso_time, offset_param, read_json
from agentflow.sandbox.errors import ConfluenceError, ConfluenceV2Error

V2 = "/wiki/api/v2"
V2_LIMIT = 250
BULK_BODY_FORMATS = ("storage", "atlas_doc_format")
SPACE_DESCRIPTION_FORMATS = ("plain", "view")


def _wiki(request: Request) -> Wiki:
    if request.app.state.flavor != "cloud":
        raise HTTPException(404)
    try:
        return Wiki(request)
    except ConfluenceError as exc:
        raise ConfluenceV2Error(exc.status, exc.message) from None


def _body_format(request: Request, allowed: tuple[str, ...]) -> str | None:
    body_format = request.query_params.get("body-format")
    if body_format is not None and body_format not in allowed:
        raise ConfluenceV2Error(400, f"Invalid body-format: {body_format}")
    return body_format


def _page(wiki: Wiki, page: sqlite3.Row, body_format: str | None) -> dict[str, Any]:
    space = wiki.store.query_one("SELECT key FROM spaces WHERE id = ?", (page["space_id"],))
    author = wiki.store.user(page["author_id"])
    links = wiki.page_links(page, space["key"])
    result: dict[str, Any] = {
        "id": str(page["id"]),
        "status": "current",
        "title": page["title"],
        "spaceId": str(page["space_id"]),
    }
    if page["parent_id"]:
        result |= {"parentId": str(page["parent_id"]), "parentType": "page"}
    result |= {
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
    if body_format == "atlas_doc_format":
        value = json.dumps(richtext.storage_to_adf(page["body"]))
        result["body"] = {body_format: {"representation": body_format, "value": value}}
    elif body_format is not None:
        # Other single-page formats (view, export_view, ...) are rendered HTML; storage XHTML stands in for them.
        result["body"] = {body_format: {"representation": body_format, "value": page["body"]}}
    return result


def _listing(wiki: Wiki, request: Request, path: str, results: list, offset: int, total: int) -> Response:
    links: dict[str, str] = {"base": wiki.base}
    headers = {}
    if offset + len(results) < total:
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        query["cursor"] = encode_cursor(offset + len(results))
        links["next"] = f"{path}?{urlencode(query)}"
        headers["Link"] = f'<{links["next"]}>; rel="next", <{wiki.base}>; rel="base"'
    return JSONResponse({"results": results, "_links": links}, headers=headers)


def _paging(request: Request) -> tuple[int, int]:
    offset = offset_param(request, ConfluenceV2Error)
    return offset, min(max(int_param(request, "limit", 25, ConfluenceV2Error), 1), V2_LIMIT)


def _ids(request: Request, name: str) -> list[str] | None:
    """A comma-separated list of numeric ids, or None when the parameter is absent."""
    if not request.query_params.get(name):
        return None
    ids = [part.strip() for part in request.query_params[name].split(",") if part.strip()]
    if not all(i.isdigit() for i in ids):
        raise ConfluenceV2Error(400, f"Invalid value for '{name}': ids must be integers")
    return ids


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({','.join('?' * len(values)) or 'NULL'})"


async def get_page(request: Request) -> Response:
    wiki = _wiki(request)
    page_id = request.path_params["page_id"]
    body_format = _body_format(request, ("storage", "atlas_doc_format", "view", "export_view", "styled_view"))
    row = wiki.find_page(page_id)
    if row is None:
        raise ConfluenceV2Error(404, f"Page {page_id} not found")
    return JSONResponse(_single(wiki, _page(wiki, row, body_format)))


def _single(wiki: Wiki, result: dict[str, Any]) -> dict[str, Any]:
    """A single entity's answer, whose `_links` also carry the site's base URL."""
    result["_links"]["base"] = wiki.base
    return result


async def list_pages(request: Request) -> Response:
    wiki = _wiki(request)
    params = request.query_params
    body_format = _body_format(request, BULK_BODY_FORMATS)
    conditions, values = ["1"], []
    for name, column in (("id", "id"), ("space-id", "space_id")):
        ids = _ids(request, name)
        if ids is not None:
            conditions.append(_in(column, ids))
            values += ids
    if params.get("title"):
        conditions.append("title = ?")
        values.append(params["title"])
    rows = wiki.store.query(f"SELECT * FROM pages WHERE {' AND '.join(conditions)} ORDER BY id", values)
    offset, limit = _paging(request)
    results = [_page(wiki, r, body_format) for r in rows[offset : offset + limit]]
    return _listing(wiki, request, f"{V2}/pages", results, offset, len(rows))


async def create_page(request: Request) -> Response:
    wiki = _wiki(request)
    body = await read_json(request, ConfluenceV2Error)
    space_id = str(body.get("spaceId", ""))
    space = wiki.store.query_one("SELECT * FROM spaces WHERE id = ?", (space_id,)) if space_id.isdigit() else None
    if space is None:
        raise ConfluenceV2Error(400, "A valid spaceId is required")
    content = body.get("body") or {}
    if (
        not isinstance(content, dict)
        or content.get("representation") != "storage"
        or not isinstance(content.get("value"), str)
    ):
        raise ConfluenceV2Error(400, "body must have representation 'storage' and a string value")
    parent = body.get("parentId")
    if parent is not None and not str(parent).isdigit():
        raise ConfluenceV2Error(400, f"Invalid parentId: {parent}")
    title = str(body.get("title") or "")
    parent_id = int(parent) if parent is not None else None
    page_id = wiki.insert_page(space, title, content["value"], parent_id, ConfluenceV2Error)
    row = wiki.find_page(page_id)
    return JSONResponse(_single(wiki, _page(wiki, row, "storage")))


def _space(wiki: Wiki, space: sqlite3.Row, description_format: str | None) -> dict[str, Any]:
    homepage = wiki.store.query_one(
        "SELECT id, author_id, created FROM pages WHERE space_id = ? AND parent_id IS NULL ORDER BY id LIMIT 1",
        (space["id"],),
    )
    first = wiki.store.query_one(
        "SELECT author_id, created FROM pages WHERE space_id = ? ORDER BY created, id LIMIT 1", (space["id"],)
    )
    # The space has no creator of its own on record; its oldest page's author and time stand in for them.
    creator = wiki.store.user(first["author_id"]) if first else wiki.user
    result: dict[str, Any] = {
        "id": str(space["id"]),
        "key": space["key"],
        "name": space["name"],
        "type": space["type"],
        "status": "current",
        "authorId": creator.account_id,
        "createdAt": iso_time(first["created"] if first else wiki.store.now()),
    }
    if homepage:
        result["homepageId"] = str(homepage["id"])
    if description_format:
        text = space["description"]
        value = text if description_format == "plain" else f"<p>{text}</p>" if text else ""
        result["description"] = {description_format: {"representation": description_format, "value": value}}
    result["_links"] = {"webui": f"/spaces/{space['key']}"}
    return result


def _description_format(request: Request) -> str | None:
    description_format = request.query_params.get("description-format")
    if description_format is not None and description_format not in SPACE_DESCRIPTION_FORMATS:
        raise ConfluenceV2Error(400, f"Invalid description-format: {description_format}")
    return description_format


async def list_spaces(request: Request) -> Response:
    wiki = _wiki(request)
    description_format = _description_format(request)
    conditions, values = ["1"], []
    keys = [k.strip() for k in request.query_params.get("keys", "").split(",") if k.strip()]
    if keys:
        conditions.append(_in("key", keys))
        values += keys
    ids = _ids(request, "ids")
    if ids is not None:
        conditions.append(_in("id", ids))
        values += ids
    rows = wiki.store.query(f"SELECT * FROM spaces WHERE {' AND '.join(conditions)} ORDER BY id", values)
    offset, limit = _paging(request)
    results = [_space(wiki, r, description_format) for r in rows[offset : offset + limit]]
    return _listing(wiki, request, f"{V2}/spaces", results, offset, len(rows))


async def get_space(request: Request) -> Response:
    wiki = _wiki(request)
    description_format = _description_format(request)
    space_id = request.path_params["space_id"]
    row = wiki.store.query_one("SELECT * FROM spaces WHERE id = ?", (space_id,)) if space_id.isdigit() else None
    if row is None:
        raise ConfluenceV2Error(404, f"Space {space_id} not found")
    return JSONResponse(_single(wiki, _space(wiki, row, description_format)))


def routes() -> list[Route]:
    return [
        Route(f"{V2}/pages", list_pages, methods=["GET"]),
        Route(f"{V2}/pages", create_page, methods=["POST"]),
        Route(f"{V2}/pages/{{page_id}}", get_page),
        Route(f"{V2}/spaces", list_spaces),
        Route(f"{V2}/spaces/{{space_id}}", get_space),
    ]
