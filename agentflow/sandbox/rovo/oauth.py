"""The OAuth 2.1 authorization server of the sandbox's Rovo-like MCP endpoints, built on the `mcp` SDK's.

The SDK's handlers speak the protocol (RFC 6749 grants, RFC 7636 PKCE with S256 only, RFC 7591 registration,
RFC 7009 revocation, RFC 8414 and RFC 9728 metadata); this module is their `OAuthAuthorizationServerProvider`
over the site's SQLite store, plus what Rovo does and the SDK leaves to the server:
- RFC 8707: every authorization names one MCP endpoint (`resource`), the token is bound to it, and a token
  request naming another endpoint is refused with `invalid_target`;
- RFC 9207: the authorization response carries `iss`, and the metadata says so;
- short-lived access tokens and rotating refresh tokens (issued with `offline_access`); presenting a spent
  refresh token again revokes every token of that sign-in (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2);
- redirect URIs: https, or http on loopback only (RFC 8252 §7.3, §8.3);
- a consent page (consent.py) where a person picks the seeded user to sign in as.

Resource servers (the MCP endpoints) call `oauth_grant` to turn a bearer token into the user and the scopes it
was granted, and `challenge` to build the `WWW-Authenticate` header of a 401 (RFC 6750 §3, RFC 9728 §5.1).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.handlers.token import TokenErrorResponse, TokenHandler
from mcp.server.auth.json_response import PydanticJSONResponse
from mcp.server.auth.middleware.client_auth import ClientAuthenticator
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import (
    REVOCATION_PATH,
    TOKEN_PATH,
    build_metadata,
    build_resource_metadata_url,
    cors_middleware,
    create_auth_routes,
    create_protected_resource_routes,
)
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentflow.sandbox.rovo import consent
from agentflow.sandbox.rovo.oauth_store import OAuthStore, TokenRecord
from agentflow.sandbox.store import Store, User

# Rovo's granular scopes, read and write apart; `offline_access` asks for a refresh token.
SCOPES = (
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "read:confluence-content.all",
    "write:confluence-content",
    "search:confluence",
    "read:compass-component",
    "offline_access",
)
MCP_PATHS = ("/v1/mcp", "/v2/mcp")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# The site's own Basic authentication owns the Authorization header, so clients authenticate in the form body
# (RFC 6749 §2.3.1) or are public clients with PKCE alone.
CLIENT_AUTH_METHODS = ["client_secret_post", "none"]
_METADATA_PATH = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True)
class OAuthSettings:
    """Lifetimes in seconds of the store's clock. Rovo's access tokens were seen living 55 min and 8 h."""

    access_ttl: float = 3600.0
    refresh_ttl: float | None = 90 * 86400.0
    code_ttl: float = 300.0
    consent_ttl: float = 600.0


@dataclass(frozen=True)
class OAuthGrant:
    """What a valid access token stands for: who signed in, through which client, allowed to do what, where."""

    user: User
    client_id: str
    scopes: frozenset[str]
    resource: str
    expires_at: float


def _canonical(url: str) -> str:
    return url.rstrip("/")


def _wall_time(store_time: float | None, now: float) -> int | None:
    """`store_time` as wall-clock epoch seconds: the SDK's handlers compare expiry with `time.time()`, and the
    store's clock (injected in tests) must stay the one that decides, so only the time left is carried over."""
    return None if store_time is None else int(time.time() + (store_time - now))


