"""Which Atlassian site the bundled server talks to, and how it authenticates.

Sites come from the environment (the variable names the community `mcp-atlassian` server uses, so a user can
switch without rewriting anything: `JIRA_URL`, `JIRA_USERNAME`, `JIRA_API_TOKEN`, `JIRA_PERSONAL_TOKEN`,
`CONFLUENCE_URL`, ...) and from `[sites.NAME]` tables in agentflow's config file, so that several sites can be
used by name (`--site engineering`). With nothing configured, the embedded sandbox is the site.

Cloud (`*.atlassian.net`) authenticates with HTTP Basic `email:api-token`; Data Center/Server with a Bearer
personal access token. The flavor is detected from the URL and can be set explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from agentflow.config import config_path, load_config
from agentflow.errors import ConfigError

SANDBOX = "sandbox"
ENV_SITE = "env"
Flavor = Literal["cloud", "dc"]


class SiteConfig(BaseModel):
    """One site. Tokens are `SecretStr`: they print as `**********`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    flavor: Flavor
    jira_url: str | None = None
    confluence_url: str | None = None
    compass_url: str | None = None
    email: str | None = None
    token: SecretStr | None = None
    confluence_email: str | None = None
    confluence_token: SecretStr | None = None
    ca_bundle: str | None = None
    sandbox: bool = False
    sandbox_user: str = "bot"

    @property
    def budget_key(self) -> str:
        """The name the hourly budget counts this site's requests under: its host (so two config names for one
        site share one budget), or `sandbox`."""
        if self.sandbox:
            return SANDBOX
        return urlparse(self.jira_url or self.confluence_url or "").hostname or self.name

    def describe(self) -> str:
        """Which site this is, for a start-up line: its name and flavor, and where it lives — the URL(s) of a
        real site, the database file and the acting user of the sandbox (an MCP client that starts the server
        without AGENTFLOW_STATE_DIR gets another sandbox than `agentflow sandbox serve`: this line tells)."""
        if self.sandbox:
            from agentflow.config import sandbox_db

            return f"site '{self.name}' ({self.flavor}): sandbox database {sandbox_db()}, as '{self.sandbox_user}'"
        urls = ", ".join(dict.fromkeys(u for u in (self.jira_url, self.confluence_url) if u))
        return f"site '{self.name}' ({self.flavor}) at {urls}"


def detect_flavor(url: str) -> Flavor:
    host = (urlparse(url).hostname or "").lower()
    return "cloud" if host.endswith((".atlassian.net", ".jira.com", ".jira-dev.com")) else "dc"


def sandbox_site(flavor: Flavor = "cloud", user: str = "bot") -> SiteConfig:
    return SiteConfig(name=SANDBOX, flavor=flavor, sandbox=True, sandbox_user=user)


def env_site(env: Mapping[str, str]) -> SiteConfig | None:
    """The site the community variables describe, or None when they name no URL."""
    jira_url, confluence_url = env.get("JIRA_URL"), env.get("CONFLUENCE_URL")
    if not jira_url and not confluence_url:
        return None
    for name in ("JIRA_SSL_VERIFY", "CONFLUENCE_SSL_VERIFY"):
        if env.get(name, "true").lower() in ("false", "0", "no"):
            raise ConfigError(
                f"{name}=false: agentflow does not turn TLS verification off; set AGENTFLOW_CA_BUNDLE to the PEM "
                "file of the CA that signed the site's certificate (the OS trust store is used as well)"
            )
    base = jira_url or confluence_url or ""
    flavor = env.get("AGENTFLOW_SITE_FLAVOR") or detect_flavor(base)
    token = env.get("JIRA_API_TOKEN") if flavor == "cloud" else env.get("JIRA_PERSONAL_TOKEN")
    confluence_token = env.get("CONFLUENCE_API_TOKEN") if flavor == "cloud" else env.get("CONFLUENCE_PERSONAL_TOKEN")
    values: dict[str, Any] = {
        "name": ENV_SITE,
        "flavor": flavor,
        "jira_url": jira_url,
        "confluence_url": confluence_url,
        "email": env.get("JIRA_USERNAME") if flavor == "cloud" else None,
        "token": token,
        "confluence_email": env.get("CONFLUENCE_USERNAME") if flavor == "cloud" else None,
        "confluence_token": confluence_token,
        "ca_bundle": env.get("AGENTFLOW_CA_BUNDLE") or env.get("REQUESTS_CA_BUNDLE"),
    }
    return _validated(values, "the environment")


