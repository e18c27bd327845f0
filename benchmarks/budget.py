"""Ledger throughput: 4 processes reserving against one SQLite budget file, and the over-grant count; then the
budget as the site sees it: `agentflow run` processes in a 429 storm against a small hourly limit.

Run: `python benchmarks/budget.py [--processes 4] [--each 2000] [--storm-limit 30] [--repeat 3] [--no-storm]`.
Targets: at least 2,000 requests per second in total along the path each HTTP request of the bundled server
takes (a `SiteQuota` reserved through `request_scope` and `RequestScope.admit`, as `atlassian/http.py` does: the
pause check, the reservation and the settling), with zero over-grant (a second race against a limit smaller than
the demand must grant exactly the limit); the raw `SQLiteLedger.try_reserve` figure is printed beside it, for
what the policy above the ledger costs. Each race runs `--repeat` times and the median is printed. In the storm
(`agentflow sandbox serve --faults 429=0.3,latency=5ms`, 4 concurrent incident runs, twice), the requests the
site received never exceed the limit and the ledger holds every one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from agentflow.atlassian.quota import QuotaExhausted, request_scope
from agentflow.budget import Budget, Settings, SiteQuota
from agentflow.ledger import SQLiteLedger

TARGET_PER_SECOND = 2000
NOW = 1_800_000_000.0
SITE = "site"
Kind = Literal["raw", "request"]


def worker(
    path: str, kind: Kind, each: int, limit: int, start: multiprocessing.Event, out: multiprocessing.Queue
) -> None:
    """`each` reservations of one request in this process; puts how many were granted."""
    ledger = SQLiteLedger(path)
    if kind == "raw":
        start.wait()
        granted = 0
        for _ in range(each):
            if ledger.try_reserve(SITE, 1, limit, NOW, run_id="bench", workflow="bench", actor="bench"):
                granted += 1
    else:
        quota = SiteQuota(Budget(ledger, Settings(per_hour=limit)), SITE, "interactive", run_id="bench",
                          workflow="bench", actor="bench")  # fmt: skip
        start.wait()
        granted = asyncio.run(_requests(quota, each))
    out.put(granted)


async def _requests(quota: SiteQuota, each: int) -> int:
    """`each` tool calls of one request each, reserved as the bundled server's HTTP client reserves them."""

    async def never(seconds: float) -> None:
        raise AssertionError(f"asked to wait {seconds} s: the window is an hour, more than max_wait")

    granted = 0
    for _ in range(each):
        with request_scope(quota) as scope:
            try:
                await scope.admit(never)
            except QuotaExhausted:
                continue
            granted += 1
    return granted


