"""Signing in to and out of a remote MCP server, and saying where agentflow is signed in: what `agentflow
servers login / logout / status` do (the command line only prints).

`login` connects to the server as a run would, but with a person to approve: the server's 401 starts the SDK's
OAuth flow (`host.auth`), the person approves in a browser (`host.consent`), and the MCP handshake completes with
the new tokens, which are stored. A registered client the authorization server no longer takes is forgotten and
the sign-in tried once more with a new registration. `logout` revokes the tokens (RFC 7009) and forgets them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from enum import StrEnum

import anyio
import httpx2
from mcp import Client
from pydantic import BaseModel

from agentflow.errors import ConfigError
from agentflow.host import auth
from agentflow.host.credentials import CredentialStore, SignIn
from agentflow.host.specs import AuthKind, ServerSpec

WHO_AM_I = "atlassianUserInfo"  # Rovo's (and the sandbox's) profile tool: who approved the sign-in
ConsentFactory = Callable[[int], AbstractAsyncContextManager[auth.Consent]]


def remote(spec: ServerSpec) -> ServerSpec:
    """`spec` if it is an OAuth server; `ConfigError` saying why not otherwise."""
    if spec.transport not in ("http", "sse"):
        raise ConfigError(f"'{spec.name}' is not a remote server ({spec.transport}): nothing to sign in to")
    if spec.sign_in is not AuthKind.OAUTH:
        how = {
            AuthKind.BASIC: f"an email and API token from ${spec.email_env} and ${spec.token_env}",
            AuthKind.BEARER: f"a token from ${spec.bearer_env}",
            AuthKind.NONE: "no credentials",
        }[spec.sign_in]
        raise ConfigError(
            f'\'{spec.name}\' signs in with {how} (auth = "{spec.sign_in}"); set auth = "oauth" in its config '
            "entry to sign in through a browser"
        )
    return spec


async def login(
    spec: ServerSpec,
    store: CredentialStore,
    consent: ConsentFactory,
    *,
    scopes: list[str] | None = None,
    timeout: float = 300.0,
    say: Callable[[str], None] = lambda _: None,
) -> SignIn:
    """Sign in to `spec` with a person's approval; the stored sign-in. The sign-in it replaces is revoked, so no
    live token is left behind that agentflow no longer holds (`say` is told if that fails). `ConfigError` when
    the server or the person refuses, the flow fails (the `iss` check, a resource mismatch, ...) or nobody
    answers in `timeout` s."""
    remote(spec)
    replaced = store.sign_in(spec.name, spec.url or "")
    for attempt in (1, 2):
        try:
            with anyio.fail_after(timeout):
                account, reason = await _attempt(spec, store, consent, scopes)
        except TimeoutError:
            raise ConfigError(f"no sign-in to '{spec.name}' within {timeout:g} s; try again") from None
        if reason is None:
            break
        if auth.is_stale_client(reason) and attempt == 1:
            continue  # forgotten: the next attempt registers a new client
        raise ConfigError(f"signing in to '{spec.name}' failed: {reason}")
    found = store.sign_in(spec.name, spec.url or "")
    if found is None:  # the handshake succeeded without the server asking for a sign-in at all
        raise ConfigError(f"'{spec.name}' at {spec.url} let agentflow in without signing in: set auth = \"none\"")
    if account:
        found = found.model_copy(update={"account": account})
        store.save_sign_in(found)
    if replaced is not None and replaced.tokens.refresh_token != found.tokens.refresh_token:
        refusals = await revoke(spec, replaced)
        if refusals:
            say(f"the previous sign-in could not be revoked ({'; '.join(refusals)}); it expires by itself")
    return found


async def _attempt(
    spec: ServerSpec, store: CredentialStore, consent: ConsentFactory, scopes: list[str] | None
) -> tuple[str | None, str | None]:
    """One sign-in: (who signed in, None) or (None, why it failed)."""
    from agentflow.host.servers import remote_client

    stored = store.sign_in(spec.name, spec.url or "")
    issuer = (stored.issuer if stored else None) or store.issuer_for(spec.url or "")
    client = store.client(issuer) if issuer else None
    # A configured port (a client registered by hand names its redirect URI), else the registration's, else any.
    port = spec.callback_port or _loopback_port(client.redirect_uris if client else None)
    async with consent(port) as approving:
        if spec.callback_port and not approving.redirect_uri.startswith(f"http://127.0.0.1:{spec.callback_port}/"):
            return None, f"port {spec.callback_port} (callback_port) is in use on 127.0.0.1; free it and try again"
        registered = set((client.scope or "").split()) if client else set()
        wanted = set(auth.scopes_to_ask(spec, scopes, stored))
        if client is not None and (
            approving.redirect_uri not in [str(uri) for uri in client.redirect_uris or []]
            or (client.scope and not wanted <= registered)
        ):
            # Registered for another port or fewer scopes: the server would refuse the redirect or the scopes
            # (RFC 7591 §2), so a new registration is made.
            store.forget_client(issuer or "")
        with anyio.CancelScope() as scope:
            connection = auth.oauth(spec, store, consent=approving, fresh=True, scopes=scopes,
                                    on_failure=lambda _: scope.cancel())  # fmt: skip
            try:
                async with remote_client(spec, connection.provider) as session:
                    return await _who(session), None
            except Exception as error:
                if connection.reason is None:
                    connection.failed(str(error) or type(error).__name__)
        return None, connection.reason or "the server closed the connection"


async def _who(session: Client) -> str | None:
    """The signed-in account as the server describes it ("Name <email>"), when it offers a profile tool."""
    tools = await session.list_tools()
    if WHO_AM_I not in {tool.name for tool in tools.tools}:
        return None
    result = await session.call_tool(WHO_AM_I, {})
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        profile = result.structured_content or json.loads(text)
    except ValueError:
        return None
    if not isinstance(profile, dict):
        return None
    name, email = profile.get("name"), profile.get("email")
    return f"{name} <{email}>" if name and email else (name or email)


def _loopback_port(redirect_uris: object) -> int:
    """The port a registered client's loopback redirect URI names, so the registration can be reused; 0: any."""
    for uri in redirect_uris or []:  # type: ignore[attr-defined]
        text = str(uri)
        if text.startswith("http://127.0.0.1:"):
            try:
                return int(text.split(":")[2].split("/")[0])
            except ValueError:
                continue
    return 0