def config_sites(config: Mapping[str, Any]) -> dict[str, SiteConfig]:
    """`[sites.NAME]` tables: `url` (Jira), `confluence_url`, `flavor`, `email`, `token_env` (the variable
    holding the token; keeps secrets out of the file), `token`, `ca_bundle`, `compass_url`."""
    tables = config.get("sites", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{config_path()}: 'sites' must be a table of [sites.NAME] tables")
    sites = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{config_path()}: [sites.{name}] must be a table")
        if name == SANDBOX:
            sites[name] = sandbox_site(table.get("flavor", "cloud"), table.get("user", "bot"))
            continue
        known = {"url", "confluence_url", "compass_url", "flavor", "email", "token", "token_env", "ca_bundle"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{config_path()}: [sites.{name}] has unknown keys: {', '.join(unknown)}")
        token = table.get("token")
        if table.get("token_env"):
            token = os.environ.get(table["token_env"])
            if not token:
                raise ConfigError(f"site '{name}': the variable {table['token_env']} (token_env) is not set")
        url = table.get("url") or table.get("confluence_url") or ""
        values = {
            "name": name,
            "flavor": table.get("flavor") or detect_flavor(url),
            "jira_url": table.get("url"),
            "confluence_url": table.get("confluence_url"),
            "compass_url": table.get("compass_url"),
            "email": table.get("email"),
            "token": token,
            "ca_bundle": table.get("ca_bundle"),
        }
        sites[name] = _validated(values, f"[sites.{name}] in {config_path()}")
    return sites


def _validated(values: dict[str, Any], where: str) -> SiteConfig:
    try:
        site = SiteConfig(**values)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"site from {where} is invalid: {details}") from None
    if not site.token:
        wanted = (
            "an API token (JIRA_API_TOKEN)"
            if site.flavor == "cloud"
            else "a personal access token (JIRA_PERSONAL_TOKEN)"
        )
        raise ConfigError(f"site '{site.name}' ({site.flavor}) has no credentials: it needs {wanted}")
    if site.flavor == "cloud" and not site.email:
        raise ConfigError(f"site '{site.name}' is Jira Cloud: it needs the account's email (JIRA_USERNAME)")
    return site


def budget_key_of(
    name: str | None = None, env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> str:
    """`SiteConfig.budget_key` of the site called `name` (None: the default site, as `resolve_site` picks it),
    from its URL alone: a server that signs in its own way (Rovo's OAuth) may spend a site's budget without
    agentflow holding a token for it. `ConfigError` for a site that is not configured. `config`: the config
    file's contents, when the caller has read it already."""
    env = os.environ if env is None else env
    config = load_config() if config is None else config
    tables = config.get("sites") or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"{config_path()}: 'sites' must be a table of [sites.NAME] tables")
    env_url = env.get("JIRA_URL") or env.get("CONFLUENCE_URL")
    wanted = name or env.get("AGENTFLOW_SITE") or config.get("default_site")
    if wanted is None:
        wanted = ENV_SITE if ENV_SITE in tables or env_url else SANDBOX
    table = tables.get(wanted)
    if wanted == SANDBOX:
        return SANDBOX
    if isinstance(table, dict):
        url = table.get("url") or table.get("confluence_url")
    elif wanted == ENV_SITE and env_url:
        url = env_url
    else:
        known = sorted({*tables, SANDBOX, *([ENV_SITE] if env_url else [])})
        raise ConfigError(f"unknown site '{wanted}'; known sites: {', '.join(known)}")
    return urlparse(url or "").hostname or wanted


def resolve_site(
    name: str | None = None, env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> SiteConfig:
    """The site called `name`, or the default: $AGENTFLOW_SITE, the config's `default_site`, the environment's
    site, and finally the embedded sandbox. `config`: the config file's contents, when read already."""
    env = os.environ if env is None else env
    config = load_config() if config is None else config
    sites = config_sites(config)
    from_env = env_site(env)
    if from_env is not None:
        sites.setdefault(ENV_SITE, from_env)
    sites.setdefault(SANDBOX, sandbox_site())
    wanted = name or env.get("AGENTFLOW_SITE") or config.get("default_site")
    if wanted is None:
        return sites.get(ENV_SITE) or sites[SANDBOX]
    if wanted not in sites:
        raise ConfigError(f"unknown site '{wanted}'; known sites: {', '.join(sorted(sites))}")
    return sites[wanted]
