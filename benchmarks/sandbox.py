"""Sandbox speed: start-up (schema + seed) and a three-clause JQL search at scale, in-process over ASGI.

Run: `python benchmarks/sandbox.py [--scale 10000] [--runs 50]`. Targets: start under 300 ms; the search
returning 50 issues under 25 ms median with 10,000 generated issues.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx2

from agentflow.sandbox.site import Site

START_TARGET_MS = 300.0
SEARCH_TARGET_MS = 25.0
JQL = 'project = PROD AND status = "To Do" AND created >= -300d ORDER BY created DESC'


def time_start(runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        Site.open("cloud")
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def time_search(site: Site, runs: int) -> tuple[list[float], int]:
    transport = httpx2.ASGITransport(app=site.app)
    headers = site.auth_header("dev")
    body = {"jql": JQL, "maxResults": 50, "fields": ["summary", "status", "assignee", "priority", "updated"]}
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
        await client.post("/rest/api/3/search/jql", json=body)  # warm caches
        timings, count = [], 0
        for _ in range(runs):
            began = time.perf_counter()
            response = await client.post("/rest/api/3/search/jql", json=body)
            timings.append((time.perf_counter() - began) * 1000)
            count = len(response.json()["issues"])
    return timings, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    starts = time_start(10)
    began = time.perf_counter()
    site = Site.open("cloud", scale=args.scale)
    build_ms = (time.perf_counter() - began) * 1000
    searches, count = asyncio.run(time_search(site, args.runs))
    issues = site.store.query_one("SELECT COUNT(*) FROM issues")[0]

    print(f"{'measurement':<44} {'median':>9} {'target':>9}  verdict")
    rows = [
        ("sandbox start (schema + seed), ms", statistics.median(starts), START_TARGET_MS),
        (f"3-clause JQL, {count} of {issues} issues, ms", statistics.median(searches), SEARCH_TARGET_MS),
    ]
    for label, value, target in rows:
        print(f"{label:<44} {value:>9.1f} {target:>9.1f}  {'ok' if value < target else 'OVER'}")
    print(
        f"\n(building the {args.scale}-issue site took {build_ms:.0f} ms; search p95 "
        f"{sorted(searches)[int(len(searches) * 0.95) - 1]:.1f} ms over {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
