"""The bounded pool chat runs wait in, and posting results back with bounded retries."""

from __future__ import annotations

import asyncio

import pytest

from agentflow.chatops.jobs import Job, Pool, QueueFull, post

pytestmark = pytest.mark.anyio


def job(n: int) -> Job:
    return Job("run", f"run-{n}", "U1", "incident")


async def test_positions_count_the_runs_ahead_and_a_full_queue_refuses():
    release, done = asyncio.Event(), []

    async def execute(j: Job) -> None:
        await release.wait()
        done.append(j.run_id)

    pool = Pool(workers=2, capacity=2, execute=execute)
    pool.start()
    positions = [pool.submit(job(n)) for n in range(4)]
    assert positions == [0, 0, 1, 2]
    with pytest.raises(QueueFull):
        pool.submit(job(4))
    release.set()
    await asyncio.wait_for(pool.queue.join(), 5)
    assert sorted(done) == [f"run-{n}" for n in range(4)]
    assert pool.submit(job(5)) == 0  # room again
    await pool.stop()


async def test_a_failing_job_does_not_take_its_worker_down():
    seen = []

    async def execute(j: Job) -> None:
        seen.append(j.run_id)
        if j.run_id == "run-0":
            raise RuntimeError("boom")

    pool = Pool(workers=1, capacity=5, execute=execute)
    pool.start()
    pool.submit(job(0))
    pool.submit(job(1))
    await asyncio.wait_for(pool.queue.join(), 5)
    assert seen == ["run-0", "run-1"]
    await pool.stop()


async def test_post_retries_server_errors_and_network_failures_with_backoff_then_succeeds():
    answers, waits = [503, ConnectionError("reset"), 429, 200], []

    def send(url: str, payload: dict) -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await post("http://127.0.0.1/hook", {"text": "hi"}, send=send, sleep=sleep)
    assert waits == [0.5, 1.0, 2.0] and not answers


async def test_post_gives_up_after_its_attempts_and_at_once_on_a_refusal():
    calls, waits = [], []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def failing(url: str, payload: dict) -> int:
        calls.append(url)
        return 500

    assert not await post("http://127.0.0.1/hook", {}, send=failing, sleep=sleep, attempts=3)
    assert len(calls) == 3 and waits == [0.5, 1.0]
    calls.clear()
    assert not await post("http://127.0.0.1/hook", {}, send=lambda url, payload: calls.append(url) or 404, sleep=sleep)
    assert len(calls) == 1  # Slack refused the message itself (e.g. an expired response_url)
