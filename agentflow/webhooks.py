"""Posting a message to a Slack webhook URL (a slash command's `response_url`, an incoming webhook) with
slack_sdk's client, retried a bounded number of times on an injectable sleeper.

The URL is a credential (whoever has it can post to the channel): it never reaches a log line or a failure
reason. slack_sdk's own retries are off, so that the bound here is the only one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from agentflow import redact

TIMEOUT_S = 10  # per attempt
Send = Callable[[str, dict[str, Any]], int]  # (url, payload) -> HTTP status
Sleep = Callable[[float], Awaitable[None]]

# The client logs request URLs at DEBUG when its logger's level allows it, and its errors (which may quote the
# URL) at ERROR: this logger lets nothing through, and hands nothing on to the root logger's handlers either.
_quiet = logging.getLogger("agentflow.webhooks.slack_sdk")
_quiet.setLevel(logging.CRITICAL + 1)
_quiet.propagate = False
_quiet.addHandler(logging.NullHandler())


def send(url: str, payload: dict[str, Any]) -> int:
    """One POST; its HTTP status."""
    from slack_sdk.webhook import WebhookClient

    return WebhookClient(url, timeout=TIMEOUT_S, logger=_quiet, retry_handlers=[]).send_dict(payload).status_code


@dataclass(frozen=True)
class Undelivered:
    """Why a message never got through: the last HTTP status or the kind of failure, never the URL."""

    attempts: int
    reason: str

    def __str__(self) -> str:
        return f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''} ({self.reason})"


async def post(
    url: str,
    payload: dict[str, Any],
    *,
    send: Send = send,
    attempts: int = 4,
    first_delay: float = 0.5,
    sleep: Sleep = anyio.sleep,
) -> Undelivered | None:
    """Deliver `payload`, scrubbed of secrets like every other output, retrying 429/5xx and network failures
    with doubling delays; None once delivered."""
    payload = redact.default().data(payload)
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            status = await anyio.to_thread.run_sync(send, url, payload)
        except Exception as error:  # urllib's errors may quote the URL, so only the kind of failure is kept
            status, reason = 0, type(error).__name__
        else:
            reason = f"HTTP {status}"
        if 200 <= status < 300:
            return None
        if 400 <= status < 500 and status != 429:
            break  # the webhook refused the message itself; sending it again will not help
        if attempt < attempts:
            await sleep(delay)
            delay *= 2
    return Undelivered(attempt, reason)
