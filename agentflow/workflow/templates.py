"""Jinja2 for workflows: one sandboxed, strict environment, static checks, and rendering.

Workflow templates come from files a team edits (and may arrive in a cloned repository), so they run in
jinja2's sandbox. Undefined variables are errors (`StrictUndefined`), and most of them are caught before a
run by `check_*`, which look at the template's syntax tree: an unknown variable, an input that is not
declared, a step that does not exist or has not run yet.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.DOTALL)


class TemplateProblem(Exception):
    """A template that cannot be parsed or rendered.

    `line` counts within the template's own text; `filename` is set when the template is a file.
    """

    def __init__(self, message: str, line: int | None = None, filename: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.filename = filename


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`"; did you mean 'x'?"` when a choice is close to `word`, else nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _to_json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _quote(value: Any) -> str:
    """A double-quoted JQL/CQL string literal, so that user text cannot break out of the query."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _one_line(value: Any) -> str:
    """Text for a place in Markdown that ends at the end of its line (a heading, a list item, a quote, a label):
    every run of whitespace, line breaks included, becomes one space, so that a value cannot end its construct
    early or start a block of its own."""
    return " ".join(str(value).split())


def _table_cell(value: Any) -> str:
    """Text for a Markdown table cell: on one line, and a `|` escaped so that it cannot open another cell."""
    return _one_line(value).replace("|", "\\|")


# A fence may be indented up to three spaces (four make indented code); a closing one carries no info string.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def _list_item(value: Any, indent: int = 4) -> str:
    """Text for the body of a Markdown list item that may hold blocks (a runbook step's code, sub-list or
    table): the first line follows the marker, every later line is indented `indent` spaces so that it stays
    in the item (4 fits markers up to `10. `), and a code fence left open is closed so that it cannot swallow
    the rest of the report."""
    lines = str(value).strip("\n").splitlines() or [""]
    opened: str | None = None
    for line in lines:
        fence = _FENCE.match(line)
        if fence is None:
            continue
        if opened is None:
            opened = fence.group(1)
        elif fence.group(1).startswith(opened) and not fence.group(2).strip():  # CommonMark §4.5
            opened = None
    if opened:
        lines.append(opened)
    pad = " " * indent
    return "\n".join([lines[0].strip(), *(pad + line if line.strip() else "" for line in lines[1:])])


