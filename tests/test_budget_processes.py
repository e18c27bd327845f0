"""The budget as the site sees it: whole `agentflow` processes against a served sandbox that logs every request
it receives (the counting proxy), under a 429 storm, with the ledger they share in one state directory."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentflow.ledger import SQLiteLedger
from agentflow.sandbox import requestlog
from tests.conftest import SLOW_MACHINE_SECONDS

ALERT = "alert=Database connection pool exhaustion"
STORM = "429=0.3,latency=5ms"
SITE = "127.0.0.1"  # the budget's key for a site at http://127.0.0.1:PORT


@contextmanager
def served_sandbox(tmp_path: Path, flavor: str, faults: str) -> Iterator[tuple[dict, Path]]:
    """`agentflow sandbox serve` in its own process; yields what it printed and its request log."""
    log = tmp_path / "requests.jsonl"
    command = [
        sys.executable, "-m", "agentflow", "sandbox", "serve", "--port", "0", "--json", "--flavor", flavor,
        "--db", str(tmp_path / "site.db"), "--faults", faults, "--request-log", str(log),
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(server.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=SLOW_MACHINE_SECONDS), "the sandbox printed nothing"
            yield json.loads(server.stdout.readline()), log
        finally:
            server.terminate()
            server.wait(timeout=SLOW_MACHINE_SECONDS)


def run_concurrently(count: int, env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    """`count` incident runs in `count` processes at once, as people at terminals would start them."""
    command = [sys.executable, "-m", "agentflow", "run", "incident", ALERT, "--model", "none", "--json"]
    started = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        for _ in range(count)
    ]
    finished = []
    for process in started:
        stdout, stderr = process.communicate(timeout=300)
        finished.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return finished


def site_env(info: dict, per_hour: int) -> dict[str, str]:
    return {**os.environ, **info["env"], "AGENTFLOW_BUDGET_PER_HOUR": str(per_hour), "PYTHONUNBUFFERED": "1"}


def ledger_used() -> int:
    ledger = SQLiteLedger(Path(os.environ["AGENTFLOW_STATE_DIR"]) / "budget.db")
    try:
        return ledger.used(SITE, time.time())
    finally:
        ledger.close()


def test_runs_under_a_30_percent_429_storm_finish_and_the_ledger_counts_every_request(tmp_path):
    with served_sandbox(tmp_path, "cloud", STORM) as (info, log):
        results = run_concurrently(4, site_env(info, 500))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["terminal_reason"] == "completed"
    received = requestlog.read(log)
    throttled = [line for line in received if line["status"] == 429]
    assert throttled, "the storm sent no 429: the test would prove nothing"
    # Every request the site saw was reserved first, retries included; none was reserved and not sent.
    assert ledger_used() == len(received)


@pytest.mark.parametrize("flavor", ["cloud", "dc"])
def test_four_processes_in_a_429_storm_never_send_more_than_the_hourly_limit(tmp_path, flavor):
    # Below what eight runs need on either flavor: a run costs Cloud 4 requests before retries, Data Center 2
    # (a Data Center site has no Compass).
    limit = 12
    with served_sandbox(tmp_path, flavor, STORM) as (info, log):
        env = site_env(info, limit)
        results = run_concurrently(4, env) + run_concurrently(4, env)
    received = requestlog.read(log)
    assert len(received) <= limit
    assert len(received) <= ledger_used() <= limit
    codes = sorted(result.returncode for result in results)
    assert set(codes) <= {0, 3}, [result.stderr for result in results]
    assert 3 in codes, "no run met the limit: the test would prove nothing"
    stopped = [json.loads(result.stdout) for result in results if result.returncode == 3]
    assert {record["terminal_reason"] for record in stopped} == {"budget"}
