"""How long `agentflow --help` and `agentflow list` take, next to a bare Python start-up.

Run: `python benchmarks/cli_startup.py [--runs N]`. The target for `--help` is under 300 ms; the bare
interpreter is the floor no Python CLI can beat, so the gap between the two is what agentflow costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

TARGET_MS = 300.0
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "agentflow --help": [sys.executable, "-m", "agentflow", "--help"],
    "agentflow list": [sys.executable, "-m", "agentflow", "list"],
    "agentflow validate": [sys.executable, "-m", "agentflow", "validate"],
}


def measure(command: list[str], runs: int) -> list[float]:
    env = {**os.environ, "COLUMNS": "120"}
    subprocess.run(command, capture_output=True, env=env, check=True)  # warm the file cache
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, env=env, check=True)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    print(f"{'command':<26} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    results = {}
    for label, command in COMMANDS.items():
        timings = measure(command, runs)
        results[label] = statistics.median(timings)
        print(f"{label:<26} {results[label]:>10.1f} {min(timings):>8.1f} {max(timings):>8.1f}")
    help_ms = results["agentflow --help"]
    verdict = "within" if help_ms < TARGET_MS else "OVER"
    print(
        f"\n--help: {help_ms:.0f} ms, {verdict} the {TARGET_MS:.0f} ms target "
        f"({help_ms - results['python -c pass (floor)']:.0f} ms above a bare interpreter)"
    )


if __name__ == "__main__":
    main()