class LogoutOutcome(StrEnum):
    REVOKED = "revoked"
    FORGOTTEN = "forgotten"  # the server offers no revocation endpoint, or `forget` was asked: forgotten here only
    KEPT = "kept"  # revocation failed: kept so that logout can be tried again
    NOT_SIGNED_IN = "not signed in"


async def logout(spec: ServerSpec, store: CredentialStore, *, forget: bool = False) -> tuple[LogoutOutcome, str]:
    """Revoke the sign-in at the authorization server (RFC 7009: the refresh token, which revokes its access
    tokens, then the access token), then forget it here; (outcome, detail). When revocation fails the sign-in is
    kept (it is still valid at the server, and only agentflow holds it) unless `forget`."""
    remote(spec)
    found = store.sign_in(spec.name, spec.url or "")
    if found is None:
        return LogoutOutcome.NOT_SIGNED_IN, f"no sign-in to {spec.url} is stored"
    if not found.revocation_endpoint:
        outcome, detail = LogoutOutcome.FORGOTTEN, "the authorization server offers no revocation; forgotten here only"
    else:
        refusals = await revoke(spec, found)
        if not refusals:
            outcome, detail = LogoutOutcome.REVOKED, f"revoked at {found.revocation_endpoint}"
        elif forget:
            outcome = LogoutOutcome.FORGOTTEN
            detail = (
                f"revocation failed ({'; '.join(refusals)}); forgotten here, still valid at the server until it expires"
            )
        else:
            detail = (
                f"revocation failed ({'; '.join(refusals)}); the sign-in is kept so that logout can be tried again "
                "(--forget forgets it anyway: it then stays valid at the server until it expires)"
            )
            return LogoutOutcome.KEPT, detail
    store.forget_sign_in(spec.name, spec.url or "")
    return outcome, detail


