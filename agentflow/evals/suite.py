"""An eval suite: a YAML file of cases, each a workflow run and what it must come to.

    name: incident
    cases:
      - name: pool exhaustion, scripted
        workflow: incident
        inputs: {alert: Database connection pool exhaustion}
        model: script:../examples/scripts/incident.yaml   # none (default), script:PATH (from this file's folder),
                                                         # replay:RUN_ID, or a model id with repeat/pass_rate
        site: sandbox                                    # a fresh sandbox per run (sandbox-dc: Data Center), or a
                                                         # configured site, read-only unless writes: true
        expect:
          terminal_reason: completed
          report_contains: [OPS-141]
          report_excludes: [Traceback]
          report_in_order: [OPS-141, OPS-140]               # each after the one before
          output:                                        # JSONPath (jsonpath-ng) checks on the answer
            - {path: "$.suspects[0].key", equals: OPS-141}
            - {path: "$.runbook.steps", min_items: 3}
          changes: {count: {add_jira_comment: 1}, summaries_contain: [...]}
          max_requests: 12
          max_tokens: 20000

A suite that does not fit this is a `ProblemsError` with a line per mistake (file:line), as `validate` gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as parse_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentflow.errors import Problem, ProblemsError
from agentflow.runs import TerminalReason
from agentflow.workflow import source
from agentflow.workflow.templates import did_you_mean

SANDBOX_SITES = {"sandbox": "cloud", "sandbox-cloud": "cloud", "sandbox-dc": "dc"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputCheck(_Strict):
    """One JSONPath check on the answer; every condition given must hold. What the path finds is its one match,
    or the list of its matches when it finds several (`$.suspects[*].key`). `exists`: found or not; `equals`:
    the same JSON value (`null` too; `true` is not `1`); `contains`: a substring of a string, or an item of a
    list; `min_items`: a list or object of at least N items."""

    path: str
    exists: bool | None = None
    equals: Any = None
    contains: Any = None
    min_items: int | None = Field(default=None, ge=0)

    @field_validator("path")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse_path(value)
        except (JsonPathParserError, Exception) as exc:  # the parser raises plain Exceptions for some input
            raise ValueError(f"'{value}' is not a JSONPath expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _asks_something(self) -> OutputCheck:
        if not self.model_fields_set & {"exists", "equals", "contains", "min_items"}:
            raise ValueError("an output check needs exists, equals, contains or min_items")
        return self


class ChangesExpect(_Strict):
    """The staged change plan: how many changes of which tool, and text their summaries must hold."""

    count: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    total: int | None = Field(default=None, ge=0)
    summaries_contain: list[str] = Field(default_factory=list)


class Expect(_Strict):
    """What a run must come to. A case that says nothing of its ending expects `completed`."""

    terminal_reason: TerminalReason = TerminalReason.COMPLETED
    report_contains: list[str] = Field(default_factory=list)
    report_excludes: list[str] = Field(default_factory=list)
    report_in_order: list[str] = Field(default_factory=list)  # each appears, after the one before it
    output: list[OutputCheck] = Field(default_factory=list)
    changes: ChangesExpect | None = None
    max_requests: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)


class Case(_Strict):
    name: str = Field(min_length=1)
    workflow: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    model: str = "none"
    site: str = "sandbox"
    user: str = "dev"  # the sandbox account the bundled server acts as
    writes: bool = False  # a configured site only: let the bundled server write (eval itself never applies)
    repeat: int = Field(default=1, ge=1, le=100)
    pass_rate: float = Field(default=1.0, gt=0, le=1)
    expect: Expect = Field(default_factory=Expect)

    @property
    def sandbox_flavor(self) -> str | None:
        """The flavor of a fresh sandbox for this case, or None for a configured site."""
        return SANDBOX_SITES.get(self.site)


class Suite(_Strict):
    name: str = ""
    cases: list[Case]
    path: Path | None = None  # where it was read from: scripts and file inputs are found from its folder

    @field_validator("cases")
    @classmethod
    def _some_unique(cls, cases: list[Case]) -> list[Case]:
        if not cases:
            raise ValueError("a suite needs at least one case")
        names = [case.name for case in cases]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"case names must be unique; repeated: {', '.join(repeated)}")
        return cases


# Every key a suite may use, for "did you mean" on a misspelt one.
_KEYS = sorted({name for model in (Suite, Case, Expect, OutputCheck, ChangesExpect) for name in model.model_fields})


def builtin_path() -> Path:
    """The built-in suite: inside an installed wheel, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_builtin" / "evals" / "builtin.yaml"
    return installed if installed.is_file() else package.parent / "evals" / "builtin.yaml"


def load(target: str) -> Suite:
    """The suite at path `target` (or `builtin`); `ProblemsError` naming file and line for every mistake."""
    path = builtin_path() if target == "builtin" else Path(target)
    data, lines = source.read_mapping(path, "suite", "name: ..., cases: [...]")
    try:
        suite = Suite.model_validate({**data, "path": path})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown key '{loc[-1]}'" + did_you_mean(str(loc[-1]), _KEYS)
            where = source.dotted(loc)
            problems.append(Problem(f"{where}: {message}" if where else message, path, lines.line_for(loc)))
        raise ProblemsError(sorted(problems, key=lambda p: p.line or 0)) from None
    from agentflow.evals.cases import check

    check(suite, lines)
    return suite
