"""The audit trail: one JSON line per tool call and per applied write, so an AI-made change is never just
another API call.

Lines go to `audit.log` in the state directory (created with mode 0600), or where `AGENTFLOW_AUDIT_LOG`
says (`-` for stdout, as containers want). Each line: time, run id, actor, trigger, workflow, server, tool,
arguments, outcome, duration, requests, the tool's pin (the SHA-256 of its definition, as `agentflow.lock` keeps
it), and the result's size and SHA-256 (not the result itself). Every
line passes through the redactor first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentflow import config, redact, statefiles
from agentflow.errors import ConfigError, StateError

AUDIT_VAR = "AGENTFLOW_AUDIT_LOG"
_lock = threading.Lock()


@dataclass(frozen=True)
class Actor:
    """Who a run acts for: a CLI user, a chat user, or the scheduler; and how it was started."""

    actor: str
    trigger: str
    run_id: str
    workflow: str


def log_path() -> Path | None:
    """Where audit lines go; None means standard output."""
    configured = os.environ.get(AUDIT_VAR)
    if configured == "-":
        return None
    return Path(configured).expanduser() if configured else config.state_dir() / "audit.log"


def digest(result: str) -> str:
    """The SHA-256 (hex) of a call's whole result text: the audit line and the run record carry the same one,
    so a replay can tell where a site answered differently."""
    return hashlib.sha256(result.encode()).hexdigest()


# What changes between two identical answers of one site: moments (ISO times, "3 hours ago"), UUIDs and ARIs.
_VOLATILE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\b\d+ (?:second|minute|hour|day|week|month|year)s? ago\b"
    r"|\bari:cloud:[^\s\"'<>)\]]+"
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)


def stable_digest(result: str) -> str:
    """`digest` of the result with its moments and generated ids masked: what a replay compares, so that a
    sandbox seeded relative to now, or a site's clock, does not count as an answer that changed."""
    return digest(_VOLATILE.sub("·", result))


def record(
    who: Actor,
    *,
    server: str,
    tool: str,
    arguments: dict[str, Any],
    outcome: str,
    duration_ms: float,
    requests: int,
    result: str = "",
    result_sha256: str | None = None,
    kind: str = "tool_call",
    pin: str | None = None,
) -> dict[str, Any]:
    """Append one line; returns it (redacted) for callers that show it. `pin`: the called tool's pin (the
    SHA-256 of its definition when the call was made; None for a tool no server offers)."""
    scrub = redact.default()
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "kind": kind,
        "run_id": who.run_id,
        "actor": who.actor,
        "trigger": who.trigger,
        "workflow": who.workflow,
        "server": server,
        "tool": tool,
        "pin": pin,
        "arguments": scrub.data(arguments),
        "outcome": outcome,
        "duration_ms": round(duration_ms, 1),
        "requests": requests,
        "result_bytes": len(result.encode()),
        "result_sha256": result_sha256 or digest(result),  # given when the caller hashed it already
    }
    text = scrub(json.dumps(line, ensure_ascii=False, default=str))
    path = log_path()
    with _lock:
        if path is None:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            _append(path, text)
    return json.loads(text)


def ready() -> None:
    """`StateError` now if audit lines could not be written, before work that must be audited (an apply's
    writes): a change made on the site must never go unrecorded."""
    path = log_path()
    if path is not None:
        _append(path, "")


def _append(path: Path, text: str) -> None:
    if path.parent == config.state_dir():
        statefiles.private_dir(path.parent)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise statefiles.unwritable(path.parent, exc, "the audit log's directory") from None
    statefiles.append_private(path, text + "\n" if text else "")  # a symlink planted there is refused


def read(
    run_id: str | None = None,
    since: timedelta | None = None,
    tool: str | None = None,
    on_unreadable: Callable[[int], None] = lambda number: None,
) -> Iterator[dict[str, Any]]:
    """Lines of the log, oldest first, filtered; an unreadable line (cut short by a crash, not UTF-8) is skipped
    and its number handed to `on_unreadable`. `StateError` when the log is not a file."""
    path = log_path()
    if path is None:
        raise ConfigError(f"{AUDIT_VAR}=- sends the audit log to standard output; there is no file to read")
    if not path.exists():
        return
    if not path.is_file():
        raise StateError(f"the audit log {path} is not a file: move it aside")
    cutoff = datetime.now(UTC) - since if since else None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = json.loads(raw)
                if not isinstance(line, dict) or "time" not in line:
                    raise ValueError("not an audit line")
                moment = datetime.fromisoformat(line["time"])
            except (ValueError, TypeError):
                on_unreadable(number)
                continue
            if run_id and not str(line.get("run_id", "")).startswith(run_id):
                continue
            if tool and line.get("tool") != tool:
                continue
            if cutoff and moment < cutoff:
                continue
            yield line


def parse_since(text: str) -> timedelta:
    """`30m`, `1h`, `2d`, `1w` -> a duration; `ConfigError` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise ConfigError(f"--since must look like 30m, 1h, 2d or 1w, not '{text}'")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})
