"""Delivering a scheduled run's result where the config says: a Markdown file, stdout, a Slack channel.

Slack gets a short message (how the run ended, the answer's summary, what was applied, and the `agentflow
apply` command when changes wait for a person) through an incoming webhook whose URL is read from the
environment variable `slack_webhook_env` names. The URL is a credential: it never appears in a log line or an
error (`agentflow.webhooks` keeps the Slack client from logging it), and `agentflow.redact` masks its value
wherever it turns up.

A target that fails, however it fails, is reported in a line of its own; the other targets are still tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from agentflow import report, statefiles, webhooks
from agentflow.runs import RunRecord
from agentflow.schedule.settings import Delivery

SLACK_ATTEMPTS = 3
Sleep = Callable[[float], Awaitable[None]]


class Deliverer:
    """Delivers one record to every configured target; returns what failed, one line each (never raises)."""

    def __init__(self, settings: Delivery, sleep: Sleep, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.sleep = sleep
        self.env = os.environ if env is None else env

    async def deliver(self, record: RunRecord, scheduled: datetime, timezone: str) -> list[str]:
        problems: list[str] = []
        if self.settings.file:
            try:
                path = self.file_for(record, scheduled, timezone)
                path.parent.mkdir(parents=True, exist_ok=True)
                statefiles.write_atomic(path, report.markdown(record))
            except Exception as exc:  # a full disk, a bad path, a pattern that does not fill in, a bug
                problems.append(f"file delivery failed: {exc}")
        if self.settings.stdout:
            try:
                sys.stdout.write(report.markdown(record))
                sys.stdout.flush()
            except Exception as exc:  # a closed pipe, a bug
                problems.append(f"stdout delivery failed: {exc}")
        if self.settings.slack_webhook_env:
            try:
                problem = await self._slack(record)
            except Exception as exc:  # only the kind: the message of anything near the URL may quote it
                problem = f"slack delivery failed ({type(exc).__name__})"
            if problem:
                problems.append(problem)
        return problems

    def file_for(self, record: RunRecord, scheduled: datetime, timezone: str) -> Path:
        """The file pattern filled in with the occurrence's date and time in the workflow's zone."""
        local = scheduled.astimezone(ZoneInfo(timezone))
        name = (self.settings.file or "").format(
            workflow=record.workflow, date=local.strftime("%Y-%m-%d"), time=local.strftime("%H%M"), run_id=record.id
        )
        return Path(name).expanduser()

    async def _slack(self, record: RunRecord) -> str | None:
        variable = self.settings.slack_webhook_env or ""
        url = self.env.get(variable, "").strip()
        if not url:
            return f"slack delivery skipped: the environment variable {variable} is not set"
        payload = {"text": slack_message(record)}
        undelivered = await webhooks.post(url, payload, attempts=SLACK_ATTEMPTS, first_delay=2.0, sleep=self.sleep)
        return f"slack delivery failed {undelivered}" if undelivered else None


def slack_message(record: RunRecord) -> str:
    """How the run ended, its answer's summary, and what is left for a person to approve."""
    lines = [f"*{record.workflow}* (scheduled): {report.describe_reason(record.terminal_reason)}"]
    if record.error and not record.succeeded:  # e.g. which server needs a sign-in, and the command that does it
        lines.append(record.error)
    summary = (record.output or {}).get("summary")
    if isinstance(summary, str) and summary.strip():
        lines.append(summary.strip())
    applied = {item.index for item in record.applied if item.state == "applied"}
    waiting = [change for change in record.changes if change.index not in applied]
    if applied:
        lines.append(f"Applied without asking: {len(applied)} change{'s' if len(applied) != 1 else ''}.")
    if waiting:
        lines.append(
            f"{len(waiting)} change{'s' if len(waiting) != 1 else ''} wait for approval: `agentflow apply {record.id}`"
        )
    lines.append(f"Run `{record.id}`: `agentflow runs show {record.id}`")
    return "\n".join(lines)