class _DataEnvironment(SandboxedEnvironment):
    """`a.b` on a mapping means its key `b` first: workflow data is JSON, and an input named `keys` or a
    result field named `items` must not resolve to a `dict` method."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def environment(search_path: Iterable[Path] = ()) -> SandboxedEnvironment:
    """The environment every workflow template renders in; `search_path` holds its template files."""
    env = _DataEnvironment(
        loader=FileSystemLoader([str(p) for p in search_path]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["to_json"] = _to_json
    env.filters["quote"] = _quote
    env.filters["one_line"] = _one_line
    env.filters["table_cell"] = _table_cell
    env.filters["list_item"] = _list_item
    return env


@dataclass(frozen=True)
class Scope:
    """What a template may name: top-level variables, and the allowed members of namespace variables.

    `later` names members that exist but are not available yet (a step that runs after this one).
    """

    roots: frozenset[str]
    members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    later: Mapping[str, frozenset[str]] = field(default_factory=dict)


def check_text(env: SandboxedEnvironment, text: str, scope: Scope) -> list[TemplateProblem]:
    """Problems in an inline template (a step argument)."""
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(f"template syntax error: {exc.message}", exc.lineno)]
    return _check_tree(env, tree, scope)


def check_expression(env: SandboxedEnvironment, expression: str, scope: Scope) -> list[TemplateProblem]:
    """Problems in a bare jinja2 expression (`when`, `foreach`)."""
    try:
        tree = env.parse("{{ " + expression + " }}")
    except TemplateSyntaxError as exc:
        return [TemplateProblem(f"expression syntax error: {exc.message}", 1)]
    return _check_tree(env, tree, scope)


def check_file(env: SandboxedEnvironment, name: str, scope: Scope) -> dict[str, list[TemplateProblem]]:
    """Problems in a template file and the files it includes, keyed by file path.

    A missing file is reported under the key `""` because it has no path of its own.
    """
    found: dict[str, list[TemplateProblem]] = {}
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            text, filename, _ = env.loader.get_source(env, current)  # type: ignore[union-attr]
        except TemplateNotFound:
            searched = ", ".join(env.loader.searchpath) or "nowhere"  # type: ignore[union-attr]
            found.setdefault("", []).append(TemplateProblem(f"template '{current}' not found (looked in {searched})"))
            continue
        except (UnicodeDecodeError, OSError) as exc:
            found.setdefault("", []).append(TemplateProblem(f"template '{current}' cannot be read: {_unreadable(exc)}"))
            continue
        try:
            tree = env.parse(text, current, filename)
        except TemplateSyntaxError as exc:
            found[filename] = [TemplateProblem(f"template syntax error: {exc.message}", exc.lineno)]
            continue
        problems = _check_tree(env, tree, scope)
        if problems:
            found[filename] = problems
        pending.extend(ref for ref in meta.find_referenced_templates(tree) if ref is not None)
    return found


def _check_tree(env: SandboxedEnvironment, tree: nodes.Template, scope: Scope) -> list[TemplateProblem]:
    problems = []
    known = scope.roots | set(env.globals)
    for name in sorted(meta.find_undeclared_variables(tree) - known):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
        problems.append(TemplateProblem(f"undefined variable '{name}'{did_you_mean(name, known)}", line))
    for namespace, member, line in _namespace_members(tree, scope.members.keys()):
        allowed = scope.members[namespace]
        if member in allowed:
            continue
        if member in scope.later.get(namespace, frozenset()):
            problems.append(TemplateProblem(f"'{namespace}.{member}' is not available yet: it runs later", line))
        else:
            hint = did_you_mean(f"{namespace}.{member}", [f"{namespace}.{m}" for m in allowed])
            what = {"inputs": "input", "steps": "step"}.get(namespace, "member")
            problems.append(TemplateProblem(f"unknown {what} '{namespace}.{member}'{hint}", line))
    return problems


def _namespace_members(tree: nodes.Template, namespaces: Iterable[str]) -> Iterable[tuple[str, str, int]]:
    """`(namespace, member, line)` for each `ns.member` or `ns['member']` in the tree."""
    namespaces = set(namespaces)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name in namespaces):
            continue
        if isinstance(node, nodes.Getattr):
            yield node.node.name, node.attr, node.lineno
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.node.name, node.arg.value, node.lineno


def render_value(env: SandboxedEnvironment, value: Any, context: Mapping[str, Any]) -> Any:
    """Render templated data: strings are templates, containers are rendered item by item.

    A string that is exactly one `{{ expression }}` evaluates to the expression's own value, so that
    `{{ inputs.keys }}` passes a list and `{{ inputs.limit }}` an integer.
    """
    if isinstance(value, str):
        single = _SINGLE_EXPRESSION.match(value)
        if single:
            return evaluate(env, single.group("expr"), context)
        return _guard(lambda: env.from_string(value).render(context))
    if isinstance(value, Mapping):
        return {key: render_value(env, item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(env, item, context) for item in value]
    return value


def evaluate(env: SandboxedEnvironment, expression: str, context: Mapping[str, Any]) -> Any:
    """The value of a jinja2 expression; naming anything undefined is an error, not a silent blank."""

    def run() -> Any:
        result = env.compile_expression(expression, undefined_to_none=False)(**context)
        if isinstance(result, StrictUndefined):
            result._fail_with_undefined_error()
        return result

    return _guard(run)


def render_file(env: SandboxedEnvironment, name: str, context: Mapping[str, Any]) -> str:
    """Render a template file; errors carry the line in the template that caused them."""
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        raise TemplateProblem(f"template '{name}' not found") from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno, exc.filename) from None
    except (UnicodeDecodeError, OSError) as exc:
        raise TemplateProblem(f"template '{name}' cannot be read: {_unreadable(exc)}") from None
    return _guard(lambda: template.render(context), template.filename)


def _unreadable(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"it is not UTF-8 text (byte {error.start})"
    return str(getattr(error, "strerror", None) or error)


def _guard(render: Any, filename: str | None = None) -> Any:
    try:
        return render()
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno, filename) from None
    except UndefinedError as exc:
        raise TemplateProblem(f"undefined: {exc.message}", _template_line(exc, filename), filename) from None
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}", _template_line(exc, filename), filename) from None
    except (TypeError, ValueError, AttributeError, LookupError, ArithmeticError) as exc:
        message = f"template error: {type(exc).__name__}: {exc}"
        raise TemplateProblem(message, _template_line(exc, filename), filename) from None
    except RecursionError:  # a macro that calls itself without end
        raise TemplateProblem("template error: it recurses without end (a macro calling itself?)", None,
                              filename) from None  # fmt: skip


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """jinja2 rewrites tracebacks so that template frames carry the template's file name and line."""
    target = filename or "<template>"
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
