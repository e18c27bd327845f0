"""The sandbox's ASGI app: authentication, routing and error shapes for one Atlassian site.

Cloud accepts HTTP Basic `email:api-token`; Data Center a `Bearer` personal access token. Requests with no
credentials are anonymous (only `serverInfo` answers them); wrong credentials are 401 everywhere, as on the
real services. Every error leaves in the API's own JSON shape, never as a traceback.

The Rovo-like MCP endpoints (`/v1/mcp`, `/v2/mcp`, see `rovo/`) authenticate their own way and reach the data
through a private Cloud-flavored app over the same store, whatever this site's flavor: Rovo fronts Cloud only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox import browse, compass, query
from agentflow.sandbox.confluence import api as confluence_api
from agentflow.sandbox.confluence import v2 as confluence_v2
from agentflow.sandbox.errors import NOT_AUTHENTICATED, ConfluenceError, JiraError, SandboxError
from agentflow.sandbox.jira import api as jira_api
from agentflow.sandbox.jira import writes as jira_writes
from agentflow.sandbox.limits import Faults, LimitsMiddleware
from agentflow.sandbox.requestlog import RequestLog
from agentflow.sandbox.rovo import endpoint as rovo
from agentflow.sandbox.rovo.oauth import OAuthEndpoints, OAuthSettings
from agentflow.sandbox.store import Store, User

FLAVORS = ("cloud", "dc")
log = logging.getLogger(__name__)


def _credentials_user(store: Store, flavor: str, header: str) -> User | None:
    """The user the Authorization header proves, or None when it proves nobody."""
    scheme, _, value = header.partition(" ")
    if flavor == "cloud" and scheme.lower() == "basic":
        return store.user_by_basic(value)
    if flavor == "dc" and scheme.lower() == "bearer":
        return store.user_by_token(value.strip())
    return None


class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        state = request.app.state
        header = request.headers.get("authorization")
        request.state.user = None
        if header and request.url.path not in rovo.PATHS.values():
            request.state.user = _credentials_user(state.store, state.flavor, header)
            if request.state.user is None:
                challenge = 'Basic realm="atlassian"' if state.flavor == "cloud" else 'Bearer realm="atlassian"'
                return _unauthorized(request, challenge)
        return await call_next(request)


def _unauthorized(request: Request, challenge: str) -> Response:
    headers = {"WWW-Authenticate": challenge}
    if request.url.path.startswith("/wiki"):
        return ConfluenceError(401, "This request requires authentication.", headers).response()
    return JiraError(401, NOT_AUTHENTICATED, headers=headers).response()


async def graphql(request: Request) -> Response:
    if request.state.user is None:
        return JSONResponse({"errors": [{"message": "Unauthorized", "extensions": {"statusCode": 401}}]}, 401)
    try:
        body = await request.json()
    except ValueError:
        body = None
    state = request.app.state
    return JSONResponse(compass.execute(state.store, body, cloud_id=state.cloud_id, host_name=request.url.hostname))


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in the shape of the API the path belongs to."""
    assert isinstance(exc, HTTPException)
    message = "null for uri: " + str(request.url) if exc.status_code == 404 else exc.detail
    if request.url.path.startswith("/wiki"):
        return JSONResponse({"statusCode": exc.status_code, "message": message}, exc.status_code)
    return JSONResponse({"errorMessages": [message], "errors": {}}, exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("sandbox bug while serving %s %s", request.method, request.url.path)
    return JSONResponse({"errorMessages": ["Internal server error"], "errors": {}}, 500)


def create_app(
    store: Store,
    flavor: str,
    *,
    per_hour: int | None = None,
    faults: Faults | None = None,
    request_log: Path | None = None,
    oauth: OAuthSettings | None = None,
) -> Starlette:
    """An ASGI app serving `store` as a Jira (`cloud` or `dc`) + Confluence + Compass site; `request_log` names a
    file that gets a line for every request received; `oauth` sets the lifetimes of the Rovo-like endpoints'
    OAuth authorization server (always served: the endpoints' 401 names it)."""
    if flavor not in FLAVORS:
        raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {flavor!r}")
    query.register_functions(store.conn)
    cloud_id = store.meta("cloud_id") or "00000000-0000-4000-8000-000000000000"
    proxy = _site(store, "cloud", cloud_id, [Middleware(AuthMiddleware)])
    middleware = [Middleware(RequestLog, path=request_log, clock=store.clock)] if request_log else []
    middleware.append(Middleware(LimitsMiddleware, clock=store.clock, per_hour=per_hour, faults=faults))
    middleware.append(Middleware(AuthMiddleware))
    extra = [*rovo.routes(store, proxy, cloud_id), *OAuthEndpoints(store, oauth or OAuthSettings()).routes()]
    return _site(store, flavor, cloud_id, middleware, extra)


def _site(
    store: Store, flavor: str, cloud_id: str, middleware: list[Middleware], extra: Sequence[Route] = ()
) -> Starlette:
    routes = [
        *browse.routes(),
        *jira_api.routes(),
        *jira_writes.routes(),
        *confluence_api.routes(),
        *confluence_v2.routes(),
        Route("/gateway/api/graphql", graphql, methods=["POST"]),
        *extra,
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={SandboxError: _sandbox_error, HTTPException: _http_error, Exception: _unexpected},
    )
    app.state.store = store
    app.state.flavor = flavor
    app.state.cloud_id = cloud_id
    return app