def race(kind: Kind, processes: int, each: int, limit: int) -> tuple[float, int, int]:
    """`processes` workers at once on a fresh ledger: (seconds, granted, what the ledger holds afterwards)."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "budget.db")
        SQLiteLedger(path).close()
        start, out = context.Event(), context.Queue()
        workers = [context.Process(target=worker, args=(path, kind, each, limit, start, out)) for _ in range(processes)]
        for process in workers:
            process.start()
        time.sleep(1.0)  # let every process import and open the ledger before the clock starts
        began = time.perf_counter()
        start.set()
        granted = sum(out.get(timeout=120) for _ in workers)
        elapsed = time.perf_counter() - began
        for process in workers:
            process.join(timeout=60)
        # The request path reserves at the wall clock, the raw one at NOW: both are within the window now.
        return elapsed, granted, SQLiteLedger(path).used(SITE, time.time() if kind == "request" else NOW)


def storm(processes: int, limit: int) -> dict[str, int]:
    """Two waves of `processes` concurrent `agentflow run incident --model none` against a served sandbox
    answering 30 % of requests with 429; what its request log and the shared ledger say afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "config.toml").write_text("")
        env = {**os.environ, "AGENTFLOW_STATE_DIR": str(root / "state"), "AGENTFLOW_CONFIG": str(root / "config.toml")}
        log = root / "requests.jsonl"
        serve = [sys.executable, "-m", "agentflow", "sandbox", "serve", "--port", "0", "--json", "--db",
                 str(root / "site.db"), "--faults", "429=0.3,latency=5ms", "--request-log", str(log)]  # fmt: skip
        with subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True) as site:
            try:
                with selectors.DefaultSelector() as selector:
                    selector.register(site.stdout, selectors.EVENT_READ)
                    if not selector.select(timeout=60):
                        raise SystemExit("the sandbox did not start within 60 s")
                info = json.loads(site.stdout.readline())
                run_env = {**env, **info["env"], "AGENTFLOW_BUDGET_PER_HOUR": str(limit)}
                run = [sys.executable, "-m", "agentflow", "run", "incident", "alert=DB connection pool exhausted",
                       "--model", "none", "--quiet"]  # fmt: skip
                codes = []
                for _ in range(2):
                    wave = [subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env)
                            for _ in range(processes)]  # fmt: skip
                    codes += [process.wait(timeout=300) for process in wave]
            finally:
                site.terminate()
                site.wait(timeout=30)
        received = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        ledger = SQLiteLedger(root / "state" / "budget.db")
        return {
            "received": len(received),
            "throttled": sum(1 for line in received if line["status"] == 429),
            "ledger": ledger.used("127.0.0.1", time.time()),
            "completed": codes.count(0),
            "budget": codes.count(3),
            "other": len(codes) - codes.count(0) - codes.count(3),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--each", type=int, default=2000)
    parser.add_argument("--storm-limit", type=int, default=30, help="the hourly limit of the 429-storm part")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each race; the median is printed")
    parser.add_argument("--no-storm", action="store_true", help="the races only")
    args = parser.parse_args()
    total, small = args.processes * args.each, args.processes * args.each // 8
    print(f"{'measurement':<60} {'measured':>10} {'target':>10}  verdict")
    for kind, label in (("request", "requests/s through SiteQuota (as http.py)"), ("raw", "raw try_reserve/s")):
        rates = []
        for _ in range(args.repeat):
            elapsed, granted, _ = race(kind, args.processes, args.each, limit=total)
            rates.append(granted / elapsed)
        rate = statistics.median(rates)
        runs = ", ".join(f"{each:.0f}" for each in rates)
        target, verdict = (
            (TARGET_PER_SECOND, "ok" if rate >= TARGET_PER_SECOND else "UNDER") if kind == "request" else ("", "")
        )
        print(f"{f'{label}, {args.processes} x {args.each}':<60} {rate:>10.0f} {target:>10}  {verdict}  (runs: {runs})")
        _, limited, used = race(kind, args.processes, args.each // 4, limit=small)
        over = max(0, limited - small)
        print(f"{f'  over-grant against a limit of {small}':<60} {over:>10} {0:>10}  "
              f"{'ok' if over == 0 and used == small else 'OVER'}")  # fmt: skip
    if args.no_storm:
        return
    seen = storm(args.processes, args.storm_limit)
    beyond = max(0, seen["received"] - args.storm_limit)
    label = f"429 storm, {args.processes} processes x 2 runs: requests at the site"
    print(f"{label:<60} {seen['received']:>10} {args.storm_limit:>10}  {'ok' if not beyond else 'OVER'}")
    print(f"{'  of which answered 429 (retried, each reserved)':<60} {seen['throttled']:>10} {'':>10}")
    ledger_ok = seen["received"] <= seen["ledger"] <= args.storm_limit
    print(f"{'  requests in the ledger (>= at the site, <= limit)':<60} {seen['ledger']:>10} {args.storm_limit:>10}  "
          f"{'ok' if ledger_ok else 'WRONG'}")  # fmt: skip
    print(f"{'  runs completed / stopped by the budget / other':<60} "
          f"{seen['completed']:>4} / {seen['budget']} / {seen['other']}")  # fmt: skip


if __name__ == "__main__":
    main()
