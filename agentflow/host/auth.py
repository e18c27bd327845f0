"""Signing in to a remote MCP server (streamable HTTP or SSE) the way its config entry says (`ServerSpec.sign_in`).

- `basic`: `Authorization: Basic base64(email:API token)` from the variables `email_env` and `token_env` name
  (Rovo's API-token auth); `bearer`: `Authorization: Bearer <token_env>` (a Rovo service-account key, or any
  static token); `none`: nothing.
- `oauth`: OAuth 2.1 by the `mcp` SDK's `OAuthClientProvider`, which speaks the protocol the MCP authorization
  spec asks for: discovery from the 401 (RFC 9728 protected-resource metadata, then RFC 8414 / OpenID Connect
  metadata), PKCE S256, the RFC 8707 `resource` parameter, the RFC 9207 `iss` check, refresh with rotation,
  step-up on `insufficient_scope` (once per request), and registration in the spec's order: a configured client
  id, a Client ID Metadata Document, else dynamic registration (`application_type: native`).

What this module adds is glue the SDK leaves to its host:
- storage (`_Storage`, the SDK's `TokenStorage`) over `host.credentials`: clients per issuer, tokens per endpoint;
- what the SDK cannot know after a restart: when the stored token expires (it times tokens from the response it
  saw), with `REFRESH_MARGIN` so a run starts with a token that lasts, and the discovered metadata, so a refresh
  goes to the authorization server's token endpoint without discovery;
- a refused client id (`invalid_client` at the token endpoint) is forgotten, so the sign-in registers again;
- headless use (every run): nobody can approve a consent page, so a refresh the server refuses, a token it
  refuses, or a scope it wants ends the connection at once with the reason and the command that fixes it
  (`Connection.failed`), instead of waiting for a browser; a run turns that into `SignInRequired`;
- a failure inside the flow, which the SDK's transport would only log while the request waits forever, is
  reported the same way.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import AnyUrl, ValidationError

from agentflow import redact
from agentflow.errors import ConfigError, ServerStartError
from agentflow.host.credentials import CredentialStore, SignIn
from agentflow.host.specs import AuthKind, ServerSpec

REFRESH_MARGIN = 300.0  # seconds: a token that expires sooner than this is refreshed before it is used
CLIENT_NAME = "agentflow"


def _reported_here(record: logging.LogRecord) -> bool:
    """The SDK logs every failed OAuth flow with its traceback before re-raising it, and its transport logs the
    failure of the request that carried it; `Provider` reports each failure once, in words: drop those lines."""
    if record.name == "mcp.client.auth.oauth2" and record.getMessage() == "OAuth flow error":
        return False
    error = record.exc_info[1] if record.exc_info else None
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return not isinstance(error, SignInFailed)


for _name in ("mcp.client.auth.oauth2", "mcp.client.streamable_http", "mcp.client.sse"):
    logging.getLogger(_name).addFilter(_reported_here)


def login_command(server: str, scopes: list[str] | None = None) -> str:
    """The command that signs in to `server` again (with extra scopes when a refusal named some)."""
    extra = "".join(f" --scope {scope}" for scope in scopes or [])
    return f"agentflow servers login {server}{extra}"


def static_headers(spec: ServerSpec, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `Authorization` header of a `basic` or `bearer` server, from the variables its entry names (their
    values are registered as secrets); {} for `oauth` and `none`. `ServerStartError` when a variable is unset."""
    env = os.environ if env is None else env
    kind = spec.sign_in

    def variable(setting: str, name: str | None) -> str:
        value = env.get(name or "")
        if not value:
            state = "is not set" if value is None else "is empty"
            raise ServerStartError(spec.name, f"the variable {name} ({setting}) {state}")
        return value

    if kind is AuthKind.BEARER:
        setting = "token_env" if spec.token_env else "bearer_token_env"
        token = variable(setting, spec.bearer_env)
        redact.register(token)
        return {"Authorization": f"Bearer {token}"}
    if kind is AuthKind.BASIC:
        email, token = variable("email_env", spec.email_env), variable("token_env", spec.token_env)
        encoded = base64.b64encode(f"{email}:{token}".encode()).decode()
        redact.register(token, encoded)
        return {"Authorization": f"Basic {encoded}"}
    return {}


