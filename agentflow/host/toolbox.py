"""The tool catalogue a model sees: the servers' tools filtered by the workflow's allowlist, under safe names.

An allowlist entry is a tool name (`search_jira_issues`), or `server.tool` / `server__tool` where two servers
offer the same name. Every entry must name exactly one offered tool, checked before any model call, so that a
typo is a `ConfigError` with suggestions rather than a model that silently lacks a tool.

Model APIs accept tool names matching `^[a-zA-Z0-9_-]{1,64}$`, so other characters become `_`. A tool keeps its
own name unless that would be ambiguous: when two allowed tools share a name, or a name is reserved for the
host's own tools (`update_plan`, `submit_result`), it is exposed as `server__tool`. Whatever still clashes or
runs long gets a short digest of its identity, so names stay unique and the same from run to run.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from collections.abc import Collection, Sequence

from agentflow.agent.models import ToolSpec
from agentflow.errors import ConfigError
from agentflow.host.servers import HostTool

MAX_NAME = 64
SEPARATORS = (".", "__")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


class Toolbox:
    """The allowed tools by the name the model calls them."""

    def __init__(self, tools: dict[str, HostTool]) -> None:
        self._tools = tools

    def specs(self) -> list[ToolSpec]:
        """The tools as the model sees them, in allowlist order (stable, so prompt caches keep hitting)."""
        return [
            ToolSpec(name=name, description=tool.description, input_schema=tool.input_schema)
            for name, tool in self._tools.items()
        ]

    def resolve(self, model_name: str) -> HostTool:
        """The tool behind a name the model used; `KeyError` when the model made one up."""
        try:
            return self._tools[model_name]
        except KeyError:
            raise KeyError(f"no tool '{model_name}'; the tools are: {', '.join(self._tools)}") from None

    def by_tool_name(self, name: str) -> HostTool:
        """The allowed tool a workflow step names, the way its allowlist does (or by its model name)."""
        if name in self._tools:
            return self._tools[name]
        allowed = list(self._tools.values())
        matches = _named(name, allowed)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ConfigError(_ambiguous(name, matches))
        raise ConfigError(f"tool '{name}' is not in the workflow's tools; allowed: {', '.join(self._tools) or 'none'}")

    def names(self) -> list[str]:
        """The names the model calls the tools by."""
        return list(self._tools)


def build_toolbox(tools: list[HostTool], allowlist: list[str], reserved: Collection[str] = ()) -> Toolbox:
    """The toolbox for a workflow; `ConfigError` listing every allowlist entry that names no single tool."""
    chosen: dict[tuple[str, str], HostTool] = {}
    problems = []
    for entry in dict.fromkeys(allowlist):
        matches = _named(entry, tools)
        if len(matches) == 1:
            chosen.setdefault((matches[0].server, matches[0].name), matches[0])
        elif matches:
            problems.append(_ambiguous(entry, matches))
        else:
            problems.append(_unknown(entry, tools))
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"the workflow's tools do not match what its servers offer:\n{listing}\n{_offered(tools)}")
    selected = list(chosen.values())
    return Toolbox(dict(zip(_model_names(selected, reserved), selected, strict=True)))


def _named(entry: str, tools: Sequence[HostTool]) -> list[HostTool]:
    """The tools an entry names: `server.tool` or `server__tool` when the prefix is a server, else by tool name."""
    servers = {tool.server for tool in tools}
    for separator in SEPARATORS:
        server, found, name = entry.partition(separator)
        if found and server in servers:
            qualified = [tool for tool in tools if tool.server == server and tool.name == name]
            if qualified:
                return qualified
    return [tool for tool in tools if tool.name == entry]


def _ambiguous(entry: str, matches: list[HostTool]) -> str:
    choices = " or ".join(f"'{tool.server}.{tool.name}'" for tool in matches)
    servers = ", ".join(sorted({tool.server for tool in matches}))
    return f"'{entry}' is offered by more than one server ({servers}); write {choices}"


def _unknown(entry: str, tools: Sequence[HostTool]) -> str:
    candidates = {tool.name for tool in tools} | {f"{tool.server}.{tool.name}" for tool in tools}
    close = difflib.get_close_matches(entry, sorted(candidates), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(name) for name in close)}?)" if close else ""
    return f"no server offers a tool '{entry}'{hint}"


def _offered(tools: Sequence[HostTool]) -> str:
    by_server: dict[str, list[str]] = {}
    for tool in tools:
        by_server.setdefault(tool.server, []).append(tool.name)
    if not by_server:
        return "The servers offer no tools."
    lines = [f"  {server}: {', '.join(sorted(names))}" for server, names in by_server.items()]
    return "The servers offer:\n" + "\n".join(lines)


def _model_names(tools: list[HostTool], reserved: Collection[str]) -> list[str]:
    plain = [_safe(tool.name) for tool in tools]
    counts = Counter(plain)
    names = [
        name if counts[name] == 1 and name not in reserved else _safe(f"{tool.server}__{tool.name}")
        for name, tool in zip(plain, tools, strict=True)
    ]
    # Sanitising can still merge names (`a.b` and `a_b` of one server), and namespacing can meet another
    # server's own `x__y`: those, and names too long, get a digest of who they really are.
    counts = Counter(names)
    return [
        _digested(name, tool) if counts[name] > 1 or name in reserved or len(name) > MAX_NAME else name
        for name, tool in zip(names, tools, strict=True)
    ]


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)


def _digested(name: str, tool: HostTool) -> str:
    digest = hashlib.sha256(f"{tool.server}\0{tool.name}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - len(digest) - 1]}_{digest}"
