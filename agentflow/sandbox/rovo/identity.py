"""Who calls the Rovo-like MCP endpoints: the `Identity` a request proves, and the chain of authenticators.

Rovo accepts OAuth 2.1 access tokens, `Authorization: Basic base64(email:api_token)` and, for service accounts,
`Authorization: Bearer <api key>` (REMOTE-SERVERS-NOTES.md, "Authentication"). The OAuth lookup is tried last,
so a Bearer value that is a service-account key never reaches it; its tokens are bound to the endpoint they
were issued for (RFC 8707). A request that proves nobody gets 401 with the `WWW-Authenticate` challenge of RFC
6750 §3, naming the endpoint's RFC 9728 metadata so that an OAuth client can discover the authorization server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from agentflow.sandbox.rovo import oauth as oauth_server
from agentflow.sandbox.store import Store, User

REALM = "atlassian-rovo-sandbox"


@dataclass(frozen=True)
class Identity:
    user: User
    via: Literal["oauth", "basic", "bearer"]
    scopes: frozenset[str] | None  # None: the account's own permissions (headless credentials)


Authenticator = Callable[[Request, Store], Awaitable[Identity | None]]


async def basic(request: Request, store: Store) -> Identity | None:
    """`Basic base64(email:token)` with a sandbox user's API token, as the Cloud REST side accepts it."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user = store.user_by_basic(value.strip())
    return Identity(user, "basic", None) if user is not None else None


async def service_account(request: Request, store: Store) -> Identity | None:
    """`Bearer <service-account key>`: the keys `agentflow sandbox serve --json` prints."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    user = store.user_by_service_account_key(value.strip())
    return Identity(user, "bearer", None) if user is not None else None


async def oauth(request: Request, store: Store) -> Identity | None:
    """`Bearer <access token>` from the sandbox's authorization server, for this endpoint, with its scopes."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    grant = oauth_server.oauth_grant(store, value.strip(), _resource(request))
    return Identity(grant.user, "oauth", grant.scopes) if grant is not None else None


AUTHENTICATORS: list[Authenticator] = [basic, service_account, oauth]


async def authenticate(request: Request, store: Store) -> Identity | None:
    """The identity the first authenticator that recognises the request proves, or None."""
    for authenticator in AUTHENTICATORS:
        identity = await authenticator(request, store)
        if identity is not None:
            return identity
    return None


def challenge(request: Request) -> str:
    """The `WWW-Authenticate` value of a 401 (RFC 6750 §3, RFC 9728 §5.1): `error="invalid_token"` when a Bearer
    value was presented and proves nobody (an expired or revoked OAuth token), and the endpoint's metadata."""
    presented = request.headers.get("authorization", "").lower().startswith("bearer ")
    found = oauth_server.challenge(_resource(request), error="invalid_token" if presented else None)
    return f'Bearer realm="{REALM}", ' + found.removeprefix("Bearer ")


def _resource(request: Request) -> str:
    """The endpoint's URL as the client reached it (the sandbox learns its port only when it is served)."""
    return str(request.url.replace(query="", fragment=""))