def refusal(spec: ServerSpec, response: httpx2.Response) -> str:
    """Why a server refused a connection signed in with Basic, Bearer or nothing, naming what to check."""
    error = _challenge(response).get("error")
    status = f"HTTP {response.status_code}{f' {error}' if error else ''}"
    kind = spec.sign_in
    if kind is AuthKind.BASIC:
        return f"it refused the email and API token in ${spec.email_env} and ${spec.token_env} ({status})"
    if kind is AuthKind.BEARER:
        return f"it refused the token in ${spec.bearer_env} ({status})"
    return f'it asks for credentials ({status}): set auth in its config entry ("oauth", "basic" or "bearer")'


class Consent(Protocol):
    """How a person approves a sign-in: the loopback redirect URI the client registers; `show`, which puts the
    authorization URL before them (a browser, or printed); `answer`, what the authorization server redirected
    back with (`ConfigError` when they refused or nothing came back in time)."""

    redirect_uri: str

    async def show(self, authorization_url: str) -> None: ...

    async def answer(self) -> AuthorizationCodeResult: ...


class SignInFailed(Exception):
    """Raised inside the auth flow to stop it; `Connection.reason` says why."""


@dataclass
class Connection:
    """The sign-in side of one connection to one server. `on_failure` is told the reason once (the host ends
    the connection); `reason` keeps it for whoever reports the failure."""

    spec: ServerSpec
    store: CredentialStore
    consent: Consent | None = None  # None: headless, nobody to approve anything
    on_failure: Callable[[str], None] | None = None
    reason: str | None = None
    issuer_hint: str | None = None
    scope: str | None = None  # what to ask for when the server's challenge names no scope
    provider: Provider | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.spec.url or ""

    def failed(self, reason: str) -> None:
        if self.reason is None:
            self.reason = redact.scrub(reason)
            if self.on_failure is not None:
                self.on_failure(self.reason)

    def stop(self, reason: str) -> SignInFailed:
        self.failed(reason)
        return SignInFailed(self.reason or reason)

    async def saw(self, request: httpx2.Request, response: httpx2.Response) -> None:
        """Every response of the flow passes here before the SDK reads it."""
        assert self.provider is not None
        context = self.provider.context
        if request.method == "POST" and _form(request).get("grant_type") in ("refresh_token", "authorization_code"):
            grant = _form(request)["grant_type"]
            if response.status_code < 400:
                return
            await response.aread()  # a small error document (the SDK reads it again from the buffer)
            error, description = _oauth_error(response)
            if error == "invalid_client":
                # The authorization server no longer knows the client (deleted, expired): register afresh.
                issuer = context.auth_server_url or self.issuer_hint
                if issuer and not self.spec.client_id:
                    self.store.forget_client(issuer)
                    if self.consent is not None:
                        context.client_info = None
            if self.consent is None and grant == "refresh_token":
                refusal = f"{error}: {description}" if description else error
                raise self.stop(
                    f"the authorization server refused to refresh the sign-in ({refusal}); sign in again: "
                    f"{login_command(self.spec.name)}"
                )
            return
        if str(request.url) != self.url:
            return
        if self.consent is not None:
            self._least_privilege(response)
            return
        if response.status_code == 401:
            raise self.stop(
                f"{self.url} refused the stored access token (expired, revoked or for another server); sign in "
                f"again: {login_command(self.spec.name)}"
            )
        challenge = _challenge(response)
        if response.status_code == 403 and challenge.get("error") == "insufficient_scope":
            wanted = (challenge.get("scope") or "").split()
            granted = set((context.current_tokens.scope or "").split()) if context.current_tokens else set()
            missing = [scope for scope in wanted if scope not in granted] or wanted
            names = ", ".join(missing) or "a scope it did not name"
            raise self.stop(
                f"the sign-in lacks the scope {names} this call needs; sign in again with it: "
                f"{login_command(self.spec.name, missing)}"
            )

    def _least_privilege(self, response: httpx2.Response) -> None:
        """A 401 that names no scope makes the SDK ask for every scope the server supports (MCP authorization,
        "scope selection"); the scopes the config names are asked for instead, so a read-only setup never asks
        for write scopes. A challenge that names a scope (a step-up) is left to the SDK."""
        if response.status_code != 401 or not self.scope or "scope" in _challenge(response):
            return
        header = response.headers.get("www-authenticate") or "Bearer"
        separator = ", " if "=" in header else " "
        response.headers["www-authenticate"] = f'{header}{separator}scope="{self.scope}"'


