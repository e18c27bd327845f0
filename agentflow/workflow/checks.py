"""Checks that relate one part of a workflow to another, each pointing at the line at fault.

The schema has already checked every value on its own; here we check what only the whole file can tell:
steps call allowlisted read tools, templates name only inputs and earlier steps, the writes policy fits
the tools, the output schema is a valid JSON schema, and the prompt and report templates exist and use
only variables they will be given.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from agentflow.analysis.registry import COMPUTES
from agentflow.atlassian import catalog
from agentflow.errors import Problem
from agentflow.workflow.inputs import coerce
from agentflow.workflow.schema import HOST_TOOLS, PATTERN_TYPES, Workflow
from agentflow.workflow.source import Loc, SourceMap, dotted
from agentflow.workflow.templates import (
    Scope,
    TemplateProblem,
    check_expression,
    check_file,
    check_text,
    did_you_mean,
)

# What the prompt and report templates are given, besides `inputs` and `steps`.
PROMPT_ROOTS = frozenset({"inputs", "steps", "workflow", "now"})
REPORT_ROOTS = PROMPT_ROOTS | {"output"}


class _Collector:
    """Turns `(loc, message)` into `Problem`s located in the workflow file."""

    def __init__(self, path: Path, source: SourceMap) -> None:
        self.path = path
        self.source = source
        self.problems: list[Problem] = []

    def at(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(message, self.path, self.source.line_for(loc)))

    def template(self, loc: Loc, found: Iterable[TemplateProblem]) -> None:
        """A problem in an inline template: the template's line counts from the value's own line."""
        base = self.source.text_line_for(loc) or 1
        for problem in found:
            line = base + (problem.line or 1) - 1
            self.problems.append(Problem(f"{dotted(loc)}: {problem.message}", self.path, line))


def check(workflow: Workflow, path: Path, source: SourceMap, env: SandboxedEnvironment) -> list[Problem]:
    """Every cross-reference problem in `workflow`, in file order."""
    out = _Collector(path, source)
    if workflow.name != path.stem:
        out.at(("name",), f"name '{workflow.name}' does not match the file name '{path.name}' (expected '{path.stem}')")
    _check_inputs(workflow, out)
    bundled_only = workflow.servers == [catalog.SERVER_NAME]
    _check_tools(workflow, out, bundled_only)
    _check_steps(workflow, out, env, bundled_only)
    _check_writes(workflow, out, bundled_only)
    _check_output_schema(workflow, out)
    inputs = frozenset(workflow.inputs)
    steps = frozenset(step.id for step in workflow.steps)
    members = {"inputs": inputs, "steps": steps}
    _check_template_file(out, env, ("agent", "prompt"), workflow.agent.prompt, Scope(PROMPT_ROOTS, members))
    if workflow.output.report is not None:
        _check_template_file(out, env, ("output", "report"), workflow.output.report, Scope(REPORT_ROOTS, members))
    out.problems.sort(key=lambda p: (str(p.file) != str(path), p.line or 0))
    return out.problems


def _check_inputs(workflow: Workflow, out: _Collector) -> None:
    for name, spec in workflow.inputs.items():
        loc = ("inputs", name)
        if spec.type == "enum" and not spec.choices:
            out.at((*loc, "type"), f"input '{name}' is an enum but lists no 'choices'")
        if spec.choices is not None and spec.type != "enum":
            out.at((*loc, "choices"), f"input '{name}': 'choices' only applies to type enum (this is {spec.type})")
        if spec.pattern is not None and spec.type not in PATTERN_TYPES:
            allowed = ", ".join(sorted(PATTERN_TYPES))
            out.at((*loc, "pattern"), f"input '{name}': 'pattern' only applies to {allowed} (this is {spec.type})")
        if spec.default is None:
            continue
        if spec.required:
            out.at((*loc, "default"), f"input '{name}' is required, so it cannot have a default")
        elif spec.type == "file":
            out.at((*loc, "default"), f"input '{name}': a file input cannot have a default")
        elif spec.type != "enum" or spec.choices:
            try:
                coerce(spec, spec.default)
            except ValueError as exc:
                out.at((*loc, "default"), f"input '{name}': default {exc}")


def _check_tools(workflow: Workflow, out: _Collector, bundled_only: bool) -> None:
    seen: set[str] = set()
    for index, tool in enumerate(workflow.tools):
        loc = ("tools", index)
        if tool in seen:
            out.at(loc, f"tool '{tool}' is listed twice")
        seen.add(tool)
        if tool in HOST_TOOLS:
            out.at(loc, f"'{tool}' is provided to every agent by agentflow; do not list it in 'tools'")
        elif bundled_only and tool not in catalog.TOOL_NAMES:
            hint = did_you_mean(tool, catalog.TOOL_NAMES)
            offered = ", ".join(sorted(catalog.TOOL_NAMES))
            out.at(loc, f"unknown tool '{tool}'{hint} (the bundled Atlassian server has: {offered})")


def _check_steps(workflow: Workflow, out: _Collector, env: SandboxedEnvironment, bundled_only: bool) -> None:
    inputs = frozenset(workflow.inputs)
    all_ids = [step.id for step in workflow.steps]
    earlier: list[str] = []
    for index, step in enumerate(workflow.steps):
        loc: Loc = ("steps", index)
        if step.id in earlier:
            out.at((*loc, "id"), f"step id '{step.id}' is used twice")
        if step.compute is not None:
            if step.compute not in COMPUTES:
                hint = did_you_mean(step.compute, COMPUTES) or f" (built-in: {', '.join(sorted(COMPUTES))})"
                out.at((*loc, "compute"), f"step '{step.id}': no built-in analysis '{step.compute}'{hint}")
        elif step.tool not in workflow.tools:
            hint = did_you_mean(step.tool, workflow.tools)
            out.at((*loc, "tool"), f"step '{step.id}' calls '{step.tool}', which is not in 'tools'{hint}")
        elif bundled_only and step.tool in catalog.WRITE_TOOLS:
            out.at((*loc, "tool"), f"step '{step.id}' calls the write tool '{step.tool}'; gather steps may only read")
        later = frozenset(all_ids[index:]) - set(earlier)
        members = {"inputs": inputs, "steps": frozenset(earlier)}
        base_roots = frozenset({"inputs", "steps", "now"})
        if step.foreach is not None:
            out.template(
                (*loc, "foreach"), check_expression(env, step.foreach, Scope(base_roots, members, {"steps": later}))
            )
            _check_foreach_target(workflow, step.foreach, loc, out)
        roots = base_roots | ({"item"} if step.foreach is not None else set())
        scope = Scope(roots, members, {"steps": later})
        if step.when is not None:
            out.template((*loc, "when"), check_expression(env, step.when, scope))
        for arg_loc, text in _strings(step.args, (*loc, "args")):
            out.template(arg_loc, check_text(env, text, scope))
        earlier.append(step.id)


def _check_foreach_target(workflow: Workflow, expression: str, loc: Loc, out: _Collector) -> None:
    """`foreach: inputs.x` must name a list input; other expressions can only be checked at run time."""
    name = expression.strip().removeprefix("inputs.")
    spec = workflow.inputs.get(name) if expression.strip().startswith("inputs.") else None
    if spec is not None and spec.type != "jira_keys":
        out.at((*loc, "foreach"), f"foreach needs a list, but input '{name}' is a single {spec.type}")


def _strings(value: Any, loc: Loc) -> Iterable[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def _check_writes(workflow: Workflow, out: _Collector, bundled_only: bool) -> None:
    writes = workflow.writes
    write_tools = [t for t in workflow.tools if t in catalog.WRITE_TOOLS] if bundled_only else []
    if writes.mode == "none" and write_tools:
        out.at(("writes",), f"writes: none, but 'tools' lists write tools: {', '.join(write_tools)}")
    for tool in writes.limits:
        if tool not in workflow.tools:
            out.at(
                ("writes", "limits", tool),
                f"limit for '{tool}', which is not in 'tools'{did_you_mean(tool, workflow.tools)}",
            )
        elif bundled_only and tool not in catalog.WRITE_TOOLS:
            out.at(("writes", "limits", tool), f"limit for '{tool}', which is a read tool; limits apply to writes")
    for tool, constraints in writes.auto.items():
        loc = ("writes", "auto", tool)
        if tool not in workflow.tools:
            out.at(loc, f"auto for '{tool}', which is not in 'tools'{did_you_mean(tool, workflow.tools)}")
        elif bundled_only and tool not in catalog.WRITE_TOOLS:
            out.at(loc, f"auto for '{tool}', which is a read tool; auto applies to writes")
        elif not constraints:
            out.at(loc, f"auto for '{tool}' must list the arguments (and their allowed values) it may apply")
        elif tool not in writes.limits:
            out.at(loc, f"auto for '{tool}' needs a limit in writes.limits: unattended changes must be bounded")
    if writes.mode == "auto":
        unlimited = [t for t in write_tools if t not in writes.limits]
        if unlimited:
            out.at(
                ("writes", "mode"), f"writes: auto needs a limit for every write tool; missing: {', '.join(unlimited)}"
            )


def _check_output_schema(workflow: Workflow, out: _Collector) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = workflow.output.json_schema
    loc = ("output", "schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        out.at(
            loc + tuple(exc.path),
            f"output schema is not a valid JSON schema{' at ' + where if where else ''}: {exc.message}",
        )
        return
    if schema.get("type") != "object":
        out.at(loc, "output schema must have 'type: object' (it is the input schema of the submit_result tool)")


def _check_template_file(out: _Collector, env: SandboxedEnvironment, loc: Loc, name: str, scope: Scope) -> None:
    for filename, found in check_file(env, name, scope).items():
        if not filename:
            for problem in found:
                out.at(loc, problem.message)
            continue
        out.problems.extend(Problem(p.message, Path(filename), p.line) for p in found)
