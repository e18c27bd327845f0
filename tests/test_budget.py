"""The hourly budget: shared by processes without over-granting, sliding, prioritised, paused by a 429."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentflow import ledger as ledger_module
from agentflow.atlassian.quota import QuotaExhausted, request_scope
from agentflow.budget import (
    Allowance,
    Budget,
    BudgetExhausted,
    Settings,
    SiteQuota,
    moment_text,
    open_budget,
    settings_from,
)
from agentflow.errors import ConfigError, StateError
from agentflow.ledger import WINDOW, SQLiteLedger
from tests.conftest import SLOW_MACHINE_SECONDS

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _reserve_many(path: str, attempts: int, limit: int, through: str, queue: multiprocessing.Queue) -> None:
    """`attempts` reservations of one request: straight from the ledger at NOW, or as the bundled server makes
    them (a `SiteQuota` at the wall clock, so every process moves the window's horizon as it goes)."""
    ledger = SQLiteLedger(path)
    granted = 0
    if through == "ledger":
        for _ in range(attempts):
            if ledger.try_reserve("acme", 1, limit, NOW, run_id="r", workflow="w", actor="a") is not None:
                granted += 1
    else:
        quota = SiteQuota(Budget(ledger, Settings(per_hour=limit)), "acme", "interactive", run_id="r")
        for _ in range(attempts):
            try:
                quota.reserve(1)
            except QuotaExhausted:
                continue
            granted += 1
    queue.put(granted)


@pytest.mark.parametrize("through", ["ledger", "quota"])
def test_four_processes_never_together_exceed_the_limit(tmp_path: Path, through: str):
    path = str(tmp_path / "budget.db")
    SQLiteLedger(path).close()  # create the schema once, before the race
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_reserve_many, args=(path, 300, 500, through, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    granted = [queue.get(timeout=SLOW_MACHINE_SECONDS) for _ in workers]
    for worker in workers:
        worker.join(timeout=SLOW_MACHINE_SECONDS)
    assert sum(granted) == 500
    ledger = SQLiteLedger(path)
    now = NOW if through == "ledger" else time.time()
    assert ledger.used("acme", now) == 500 == _window_sum(ledger, "acme", now)


def _window_sum(ledger: SQLiteLedger, site: str, now: float) -> int:
    """What the window holds, summed row by row: what the running total must always equal."""
    row = ledger.conn.execute("SELECT SUM(count) FROM entries WHERE site = ? AND at > ?", (site, now - WINDOW))
    return row.fetchone()[0] or 0


def _statements(ledger: SQLiteLedger) -> list[str]:
    """Every statement the ledger's connection runs from now on (transactions' BEGIN and COMMIT included)."""
    seen: list[str] = []
    ledger.conn.set_trace_callback(seen.append)
    return seen


def _transactions(statements: list[str]) -> list[list[str]]:
    """The statements grouped into their transactions; a statement outside any is a transaction of its own
    (SQLite's autocommit)."""
    grouped: list[list[str]] = []
    inside = False
    for statement in statements:
        if not inside:
            grouped.append([])
        grouped[-1].append(statement)
        inside = statement.startswith("BEGIN") or (inside and statement not in ("COMMIT", "ROLLBACK"))
    return grouped


def test_a_request_is_one_transaction_and_settling_exactly_what_was_reserved_writes_nothing(tmp_path: Path):
    ledger = SQLiteLedger(tmp_path / "budget.db")
    budget = Budget(ledger, Settings(per_hour=10), Clock())
    quota = SiteQuota(budget, "acme", "interactive", run_id="r1", workflow="incident", actor="sam")
    seen = _statements(ledger)

    async def requests() -> None:
        async def never(seconds: float) -> None:
            raise AssertionError("nothing to wait for")

        with request_scope(quota) as scope:  # a read: one request, as the HTTP client admits it
            await scope.admit(never)
        with request_scope(quota) as scope:  # a write of two requests that needed both
            scope.prepay(2)
            await scope.admit(never)
            await scope.admit(never)

    asyncio.run(requests())
    transactions = _transactions(seen)
    assert len(transactions) == 2, transactions
    assert all(statements[0] == "BEGIN IMMEDIATE" for statements in transactions)
    held = quota.reserve(3)
    seen.clear()
    held.settle(3)
    assert seen == []
    assert ledger.used("acme", NOW) == 6
    assert [(c.workflow, c.actor, c.requests) for c in ledger.consumers("acme", NOW)] == [("incident", "sam", 6)]


def test_a_reservation_the_site_does_not_get_is_released_and_one_it_partly_used_is_committed():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=10), Clock())
    quota = SiteQuota(budget, "acme", "interactive")
    quota.reserve(2).settle(0)  # reserved, never sent
    assert budget.status("acme")["used"] == 0
    quota.reserve(3).settle(1)
    assert budget.status("acme")["used"] == 1


