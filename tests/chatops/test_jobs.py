"""The bounded pool chat runs wait in."""

from __future__ import annotations

import asyncio

import pytest

from agentflow.chatops.jobs import Job, Pool, QueueFull
from tests.conftest import SLOW_MACHINE_SECONDS

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
    await asyncio.wait_for(pool.queue.join(), SLOW_MACHINE_SECONDS)
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
    await asyncio.wait_for(pool.queue.join(), SLOW_MACHINE_SECONDS)
    assert seen == ["run-0", "run-1"]
    await pool.stop()
