"""The workflow file format: pydantic models of a workflow YAML.

These models check each value on its own (types, ranges, allowed words, unknown keys). Checks that relate
one part of a workflow to another (a step naming a tool outside the allowlist, a template naming an input
that does not exist) live in `checks.py`, where they can point at the exact line.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from agentflow.atlassian.catalog import SERVER_NAME

# The loop gives every agent these two tools itself; a workflow cannot declare or shadow them.
HOST_TOOLS = frozenset({"update_plan", "submit_result"})

JIRA_KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]+-\d+$")

InputType = Literal["string", "integer", "boolean", "enum", "file", "jira_key", "jira_keys"]
INPUT_TYPES: tuple[str, ...] = InputType.__args__  # type: ignore[attr-defined]
PATTERN_TYPES = frozenset({"string", "jira_key", "jira_keys"})

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]
# A server's name as the config spells it (`host.specs`): letters, digits, `_` and `-`, as `mcpServers` names are.
ServerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
WorkflowName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """One typed parameter of a workflow. Values arrive as text (`key=value`) and are coerced."""

    type: InputType = "string"
    description: str = ""
    required: bool = False
    default: Any = None
    pattern: str | None = None
    choices: list[str] | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class PagesSpec(_Strict):
    """How far a search step reads: it follows its result's `next_page_token` (as `page_token`) for up to `max`
    pages, and stops early rather than leave fewer than `leave` of the run's requests (`budget.max_calls`) for
    the agent. What it did not read is said in its result's `paging` (see `gather`)."""

    max: PositiveInt = 1
    leave: NonNegativeInt = 0


def _pages_shorthand(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"max": value}
    if not isinstance(value, dict | PagesSpec):
        raise ValueError("takes a number of pages (pages: 50) or {max: 50, leave: 40}")
    return value


class StepSpec(_Strict):
    """A deterministic gather step before the model runs: one tool call, or one `compute` (a built-in analysis
    such as `stack_traces` or `rank_changes` over earlier results); one per item with `foreach`.

    `args` values are jinja2 templates over `inputs`, earlier `steps` and, with `foreach`, `item`; a value
    that is a single `{{ expression }}` keeps the expression's type (a list stays a list). `when` and
    `foreach` are jinja2 expressions.
    """

    id: Identifier
    tool: str | None = None
    compute: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    when: str | None = None
    foreach: str | None = None
    pages: Annotated[PagesSpec, BeforeValidator(_pages_shorthand)] = Field(default_factory=PagesSpec)

    @model_validator(mode="after")
    def _tool_or_compute(self) -> StepSpec:
        if (self.tool is None) == (self.compute is None):
            raise ValueError("a step has either 'tool' (an MCP tool) or 'compute' (a built-in analysis), not both")
        if self.compute is not None and self.pages.max > 1:
            raise ValueError("'pages' goes with a 'tool' step that returns pages, not with 'compute'")
        return self

    @property
    def action(self) -> str:
        return self.tool or f"compute:{self.compute}"


class AgentSpec(_Strict):
    """The plan/act loop: the prompt template (in `prompts/`) and the limits of one run (turns, tool calls in
    total and per tool, output tokens per turn, tokens in total, wall-clock seconds)."""

    prompt: str
    max_turns: PositiveInt = 12
    max_tool_calls: PositiveInt = 40
    max_calls_per_tool: PositiveInt | None = None
    max_output_tokens: PositiveInt = 4096
    max_total_tokens: PositiveInt | None = None
    timeout_seconds: PositiveInt = 600


class RestrictedComments(StrEnum):
    """What a run reads of Jira comments restricted to a project role or group (Jira's comment `visibility`).

    `auto`: shown (marked) when a person runs the workflow with their own view of the site, withheld when the
    report leaves agentflow for people outside that role or group (a Slack command, a scheduled run); `include`
    always shows them; `withhold` never does."""

    AUTO = "auto"
    INCLUDE = "include"
    WITHHOLD = "withhold"


# Triggers whose report is read beyond the person whose site account the run reads with.
SHARED_REPORT_TRIGGERS = frozenset({"chatops", "schedule"})


class OutputSpec(_Strict):
    """The final answer's JSON schema (the input schema of `submit_result`), an optional report template, and
    whether restricted comments may reach the model and the report (`RestrictedComments`)."""

    json_schema: dict[str, Any] = Field(alias="schema")
    report: str | None = None
    restricted_comments: RestrictedComments = RestrictedComments.AUTO

    def withholds_restricted(self, trigger: str) -> bool:
        """Whether a run started by `trigger` leaves restricted comments out of what it reads."""
        if self.restricted_comments is RestrictedComments.AUTO:
            return trigger in SHARED_REPORT_TRIGGERS
        return self.restricted_comments is RestrictedComments.WITHHOLD


def _mode_shorthand(value: Any) -> Any:
    return {"mode": value} if isinstance(value, str) else value


class WritesSpec(_Strict):
    """What happens to write tool calls: `none` (refused), `staged` (a person approves) or `auto` (applied at
    the end of the run, within `limits`). With `staged`, `auto` may still name tools whose changes apply
    without asking when every argument (besides the issue key) is listed with its allowed values, e.g.
    `auto: {update_jira_issue: {add_labels: [stale, needs-grooming]}}`: labels only."""

    mode: Literal["none", "staged", "auto"] = "staged"
    limits: dict[str, PositiveInt] = Field(default_factory=dict)
    auto: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)


class BudgetSpec(_Strict):
    """The run's own cap on Atlassian HTTP requests (every request a site receives: retries and redirect hops
    too), and whose share of the hourly budget it draws on."""

    max_calls: PositiveInt = 100
    priority: Literal["interactive", "batch"] = "interactive"


def _cron_shorthand(value: Any) -> Any:
    return {"cron": value} if isinstance(value, str) else value


class ScheduleSpec(_Strict):
    """When the scheduler runs the workflow: a five-field cron expression in a time zone."""

    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron_is_valid(cls, value: str) -> str:
        from croniter import croniter  # imported here: croniter is slow to import and rarely needed

        # croniter's R picks a new random value each time the expression is read (the scheduler reads it on every
        # pass, so the job would run at many times a day), and H needs a hash seed; neither is exact enough here.
        for field in value.split():
            for part in field.split(","):
                if re.fullmatch(r"[RrHh](\(.*\))?(/.*)?", part):
                    kind = "R (random)" if part[0] in "Rr" else "H (hashed)"
                    raise ValueError(
                        f"'{value}' uses {kind} in the field '{field}', which agentflow does not support: "
                        "write exact values instead, e.g. '17 7 * * 1-5'"
                    )
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"'{value}' is not a five-field cron expression (minute hour day month weekday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name such as 'Europe/Berlin')") from None
        return value


class Workflow(_Strict):
    """A whole workflow file."""

    name: WorkflowName
    title: str
    description: str = ""
    persona: str = ""
    inputs: dict[Identifier, InputSpec] = Field(default_factory=dict)
    servers: list[ServerName] = Field(default_factory=lambda: [SERVER_NAME], min_length=1)
    tools: list[str] = Field(default_factory=list)
    steps: list[StepSpec] = Field(default_factory=list)
    agent: AgentSpec
    output: OutputSpec
    writes: Annotated[WritesSpec, BeforeValidator(_mode_shorthand)] = Field(default_factory=WritesSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    schedule: Annotated[ScheduleSpec | None, BeforeValidator(_cron_shorthand)] = None
