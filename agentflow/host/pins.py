"""Tool pins, the protection against a rug pull: an MCP server that quietly redefines its tools after it was
trusted (a description that now tells the model to send secrets somewhere, a schema that asks for more).

On a server's first connection every tool's definition (name, description, input schema, annotations) is
recorded in the lock, `agentflow.lock` beside the config file, one section per server: the server's identity
(its transport and url, or its command and args), when it was pinned, and per tool a SHA-256 of the definition
with the definition itself, so that a change can be shown. On later connections the host compares before any
tool can be called (`Host(..., pins=PinLock())`): a tool changed, added or removed stops the run with
`ToolsChanged`, whose message is a readable diff; so does a server whose address or command changed. A person
reviews it with `agentflow servers diff NAME` and accepts it with `agentflow servers trust NAME`.

`pins = "additions"` in a server's settings accepts and records new tools (changes and removals still stop).
The bundled server is agentflow's own code: its section is keyed by agentflow's version and re-pinned silently
by an upgrade; within one version its tools may only be hidden (read-only mode) or shown again, never changed.

The lock is JSON with sorted keys and an indent, so that it reads well in a diff and can be committed with the
config; it is replaced atomically, under an exclusive lock held around each read-modify-write, since two runs
may pin at once.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import os
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from agentflow import __version__, config, statefiles
from agentflow.errors import ConfigError, ToolsChanged
from agentflow.host.specs import ServerSpec

LOCK_NAME = "agentflow.lock"
FORMAT = 1
_WHAT = "tool pin lock"
_FIELDS = ("description", "input_schema", "annotations")


class Definable(Protocol):
    """What pinning needs of a tool (`host.servers.HostTool` has it)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]


class Pin(BaseModel):
    sha256: str
    definition: dict[str, Any]


class Section(BaseModel):
    """One server's pins: who it was when pinned, when, and its tools by name."""

    identity: dict[str, Any]
    pinned_at: str
    tools: dict[str, Pin]


class LockFile(BaseModel):
    version: int = FORMAT
    servers: dict[str, Section] = {}


def lock_path() -> Path:
    """Beside the config file, so that `$AGENTFLOW_CONFIG` moves it too."""
    return config.config_path().parent / LOCK_NAME


def definition(tool: Definable) -> dict[str, Any]:
    """What is pinned of a tool: everything a model reads of it or a host decides by."""
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "annotations": tool.annotations,
    }


def digest(definition: Mapping[str, Any]) -> str:
    """SHA-256 of a definition's canonical JSON: the same definition hashes the same in any key order."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def pin_of(tool: Definable) -> str:
    """A tool's pin: the digest of its definition."""
    return digest(definition(tool))


def identity(spec: ServerSpec) -> dict[str, Any]:
    """Who a server is: another url or command is another server, whatever its name (env and headers are left
    out: they may hold secrets, and the lock is meant to be read and committed)."""
    if spec.transport == "bundled":
        return {"transport": "bundled", "version": __version__}
    if spec.transport == "stdio":
        found = {"transport": "stdio", "command": spec.command, "args": list(spec.args)}
        return found | ({"cwd": spec.cwd} if spec.cwd else {})
    return {"transport": spec.transport, "url": spec.url}


