"""Sandbox speed: start-up (schema + seed), and JQL searches at two scales, in-process over ASGI.

Run: `python benchmarks/sandbox.py [--scales 10000 25000] [--runs 50]`. Targets: start under 300 ms; at each scale
a three-clause JQL search and a full-text `text ~` search, each returning a page of 50 issues, under 25 ms median.
The full-text row says how many issues match, out of how many.
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
CLAUSES_JQL = 'project = PROD AND status = "To Do" AND created >= -300d ORDER BY created DESC'
TEXT_JQL = 'text ~ "connection pool"'
FIELDS = ["summary", "status", "assignee", "priority", "updated"]


def time_start(runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        Site.open("cloud")
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def time_search(client: httpx2.AsyncClient, jql: str, runs: int) -> list[float]:
    body = {"jql": jql, "maxResults": 50, "fields": FIELDS}
    await client.post("/rest/api/3/search/jql", json=body)  # warm caches
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        response = await client.post("/rest/api/3/search/jql", json=body)
        timings.append((time.perf_counter() - began) * 1000)
        assert len(response.json()["issues"]) == 50, response.text
    return timings


async def count_matches(client: httpx2.AsyncClient, jql: str) -> int:
    """Every issue the search finds, read as ids a page at a time."""
    body: dict = {"jql": jql, "maxResults": 5000}
    count = 0
    while True:
        page = (await client.post("/rest/api/3/search/jql", json=body)).json()
        count += len(page["issues"])
        if page["isLast"]:
            return count
        body["nextPageToken"] = page["nextPageToken"]


async def measure(site: Site, runs: int) -> tuple[list[float], list[float], int]:
    transport = httpx2.ASGITransport(app=site.app)
    headers = site.auth_header("dev")
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
        clauses = await time_search(client, CLAUSES_JQL, runs)
        text = await time_search(client, TEXT_JQL, runs)
        return clauses, text, await count_matches(client, TEXT_JQL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[10_000, 25_000])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    starts = time_start(10)
    rows = [("sandbox start (schema + seed), ms", statistics.median(starts), START_TARGET_MS)]
    notes = []
    for scale in args.scales:
        began = time.perf_counter()
        site = Site.open("cloud", scale=scale)
        build_ms = (time.perf_counter() - began) * 1000
        clauses, text, matched = asyncio.run(measure(site, args.runs))
        issues = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
        rows.append((f"3-clause JQL, 50 of {issues} issues, ms", statistics.median(clauses), SEARCH_TARGET_MS))
        rows.append((f"{TEXT_JQL}: {matched} of {issues} match, ms", statistics.median(text), SEARCH_TARGET_MS))
        notes.append(
            f"building the {scale}-issue site took {build_ms:.0f} ms; search p95 {_p95(clauses):.1f} ms (3-clause), "
            f"{_p95(text):.1f} ms (text) over {args.runs} runs"
        )
        site.store.close()

    print(f"{'measurement':<60} {'median':>9} {'target':>9}  verdict")
    for label, value, target in rows:
        print(f"{label:<60} {value:>9.1f} {target:>9.1f}  {'ok' if value < target else 'OVER'}")
    print()
    for note in notes:
        print(f"({note})")


def _p95(timings: list[float]) -> float:
    return sorted(timings)[int(len(timings) * 0.95) - 1]


if __name__ == "__main__":
    main()
