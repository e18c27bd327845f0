"""The bounded background pool chat commands run in.

Slack wants an answer within 3 s, so a command is only validated and queued; `workers` jobs run at once and
at most `capacity` wait. A full queue is said out loud instead of accepting work that would time out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class QueueFull(Exception):
    pass


@dataclass
class Job:
    """A run (or an apply) someone asked for in chat or over the API."""

    kind: str  # "run" | "apply"
    run_id: str
    actor: str
    workflow: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    only: set[int] | None = None
    response_url: str | None = None
    apply_allowed: bool = False
    state: str = "queued"  # then "running"


class Pool:
    def __init__(self, workers: int, capacity: int, execute: Callable[[Job], Awaitable[None]]) -> None:
        self.workers = workers
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=capacity + workers)
        self.capacity = capacity
        self.execute = execute
        self.running = 0
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def submit(self, job: Job) -> int:
        """Queue `job`: 0 when a worker is free to start it now, else its place in line (1 = next).
        `QueueFull` when `capacity` runs are already waiting."""
        waiting, free = self.queue.qsize(), self.workers - self.running
        if waiting >= free + self.capacity:
            raise QueueFull
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFull from None
        return max(0, waiting + 1 - free)

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            self.running += 1
            try:
                await self.execute(job)
            except Exception:
                log.exception("chat job %s (%s) failed", job.run_id, job.kind)
            finally:
                self.running -= 1
                self.queue.task_done()