@dataclass
class Review:
    """One server's tools now, compared with its pins."""

    spec: ServerSpec
    pinned: Section | None
    current: Section
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def server(self) -> str:
        return self.spec.name

    @property
    def bundled(self) -> bool:
        return self.spec.transport == "bundled"

    @property
    def moved(self) -> bool:
        """Pinned under another url or command (for the bundled server: another version of agentflow)."""
        return self.pinned is not None and self.pinned.identity != self.current.identity

    @property
    def upgraded(self) -> bool:
        return self.bundled and self.moved

    @property
    def differs(self) -> bool:
        return self.moved or bool(self.added or self.removed or self.changed)

    @property
    def stops(self) -> bool:
        """Whether a run must stop here until a person trusts the server's tools."""
        if self.pinned is None or self.upgraded:
            return False
        if self.moved or self.changed:
            return True
        if self.bundled:  # read-only mode hides the write tools; shown again they are as they were pinned
            return False
        return bool(self.removed) or (bool(self.added) and self.spec.pins == "strict")

    def recorded(self) -> Section | None:
        """The section to write when the run goes on (None: the lock stays as it is)."""
        if self.pinned is None or self.upgraded:
            return self.current
        if self.added and not self.stops:
            tools = {**self.pinned.tools, **{name: self.current.tools[name] for name in self.added}}
            return self.pinned.model_copy(update={"tools": tools})
        return None

    def trusted(self) -> Section:
        """The section a person accepted: the tools as they are now (the bundled server keeps those its
        read-only mode hides, still of this version)."""
        if self.bundled and self.pinned is not None and not self.moved:
            return self.current.model_copy(update={"tools": {**self.pinned.tools, **self.current.tools}})
        return self.current

    def text(self) -> str:
        """What a person reads: the server's state, then `+ added`, `- removed`, `~ changed` tools with a
        unified diff of each changed field."""
        name = self.server
        if self.pinned is None:
            return f"MCP server '{name}': not pinned yet ({len(self.current.tools)} tools are pinned on its first use)"
        if self.upgraded:
            was, now = self.pinned.identity.get("version"), __version__
            return f"MCP server '{name}': pinned by agentflow {was}; this is {now}, which pins its tools again"
        if not self.differs:
            return f"MCP server '{name}': no changes since its tools were pinned ({self.pinned.pinned_at})"
        lines = [f"MCP server '{name}': its tools differ from those pinned {self.pinned.pinned_at}"]
        if self.moved:
            lines.append(f"  ! the server itself changed: pinned as {_who(self.pinned.identity)}, "
                         f"now {_who(self.current.identity)}")  # fmt: skip
        for tool in self.changed:
            lines.append(f"  ~ {tool} (changed)")
            old, new = self.pinned.tools[tool].definition, self.current.tools[tool].definition
            lines += _indented(_field_diff(old, new), "      ")
        for tool in self.added:
            accepted = self.spec.pins == "additions" and not self.bundled
            lines.append(f"  + {tool} (added{'; accepted: pins = additions' if accepted else ''})")
            lines += _indented(_shown(self.current.tools[tool].definition), "      + ")
        for tool in self.removed:
            hidden = "; hidden in read-only mode, not a change" if self.bundled else ""
            lines.append(f"  - {tool} (removed{hidden})")
        return "\n".join(visible(line) for line in lines)


