"""The agentflow exception tree.

Every error agentflow raises on purpose derives from `AgentflowError`; anything else is a bug. The CLI
edge (`agentflow.cli`) is the only place that maps these to exit codes:

    AgentflowError             base class; never raised itself
    ├── ConfigError            bad input or configuration (exit 2)
    │   ├── WorkflowNotFound   no workflow of that name in any search directory
    │   ├── ServerStartError   an MCP server could not be started or connected (names it, with stderr's tail)
    │   ├── StateError         a state file cannot be written (disk full, read-only) or read (damaged): names it
    │   ├── ToolsChanged       a server's tools differ from their pins in agentflow.lock; the message is the diff
    │   └── ProblemsError      carries `.problems`, one `Problem` per mistake
    │       ├── WorkflowInvalid  a workflow file, or a template it names, is malformed
    │       └── InputInvalid     run inputs missing, unknown, or not of their declared type
    ├── ServerError            a connected MCP server failed mid-run: died, timed out, broke protocol (exit 1)
    │   └── ServerTimeout      a call did not answer within the server's `call_timeout`
    ├── ModelError             the model API failed: auth, rate limit, overload, bad request, script exhausted (exit 1)
    │   └── ScriptUnreadable   a `--model script:PATH` file cannot be read or parsed (also a ConfigError: exit 2)
    └── Deferred               a run that cannot start now but may later (exit 3)
        ├── BudgetDeferred     a batch run does not fit in the hourly budget yet; says when it would
        └── SignInRequired     a remote server's sign-in is missing or cannot be refreshed; says how to sign in

Errors that concern a file carry one `Problem` per mistake, so that a user fixes them all in one pass
instead of one per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One mistake, located as precisely as we can: `file:line: message`."""

    message: str
    file: Path | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = _display_path(self.file)
        return f"{where}:{self.line}: {self.message}" if self.line else f"{where}: {self.message}"


def _display_path(path: Path) -> str:
    """Relative to the working directory when under it: that is what a user can click or paste."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class AgentflowError(Exception):
    """Base of every deliberate agentflow error."""


class ConfigError(AgentflowError):
    """Bad input or configuration: the user can fix it and try again."""


class ProblemsError(ConfigError):
    """A `ConfigError` that lists every problem found, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("a ProblemsError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class WorkflowNotFound(ConfigError):
    """No workflow of that name; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listing = ", ".join(known) if known else "none"
        super().__init__(f"unknown workflow '{name}'; known workflows: {listing}")


class WorkflowInvalid(ProblemsError):
    """A workflow file or one of its templates is malformed."""


class InputInvalid(ProblemsError):
    """Run inputs are missing, unknown or not of their declared type."""


class ServerStartError(ConfigError):
    """An MCP server that could not be started or connected; the message names it and quotes its stderr."""

    def __init__(self, server: str, reason: str, stderr_tail: str = "") -> None:
        self.server = server
        self.reason = reason
        self.stderr_tail = stderr_tail
        tail = f"\n--- last lines of its stderr ---\n{stderr_tail.rstrip()}" if stderr_tail.strip() else ""
        super().__init__(f"MCP server '{server}' did not start: {reason}{tail}")


class StateError(ConfigError):
    """A file of the state directory that cannot be written (disk full, read-only, not ours) or read (damaged);
    the message names the file and what to do (see `agentflow.statefiles`)."""


class ToolsChanged(ConfigError):
    """Servers whose tool definitions changed, appeared or vanished since they were pinned (`host.pins`): the run
    stops before any tool is called; the message is a readable diff and says how to review and trust it."""

    def __init__(self, servers: list[str], diff: str) -> None:
        self.servers = servers
        self.diff = diff
        super().__init__(diff)


class ServerError(AgentflowError):
    """A connected MCP server failed during a run (it exited, timed out or broke the protocol)."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"MCP server '{server}' failed: {reason}")


class ServerTimeout(ServerError):
    """A call that did not answer within its server's `call_timeout` (the call may still reach the site)."""


class ModelError(AgentflowError):
    """The model could not produce a turn. `kind` is one of: auth, rate_limited, overloaded, bad_request,
    connection, timeout, server, script (a scripted model ran out of turns or is malformed)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(f"model error ({kind}): {message}")


class ScriptUnreadable(ConfigError, ModelError):
    """A scripted model's file cannot be read or parsed (missing, not YAML, over a parser limit): bad input, so
    a `ConfigError` (exit 2) that code catching `ModelError` still sees as the script's failure."""

    def __init__(self, message: str) -> None:
        ModelError.__init__(self, "script", message)


class Deferred(AgentflowError):
    """A run that cannot start now; `retry_at` (epoch seconds) is when it might, None when no one can say."""

    def __init__(self, message: str, retry_at: float | None) -> None:
        self.retry_at = retry_at
        super().__init__(message)


class BudgetDeferred(Deferred):
    """A batch run whose `max_calls` does not fit in what batch work may use of the hourly budget now."""


class SignInRequired(Deferred):
    """A remote MCP server's credentials are missing, expired beyond refresh, revoked or short of a scope: a
    person must sign in again (`agentflow servers login NAME`). Found before the run's first tool call."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"MCP server '{server}' needs a sign-in: {reason}", None)