def test_a_paused_site_refuses_in_the_reservation_itself_and_the_pause_outlives_its_end(monkeypatch):
    monkeypatch.setattr(ledger_module, "PRUNE_EVERY", 1)  # every reservation prunes
    ledger = SQLiteLedger(":memory:")
    ledger.pause("acme", NOW + 30)
    assert ledger.try_reserve("acme", 1, 10, NOW, run_id="", workflow="", actor="") is None
    ledger.try_reserve("other", 1, 10, NOW + 60, run_id="", workflow="", actor="")
    assert ledger.paused_until("acme", NOW) == NOW + 30  # so a refusal at NOW can still say why
    assert ledger.try_reserve("acme", 1, 10, NOW + 30, run_id="", workflow="", actor="") is not None
    ledger.try_reserve("other", 1, 10, NOW + 30 + WINDOW, run_id="", workflow="", actor="")
    assert ledger.paused_until("acme", NOW) is None  # pruned a window after it ended


_SITES = st.sampled_from(["acme", "beta"])
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), _SITES, st.integers(1, 3), st.integers(1, 12)),
        st.tuples(st.just("record"), _SITES, st.integers(0, 3)),
        st.tuples(st.just("commit"), st.integers(0, 30), st.integers(0, 5)),
        st.tuples(st.just("release"), st.integers(0, 30)),
        st.tuples(st.just("clock"), st.sampled_from([-120.0, -1.0, 0.0, 0.5, 600.0, WINDOW / 2, WINDOW])),
        st.tuples(st.just("prune")),
        st.tuples(st.just("old version writes"), _SITES, st.integers(-WINDOW, 0)),
    ),
    max_size=40,
)


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(_STEPS)
# The edges, whether or not the draws reach them: an entry exactly a window old, and a clock behind the horizon.
@example([("reserve", "acme", 1, 9), ("clock", WINDOW), ("reserve", "acme", 1, 9), ("clock", -1.0),
          ("reserve", "acme", 1, 2)])  # fmt: skip
def test_the_running_total_is_always_the_window_sum(steps: list[tuple]):
    ledger = SQLiteLedger(":memory:")
    now, grants = NOW, []
    for step in steps:
        match step:
            case ("reserve", site, count, ceiling):
                allowed = _window_sum(ledger, site, now) + count <= ceiling
                grant = ledger.try_reserve(site, count, ceiling, now, run_id="", workflow="", actor="")
                assert (grant is not None) == allowed
                grants += [grant] if grant else []
            case ("record", site, count):
                ledger.record(site, count, now, run_id="", workflow="", actor="")
            case ("commit", which, actual) if grants:
                ledger.commit(grants[which % len(grants)].id, actual, now)
            case ("release", which) if grants:
                ledger.release(grants[which % len(grants)].id)
            case ("clock", seconds):  # backwards too: another process read its clock just before this one
                now += seconds
            case ("prune",):  # harder than the ledger's own pruning: right at the window's edge
                ledger.conn.execute("DELETE FROM entries WHERE at <= ?", (now - WINDOW,))
            case ("old version writes", site, ago):  # a process of a version before the running totals
                ledger.conn.execute("INSERT INTO entries (site, at, count) VALUES (?, ?, 1)", (site, now + ago))
        for site in ("acme", "beta"):
            for moment in (now, now - 300, now + WINDOW / 3):
                assert ledger.used(site, moment) == _window_sum(ledger, site, moment), (step, site, moment)


