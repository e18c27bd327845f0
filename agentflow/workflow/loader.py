"""Finding workflows by name, loading and validating them, and rendering their templates.

Search order (the first file of a name wins): `./workflows`, each directory in `AGENTFLOW_WORKFLOWS`
(separated by the OS path separator), then the built-in workflows shipped with agentflow. Templates are
looked up in a `prompts/` directory inside the workflow's directory, then beside it.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ValidationError

from agentflow.errors import Problem, WorkflowInvalid, WorkflowNotFound
from agentflow.workflow import checks, inputs, source, templates
from agentflow.workflow.schema import Workflow

ENV_VAR = "AGENTFLOW_WORKFLOWS"
SUFFIXES = (".yaml", ".yml")


def builtin_dir() -> Path:
    """The built-in workflows: inside an installed wheel, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_builtin" / "workflows"
    return installed if installed.is_dir() else package.parent / "workflows"


def search_path() -> list[Path]:
    """Directories searched for workflows, in order, without duplicates."""
    candidates = [Path.cwd() / "workflows"]
    candidates += [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    candidates.append(builtin_dir())
    unique: list[Path] = []
    for directory in candidates:
        if directory.resolve() not in {d.resolve() for d in unique}:
            unique.append(directory)
    return unique


def workflow_files() -> list[Path]:
    """Every workflow file in the search path, in search order, shadowed ones included."""
    files: list[Path] = []
    for directory in search_path():
        if directory.is_dir():
            files += sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    return files


def discover() -> dict[str, Path]:
    """Every workflow file by name; a name earlier in the search path shadows a later one."""
    found: dict[str, Path] = {}
    for path in workflow_files():
        found.setdefault(path.stem, path)
    return found


def find(name: str) -> Path:
    """The file of the workflow called `name`; `WorkflowNotFound` lists the known names."""
    known = discover()
    if name not in known:
        raise WorkflowNotFound(name, sorted(known))
    return known[name]


def load(target: str) -> LoadedWorkflow:
    """Load a workflow by name, or by path when `target` is a path to a file."""
    if target.endswith(SUFFIXES) or os.sep in target or "/" in target:
        path = Path(target).expanduser()
        if not path.is_file():
            raise WorkflowInvalid([Problem("no such workflow file", path)])
        return load_file(path)
    return load_file(find(target))


def load_file(path: Path) -> LoadedWorkflow:
    """Parse and validate one workflow file; `WorkflowInvalid` lists every problem with its line."""
    data, lines = source.read_mapping(
        path, "workflow file", "name: ..., title: ..., agent: ..., output: ...", WorkflowInvalid
    )
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        problems = sorted((_schema_problem(error, path, lines) for error in exc.errors()), key=lambda p: p.line or 0)
        raise WorkflowInvalid(problems) from None
    env = templates.environment(template_dirs(path))
    problems = checks.check(workflow, path, lines, env)
    if problems:
        raise WorkflowInvalid(problems)
    return LoadedWorkflow(workflow=workflow, path=path, env=env)


def template_dirs(path: Path) -> list[Path]:
    return [path.parent / "prompts", path.parent.parent / "prompts"]


@dataclass(frozen=True)
class LoadedWorkflow:
    """A validated workflow, where it came from, and the template environment it renders in."""

    workflow: Workflow
    path: Path
    env: SandboxedEnvironment

    def coerce_inputs(self, raw: Mapping[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
        """Typed inputs from text values; `InputInvalid` lists every problem."""
        return inputs.coerce_inputs(self.workflow, raw, base_dir)

    def render_prompt(self, context: Mapping[str, Any]) -> str:
        """The agent's prompt; see `checks.PROMPT_ROOTS` for the variables it may use."""
        return self._render_file(self.workflow.agent.prompt, context)

    def render_report(self, context: Mapping[str, Any]) -> str | None:
        """The report, when the workflow has a report template; `context` adds `output`."""
        if self.workflow.output.report is None:
            return None
        return self._render_file(self.workflow.output.report, context)

    def render_value(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Templated data such as step arguments, rendered against `context`."""
        try:
            return templates.render_value(self.env, value, context)
        except templates.TemplateProblem as exc:
            raise WorkflowInvalid([Problem(exc.message, self.path)]) from None

    def evaluate(self, expression: str, context: Mapping[str, Any]) -> Any:
        """A `when` or `foreach` expression's value."""
        try:
            return templates.evaluate(self.env, expression, context)
        except templates.TemplateProblem as exc:
            raise WorkflowInvalid([Problem(f"{expression}: {exc.message}", self.path)]) from None

    def _render_file(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return templates.render_file(self.env, name, context)
        except templates.TemplateProblem as exc:
            file = Path(exc.filename) if exc.filename else self.path
            raise WorkflowInvalid([Problem(exc.message, file, exc.line)]) from None


# --- pydantic errors as one-line messages a workflow author understands -------------------------------

_PATTERN_MEANINGS = {
    r"^[a-z_][a-z0-9_]*$": "lower-case letters, digits and underscores, not starting with a digit",
    r"^[a-z][a-z0-9-]*$": "lower-case letters, digits and hyphens, starting with a letter",
    r"^[A-Za-z0-9][A-Za-z0-9_-]*$": "letters, digits, '_' and '-' (a server's name in the config)",
}


def _schema_problem(error: Any, path: Path, lines: source.SourceMap) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    line = lines.line_for(loc)
    where = source.dotted(loc)
    if kind == "extra_forbidden":
        allowed = _keys_at(Workflow, loc[:-1]) or []
        hint = templates.did_you_mean(str(loc[-1]), allowed) or f" (allowed here: {', '.join(allowed)})"
        return Problem(f"unknown key '{loc[-1]}'{hint}", path, line)
    if kind == "missing":
        parent = f" in {source.dotted(loc[:-1])}" if loc[:-1] else ""
        return Problem(f"missing required key '{loc[-1]}'{parent}", path, line)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        hint = templates.did_you_mean(str(error["input"]), choices)
        return Problem(f"{where}: '{error['input']}' is not allowed; expected {ctx.get('expected')}{hint}", path, line)
    if kind == "string_pattern_mismatch":
        meaning = _PATTERN_MEANINGS.get(ctx.get("pattern", ""), f"matching {ctx.get('pattern')}")
        what = "name" if is_key else "value"
        return Problem(f"{where}: '{error['input']}' is not a valid {what} (use {meaning})", path, line)
    message = str(error["msg"]).removeprefix("Value error, ").replace("Input should", "should", 1)
    message = message[:1].lower() + message[1:]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message += f", got {_describe_input(error['input'])}"
    return Problem(f"{where}: {message}" if where else message, path, line)


def _describe_input(value: Any) -> str:
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys the schema allows at `loc`, by following field annotations down from `model`."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or name: f for name, f in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` both mean `X` here."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else annotation
            if len(options) != 1:
                return annotation
        else:
            return annotation