class Provider(OAuthClientProvider):
    """The SDK's provider with every response shown to the `Connection` first and every failure reported."""

    def __init__(self, connection: Connection, **options: Any) -> None:
        super().__init__(**options)
        self.connection = connection

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        flow = super().async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                response = yield outgoing
                await self.connection.saw(outgoing, response)
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        except SignInFailed:
            raise
        except ConfigError as error:  # ours, already in words (a refusal, nothing pasted)
            raise self.connection.stop(str(error)) from None
        except Exception as error:
            raise self.connection.stop(f"the OAuth sign-in failed: {_describe(error)}") from None
        finally:
            await flow.aclose()


class _Storage:
    """The SDK's `TokenStorage` for one endpoint. In a sign-in (`fresh`), stored tokens are not offered, so the
    flow asks the person again; the registered client still is, so the sign-in reuses it."""

    def __init__(self, connection: Connection, *, fresh: bool) -> None:
        self.connection = connection
        self.fresh = fresh

    async def get_tokens(self) -> OAuthToken | None:
        if self.fresh:
            return None
        found = self.connection.store.sign_in(self.connection.spec.name, self.connection.url)
        return found.tokens if found else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        connection = self.connection
        store, context = connection.store, _context(connection)
        prior = None if self.fresh else store.sign_in(connection.spec.name, connection.url)
        now = store.clock()
        metadata = context.oauth_metadata
        resource_metadata = context.protected_resource_metadata
        store.save_sign_in(
            SignIn(
                server=connection.spec.name,
                resource=connection.url,
                issuer=context.auth_server_url or (prior.issuer if prior else None),
                client_id=context.client_info.client_id if context.client_info else None,
                tokens=tokens,
                scopes=(tokens.scope or "").split(),
                expires_at=now + tokens.expires_in if tokens.expires_in else None,
                signed_in_at=prior.signed_in_at if prior else now,
                refreshed_at=now if prior else None,
                account=prior.account if prior else None,
                token_endpoint=str(metadata.token_endpoint) if metadata else (prior.token_endpoint if prior else None),
                revocation_endpoint=(
                    str(metadata.revocation_endpoint)
                    if metadata and metadata.revocation_endpoint
                    else (prior.revocation_endpoint if prior else None)
                ),
                authorization_server=metadata.model_dump(mode="json", exclude_none=True)
                if metadata
                else (prior.authorization_server if prior else None),
                resource_metadata=resource_metadata.model_dump(mode="json", exclude_none=True)
                if resource_metadata
                else (prior.resource_metadata if prior else None),
            )
        )
        self.fresh = False

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        connection = self.connection
        spec = connection.spec
        if spec.client_id:
            redirect = [AnyUrl(connection.consent.redirect_uri)] if connection.consent else None
            return OAuthClientInformationFull(client_id=spec.client_id, redirect_uris=redirect,
                                              token_endpoint_auth_method="none")  # fmt: skip
        issuer = connection.issuer_hint
        return connection.store.client(issuer) if issuer else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        issuer = client_info.issuer or _context(self.connection).auth_server_url or self.connection.issuer_hint
        if issuer and not self.connection.spec.client_id:
            self.connection.store.save_client(issuer, client_info)
            self.connection.store.remember_issuer(self.connection.url, issuer)
            self.connection.issuer_hint = issuer


