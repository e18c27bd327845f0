"""Delivering a scheduled run's result where the config says: a Markdown file, stdout, a Slack channel.

Slack gets a short message (how the run ended, the answer's summary, what was applied, and the `agentflow
apply` command when changes wait for a person) through an incoming webhook whose URL is read from the
environment variable `slack_webhook_env` names. The URL is a credential: it never appears in a log line or an
error, the Slack client is kept from logging it, and `agentflow.redact` masks its value wherever it turns up.

A target that fails, however it fails, is reported in a line of its own; the other targets are still tried.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio

from agentflow import report
from agentflow.runs import RunRecord
from agentflow.schedule.settings import Delivery

SLACK_ATTEMPTS = 3
SLACK_TIMEOUT = 10  # seconds per attempt
Sleep = Callable[[float], Awaitable[None]]

# The client logs request URLs at DEBUG when its logger's level allows it, and its errors (which may quote the
# URL) at ERROR: this logger lets nothing through, and hands nothing on to the root logger's handlers either.
_quiet = logging.getLogger("agentflow.schedule.slack")
_quiet.setLevel(logging.CRITICAL + 1)
_quiet.propagate = False
_quiet.addHandler(logging.NullHandler())


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
                path.write_text(report.markdown(record), encoding="utf-8")
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
        message = slack_message(record)
        failure = ""
        for attempt in range(1, SLACK_ATTEMPTS + 1):
            failure = await anyio.to_thread.run_sync(_post, url, message)
            if not failure:
                return None
            if attempt < SLACK_ATTEMPTS:
                await self.sleep(2.0**attempt)
        return f"slack delivery failed after {SLACK_ATTEMPTS} attempts ({failure})"


def _post(url: str, message: str) -> str:
    """One POST; '' when Slack took it, else why not, without the URL."""
    from slack_sdk.webhook import WebhookClient

    # No retry handlers: retries are ours, bounded, and sleep through the scheduler's (injectable) sleeper.
    client = WebhookClient(url, timeout=SLACK_TIMEOUT, logger=_quiet, retry_handlers=[])
    try:
        response = client.send(text=message)
    except Exception as exc:  # urllib's errors may quote the URL, so only the kind of failure is kept
        return type(exc).__name__
    return "" if response.status_code == 200 else f"HTTP {response.status_code}"


def slack_message(record: RunRecord) -> str:
    """How the run ended, its answer's summary, and what is left for a person to approve."""
    lines = [f"*{record.workflow}* (scheduled): {report.describe_reason(record.terminal_reason)}"]
    summary = (record.output or {}).get("summary")
    if isinstance(summary, str) and summary.strip():
        lines.append(summary.strip())
    # `record.applied` holds `agentflow.apply.Applied` items for a run that just finished in this process.
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
