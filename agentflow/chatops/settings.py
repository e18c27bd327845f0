"""ChatOps settings and who may do what, from `[chatops]` in the config file. Secrets come from the
environment or the config, never from a request.

```toml
[chatops]
workers = 2                 # runs at once
queue = 20                  # runs waiting; beyond that a command is told to try later
per_user = 10               # runs per user per 10 minutes
signing_secret_env = "SLACK_SIGNING_SECRET"
api_token_env = "AGENTFLOW_API_TOKEN"     # Bearer token for POST /api/runs
# signing_secret = "..." / api_token = "..." here instead, if the environment does not carry them
workspaces = ["T0123"]      # Slack team ids allowed (empty: any)
channels = []               # channel ids allowed (empty: any)

[chatops.default]           # everyone in an allowed workspace
workflows = ["incident", "bug-triage"]
apply = false

[chatops.users.U0456]       # a Slack user id
workflows = ["*"]
apply = true

[chatops.channel_grants.C0789]  # added for anyone typing in that channel (also workspace_grants.T...)
workflows = ["incident"]
apply = true

[chatops.api]               # callers of POST /api/runs (they hold the token)
workflows = ["*"]
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentflow.errors import ConfigError


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflows: list[str] = Field(default_factory=list)
    apply: bool = False

    def may_run(self, workflow: str) -> bool:
        return "*" in self.workflows or workflow in self.workflows


class ChatOpsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: int = Field(default=2, ge=1, le=32)
    queue: int = Field(default=20, ge=0, le=1000)
    per_user: int = Field(default=10, ge=1)
    max_body: int = Field(default=16 * 1024, ge=1024)
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    api_token_env: str = "AGENTFLOW_API_TOKEN"
    signing_secret_value: str | None = Field(default=None, alias="signing_secret")  # when not in the environment
    api_token_value: str | None = Field(default=None, alias="api_token")
    workspaces: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    default: Grant = Field(default_factory=lambda: Grant(workflows=["incident", "bug-triage"]))
    users: dict[str, Grant] = Field(default_factory=dict)
    workspace_grants: dict[str, Grant] = Field(default_factory=dict)  # added for everyone in that workspace
    channel_grants: dict[str, Grant] = Field(default_factory=dict)  # added for everyone in that channel
    api_per_window: int = Field(default=60, ge=1)  # API runs per 10 minutes, all callers of the token together
    api_response_hosts: list[str] = Field(default_factory=lambda: ["hooks.slack.com"])
    api: Grant = Field(default_factory=lambda: Grant(workflows=["*"]))  # whoever holds the API token

    def grant(self, user: str, team: str = "", channel: str = "") -> Grant:
        """The user's own grant (or the default), widened by any grant for their workspace and channel."""
        parts = [self.users.get(user, self.default)]
        parts += [g for g in (self.workspace_grants.get(team), self.channel_grants.get(channel)) if g is not None]
        workflows = sorted({name for part in parts for name in part.workflows})
        return Grant(workflows=workflows, apply=any(part.apply for part in parts))

    def place_allowed(self, team: str, channel: str) -> bool:
        return (not self.workspaces or team in self.workspaces) and (not self.channels or channel in self.channels)

    def signing_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        return _secret((env or os.environ).get(self.signing_secret_env) or self.signing_secret_value)

    def api_token(self, env: Mapping[str, str] | None = None) -> str | None:
        return _secret((env or os.environ).get(self.api_token_env) or self.api_token_value)


def _secret(value: str | None) -> str | None:
    """A secret of blanks is no secret: treated as unset (and refused at start if nothing else is set)."""
    return value.strip() or None if value else None


def settings_from(config: Mapping[str, Any]) -> ChatOpsSettings:
    try:
        return ChatOpsSettings.model_validate(config.get("chatops") or {})
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"[chatops] in the config file is invalid: {details}") from None