class PinLock:
    """The lock file (`lock_path()` unless given): compared and written by the host on connect, by
    `agentflow servers trust` after a review."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path or lock_path()  # looked up when used: the config's location is the environment's

    def read(self) -> LockFile:
        """The lock's contents ({} of servers when there is none); `ConfigError` naming the file when it is
        not a lock agentflow wrote."""
        path = self.path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return LockFile()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the {_WHAT} {path}: {getattr(exc, 'strerror', None) or exc}") from None
        remedy = "fix it, or move it aside to pin every server's tools again on their next use"
        try:
            return LockFile.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            problem = f"is not valid JSON (line {exc.lineno}: {exc.msg})"
            raise ConfigError(f"the {_WHAT} {path} {problem}; {remedy}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "its top level"
            raise ConfigError(f"the {_WHAT} {path} is not a lock agentflow wrote ({where}: {first['msg']}); "
                              f"{remedy}") from None  # fmt: skip
        except RecursionError:
            raise ConfigError(f"the {_WHAT} {path} nests too deeply; {remedy}") from None

    def review(self, spec: ServerSpec, tools: Sequence[Definable]) -> Review:
        """Compare without writing anything."""
        return compare(self.read().servers.get(spec.name), spec, tools)

    def check(self, servers: Sequence[tuple[ServerSpec, Sequence[Definable]]]) -> list[Review]:
        """Compare every server and record what needs no review (a first use, an upgrade of agentflow, tools
        added where additions are accepted); `ToolsChanged` with the diff of every server that needs one."""
        with self._held():
            lock = self.read()
            reviews = [compare(lock.servers.get(spec.name), spec, tools) for spec, tools in servers]
            recorded = {review.server: review.recorded() for review in reviews if not review.stops}
            recorded = {name: section for name, section in recorded.items() if section is not None}
            if recorded:
                self._write(lock.model_copy(update={"servers": {**lock.servers, **recorded}}))
        stopped = [review for review in reviews if review.stops]
        if stopped:
            raise ToolsChanged([review.server for review in stopped], self._stop_message(stopped))
        return reviews

    def trust(self, spec: ServerSpec, tools: Sequence[Definable]) -> Review:
        """Accept a server's tools as they are now (after a person reviewed them); the review it accepted."""
        with self._held():
            lock = self.read()
            review = compare(lock.servers.get(spec.name), spec, tools)
            self._write(lock.model_copy(update={"servers": {**lock.servers, spec.name: review.trusted()}}))
        return review

    def _stop_message(self, stopped: list[Review]) -> str:
        names = [review.server for review in stopped]
        listing = "\n\n".join(review.text() for review in stopped)
        commands = "\n".join(
            f"  agentflow servers diff {name}    # review\n  agentflow servers trust {name}   # accept"
            for name in names
        )
        return (
            f"tool definitions differ from their pins in {self.path}; nothing was called.\n\n{listing}\n\n"
            f"A server that redefines its tools may be trying to steer the model. After checking the changes:\n"
            f"{commands}"
        )

    @contextmanager
    def _held(self) -> Iterator[None]:
        """An exclusive lock on the lock file's directory around a read-modify-write. The directory, not the
        file: the file is replaced by a rename, so a lock on it would guard an inode nobody reads any more."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(folder, os.O_RDONLY)
        except OSError as exc:
            raise statefiles.unwritable(self.path, exc, f"the {_WHAT}", state=False) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _write(self, lock: LockFile) -> None:
        text = json.dumps(lock.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        statefiles.write_atomic(self.path, text, f"the {_WHAT}")


def compare(pinned: Section | None, spec: ServerSpec, tools: Sequence[Definable]) -> Review:
    """A server's tools now against its section of the lock (None: never pinned)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    current = Section(
        identity=identity(spec),
        pinned_at=now,
        tools={tool.name: Pin(sha256=pin_of(tool), definition=definition(tool)) for tool in tools},
    )
    review = Review(spec, pinned, current)
    if pinned is None or review.upgraded:
        return review
    review.added = sorted(set(current.tools) - set(pinned.tools))
    review.removed = sorted(set(pinned.tools) - set(current.tools))
    kept = set(current.tools) & set(pinned.tools)
    review.changed = sorted(name for name in kept if current.tools[name].sha256 != pinned.tools[name].sha256)
    return review


def visible(text: str) -> str:
    """`text` with control and format characters shown as escapes (`\\x1b`, `\\u202e`): a server writes these
    descriptions, and a terminal escape or a bidirectional override in one could hide from the reviewer the very
    change the diff is there to show."""
    return "".join(
        char if char == "\t" or unicodedata.category(char) not in ("Cc", "Cf") else _escape(char) for char in text
    )


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _who(found: Mapping[str, Any]) -> str:
    if "url" in found:
        return f"{found['transport']} {found['url']}"
    if "command" in found:
        where = f" (in {found['cwd']})" if found.get("cwd") else ""
        return " ".join([str(found["command"]), *map(str, found.get("args", []))]) + where
    return json.dumps(found, sort_keys=True)


def _field_lines(value: Any) -> list[str]:
    """A field as lines to diff: text by its own lines, anything else as pretty JSON."""
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()


def _field_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in _FIELDS:
        if old.get(key) != new.get(key):
            lines += difflib.unified_diff(_field_lines(old.get(key)), _field_lines(new.get(key)),
                                          f"{key} (pinned)", f"{key} (now)", lineterm="")  # fmt: skip
    return lines


def _shown(found: Mapping[str, Any]) -> list[str]:
    """An added tool as a reviewer needs to read it: its description and what it asks for."""
    lines = ["description:", *("  " + line for line in _field_lines(found.get("description", "")))]
    lines += ["input_schema:", *("  " + line for line in _field_lines(found.get("input_schema", {})))]
    if found.get("annotations"):
        lines += ["annotations: " + json.dumps(found["annotations"], sort_keys=True)]
    return lines


def _indented(lines: list[str], prefix: str) -> list[str]:
    return [prefix + line for line in lines]