async def revoke(spec: ServerSpec, found: SignIn) -> list[str]:
    """Revoke a sign-in's tokens (RFC 7009); what failed, one line each ([]: both revoked, or nothing to do)."""
    if not found.revocation_endpoint:
        return []
    refusals = []
    tokens = [(found.tokens.refresh_token, "refresh_token"), (found.tokens.access_token, "access_token")]
    async with httpx2.AsyncClient(timeout=30.0, verify=auth.verify_for(spec), proxy=spec.proxy) as http:
        for token, hint in tokens:
            if not token:
                continue
            form = {"token": token, "token_type_hint": hint, "client_id": found.client_id or ""}
            try:
                response = await http.post(found.revocation_endpoint, data=form)
            except httpx2.HTTPError as exc:
                refusals.append(f"{found.revocation_endpoint}: {type(exc).__name__}")
                break  # the server is out of reach: the access token would fail the same way
            if response.status_code != 200:
                refusals.append(f"HTTP {response.status_code} for the {hint.replace('_', ' ')}")
    return refusals


class ServerStatus(BaseModel):
    """What `servers status` says of one server; never a token."""

    name: str
    url: str | None
    auth: AuthKind | None  # None: not a remote server
    state: str
    account: str | None = None
    scopes: list[str] = []
    expires_at: float | None = None
    refreshed_at: float | None = None
    signed_in_at: float | None = None
    issuer: str | None = None
    warning: str | None = None


def status(specs: list[ServerSpec], store: CredentialStore | None, env: dict[str, str]) -> list[ServerStatus]:
    """Each configured server's sign-in; `store` may be None when no server uses OAuth."""
    return [_status(spec, store, env) for spec in specs]


def _status(spec: ServerSpec, store: CredentialStore | None, env: dict[str, str]) -> ServerStatus:
    if spec.transport not in ("http", "sse"):
        return ServerStatus(name=spec.name, url=None, auth=None, state=f"{spec.transport}: no sign-in")
    kind = spec.sign_in
    base = {"name": spec.name, "url": spec.url, "auth": kind}
    if kind is AuthKind.NONE:
        return ServerStatus(**base, state="no credentials")
    if kind in (AuthKind.BASIC, AuthKind.BEARER):
        names = [spec.email_env, spec.token_env] if kind is AuthKind.BASIC else [spec.bearer_env]
        unset = [f"${name}" for name in names if not env.get(name or "")]
        state = f"from {' and '.join(f'${n}' for n in names)}"
        return ServerStatus(**base, state=state, warning=f"{', '.join(unset)} not set" if unset else None)
    assert store is not None
    found = store.sign_in(spec.name, spec.url or "")
    if found is None:
        return ServerStatus(**base, state="not signed in", warning=f"sign in: {auth.login_command(spec.name)}")
    warning = None
    expired = found.expires_at is not None and found.expires_at <= store.clock()
    if not found.tokens.refresh_token and found.expires_at is not None:
        # Nothing can renew it: unattended runs fail from then on (ask for offline_access to get a refresh token).
        warning = f"no refresh token: runs fail once it expires; sign in again: {auth.login_command(spec.name)}"
    return ServerStatus(
        **base,
        state="expired" if expired and not found.tokens.refresh_token else "signed in",
        account=found.account,
        scopes=found.scopes,
        expires_at=found.expires_at,
        refreshed_at=found.refreshed_at,
        signed_in_at=found.signed_in_at,
        issuer=found.issuer,
        warning=warning,
    )


def moment(epoch: float | None, now: float | None = None) -> str:
    """An epoch time as a person reads it, with how far away it is."""
    if epoch is None:
        return "-"
    now = time.time() if now is None else now
    seconds = epoch - now
    when = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    span = abs(seconds)
    amount = f"{span / 3600:.1f} h" if span >= 3600 else f"{span / 60:.0f} min"
    return f"{when} (in {amount})" if seconds >= 0 else f"{when} ({amount} ago)"