class SandboxOAuthProvider:
    """The SDK's `OAuthAuthorizationServerProvider` for one site served at `issuer`."""

    def __init__(self, store: Store, issuer: str, resources: Iterable[str], settings: OAuthSettings) -> None:
        self.records = OAuthStore(store)
        self.store = store
        self.issuer = _canonical(issuer)
        self.resources = frozenset(_canonical(r) for r in resources)
        self.settings = settings

    # --- registration (RFC 7591) ---------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.records.client(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            if not (uri.scheme == "https" or (uri.scheme == "http" and uri.host in LOOPBACK_HOSTS)):
                raise RegistrationError("invalid_redirect_uri", f"{uri}: only https, or http on loopback")
        if client_info.token_endpoint_auth_method not in CLIENT_AUTH_METHODS:
            raise RegistrationError(
                "invalid_client_metadata", f"token_endpoint_auth_method must be one of {CLIENT_AUTH_METHODS}"
            )
        self.records.add_client(client_info)

    # --- authorization and consent -------------------------------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Park the validated request and send the browser to the consent page."""
        if params.resource is None or _canonical(params.resource) not in self.resources:
            raise AuthorizeError("invalid_target", f"resource must be one of {sorted(self.resources)}")
        scopes = params.scopes or (client.scope or "").split()
        parked = params.model_copy(update={"scopes": scopes, "resource": _canonical(params.resource)})
        request_id = self.records.add_request(
            client.client_id, parked.model_dump(mode="json"), self.settings.consent_ttl
        )
        return construct_redirect_uri(f"{self.issuer}{consent.CONSENT_PATH}", request=request_id)

    def pending(self, request_id: str) -> tuple[OAuthClientInformationFull, AuthorizationParams] | None:
        """The client and parameters of a request waiting on the consent page."""
        found = self.records.request(request_id)
        client = self.records.client(found.client_id) if found else None
        if found is None or client is None:
            return None
        return client, AuthorizationParams.model_validate(found.params)

    def decide(self, request_id: str, user: User | None) -> str | None:
        """Answer a consent request: approve as `user`, or deny with None. The redirect back to the client (with
        `iss`, RFC 9207 §2), or None when the request is unknown, expired or already answered."""
        found = self.records.take_request(request_id)
        if found is None:
            return None
        params = AuthorizationParams.model_validate(found.params)
        if user is None:
            return construct_redirect_uri(
                str(params.redirect_uri), error="access_denied", state=params.state, iss=self.issuer
            )
        code = self.records.add_code(found.client_id, user.id, found.params, self.settings.code_ttl)
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state, iss=self.issuer)

    # --- grants --------------------------------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        found = self.records.code(authorization_code)
        if found is None or found.client_id != client.client_id:
            return None
        params = AuthorizationParams.model_validate(found.params)
        return AuthorizationCode(
            code=authorization_code,
            scopes=params.scopes or [],
            expires_at=_wall_time(found.expires_at, self.records.now()),
            client_id=found.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=str(found.user_id),
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        if not self.records.take_code(authorization_code.code):
            raise TokenError("invalid_grant", "authorization code already used")
        assert authorization_code.subject is not None and authorization_code.resource is not None
        return self._tokens(
            self.records.new_family(),
            client.client_id,
            int(authorization_code.subject),
            authorization_code.scopes,
            authorization_code.resource,
        )

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        record = self.records.token(refresh_token)
        if record is None or record.kind != "refresh" or record.client_id != client.client_id:
            return None
        if record.used:
            # A spent refresh token presented again: someone holds a copy. End the whole sign-in.
            self.records.revoke_family(record.family)
            return None
        if not self.records.is_live(record):
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=record.client_id,
            scopes=list(record.scopes),
            expires_at=_wall_time(record.expires_at, self.records.now()),
            resource=record.resource,
            subject=str(record.user_id),
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        record = self.records.token(refresh_token.token)
        if record is None or not self.records.mark_used(refresh_token.token):
            raise TokenError("invalid_grant", "refresh token already used")
        # `scopes` may narrow the grant (RFC 6749 §6); without offline_access the chain ends here.
        return self._tokens(record.family, client.client_id, record.user_id, scopes, record.resource)

    def _tokens(self, family: str, client_id: str, user_id: int, scopes: list[str], resource: str) -> OAuthToken:
        ttl = self.settings.access_ttl
        access = self.records.issue("access", family, client_id, user_id, scopes, resource, ttl)
        refresh = None
        if "offline_access" in scopes:
            refresh = self.records.issue(
                "refresh", family, client_id, user_id, scopes, resource, self.settings.refresh_ttl
            )
        return OAuthToken(access_token=access, expires_in=int(ttl), scope=" ".join(scopes), refresh_token=refresh)

    # --- access tokens and revocation (RFC 7009) ----------------------------------------------------------

    async def load_access_token(self, token: str) -> AccessToken | None:
        record = self.records.token(token)
        if record is None or record.kind != "access" or not self.records.is_live(record):
            return None
        return AccessToken(
            token=token,
            client_id=record.client_id,
            scopes=list(record.scopes),
            expires_at=_wall_time(record.expires_at, self.records.now()),
            resource=record.resource,
            subject=str(record.user_id),
            claims={"iss": self.issuer},
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        """Revoking either token of a sign-in revokes both (RFC 7009 §2.1 allows it; the SDK asks for it)."""
        record = self.records.token(token.token)
        if record is not None:
            self.records.revoke_family(record.family)

    def token_resource(self, grant_type: str, credential: str) -> str | None:
        """The endpoint the code or refresh token of a token request is bound to, when it exists."""
        if grant_type == "authorization_code":
            found = self.records.code(credential)
            return found.params.get("resource") if found else None
        if grant_type == "refresh_token":
            record = self.records.token(credential)
            return record.resource if record else None
        return None


def _token_route(provider: SandboxOAuthProvider) -> Route:
    """The SDK's token endpoint behind an RFC 8707 §2 check it does not make: a token request's `resource`,
    when given, must be the endpoint the grant is bound to."""
    handler = TokenHandler(provider, ClientAuthenticator(provider))

    async def token(request: Request) -> Response:
        form = await request.form()  # cached on the request: the SDK's handler reads the same form
        resource, grant_type = form.get("resource"), form.get("grant_type")
        credential = form.get("code") if grant_type == "authorization_code" else form.get("refresh_token")
        if isinstance(resource, str) and isinstance(grant_type, str) and isinstance(credential, str):
            bound = provider.token_resource(grant_type, credential)
            if bound is not None and bound != _canonical(resource):
                refusal = TokenErrorResponse(error="invalid_target", error_description=f"this grant is for {bound}")
                return PydanticJSONResponse(refusal, status_code=400, headers={"Cache-Control": "no-store"})
        return await handler.handle(request)

    return Route(TOKEN_PATH, cors_middleware(token, ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"])


def _metadata(issuer: str) -> OAuthMetadata:
    """RFC 8414 metadata: the SDK's, with the client authentication this server takes and RFC 9207 §3."""
    base = build_metadata(
        AnyHttpUrl(issuer),
        None,
        ClientRegistrationOptions(enabled=True),
        RevocationOptions(enabled=True),
    )
    return OAuthMetadata.model_validate(
        base.model_dump(mode="json", exclude_none=True)
        | {
            "issuer": issuer,  # as given: RFC 8414 §3.3 compares it as a string, so no added trailing slash
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
            "authorization_response_iss_parameter_supported": True,
        }
    )


def resource_metadata_url(resource_url: str) -> str:
    """Where the RFC 9728 document of an MCP endpoint is (§3.1: the well-known prefix before its path)."""
    return str(build_resource_metadata_url(AnyHttpUrl(resource_url)))


def oauth_routes(
    store: Store, issuer_url: str, resource_urls: Iterable[str] | None = None, settings: OAuthSettings | None = None
) -> list[Route]:
    """The authorization server's routes for a site served at `issuer_url` (its origin, no path), protecting
    `resource_urls` (default: the origin's `/v1/mcp` and `/v2/mcp`). Times come from `store.clock`."""
    issuer = _canonical(issuer_url)
    resources = (
        [_canonical(r) for r in resource_urls] if resource_urls is not None else [issuer + path for path in MCP_PATHS]
    )
    provider = SandboxOAuthProvider(store, issuer, resources, settings or OAuthSettings())
    sdk_routes = create_auth_routes(
        provider,
        AnyHttpUrl(issuer),
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=list(SCOPES), default_scopes=list(SCOPES)
        ),
        revocation_options=RevocationOptions(enabled=True),
    )
    kept = [
        Route(r.path, _PublicClientRevocation(r.app), methods=list(r.methods or [])) if r.path == REVOCATION_PATH else r
        for r in sdk_routes
        if r.path not in (TOKEN_PATH, _METADATA_PATH)
    ]
    return [
        Route(
            _METADATA_PATH,
            cors_middleware(MetadataHandler(_metadata(issuer)).handle, ["GET", "OPTIONS"]),
            methods=["GET", "OPTIONS"],
        ),
        _token_route(provider),
        *kept,
        *consent.routes(provider),
        *(
            route
            for resource in resources
            for route in create_protected_resource_routes(
                # Strings, not AnyHttpUrl: pydantic would add a trailing slash to the bare-origin issuer, and
                # clients compare it with the metadata's `issuer` as a string (RFC 8414 §3.3).
                resource,  # type: ignore[arg-type]
                [issuer],  # type: ignore[list-item]
                list(SCOPES),
                "Atlassian Rovo MCP (sandbox)",
            )
        ),
    ]


class _PublicClientRevocation:
    """RFC 7009 §2.1: a public client revokes with its `client_id` alone. The SDK's handler requires a
    `client_secret` field (it may be empty), so a form without one gets an empty one before it is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if "client_secret" not in parse_qs(body.decode("latin-1")) and b"client_secret=" not in body:
            body += (b"&" if body else b"") + b"client_secret="
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class OAuthEndpoints:
    """The authorization server for whatever origin a request arrives at: a sandbox learns its port only when
    it is served, and its issuer and endpoint URLs must name it (RFC 8414 §3.3, RFC 8707 §2)."""

    def __init__(self, store: Store, settings: OAuthSettings | None = None) -> None:
        self.store = store
        self.settings = settings
        self.routers: dict[str, Router] = {}

    def routes(self) -> list[Route]:
        """One route per path of the server, all dispatching here; for a site app's route list."""
        paths = dict.fromkeys(r.path for r in oauth_routes(self.store, "http://localhost", settings=self.settings))
        return [Route(path, self) for path in paths]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _canonical(str(Request(scope).base_url))
        router = self.routers.get(origin)
        if router is None:
            if len(self.routers) >= 16:  # the Host header is the client's to choose: keep a few origins, not all
                self.routers.clear()
            router = self.routers[origin] = Router(oauth_routes(self.store, origin, settings=self.settings))
        await router(scope, receive, send)


def oauth_grant(store: Store, token: str, resource: str) -> OAuthGrant | None:
    """The grant behind a bearer token presented at `resource`; None for a token that is unknown, expired,
    revoked, for another endpoint (RFC 8707), or whose user is deactivated."""
    records = OAuthStore(store)
    record: TokenRecord | None = records.token(token)
    if record is None or record.kind != "access" or not records.is_live(record):
        return None
    if record.resource != _canonical(resource):
        return None
    user = store.user(record.user_id)
    if user is None or not user.active:
        return None
    assert record.expires_at is not None
    return OAuthGrant(user, record.client_id, frozenset(record.scopes), record.resource, record.expires_at)


def challenge(resource_url: str, error: str | None = None, scope: str | None = None) -> str:
    """The `WWW-Authenticate` value of a 401 from an MCP endpoint. `error` is `invalid_token` when a token was
    presented and refused, None when none was (RFC 6750 §3.1); `scope` tells the client what to ask for."""
    params: dict[str, Any] = {"resource_metadata": resource_metadata_url(resource_url), "error": error, "scope": scope}
    return "Bearer " + ", ".join(f'{key}="{value}"' for key, value in params.items() if value is not None)