def oauth(
    spec: ServerSpec,
    store: CredentialStore,
    *,
    consent: Consent | None = None,
    on_failure: Callable[[str], None] | None = None,
    fresh: bool = False,
    scopes: list[str] | None = None,
) -> Connection:
    """The sign-in of one connection to an `oauth` server: `connection.provider` is the `httpx2.Auth` to send
    its requests with. Headless (no `consent`), check `require_sign_in` first. `fresh`: a new sign-in even if
    one is stored (what `agentflow servers login` does); `scopes`: asked for beyond the configured ones (and,
    in a fresh sign-in, beyond those granted before, so a step-up keeps what was granted)."""
    stored = store.sign_in(spec.name, spec.url or "")
    connection = Connection(spec, store, consent=consent, on_failure=on_failure)
    connection.issuer_hint = (stored.issuer if stored else None) or store.issuer_for(spec.url or "")
    wanted = scopes_to_ask(spec, scopes, stored if fresh else None)
    connection.scope = " ".join(wanted) or None
    metadata = OAuthClientMetadata(
        client_name=CLIENT_NAME,
        redirect_uris=[AnyUrl(consent.redirect_uri)] if consent else [AnyUrl("http://127.0.0.1/callback")],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="none",
        scope=" ".join(wanted) if wanted else None,
        application_type="native",
    )

    async def nobody_to_approve(url: str) -> None:
        raise connection.stop(f"the server asks for a new sign-in; sign in: {login_command(spec.name)}")

    async def no_answer() -> AuthorizationCodeResult:  # pragma: no cover - the redirect handler raised first
        raise connection.stop("nobody can approve a sign-in here")

    provider = Provider(
        connection,
        server_url=spec.url or "",
        client_metadata=metadata,
        storage=_Storage(connection, fresh=fresh),
        redirect_handler=consent_handler(connection) if consent else nobody_to_approve,
        callback_handler=consent.answer if consent else no_answer,
        client_metadata_url=spec.client_metadata_url,
    )
    connection.provider = provider
    if stored is not None and not fresh:
        _restore(provider, stored, store)
    return connection


def require_sign_in(spec: ServerSpec, store: CredentialStore) -> SignIn:
    """The stored sign-in of an `oauth` server; `SignInRequired` when there is none (a run never starts a
    sign-in: that registers a client and needs a person)."""
    from agentflow.errors import SignInRequired

    found = store.sign_in(spec.name, spec.url or "")
    if found is None:
        raise SignInRequired(spec.name, f"not signed in to {spec.url}; sign in: {login_command(spec.name)}")
    return found


def refresh_due(spec: ServerSpec, store: CredentialStore) -> bool:
    """Whether connecting to `spec` would refresh its stored sign-in (it expires within `REFRESH_MARGIN`)."""
    if spec.sign_in is not AuthKind.OAUTH:
        return False
    found = store.sign_in(spec.name, spec.url or "")
    return found is not None and found.expires_at is not None and found.expires_at - store.clock() < REFRESH_MARGIN


def _restore(provider: Provider, stored: SignIn, store: CredentialStore) -> None:
    """What the SDK learnt in the process that signed in: when the token expires (on the wall clock the SDK
    reads, less the margin) and the metadata it discovered, so a refresh needs no discovery."""
    context = provider.context
    if stored.expires_at is not None:
        context.token_expiry_time = time.time() + (stored.expires_at - store.clock()) - REFRESH_MARGIN
    try:
        if stored.authorization_server:
            context.oauth_metadata = OAuthMetadata.model_validate(stored.authorization_server)
        if stored.resource_metadata:
            context.protected_resource_metadata = ProtectedResourceMetadata.model_validate(stored.resource_metadata)
    except ValidationError:  # metadata of an older agentflow: the SDK discovers it again when it needs it
        context.oauth_metadata = context.protected_resource_metadata = None
    context.auth_server_url = stored.issuer


