"""What Confluence REST v1 and v2 share: one request's view of the wiki, content shapes, paging and page writes.

Bodies are stored in storage format (XHTML); `atlas_doc_format` (ADF) is derived from it on the way out.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from agentflow.sandbox import richtext
from agentflow.sandbox.errors import ConfluenceError
from agentflow.sandbox.query import QueryContext, QueryError, compile_cql
from agentflow.sandbox.store import Store, User

DUPLICATE_TITLE = "A page with this title already exists: A page already exists with the same TITLE in this space"


def iso_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def not_found(page_id: object) -> str:
    return f"No content found with id: ContentId{{id={page_id}}}"


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

    def find_page(self, page_id: object) -> sqlite3.Row | None:
        text = str(page_id)
        return self.store.query_one("SELECT * FROM pages WHERE id = ?", (int(text),)) if text.isdigit() else None

    def page(self, page_id: str) -> sqlite3.Row:
        row = self.find_page(page_id)
        if row is None:
            raise ConfluenceError(404, not_found(page_id))
        return row

    def run_cql(self, cql: str, offset: int, limit: int) -> tuple[list[sqlite3.Row], int]:
        if not cql.strip():
            raise ConfluenceError(400, "CQL query parameter is required")
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

    def title_taken(self, space_id: int, title: str, except_id: int | None = None) -> bool:
        row = self.store.query_one(
            "SELECT 1 FROM pages WHERE space_id = ? AND title = ? AND id IS NOT ?", (space_id, title, except_id)
        )
        return row is not None

    def insert_page(self, space: sqlite3.Row, title: str, value: str, parent_id: int | None, error: type) -> int:
        """Create a page as the request's user; `error` is the API's error class (v1 or v2)."""
        if not title.strip():
            raise error(400, "Title cannot be empty")
        if self.title_taken(space["id"], title):
            raise error(400, DUPLICATE_TITLE)
        if parent_id is not None and self.find_page(parent_id) is None:
            raise error(404, not_found(parent_id))
        now = self.store.now()
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO pages (space_id, parent_id, title, body, body_text, author_id, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (space["id"], parent_id, title, value, richtext.storage_to_text(value), self.user.id, now, now),
            )
        return cursor.lastrowid


def int_param(request: Request, name: str, default: int, error: type = ConfluenceError) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise error(400, f"Parameter '{name}' must be an integer") from None


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def offset_param(request: Request, error: type = ConfluenceError) -> int:
    """`start`, or the offset a `cursor` from one of our `next` links carries."""
    cursor = request.query_params.get("cursor")
    if cursor:
        try:
            offset = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except ValueError:
            raise error(400, "Invalid cursor") from None
        return max(offset, 0)
    return max(int_param(request, "start", 0, error), 0)


async def read_json(request: Request, error: type, want: type = dict) -> Any:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise error(400, "Could not parse the request body as JSON") from None
    if not isinstance(body, want):
        raise error(400, f"Request body must be a JSON {'object' if want is dict else 'array'}")
    return body
