"""MCP servers as the config describes them: `ServerSpec`, read from `[servers.NAME]` tables of agentflow's config
or from the `mcpServers` JSON shape other MCP hosts use (`load_server_specs`).

A spec says how to start or reach a server (the bundled one in-process, a stdio child, streamable HTTP or legacy
SSE), how long to wait for it, and, for a server other than the bundled one that reaches an Atlassian site,
which site's budget its calls spend and what one call costs (see `host.servers` for how they are connected).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    startup_timeout: float = Field(default=20, gt=0)
    call_timeout: float = Field(default=120, gt=0)
    site: str | None = None  # the Atlassian site (a name from [sites] or 'sandbox') whose budget its calls spend
    requests_per_call: StrictInt = Field(default=1, ge=1, le=MAX_REQUESTS_PER_CALL)
    meters_itself: StrictBool = False

    @model_validator(mode="after")
    def _fits_transport(self) -> ServerSpec:
        if not _NAME.match(self.name):
            raise ValueError("a server name may use only letters, digits, '_' and '-' (and not start with _ or -)")
        process = {"command": self.command, "args": self.args, "env": self.env, "cwd": self.cwd}
        remote = {"url": self.url, "headers": self.headers, "bearer_token_env": self.bearer_token_env}
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
        return self


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
        "command", "args", "env", "cwd", "url", "headers", "bearer_token_env", "startup_timeout", "call_timeout",
        "site", "requests_per_call", "meters_itself",
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
