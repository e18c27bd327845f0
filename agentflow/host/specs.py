"""MCP servers as the config describes them: `ServerSpec`, read from `[servers.NAME]` tables of agentflow's config
or from the `mcpServers` JSON shape other MCP hosts use (`load_server_specs`).

A spec says how to start or reach a server (the bundled one in-process, a stdio child, streamable HTTP or legacy
SSE), how long to wait for it, and, for a server other than the bundled one that reaches an Atlassian site,
which site's budget its calls spend and what one call costs (see `host.servers` for how they are connected), and
how its tool pins are checked (`pins`, see `host.pins`).

A remote (http/sse) server signs in with `auth` (`host.auth`): `oauth` (OAuth 2.1, `agentflow servers login`),
`basic` (`email_env` and `token_env` name the variables holding an email and API token: Rovo's API-token
auth), `bearer` (`token_env`: a service-account key or any static token; the older `bearer_token_env` means
the same) or `none`. `ca_bundle` and `proxy` are its TLS and proxy options, as a site's are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from agentflow.atlassian import catalog
from agentflow.errors import ConfigError

BUNDLED = catalog.SERVER_NAME
MAX_REQUESTS_PER_CALL = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# What other hosts write in `type`/`transport` of an `mcpServers` entry, mapped to ours.
_TRANSPORT_ALIASES = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "streamableHttp": "http",
    "sse": "sse",
    "bundled": "bundled",
}


class AuthKind(StrEnum):
    """How a remote server is signed in to."""

    OAUTH = "oauth"
    BASIC = "basic"
    BEARER = "bearer"
    NONE = "none"


class ServerSpec(BaseModel):
    """One MCP server: how to start or reach it, and how long to wait for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    transport: Literal["bundled", "stdio", "http", "sse"]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_env: str | None = None
    auth: AuthKind | None = None  # None: bearer when a token variable is named, else none (see `sign_in`)
    email_env: str | None = None
    token_env: str | None = None
    scopes: list[str] | None = None  # OAuth scopes to ask for; None: what the server's challenge names
    client_id: str | None = None  # an OAuth client registered beforehand with the authorization server
    client_metadata_url: str | None = None  # an https URL the user hosts: a Client ID Metadata Document
    callback_port: int | None = Field(default=None, ge=1, le=65535)  # of http://127.0.0.1:PORT/callback
    ca_bundle: str | None = None
    proxy: str | None = None
    startup_timeout: float = Field(default=20, gt=0)
    call_timeout: float = Field(default=120, gt=0)
    site: str | None = None  # the Atlassian site (a name from [sites] or 'sandbox') whose budget its calls spend
    requests_per_call: StrictInt = Field(default=1, ge=1, le=MAX_REQUESTS_PER_CALL)
    meters_itself: StrictBool = False
    # How its tool pins are checked (`host.pins`): any change stops a run, or new tools are accepted and recorded.
    pins: Literal["strict", "additions"] = "strict"

    @model_validator(mode="after")
    def _fits_transport(self) -> ServerSpec:
        if not _NAME.match(self.name):
            raise ValueError("a server name may use only letters, digits, '_' and '-' (and not start with _ or -)")
        process = {"command": self.command, "args": self.args, "env": self.env, "cwd": self.cwd}
        remote = {"url": self.url, "headers": self.headers, **{key: getattr(self, key) for key in _REMOTE_ONLY}}
        if self.transport == "stdio" and not self.command:
            raise ValueError("a stdio server needs a command")
        if self.transport in ("http", "sse") and not (self.url and self.url.startswith(("http://", "https://"))):
            raise ValueError(f"{self.transport} servers need a url starting with http:// or https://")
        metering = [key for key in ("requests_per_call", "meters_itself") if key in self.model_fields_set]
        if self.transport == "bundled" and (self.site or metering):
            raise ValueError(
                "site, requests_per_call and meters_itself are for other servers: the bundled server meters every "
                "request it sends to the run's site itself"
            )
        if metering and not self.site:
            raise ValueError(f"{' and '.join(metering)} need site, the Atlassian site whose budget the calls spend")
        misplaced = {
            "bundled": [*process, *remote],
            "stdio": list(remote),
            "http": list(process),
            "sse": list(process),
        }[self.transport]
        given = [key for key in misplaced if (process | remote)[key]]
        if given:
            verb = "is" if len(given) == 1 else "are"
            raise ValueError(f"{', '.join(given)} {verb} not used by {self.transport} servers")
        if self.transport in ("http", "sse"):
            _check_sign_in(self)
        return self

    @property
    def sign_in(self) -> AuthKind:
        """How this server is signed in to, the default filled in."""
        if self.auth is not None:
            return self.auth
        return AuthKind.BEARER if (self.token_env or self.bearer_token_env) else AuthKind.NONE

    @property
    def bearer_env(self) -> str | None:
        """The variable holding a bearer token (`token_env`, or the older `bearer_token_env`)."""
        return self.token_env or self.bearer_token_env


_REMOTE_ONLY = (
    "bearer_token_env", "auth", "email_env", "token_env", "scopes", "client_id", "client_metadata_url",
    "callback_port", "ca_bundle", "proxy",
)  # fmt: skip


