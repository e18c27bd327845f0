"""Where agentflow keeps its state, and the config file every part reads its settings from.

State directory (sandbox database, run records, budget ledger, audit log): `$AGENTFLOW_STATE_DIR` (or its
alias `$AGENTFLOW_HOME`), else the platform's user state directory (e.g. `~/.local/state/agentflow`).
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


PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter: created 0700 (whatever the umask), an existing one of
    ours tightened with a warning. A directory others may write to is refused: they could swap our files.
    `ConfigError` when it cannot be made private."""
    try:
        previous = os.umask(0o077)  # the parents it makes too: mkdir's mode applies to the last one only
        try:
            path.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(previous)
        status = path.stat()
        mode = status.st_mode & 0o777
        if status.st_uid != os.getuid():
            raise ConfigError(f"{path} belongs to another user; agentflow keeps its state only in a directory of yours")
        if mode & 0o022:
            raise ConfigError(
                f"{path} may be written by other users (mode {mode:o}); agentflow keeps tokens and records there: "
                "make it private (chmod 700) or point AGENTFLOW_STATE_DIR elsewhere"
            )
        if mode & 0o077:
            os.chmod(path, PRIVATE_DIR)
            _tightened(path, mode)
    except OSError as exc:
        raise ConfigError(f"cannot make the directory {path} private: {exc.strerror or exc}") from None
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read: created empty 0600 if missing, tightened with a warning if
    looser. Its directory is made private first."""
    private_dir(path.parent)
    try:
        # Never through a symlink: one planted in the directory could point our chmod or writes elsewhere.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
        try:  # the open file, not the path again: nothing can be swapped in between
            mode = os.fstat(descriptor).st_mode & 0o777
            if mode & 0o077:
                os.fchmod(descriptor, PRIVATE_FILE)
                _tightened(path, mode)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise ConfigError(f"cannot make the file {path} private: {exc.strerror or exc}") from None
    return path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically and privately: a 0600 temporary file beside it (`NAME.partial`),
    flushed to disk, then renamed over it, so that a reader never sees half a file."""
    partial = private_file(path.with_name(path.name + ".partial"))
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)
    return path


def _tightened(path: Path, mode: int) -> None:
    import sys

    print(f"agentflow: {path} was open to other users (mode {mode:o}); it is now private", file=sys.stderr)


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
