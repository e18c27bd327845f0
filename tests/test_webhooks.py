"""Posting to a Slack webhook: bounded retries with doubling delays, a refusal not retried, the URL never told."""

from __future__ import annotations

import pytest

from agentflow.webhooks import post

pytestmark = pytest.mark.anyio


async def test_post_retries_server_errors_and_network_failures_with_backoff_then_succeeds():
    answers, waits = [503, ConnectionError("reset"), 429, 200], []

    def send(url: str, payload: dict) -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await post("http://127.0.0.1/hook", {"text": "hi"}, send=send, sleep=sleep) is None
    assert waits == [0.5, 1.0, 2.0] and not answers


async def test_post_gives_up_after_its_attempts_and_at_once_on_a_refusal():
    calls, waits = [], []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def failing(url: str, payload: dict) -> int:
        calls.append(url)
        return 500

    undelivered = await post("http://127.0.0.1/hook", {}, send=failing, sleep=sleep, attempts=3)
    assert str(undelivered) == "after 3 attempts (HTTP 500)"
    assert len(calls) == 3 and waits == [0.5, 1.0]
    calls.clear()
    refused = await post("http://127.0.0.1/hook", {}, send=lambda url, payload: calls.append(url) or 404, sleep=sleep)
    assert str(refused) == "after 1 attempt (HTTP 404)"
    assert len(calls) == 1  # Slack refused the message itself (e.g. an expired response_url)
