"""Keeping secrets out of everything agentflow writes or says: audit lines, run records, errors, logs, and what
tools hand back to the model.

A `Redactor` replaces (1) the configured secret values themselves — site tokens, API keys, any environment
variable whose name says it is a secret — and (2) text that looks like a credential: Authorization headers
and well-known token formats. Values shorter than 8 characters are not treated as secrets (they would blot
out ordinary words).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET = 8
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIALS?|_PAT)$", re.IGNORECASE)
# (pattern, replacement): credentials by their shape, wherever they turn up.
PATTERNS = [
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:bearer|basic|token)\s+[^\s\"',]+"), r"\g<1>" + MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{16,}=*"), r"\g<1> " + MASK),
    (re.compile(r"\bATATT[A-Za-z0-9_\-=]{20,}"), MASK),  # Atlassian API tokens
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"), MASK),  # Anthropic keys
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK),  # GitHub tokens
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),  # Slack tokens
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),  # AWS access keys
    (re.compile(r"\bsbx-[a-z]+-[0-9a-f]{24}\b"), MASK),  # the sandbox's own tokens
]


class Redactor:
    """Callable on text; `.data()` walks JSON-like structures."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET}
        # A secret may reach text escaped as JSON, JQL and CQL string literals escape it (`"` and `\` behind a
        # backslash): that form is masked too.
        unique |= {s.replace("\\", "\\\\").replace('"', '\\"') for s in unique}
        # Longest first, so that a secret containing another is masked whole.
        self.secrets = sorted(unique, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def secrets_from(env: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """Every secret value agentflow is configured with: secret-named environment variables, the tokens and token
    variables of the config file's sites, servers and chat service, and the scheduler's Slack webhook variable."""
    found = [value for name, value in env.items() if SECRET_NAME.search(name)]
    for table in (config.get("sites") or {}).values():
        if isinstance(table, Mapping):
            found.append(str(table.get("token") or ""))
            if table.get("token_env"):
                found.append(env.get(str(table["token_env"]), ""))
    for table in list((config.get("servers") or {}).values()) + list((config.get("mcpServers") or {}).values()):
        if isinstance(table, Mapping):
            found += [str(v) for k, v in (table.get("env") or {}).items() if SECRET_NAME.search(str(k))]
            found += [str(v) for k, v in (table.get("headers") or {}).items() if k.lower() == "authorization"]
            for key in ("bearer_token_env", "token_env"):  # a server's bearer key or API token, however named
                if table.get(key):
                    found.append(env.get(str(table[key]), ""))
    chatops = config.get("chatops")
    if isinstance(chatops, Mapping):  # `agentflow serve`'s signing secret and API token, however they are named
        found += [str(chatops.get(key) or "") for key in ("signing_secret", "api_token")]
        found += [env.get(str(chatops.get(key)), "") for key in ("signing_secret_env", "api_token_env")]
    schedule = config.get("schedule")
    delivery = schedule.get("delivery") if isinstance(schedule, Mapping) else None
    if isinstance(delivery, Mapping) and delivery.get("slack_webhook_env"):  # the scheduler's Slack webhook URL
        url = env.get(str(delivery["slack_webhook_env"]), "")
        found += [url, url.strip()]  # the scheduler posts to the stripped URL
    return found


_registered: set[str] = set()


def register(*secrets: str) -> None:
    """Secrets this process came to hold that neither the environment nor the config names (OAuth tokens read
    from the credential store): masked from then on wherever the default redactor is used."""
    _registered.update(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET)


@lru_cache(maxsize=4)
def _cached(
    environment: tuple[tuple[str, str], ...], config_path: str, config_mtime: float, registered: frozenset[str]
) -> Redactor:
    from agentflow.config import load_config
    from agentflow.errors import ConfigError

    try:
        config = load_config()
    except ConfigError:  # a broken config file is reported where it is read; redaction must still work
        config = {}
    return Redactor([*secrets_from(dict(environment), config), *registered])


def default() -> Redactor:
    """The redactor for this process's environment and config file (rebuilt when either changes)."""
    from agentflow.config import config_path

    path = config_path()
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _cached(tuple(sorted(os.environ.items())), str(path), mtime, frozenset(_registered))


def scrub(text: str) -> str:
    return default()(text)


class RedactingFormatter(logging.Formatter):
    """Log lines are scrubbed like everything else (a library may log a request with its headers)."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def install_logging(level: int = logging.WARNING) -> None:
    """Route log output through the redactor; called once by the CLI."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
