"""Where agentflow keeps its state, and (as later parts arrive) the settings read from env and config file.

The state directory holds the sandbox database, run records, the budget ledger and the audit log:
`$AGENTFLOW_STATE_DIR`, else the platform's user state directory (e.g. `~/.local/state/agentflow`).
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_VAR = "AGENTFLOW_STATE_DIR"


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_VAR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("agentflow", appauthor=False))


def sandbox_db() -> Path:
    """The embedded sandbox's database: the same file across restarts keeps users, tokens and changes."""
    return state_dir() / "sandbox.db"