def test_a_ledger_from_before_the_running_totals_counts_what_it_holds(tmp_path: Path):
    path = tmp_path / "budget.db"
    with sqlite3.connect(path) as conn:  # the tables as an earlier version made them, with an hour's requests
        conn.executescript(
            """
            CREATE TABLE entries (id INTEGER PRIMARY KEY, site TEXT NOT NULL, at REAL NOT NULL,
                count INTEGER NOT NULL, committed INTEGER NOT NULL DEFAULT 0, run_id TEXT, workflow TEXT, actor TEXT);
            CREATE TABLE pauses (site TEXT PRIMARY KEY, until REAL NOT NULL);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        conn.executemany("INSERT INTO entries (site, at, count) VALUES ('acme', ?, 1)",
                         [(NOW - WINDOW + 10 * i,) for i in range(9)])  # fmt: skip
    ledger = SQLiteLedger(path)
    assert ledger.used("acme", NOW) == 8  # the first slid out at NOW
    assert ledger.try_reserve("acme", 3, 10, NOW, run_id="", workflow="", actor="") is None
    assert ledger.try_reserve("acme", 2, 10, NOW, run_id="", workflow="", actor="") is not None
    assert ledger.used("acme", NOW + 25) == 8


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


def test_max_wait_is_read_from_the_config_and_checked():
    assert settings_from({}, {}).max_wait == 60
    assert settings_from({"budget": {"max_wait": 5}}, {}).max_wait == 5
    for bad in (-1, "soon", True, 7200):
        with pytest.raises(ConfigError, match=r"budget\.max_wait must be a number of seconds from 0 to 3600"):
            settings_from({"budget": {"max_wait": bad}}, {})


# --- SiteQuota: one consumer's share, as the bundled server spends it --------------------------------------------


def test_a_quota_reserves_in_the_ledger_with_its_attribution_and_settles_what_was_used():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=10), Clock())
    quota = SiteQuota(budget, "acme", "interactive", run_id="r1", workflow="incident", actor="sam")
    quota.reserve(1)
    held = quota.reserve(3)
    held.settle(1)  # a write that needed one of the three it reserved
    status = budget.status("acme")
    assert status["used"] == 2
    assert [(c.workflow, c.actor, c.requests) for c in status["consumers"]] == [("incident", "sam", 2)]


def test_a_run_allowance_is_shared_by_its_sites_and_does_not_come_back():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=100), Clock())
    allowance = Allowance(3)
    jira = SiteQuota(budget, "acme", "interactive", allowance=allowance)
    other = SiteQuota(budget, "other", "interactive", allowance=allowance)
    jira.reserve(2)
    with pytest.raises(QuotaExhausted, match="this run's budget of 3 Atlassian requests has 1 left and this needs 2"):
        other.reserve(2)
    other.reserve(1)
    with pytest.raises(QuotaExhausted, match="budget of 3 Atlassian requests is spent") as caught:
        jira.reserve(1)
    assert caught.value.wait is None  # no waiting helps: the run's own cap
    assert allowance.left() == 0 and budget.status("acme")["used"] == 2


def test_a_quota_says_how_long_until_a_pause_ends_or_the_window_slides():
    clock = Clock()
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=2), clock)
    quota = SiteQuota(budget, "acme", "batch")  # batch may use 1 of the 2
    quota.pause(30)
    with pytest.raises(QuotaExhausted, match="paused until") as caught:
        quota.reserve(1)
    assert caught.value.wait == 30
    clock.now += 30
    quota.reserve(1)
    clock.now += 100
    with pytest.raises(QuotaExhausted, match="used up for batch work") as caught:
        quota.reserve(1)
    assert caught.value.wait == WINDOW - 100
    with pytest.raises(QuotaExhausted) as caught:
        quota.reserve(5)
    assert caught.value.wait is None  # more than batch may ever use


def test_a_pause_lasts_at_most_one_window_and_says_its_date_when_not_today():
    clock = Clock()
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=100), clock)
    budget.pause("acme", 99_999_999)  # a bogus Retry-After
    assert budget.ledger.paused_until("acme", NOW) == NOW + WINDOW
    assert moment_text(time.time() + 3 * 86400).count("-") == 2  # another day: the date too


def test_a_request_that_needs_more_than_is_left_says_so():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=3), Clock())
    budget.reserve("acme", 2, "interactive")
    with pytest.raises(BudgetExhausted, match=r"\(2 of 3; this needs 2\)"):
        budget.reserve("acme", 2, "interactive")


def test_unknown_budget_keys_and_an_unreadable_ledger_are_config_errors(tmp_path: Path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown keys: max_wiat"):
        settings_from({"budget": {"max_wiat": 5}}, {})
    monkeypatch.setenv("AGENTFLOW_STATE_DIR", str(tmp_path))
    (tmp_path / "budget.db").write_bytes(b"this is not a database" * 100)
    damaged = r"the budget ledger .*budget\.db is damaged .*file is not a database.*move it"
    with pytest.raises(StateError, match=damaged):
        open_budget({})


def test_a_ledger_of_another_shape_is_named_at_open_not_in_the_middle_of_a_call(tmp_path: Path):
    import sqlite3

    SQLiteLedger(tmp_path / "budget.db").close()
    with sqlite3.connect(tmp_path / "budget.db") as conn:
        conn.execute("ALTER TABLE entries DROP COLUMN actor")  # another version's, or edited by hand
    with pytest.raises(StateError, match=r"its entries table lacks \['actor'\]\); move it aside"):
        SQLiteLedger(tmp_path / "budget.db")