def _check_sign_in(spec: ServerSpec) -> None:
    """The settings `auth` needs are there, and no setting of another kind of sign-in is."""
    kind = spec.sign_in
    if spec.token_env and spec.bearer_token_env:
        raise ValueError("token_env and bearer_token_env say the same thing: keep token_env")
    needs = {
        AuthKind.BASIC: ["email_env", "token_env"],
        AuthKind.BEARER: [] if spec.bearer_env else ["token_env"],
    }.get(kind, [])
    missing = [key for key in needs if not getattr(spec, key)]
    if missing:
        raise ValueError(f'auth = "{kind}" needs {" and ".join(missing)} (the variable(s) holding the credentials)')
    oauth_only = ["scopes", "client_id", "client_metadata_url", "callback_port"]
    allowed = {
        AuthKind.OAUTH: oauth_only,
        AuthKind.BASIC: ["email_env", "token_env"],
        AuthKind.BEARER: ["token_env", "bearer_token_env"],
        AuthKind.NONE: [],
    }[kind]
    stray = [
        key
        for key in ("email_env", "token_env", "bearer_token_env", *oauth_only)
        if getattr(spec, key) is not None and key not in allowed
    ]
    if stray:
        raise ValueError(f'{", ".join(stray)} {"is" if len(stray) == 1 else "are"} not used with auth = "{kind}"')
    sends_credentials = kind is not AuthKind.NONE or any(key.lower() == "authorization" for key in spec.headers)
    if sends_credentials and not _private_channel(spec.url or ""):
        raise ValueError(
            f"{spec.url} is plain http to another machine: its credentials would cross the network in clear text; "
            "use https (plain http is for 127.0.0.1 and localhost only)"
        )
    if kind is not AuthKind.NONE and any(key.lower() == "authorization" for key in spec.headers):
        raise ValueError(f'an Authorization header in headers and auth = "{kind}" both sign in: keep one')
    if spec.client_metadata_url is not None and not _https_with_path(spec.client_metadata_url):
        raise ValueError(
            "client_metadata_url must be an https URL with a path that you host (a Client ID Metadata Document)"
        )
    if spec.scopes is not None and any(not scope or " " in scope for scope in spec.scopes):
        raise ValueError('scopes are single words, e.g. ["read:jira-work", "offline_access"]')


def _private_channel(url: str) -> bool:
    """https anywhere, or plain http to this machine (RFC 8252 §8.3's loopback exception)."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _https_with_path(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.netloc) and parts.path not in ("", "/")


def load_server_specs(config: Mapping[str, Any]) -> dict[str, ServerSpec]:
    """Every server the config describes, by name; `atlassian` is the bundled server unless defined here."""
    specs: dict[str, ServerSpec] = {}
    for key, convert in (("servers", _from_table), ("mcpServers", _from_json)):
        entries = config.get(key)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            raise ConfigError(f"'{key}' in the config must map server names to their settings")
        for name, entry in entries.items():
            where = f"server '{name}' ({key}.{name})"
            if name in specs:
                raise ConfigError(f"{where}: defined twice, in both 'servers' and 'mcpServers'")
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{where}: must be a table/object of settings")
            values = convert(name, entry, where)
            if values is None:
                continue
            try:
                specs[name] = ServerSpec(**values)
            except ValidationError as exc:
                raise ConfigError(f"{where}: {_validation_message(exc)}") from None
    specs.setdefault(BUNDLED, ServerSpec(name=BUNDLED, transport="bundled"))
    return specs


def _from_table(name: str, table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A `[servers.NAME]` table: our own field names; the transport may be left to `command`/`url`."""
    values = {**table, "name": name}
    if "transport" in values:
        values["transport"] = _transport(values["transport"], where)
    elif "command" in values:
        values["transport"] = "stdio"
    elif "url" in values:
        values["transport"] = "http"
    else:
        raise ConfigError(f'{where}: needs a command (stdio), a url (http/sse) or transport = "bundled"')
    return values


def _from_json(name: str, entry: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    """An `mcpServers` entry as other hosts write it; keys those hosts add for themselves are ignored."""
    if entry.get("disabled") is True:
        return None
    kind = entry.get("type", entry.get("transport"))
    if kind is not None:
        transport = _transport(kind, where)
    elif "command" in entry:
        transport = "stdio"
    elif "url" in entry:
        transport = "http"
    else:
        raise ConfigError(f"{where}: needs a command (stdio) or a url (http/sse)")
    ours = (
        "command", "args", "env", "cwd", "url", "headers", "startup_timeout", "call_timeout", "site",
        "requests_per_call", "meters_itself", "pins", *_REMOTE_ONLY,
    )  # fmt: skip
    return {"name": name, "transport": transport, **{key: entry[key] for key in ours if key in entry}}


def _transport(kind: Any, where: str) -> str:
    if kind not in _TRANSPORT_ALIASES:
        known = ", ".join(sorted(_TRANSPORT_ALIASES))
        raise ConfigError(f"{where}: unknown transport {kind!r}; use one of {known}")
    return _TRANSPORT_ALIASES[kind]


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(map(str, error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)
