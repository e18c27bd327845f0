"""Where agentflow keeps its state, and the config file every part reads its settings from.

State directory (sandbox database, run records, budget ledger, audit log; its files are made by
`agentflow.statefiles`): `$AGENTFLOW_STATE_DIR` (or its alias `$AGENTFLOW_HOME`), else the platform's user
state directory (e.g. `~/.local/state/agentflow`).
Config file (TOML): `$AGENTFLOW_CONFIG`, else `config.toml` in the user config directory (e.g.
`~/.config/agentflow/config.toml`); it is optional.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from agentflow.errors import ConfigError, Problem

STATE_DIR_VAR = "AGENTFLOW_STATE_DIR"
CONFIG_VAR = "AGENTFLOW_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_VAR) or os.environ.get("AGENTFLOW_HOME")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("agentflow", appauthor=False))


def sandbox_db() -> Path:
    """The embedded sandbox's database: the same file across restarts keeps users, tokens and changes."""
    return state_dir() / "sandbox.db"


def config_path() -> Path:
    configured = os.environ.get(CONFIG_VAR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("agentflow", appauthor=False)) / "config.toml"


def load_config() -> dict[str, Any]:
    """The config file's contents, or {} when there is none; a broken file is a `ConfigError` with its line."""
    path = config_path()
    if path.exists() and not path.is_file():
        raise ConfigError(f"the config file {path} is a directory, not a file")
    if not path.is_file():
        if os.environ.get(CONFIG_VAR):
            raise ConfigError(f"{CONFIG_VAR} names {path}, which does not exist")
        return {}
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"the config file {path} is {path.stat().st_size:,} bytes; at most {MAX_CONFIG_BYTES:,}")
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConfigError(f"the config file {path} nests too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(str(Problem(f"invalid TOML: {exc}", path, line))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise ConfigError(f"the config file {path} has a value agentflow cannot read: {exc}") from None
