"""Ledger throughput: 4 processes reserving against one SQLite budget file, and the over-grant count.

Run: `python benchmarks/budget.py [--processes 4] [--each 2000]`. Target: at least 2,000 reservations per
second in total, with zero over-grant (a second race against a limit smaller than the demand must grant
exactly the limit).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from agentflow.budget import SQLiteLedger

TARGET_PER_SECOND = 2000
NOW = 1_800_000_000.0


def worker(path: str, each: int, limit: int, start: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    ledger = SQLiteLedger(path)
    start.wait()
    granted = 0
    for _ in range(each):
        if ledger.try_reserve("site", 1, limit, NOW, run_id="bench", workflow="bench", actor="bench"):
            granted += 1
    out.put(granted)


def race(processes: int, each: int, limit: int) -> tuple[float, int, int]:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "budget.db")
        SQLiteLedger(path).close()
        start, out = context.Event(), context.Queue()
        workers = [context.Process(target=worker, args=(path, each, limit, start, out)) for _ in range(processes)]
        for process in workers:
            process.start()
        time.sleep(1.0)  # let every process import and open the ledger before the clock starts
        began = time.perf_counter()
        start.set()
        granted = sum(out.get(timeout=120) for _ in workers)
        elapsed = time.perf_counter() - began
        for process in workers:
            process.join(timeout=60)
        return elapsed, granted, SQLiteLedger(path).used("site", NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--each", type=int, default=2000)
    args = parser.parse_args()
    total = args.processes * args.each
    elapsed, granted, _ = race(args.processes, args.each, limit=total)
    rate = granted / elapsed
    _, limited, used = race(args.processes, args.each // 4, limit=total // 8)
    over = max(0, limited - total // 8)
    print(f"{'measurement':<52} {'measured':>10} {'target':>10}  verdict")
    print(f"{f'reservations/s, {args.processes} processes x {args.each}':<52} {rate:>10.0f} {TARGET_PER_SECOND:>10}  "
          f"{'ok' if rate >= TARGET_PER_SECOND else 'UNDER'}")  # fmt: skip
    print(f"{f'over-grant against a limit of {total // 8}':<52} {over:>10} {0:>10}  "
          f"{'ok' if over == 0 and used == total // 8 else 'OVER'}")  # fmt: skip


if __name__ == "__main__":
    main()
