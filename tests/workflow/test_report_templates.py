"""Every built-in workflow's report renders any answer its output schema allows.

A model's answer is only checked against the schema, so a template must not assume more: optional fields may be
absent, lists empty, text anything (pipes, Markdown, line breaks). Answers come from the schema itself
(hypothesis-jsonschema, derandomized and bounded) and from explicit shapes; the workflows are the ones the loader
ships, so a new built-in is covered without a change here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator
from markdown_it import MarkdownIt

from agentflow.workflow import checks, loader
from agentflow.workflow.inputs import FileInput
from agentflow.workflow.loader import LoadedWorkflow
from agentflow.workflow.schema import InputSpec, Workflow

BUILTIN = {path.stem: path for path in sorted(loader.builtin_dir().iterdir()) if path.suffix in loader.SUFFIXES}
NOW = "2026-11-26T07:00:00+00:00"
JIRA_KEY = r"[A-Z][A-Z0-9_]{1,5}-[1-9][0-9]{0,4}"
GENERATED = settings(
    derandomize=True,
    database=None,
    max_examples=40,
    deadline=None,
    # hypothesis-jsonschema rejects many of the objects it draws for these schemas (required properties among
    # arbitrary extra ones); that is its way of generating them, not a problem with the test.
    suppress_health_check=[HealthCheck.filter_too_much],
)


def hostile(marker: str) -> str:
    """Text that breaks Markdown built around it unless a template guards against it: a table's pipes, emphasis,
    code, a backslash, line breaks (CRLF and blank lines) and what starts a heading, list, quote, fence or HTML."""
    return f"{marker} a | b *c* _d_ `e` \\ f\r\ng\n\n# h\n- i\n> j\n```\n<pre>\n| k |"


def plain(marker: str) -> str:
    return f"value {marker}"


def render(loaded: LoadedWorkflow, inputs: dict[str, Any], output: Any, steps: dict[str, Any] | None = None) -> str:
    """The report as the runner renders it: the same variables, each step's result `None` unless given."""
    workflow = loaded.workflow
    context = {
        "inputs": inputs,
        "steps": steps if steps is not None else {step.id: None for step in workflow.steps},
        "workflow": {"name": workflow.name, "title": workflow.title},
        "now": NOW,
        "output": output,
    }
    assert set(context) == checks.REPORT_ROOTS  # what the runner gives a report; keep the two in step
    return loaded.render_report(context) or ""


# --- inputs --------------------------------------------------------------------------------------------------