def consent_handler(connection: Connection) -> Callable[[str], Awaitable[None]]:
    """The SDK's redirect handler for a sign-in with a person: first make sure the authorization server still
    takes our client id (a stale one gets an error page, and Rovo a plain 500, where the consent page should be),
    then show the person the URL."""

    async def show(url: str) -> None:
        consent = connection.consent
        assert consent is not None
        if await _refused_at_authorize(connection, url):
            issuer = _context(connection).auth_server_url
            if issuer and not connection.spec.client_id:
                connection.store.forget_client(issuer)
                raise connection.stop(_STALE_CLIENT)
            client_id = connection.spec.client_id
            raise connection.stop(f"the authorization server refused the configured client_id {client_id}")
        await consent.show(url)

    return show


_STALE_CLIENT = "the authorization server refused the registered client id"


def is_stale_client(reason: str | None) -> bool:
    """Whether a sign-in failed because the stored client was refused (it was forgotten: try once more)."""
    return reason == _STALE_CLIENT


async def _refused_at_authorize(connection: Connection, url: str) -> bool:
    async with httpx2.AsyncClient(timeout=30.0, verify=verify_for(connection.spec)) as http:
        try:
            response = await http.get(url)
        except httpx2.HTTPError:
            return False  # the person's browser may still get through; the consent step will say if not
    return response.status_code >= 400


def _context(connection: Connection) -> Any:
    assert connection.provider is not None
    return connection.provider.context


def verify_for(spec: ServerSpec) -> Any:
    """The TLS verification of a remote server: the OS trust store plus its `ca_bundle` (as for sites)."""
    from agentflow.atlassian.errors import AtlassianError
    from agentflow.atlassian.http import tls_context

    try:
        return tls_context(spec.ca_bundle)
    except AtlassianError as exc:
        raise ConfigError(f"server '{spec.name}': {exc.message}") from None


def _form(request: httpx2.Request) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    try:
        body = request.content.decode()
    except (httpx2.RequestNotRead, UnicodeDecodeError):
        return {}
    return {key: values[0] for key, values in parse_qs(body).items()}


def _oauth_error(response: httpx2.Response) -> tuple[str, str]:
    """RFC 6749 §5.2's `error` and `error_description` of a refused token request."""
    try:
        body = response.json()
    except (ValueError, httpx2.ResponseNotRead):
        body = {}
    if not isinstance(body, dict):
        body = {}
    return str(body.get("error") or f"HTTP {response.status_code}"), str(body.get("error_description") or "")


def _challenge(response: httpx2.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer k="v", ...` header (RFC 6750 §3)."""
    import re

    header = response.headers.get("www-authenticate", "")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def scopes_to_ask(spec: ServerSpec, extra: list[str] | None, stored: SignIn | None) -> list[str]:
    """The scopes a sign-in asks for: the configured ones, and for a step-up (`extra`) those too and those granted
    before (MCP authorization: a step-up keeps what was granted); [] when neither the config nor the command names
    any (then the server's challenge or metadata decides). A plain sign-in asks for the configured ones only."""
    if not (spec.scopes or extra):
        return []
    return _union(spec.scopes, extra, stored.scopes if stored and extra else None)


def _union(*lists: list[str] | None) -> list[str]:
    seen: dict[str, None] = {}
    for scopes in lists:
        for scope in scopes or []:
            seen[scope] = None
    return list(seen)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def redirect_result(url: str) -> AuthorizationCodeResult:
    """What an authorization server redirected back with (`code`, `state`, `iss`), from the redirect URL a
    browser was sent to; `ConfigError` for a refusal (`error=access_denied`, ...) or a URL that carries no code."""
    query = {key: values[0] for key, values in parse_qs(urlsplit(url.strip()).query).items()}
    if "error" in query:
        detail = f": {query['error_description']}" if query.get("error_description") else ""
        raise ConfigError(f"the sign-in was refused ({query['error']}{detail})")
    if not query.get("code"):
        raise ConfigError("that is not the address the sign-in redirected to (it has no code= in it)")
    return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))
