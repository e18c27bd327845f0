"""Generated issues for benchmarks at scale (`Site.open(scale=N)`): spread over the open projects, types,
statuses and the last year, with descriptions and comments written so that searches find some issues, not all.

Every description has two everyday sentences, one issue in fifty also the pool incident, and three in ten carry
a comment: `text ~ "connection pool"` (the benchmark's search) matches about three issues in a hundred.
"""

from __future__ import annotations

import json
import random
import sqlite3
from functools import cache

from agentflow.sandbox import richtext
from agentflow.sandbox.seed.data import DAY

SUMMARY_WORDS = (
    "payment", "refund", "export", "invoice", "login", "report", "checkout", "latency", "webhook", "dashboard",
    "search", "api",
)  # fmt: skip
SENTENCES = (
    "Customers in the EU region report intermittent timeouts.",
    "The dashboard takes more than five seconds to load for large accounts.",
    "Refunds created through the back office are missing a currency.",
    "The nightly export job fails when an invoice has no line items.",
    "Login redirects loop when the session cookie has expired.",
    "Webhook deliveries are retried without any backoff.",
    "Search results do not include archived invoices.",
    "The checkout page stays blank on slow networks.",
    "Latency on the payments API doubled after the last release.",
    "Report totals are rounded differently in the PDF and in the CSV.",
    "Users lose their draft when the connection drops during checkout.",
    "Support asked for a clearer error message in the API response.",
)
INCIDENT = "Checkout requests time out because the database connection pool is exhausted."
INCIDENT_RATE = 1 / 50
COMMENTS = (
    "Reproduced on staging, logs attached.",
    "Could this be related to the last deployment?",
    "The worker thread pool was saturated at the time.",
    "Moving this to the next sprint.",
    "Fixed in the latest build, please verify.",
    "The customer confirmed that the workaround helps.",
)
COMMENT_RATE = 0.3


@cache
def _adf(text: str) -> str:
    return json.dumps(richtext.text_to_adf(text))


def generate_issues(conn: sqlite3.Connection, count: int, now: float) -> None:
    """Add `count` issues (and their comments) after the seed's, numbered on from each project's last."""
    rng = random.Random(count)
    projects = conn.execute("SELECT id, key, next_number FROM projects WHERE restricted = 0").fetchall()
    types = [r[0] for r in conn.execute("SELECT id FROM issue_types WHERE hierarchy_level = 0")]
    statuses = [r[0] for r in conn.execute("SELECT id FROM statuses")]
    people = [r[0] for r in conn.execute("SELECT id FROM users WHERE account_type = 'atlassian'")]
    numbers = {project_id: next_number for project_id, _, next_number in projects}
    next_id = conn.execute("SELECT MAX(id) + 1 FROM issues").fetchone()[0]
    issues, comments = [], []
    for issue_id in range(next_id, next_id + count):
        project_id, key, _ = rng.choice(projects)
        number = numbers[project_id]
        numbers[project_id] += 1
        summary = " ".join(rng.sample(SUMMARY_WORDS, 4)).capitalize()
        description = " ".join(rng.sample(SENTENCES, 2) + ([INCIDENT] if rng.random() < INCIDENT_RATE else []))
        created = now - rng.uniform(0, 365 * DAY)
        updated = created + rng.uniform(0, now - created)
        issues.append(
            (
                issue_id,
                project_id,
                number,
                f"{key}-{number}",
                rng.choice(types),
                rng.choice(statuses),
                rng.randint(1, 5),
                summary,
                _adf(description),
                description,
                rng.choice(people),
                created,
                updated,
            )
        )
        if rng.random() < COMMENT_RATE:
            body = rng.choice(COMMENTS)
            comments.append((issue_id, rng.choice(people), _adf(body), body, updated, updated))
    conn.executemany(
        "INSERT INTO issues (id, project_id, number, key, issue_type_id, status_id, priority_id, summary, description,"
        " description_text, reporter_id, created, updated, seeded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        issues,
    )
    conn.executemany(
        "INSERT INTO comments (issue_id, author_id, body, body_text, created, updated, seeded)"
        " VALUES (?, ?, ?, ?, ?, ?, 1)",
        comments,
    )
    conn.executemany("UPDATE projects SET next_number = ? WHERE id = ?", [(n, p) for p, n in numbers.items()])
