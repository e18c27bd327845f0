"""The `[schedule]` table of the config file, checked once: grace period, model, inputs, delivery.

[schedule]
grace = "2h"                  # how late an occurrence may still start (default 1h, at most 7d)
model = "claude-sonnet-5-5"   # for scheduled runs; default as `agentflow run`
[schedule.inputs.backlog-grooming]
project = "PROD"
[schedule.delivery]
file = "~/reports/{workflow}-{date}.md"
stdout = true
slack_webhook_env = "GROOMING_WEBHOOK"
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentflow.errors import ConfigError

DEFAULT_GRACE = timedelta(hours=1)
MAX_GRACE = timedelta(days=7)  # a week late is no longer "the occurrence"; and far larger values overflow dates
# What a delivery file name may contain: the occurrence's date and time in the workflow's zone, and the run.
FILE_FIELDS = frozenset({"workflow", "date", "time", "run_id"})
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """`2h`, `90m`, `1h30m`, `1d`, `45s` -> a duration; `ValueError` otherwise."""
    parts = re.findall(r"(\d+)\s*([dhms])", text)
    if not parts or re.sub(r"\s*\d+\s*[dhms]\s*", "", text):
        raise ValueError(f"'{text}' is not a duration such as 30m, 2h, 1h30m or 1d")
    try:
        return timedelta(seconds=sum(int(amount) * _UNITS[unit] for amount, unit in parts))
    except OverflowError:
        raise ValueError(f"'{text}' is far too long a duration") from None


def format_duration(span: timedelta) -> str:
    """The inverse, rounded to what a person wants to read: `3h`, `2h 5m`, `45s`."""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(part for part in parts if part)


def _signed(span: timedelta) -> str:
    return f"-{format_duration(-span)}" if span < timedelta(0) else format_duration(span)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Delivery(_Strict):
    """Where a scheduled run's result goes besides its run record."""

    file: str | None = None
    stdout: bool = False
    slack_webhook_env: str | None = None

    @field_validator("file")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                named = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
            except ValueError as exc:
                raise ValueError(f"'{value}' is not a valid file pattern: {exc}") from None
            unknown = sorted(named - FILE_FIELDS)
            if unknown:
                raise ValueError(f"unknown field {{{unknown[0]}}} (use {', '.join(sorted(FILE_FIELDS))})")
            # Known names can still fail to fill in (`{time:d}`, `{date!x}`, `{date:{x}}`): better now than after
            # a run. Every field is a string when the file is written, so strings stand in for them here.
            try:
                value.format(**{name: "x" for name in FILE_FIELDS})
            except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
                raise ValueError(
                    f"'{value}' is not a valid file pattern ({type(exc).__name__}: {exc}); the fields are text, so "
                    "use them plain, e.g. {date}-{time}"
                ) from None
        return value


class ScheduleSettings(_Strict):
    grace: timedelta = DEFAULT_GRACE
    model: str | None = None
    inputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    delivery: Delivery = Field(default_factory=Delivery)

    @field_validator("grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("grace")
    @classmethod
    def _in_range(cls, value: timedelta) -> timedelta:
        # Zero or less would skip every occurrence without a word; more than a week is a typo, or an overflow.
        if not timedelta(0) < value <= MAX_GRACE:
            raise ValueError(f"must be more than 0 and at most {format_duration(MAX_GRACE)} (got {_signed(value)})")
        return value

    def inputs_for(self, workflow: str) -> dict[str, Any]:
        return dict(self.inputs.get(workflow, {}))


def settings_from(config: Mapping[str, Any]) -> ScheduleSettings:
    """The `[schedule]` table; `ConfigError` naming the key when a value is wrong."""
    table = config.get("schedule") or {}
    try:
        return ScheduleSettings.model_validate(table)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in ("schedule", *error["loc"]))
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where} in the config file: {message}")
        raise ConfigError("; ".join(problems)) from None