def input_value(spec: InputSpec, text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Values of one input as a trigger may give them, already of the input's type."""
    if spec.type == "integer":
        return st.integers(-(10**6), 10**6)
    if spec.type == "boolean":
        return st.booleans()
    if spec.type == "enum":
        return st.sampled_from(spec.choices or [])
    if spec.type == "file":
        return st.builds(FileInput, path=st.just("transcript.md"), name=text, text=text)
    if spec.type in ("jira_key", "jira_keys"):
        key = st.from_regex(JIRA_KEY, fullmatch=True)
        if spec.pattern is not None:
            key = key.filter(lambda k: re.fullmatch(spec.pattern or "", k) is not None)
        return key if spec.type == "jira_key" else st.lists(key, min_size=1, max_size=3)
    return st.from_regex(spec.pattern, fullmatch=True) if spec.pattern else text


def raw_inputs(workflow: Workflow, text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Every input of the workflow; an optional one may be left out (`None`: its default applies)."""
    fields = {}
    for name, spec in workflow.inputs.items():
        value = input_value(spec, text)
        fields[name] = value if spec.required else st.none() | value
    return st.fixed_dictionaries(fields)


def fixed_inputs(loaded: LoadedWorkflow, text: str, *, optional: bool) -> dict[str, Any]:
    """One deterministic set of inputs: free text is `text`, patterned text a match of its pattern, and optional
    inputs given (`optional`) or left to their defaults."""
    strategy = raw_inputs(loaded.workflow, st.just(text))
    raw = find(
        strategy,
        (lambda raw: None not in raw.values()) if optional else (lambda raw: True),
        # The first match, not the smallest: shrinking it would cost seconds per test and change nothing here.
        settings=settings(derandomize=True, database=None, phases=[Phase.generate]),
    )
    return loaded.coerce_inputs(raw)


# --- answers of explicit shapes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """How to build an answer from a schema: with optional properties or without, how many items a list has (at
    least its `minItems`), null wherever the schema allows it, and what each string is."""

    name: str
    optional: bool
    items: int
    nulls: bool = False
    text: Callable[[str], str] = plain


SHAPES = [
    Shape("required fields only, lists empty", optional=False, items=0),
    Shape("required fields only, one item per list", optional=False, items=1),
    Shape("every field, two items per list, hostile text", optional=True, items=2, text=hostile),
    Shape("every field, nulls where allowed", optional=True, items=1, nulls=True),
    Shape("every field, empty strings", optional=True, items=1, text=lambda marker: ""),
]


def allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or None in schema.get("enum", [])


def answer(schema: dict[str, Any], shape: Shape, markers: Iterator[str]) -> Any:
    """An instance of `schema` of the given shape; each string carries a marker of its own."""
    if shape.nulls and allows_null(schema):
        return None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return answer(schema[key][0], shape, markers)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        required = set(schema.get("required", []))
        properties = schema.get("properties", {})
        return {
            key: answer(sub, shape, markers) for key, sub in properties.items() if shape.optional or key in required
        }
    if kind == "array":
        count = max(shape.items, schema.get("minItems", 0))
        return [answer(schema.get("items", {}), shape, markers) for _ in range(count)]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return shape.text(next(markers))


def numbered() -> Iterator[str]:
    """Markers `«1»`, `«2»`, ...: none is part of another, and none means anything to Markdown."""
    number = 0
    while True:
        number += 1
        yield f"«{number}»"


# --- what a rendered report must show ------------------------------------------------------------------------


def required_strings(value: Any, schema: dict[str, Any]) -> Iterator[str]:
    """The strings of an answer that the schema requires (a required property's, or an item's of a required
    list): what a report exists to show."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key in value:
                yield from required_strings(value[key], properties.get(key, {}))
    elif isinstance(value, list):
        for item in value:
            yield from required_strings(item, schema.get("items", {}))


def normal(text: str) -> str:
    """Text as a reader compares it: whitespace runs as one space, an escaped pipe as a pipe."""
    return re.sub(r"\\*\|", "|", " ".join(text.split()))


def blocks(report: str) -> list[str]:
    """The text of each block of the rendered Markdown (a paragraph, a heading, a list item's line, a table
    cell), as CommonMark with tables parses it."""
    tokens = MarkdownIt("commonmark").enable("table").parse(report)
    return [normal(token.content) for token in tokens if token.type == "inline"]


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, or in a run's typed inputs (a file input by its name and text)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, FileInput):
        yield from (value.name, value.text)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_renders(report: str, answer: Any, schema: dict[str, Any]) -> None:
    """The report is Markdown with something in it, and shows each string the answer must have."""
    assert report.strip(), "the report is empty"
    shown = normal(report)
    for text in required_strings(answer, schema):
        assert normal(text) in shown, f"{text!r} is missing from the report:\n{report}"


def list_items(report: str) -> list[str]:
    """The source of each list item of the rendered Markdown, with everything nested in it (a `list_item`
    value's code blocks, sub-lists and tables), as CommonMark parses it."""
    lines = report.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(report)
    return [normal("\n".join(lines[slice(*token.map)])) for token in tokens if token.type == "list_item_open"]


def assert_whole(report: str, text: str) -> None:
    """`text` is in the report in one piece: no line break or pipe in it split a heading, cell or list item.
    A multi-line value may be whole as one list item with blocks inside (the `list_item` filter): it is then
    within that item's source, and nothing of it escaped the item."""
    parts = blocks(report) + (list_items(report) if "\n" in text.strip() else [])
    assert any(normal(text) in part for part in parts), f"{text!r} is broken up in the report:\n{report}"


# --- the tests -----------------------------------------------------------------------------------------------


def test_the_builtin_workflows_are_found():
    assert len(BUILTIN) >= 4 and "backlog-grooming" in BUILTIN


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_the_report_renders_answers_generated_from_the_output_schema(name):
    loaded = loader.load_file(BUILTIN[name])
    schema = loaded.workflow.output.json_schema

    @GENERATED
    @given(raw=raw_inputs(loaded.workflow, st.text()), output=from_schema(schema))
    def renders(raw: dict[str, Any], output: dict[str, Any]) -> None:
        assert_renders(render(loaded, loaded.coerce_inputs(raw), output), output, schema)

    renders()


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_the_report_renders_answers_of_every_shape(name, shape):
    loaded = loader.load_file(BUILTIN[name])
    schema = loaded.workflow.output.json_schema
    output = answer(schema, shape, numbered())
    Draft202012Validator(schema).validate(output)
    inputs = fixed_inputs(loaded, shape.text("«input»"), optional=shape.optional)
    report = render(loaded, inputs, output)
    assert_renders(report, output, schema)
    assert "No model ran" not in report
    if shape.text is hostile:
        for text in strings([output, inputs]):
            marker = text.split()[0] if text.strip() else ""
            if marker.startswith("«") and marker in report:  # a value of ours that the report shows
                assert_whole(report, text)


@pytest.mark.parametrize("results", ["failed", "skipped", "empty"])
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_without_an_answer_the_report_renders_whatever_the_steps_left(name, results):
    """No model ran (or it gave no answer), and the gather steps failed (a foreach step: each item), were skipped,
    or found nothing."""
    loaded = loader.load_file(BUILTIN[name])
    steps: dict[str, Any] = {}
    for step in loaded.workflow.steps:
        if results == "failed":
            steps[step.id] = [None] if step.foreach else None
        elif results == "skipped":
            steps[step.id] = None
        else:
            steps[step.id] = [] if step.foreach else {}
    report = render(loaded, fixed_inputs(loaded, plain("«input»"), optional=False), None, steps)
    assert report.strip().startswith("#")


@pytest.mark.parametrize("results", ["failed", "skipped", "empty"])
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_the_prompt_renders_whatever_the_steps_left(name, results):
    """A model still gets its prompt when the gather steps failed, were skipped or found nothing (the grooming
    prompt once raised on a failed findings step)."""
    loaded = loader.load_file(BUILTIN[name])
    steps: dict[str, Any] = {}
    for step in loaded.workflow.steps:
        if results == "empty":
            steps[step.id] = [] if step.foreach else {}
        elif results == "skipped" and step.when is not None:  # only a step with `when` is ever skipped
            steps[step.id] = None
        else:
            steps[step.id] = [None] if step.foreach else None
    context = {
        "inputs": fixed_inputs(loaded, plain("«input»"), optional=False),
        "steps": steps,
        "workflow": {"name": loaded.workflow.name, "title": loaded.workflow.title},
        "now": NOW,
    }
    assert loaded.render_prompt(context).strip()


# --- backlog grooming: the answer of the scheduled job that once came out as a raw JSON dump ----------------

GROOMING = {
    "summary": "One stale issue | one duplicate.",
    "findings": [
        {"key": "PROD-110", "kind": "stale", "comment": "Idle for 95 days;\nconfirm it is still wanted."},
        {"key": "PROD-116", "kind": "duplicate", "duplicate_of": "PROD-115", "comment": "Same as PROD-115."},
    ],
}


def test_a_grooming_finding_renders_with_and_without_a_duplicate():
    loaded = loader.load_file(BUILTIN["backlog-grooming"])
    inputs = loaded.coerce_inputs({"project": "PROD"})
    report = render(loaded, inputs, GROOMING)
    assert "| PROD-110 | stale | Idle for 95 days; confirm it is still wanted. |" in report
    assert "| PROD-116 | duplicate of PROD-115 | Same as PROD-115. |" in report
    assert "**Summary:** One stale issue | one duplicate." in report
    unlinked = {**GROOMING, "findings": [{"key": "PROD-116", "kind": "duplicate", "comment": "Same as PROD-115."}]}
    assert "| PROD-116 | duplicate | Same as PROD-115. |" in render(loaded, inputs, unlinked)
