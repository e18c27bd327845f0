"""The hourly budget: shared by processes without over-granting, sliding, prioritised, paused by a 429."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from agentflow.budget import WINDOW, Budget, BudgetExhausted, Settings, SQLiteLedger, settings_from
from agentflow.errors import ConfigError

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _reserve_many(path: str, attempts: int, limit: int, queue: multiprocessing.Queue) -> None:
    ledger = SQLiteLedger(path)
    granted = 0
    for _ in range(attempts):
        if ledger.try_reserve("acme", 1, limit, NOW, run_id="r", workflow="w", actor="a") is not None:
            granted += 1
    queue.put(granted)


def test_four_processes_never_together_exceed_the_limit(tmp_path: Path):
    path = str(tmp_path / "budget.db")
    SQLiteLedger(path).close()  # create the schema once, before the race
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_reserve_many, args=(path, 300, 500, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    granted = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sum(granted) == 500
    assert SQLiteLedger(path).used("acme", NOW) == 500


def test_the_window_slides():
    clock = Clock()
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=3), clock)
    for _ in range(3):
        budget.reserve("acme", 1, "interactive")
        clock.now += 600
    with pytest.raises(BudgetExhausted) as caught:
        budget.reserve("acme", 1, "interactive")
    assert caught.value.retry_at == NOW + WINDOW
    assert budget.fits_at("acme", 2, "interactive") == NOW + 600 + WINDOW
    clock.now = NOW + WINDOW + 1
    assert budget.available("acme", "interactive") == 1
    budget.reserve("acme", 1, "interactive")


def test_batch_work_leaves_the_last_share_to_people():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=10, reserve_interactive=0.2), Clock())
    for _ in range(8):
        budget.reserve("acme", 1, "batch")
    with pytest.raises(BudgetExhausted, match="used up for batch work"):
        budget.reserve("acme", 1, "batch")
    budget.reserve("acme", 2, "interactive")
    with pytest.raises(BudgetExhausted):
        budget.reserve("acme", 1, "interactive")
    assert budget.available("acme", "batch") == 0


def test_commit_records_the_real_count_and_release_frees_the_reservation():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=10), Clock())
    grant = budget.reserve("acme", 2, "interactive", run_id="r1", workflow="incident", actor="sam")
    budget.commit(grant, 5)
    unused = budget.reserve("acme", 2, "interactive")
    budget.release(unused)
    status = budget.status("acme")
    assert status["used"] == 5
    assert [(c.workflow, c.actor, c.requests) for c in status["consumers"]] == [("incident", "sam", 5)]


def test_a_429_pauses_the_site_for_every_process(tmp_path: Path):
    path = tmp_path / "budget.db"
    clock = Clock()
    first = Budget(SQLiteLedger(path), Settings(per_hour=100), clock)
    second = Budget(SQLiteLedger(path), Settings(per_hour=100), clock)
    first.pause("acme", 120)
    with pytest.raises(BudgetExhausted, match="rate limited: paused until") as caught:
        second.reserve("acme", 1, "interactive")
    assert caught.value.retry_at == NOW + 120
    second.reserve("other-site", 1, "interactive")
    clock.now += 121
    second.reserve("acme", 1, "interactive")


def test_limits_come_from_presets_config_and_environment():
    assert settings_from({}, {}).limit("x") == 500
    premium = settings_from({"budget": {"per_hour": "premium", "users": 50, "sites": {"eng": 2000}}}, {})
    assert premium.limit("x") == 2000 and premium.limit("eng") == 2000
    assert settings_from({"budget": {"per_hour": "premium", "users": 10}}, {}).limit("x") == 1200
    overridden = settings_from({"budget": {"sites": {"eng": 2000}}}, {"AGENTFLOW_BUDGET_PER_HOUR": "50"})
    assert overridden.limit("eng") == 50
    for bad in ({"per_hour": "lots"}, {"per_hour": 0}, {"reserve_interactive": 1.5}):
        with pytest.raises(ConfigError):
            settings_from({"budget": bad}, {})
