"""The consent page of the sandbox's authorization server: the user-interaction step RFC 6749 §4.1.1 leaves
to the server. `/authorize` sends the browser here; the page names the client and the scopes, lets a person
pick the seeded user to sign in as (the sandbox has no passwords), and approving or denying redirects back to
the client with a code or `error=access_denied` (RFC 6749 §4.1.2, §4.1.2.1). Plain HTML and a form POST, so a
test completes it with an HTTP client.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from agentflow.sandbox.rovo.oauth import SandboxOAuthProvider

CONSENT_PATH = "/authorize/consent"
# The page must not be framed (clickjacking, RFC 6749 §10.13) nor cached, and what it redirects to holds a code.
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def _gone() -> Response:
    return HTMLResponse("<p>This sign-in request is unknown, expired or already answered.</p>", 400, _HEADERS)


def routes(provider: SandboxOAuthProvider) -> list[Route]:
    async def page(request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        pending = provider.pending(request_id)
        if pending is None:
            return _gone()
        client, params = pending
        users = "".join(
            f'<option value="{escape(u.username)}">{escape(u.display_name)} ({escape(u.username)})</option>'
            for u in provider.store.users()
            if u.active
        )
        scopes = "".join(f"<li>{escape(s)}</li>" for s in params.scopes or [])
        html = (
            "<!doctype html><title>Authorize access</title>"
            f"<h1>{escape(client.client_name or client.client_id)} wants to use {escape(params.resource or '')}</h1>"
            f"<ul>{scopes}</ul>"
            f'<form method="post" action="{CONSENT_PATH}">'
            f'<input type="hidden" name="request" value="{escape(request_id)}">'
            f'<label>Sign in as <select name="user">{users}</select></label>'
            '<button name="decision" value="approve">Approve</button>'
            '<button name="decision" value="deny">Deny</button>'
            "</form>"
        )
        return HTMLResponse(html, headers=_HEADERS)

    async def decide(request: Request) -> Response:
        form = await request.form()
        request_id, decision, username = form.get("request"), form.get("decision"), form.get("user")
        if not isinstance(request_id, str) or decision not in ("approve", "deny"):
            return HTMLResponse("<p>The form needs a request and a decision.</p>", 400, _HEADERS)
        user = None
        if decision == "approve":
            user = provider.store.find_user(username) if isinstance(username, str) else None
            if user is None or not user.active:
                return HTMLResponse("<p>Choose one of the site's users.</p>", 400, _HEADERS)
        target = provider.decide(request_id, user)
        return _gone() if target is None else RedirectResponse(target, 302, _HEADERS)

    return [Route(CONSENT_PATH, page, methods=["GET"]), Route(CONSENT_PATH, decide, methods=["POST"])]
