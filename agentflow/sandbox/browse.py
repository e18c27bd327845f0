"""A read-only HTML view of issues and pages at the URLs the sandbox hands out (`/browse/KEY`, a page's
`/wiki/spaces/SPACE/pages/ID/Title`), so that the links in a report open while `sandbox serve` runs.

It shows what the REST API would show the same user, and nothing to anyone else: a browser proves who it is
with HTTP Basic `email:token` on a Cloud site, or with `?token=TOKEN` on either flavor (a browser cannot send
a Data Center bearer token; `sandbox serve` prints every seeded user's). Text is escaped; bodies are shown as
their plain text, never as the stored HTML.
"""

from __future__ import annotations

import html
import sqlite3

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from agentflow.sandbox.store import Store, User
from agentflow.sandbox.visibility import readable_sql

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
.meta{{color:#555}} .body{{white-space:pre-wrap;border-left:3px solid #ddd;padding-left:1rem}}</style></head>
<body>{content}<p class="meta">Atlassian sandbox (agentflow), read-only view</p></body></html>"""


def routes() -> list[Route]:
    return [
        Route("/browse/{key}", issue_page, methods=["GET"]),
        Route("/wiki/spaces/{space}/pages/{page_id:int}", wiki_page, methods=["GET"]),
        Route("/wiki/spaces/{space}/pages/{page_id:int}/{slug}", wiki_page, methods=["GET"]),
    ]


def _viewer(request: Request) -> User | None:
    """Who is looking: the Authorization header's user (the auth middleware checked it), or `?token=`."""
    if request.state.user is not None:
        return request.state.user
    token = request.query_params.get("token")
    return request.app.state.store.user_by_token(token) if token else None


def _page(title: str, content: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), content=content), status, headers=headers)


def _sign_in(request: Request) -> Response:
    cloud = request.app.state.flavor == "cloud"
    how = "your email and API token (HTTP Basic), or " if cloud else ""
    text = (f"<h1>Sign in to see this</h1><p>Use {how}add <code>?token=YOUR_TOKEN</code> to the address; "
            "<code>agentflow sandbox serve</code> prints each user's token.</p>")  # fmt: skip
    # A challenge makes a browser ask; a Data Center site answers Basic with 401, so it is offered on Cloud only.
    headers = {"WWW-Authenticate": 'Basic realm="atlassian"'} if cloud else None
    return _page("Sign in", text, 401, headers)


def _not_found(what: str) -> Response:
    return _page("Not found", f"<h1>{html.escape(what)} does not exist, or you may not see it</h1>", 404)


async def issue_page(request: Request) -> Response:
    viewer = _viewer(request)
    if viewer is None:
        return _sign_in(request)
    store: Store = request.app.state.store
    key = request.path_params["key"].upper()
    row = store.query_one(
        "SELECT i.*, t.name AS type_name, s.name AS status_name FROM issues i JOIN issue_types t ON "
        "t.id = i.issue_type_id JOIN statuses s ON s.id = i.status_id WHERE i.key = ?",
        (key,),
    )
    if row is None or row["project_id"] not in store.visible_project_ids(viewer.id):
        return _not_found(f"Issue {key}")
    comments = store.query(
        "SELECT c.body_text, u.display_name, r.name AS role, g.name AS grp FROM comments c "
        "JOIN issues i ON i.id = c.issue_id LEFT JOIN users u ON u.id = c.author_id "
        "LEFT JOIN project_roles r ON r.id = c.visibility_role_id LEFT JOIN groups g ON g.id = c.visibility_group_id "
        f"WHERE c.issue_id = ? AND {readable_sql('c', 'i', viewer.id)} ORDER BY c.created, c.id",
        (row["id"],),
    )
    parts = [
        f"<h1>{html.escape(row['key'])}: {html.escape(row['summary'])}</h1>",
        f"<p class=\"meta\">{html.escape(row['type_name'])} · {html.escape(row['status_name'])}</p>",
        f"<div class=\"body\">{html.escape(row['description_text'] or '')}</div>",
        f"<h2>Comments ({len(comments)})</h2>",
        *(f"<p class=\"meta\">{html.escape(c['display_name'] or 'Anonymous')}{_restriction(c)}</p>"
          f"<div class=\"body\">{html.escape(c['body_text'] or '')}</div>" for c in comments),
    ]  # fmt: skip
    return _page(f"{row['key']}: {row['summary']}", "\n".join(parts))


def _restriction(comment: sqlite3.Row) -> str:
    restricted_to = comment["role"] or comment["grp"]
    return f" · restricted to {html.escape(restricted_to)}" if restricted_to else ""


async def wiki_page(request: Request) -> Response:
    if _viewer(request) is None:
        return _sign_in(request)
    store: Store = request.app.state.store
    row: sqlite3.Row | None = store.query_one(
        "SELECT p.*, s.key AS space_key, s.name AS space_name FROM pages p JOIN spaces s ON s.id = p.space_id "
        "WHERE p.id = ? AND s.key = ?",
        (request.path_params["page_id"], request.path_params["space"]),
    )
    if row is None:
        return _not_found(f"Page {request.path_params['page_id']}")
    parts = [
        f"<h1>{html.escape(row['title'])}</h1>",
        f'<p class="meta">{html.escape(row["space_name"])} ({html.escape(row["space_key"])})</p>',
        f'<div class="body">{html.escape(row["body_text"] or "")}</div>',
    ]
    return _page(row["title"], "\n".join(parts))
