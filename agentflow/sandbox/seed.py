"""The seed: one realistic site carrying the four agentflow scenarios, with facts tests can assert.

- OPS: three deployments/changes within the last 24 hours (the newest, to payment-gateway, shrinks the DB
  connection pool) and older ones outside that window; space OPS with the connection-pool runbook and others.
- PAY: bug PAY-429 (a Java NullPointerException in a serializer, naming the "Payments API" page) and the older,
  resolved, similar PAY-388; bugs with Python, JavaScript and Go traces. Space ENG holds "Payments API".
- PROD: epic PROD-100 "Q4 Roadmap" with stories (PROD-101, CSV export, duplicates a request in
  examples/transcripts/), and a backlog to groom: stale, unestimated, thin and duplicate issues.
- SEC: a restricted project only its members can see.
- Compass: payment-gateway, customer-api, checkout-web and payments-db with owners and DEPENDS_ON edges.
Times are offsets from now; `Store` keeps them relative on every later start.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import sqlite3
import uuid
from dataclasses import dataclass, field

from agentflow.sandbox import richtext
from agentflow.sandbox import seed_texts as texts
from agentflow.sandbox.compass import component_ari
from agentflow.sandbox.store import Store

HOUR, DAY = 3600.0, 86400.0

USERS = [
    # username, display name, email, account type
    ("sre", "Sam Rivera", "sam.rivera@example.com", "atlassian"),
    ("dev", "Dana Kim", "dana.kim@example.com", "atlassian"),
    ("pm", "Priya Patel", "priya.patel@example.com", "atlassian"),
    ("lead", "Lee Chen", "lee.chen@example.com", "atlassian"),
    ("sec", "Morgan Blake", "morgan.blake@example.com", "atlassian"),
    ("bot", "agentflow bot", "agentflow-bot@example.com", "app"),
]
ISSUE_TYPES = [
    (10000, "Epic", "A big user story that needs to be broken down.", 0, 1),
    (10001, "Story", "Functionality or a feature expressed as a user goal.", 0, 0),
    (10002, "Task", "A small, distinct piece of work.", 0, 0),
    (10003, "Bug", "A problem or error.", 0, 0),
    (10004, "Deployment", "A release of a service to an environment.", 0, 0),
    (10005, "Change", "A change to production configuration or infrastructure.", 0, 0),
    (10006, "Incident", "An unplanned interruption of a service.", 0, 0),
    (10007, "Sub-task", "A piece of a larger issue.", 1, -1),
]
STATUSES = [
    (1, "To Do", "new"),
    (3, "In Progress", "indeterminate"),
    (10100, "In Review", "indeterminate"),
    (10001, "Done", "done"),
    (10002, "Backlog", "new"),
]
TRANSITIONS = [
    (11, "To Do", 1),
    (21, "In Progress", 3),
    (31, "In Review", 10100),
    (41, "Done", 10001),
    (51, "Backlog", 10002),
]
PRIORITIES = [(1, "Highest", 1), (2, "High", 2), (3, "Medium", 3), (4, "Low", 4), (5, "Lowest", 5)]
LINK_TYPES = [
    (10000, "Blocks", "is blocked by", "blocks"),
    (10001, "Cloners", "is cloned by", "clones"),
    (10002, "Duplicate", "is duplicated by", "duplicates"),
    (10003, "Relates", "relates to", "relates to"),
]
PROJECTS = [
    # key, name, lead, restricted, members, components
    ("OPS", "Operations", "sre", 0, (), ("payment-gateway", "customer-api", "checkout-web", "payments-db")),
    ("PAY", "Payments", "dev", 0, (), ("Payments API", "Checkout", "Reconciliation", "Webhooks")),
    ("PROD", "Product", "pm", 0, (), ("Reporting", "Auth", "Dashboard", "Billing")),
    ("SEC", "Security Incidents", "sec", 1, ("sec", "sre", "bot"), ("Identity",)),
]


@dataclass
class Issue:
    key: str
    type: str
    summary: str
    age: float  # seconds since creation
    status: str = "To Do"
    description: str | None = None  # wiki markup
    priority: str | None = "Medium"
    assignee: str | None = None
    reporter: str = "dev"
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    parent: str | None = None
    points: float | None = None
    idle: float | None = None  # seconds since the last update (default: created then never touched)
    resolution: str | None = None
    comments: list[tuple[str, str, float]] = field(default_factory=list)  # author, wiki body, age


def _issues() -> list[Issue]:
    return [
        # OPS: the incident's suspects (inside the last 24 h) and older changes
        Issue(
            "OPS-141",
            "Deployment",
            "Deploy payment-gateway 2.14.0: reduce DB connection pool size to 10",
            2 * HOUR,
            "Done",
            texts.POOL_DEPLOYMENT,
            "High",
            "dev",
            "dev",
            ("deployment", "database"),
            ("payment-gateway",),
            resolution="Done",
        ),
        Issue(
            "OPS-140",
            "Change",
            "Enable verbose request logging on customer-api",
            6 * HOUR,
            "Done",
            texts.LOGGING_CHANGE,
            "Low",
            "lead",
            "lead",
            ("logging",),
            ("customer-api",),
            resolution="Done",
        ),
        Issue(
            "OPS-139",
            "Deployment",
            "Deploy checkout-web 5.2.1 (payment page copy fixes)",
            14 * HOUR,
            "Done",
            texts.CHECKOUT_DEPLOYMENT,
            "Medium",
            "dev",
            "dev",
            ("deployment",),
            ("checkout-web",),
            resolution="Done",
        ),
        Issue(
            "OPS-138",
            "Deployment",
            "Deploy customer-api 3.8.0",
            3 * DAY,
            "Done",
            "Routine release.",
            "Medium",
            "lead",
            "lead",
            ("deployment",),
            ("customer-api",),
            resolution="Done",
        ),
        Issue(
            "OPS-137",
            "Change",
            "Rotate TLS certificates on checkout-web",
            5 * DAY,
            "Done",
            "Yearly rotation.",
            "Medium",
            "sre",
            "sre",
            (),
            ("checkout-web",),
            resolution="Done",
        ),
        Issue(
            "OPS-136",
            "Incident",
            "Checkout latency spike during flash sale",
            9 * DAY,
            "Done",
            "Resolved by scaling checkout-web.",
            "High",
            "sre",
            "sre",
            ("incident",),
            ("checkout-web",),
            resolution="Done",
        ),
        # PAY: bugs with stack traces
        Issue(
            "PAY-429",
            "Bug",
            "NullPointerException in PaymentResponseSerializer when a refund has no currency",
            1 * DAY,
            "To Do",
            texts.PAY_429_DESCRIPTION,
            "High",
            "dev",
            "sre",
            ("refunds", "serializer"),
            ("Payments API",),
            comments=[("sre", texts.PAY_429_TRACE_COMMENT, 23 * HOUR), ("dev", texts.PAY_429_FOLLOWUP, 20 * HOUR)],
        ),
        Issue(
            "PAY-388",
            "Bug",
            "NullPointerException in PaymentResponseSerializer for partial captures",
            60 * DAY,
            "Done",
            texts.PAY_388_DESCRIPTION,
            "High",
            "dev",
            "dev",
            ("serializer",),
            ("Payments API",),
            idle=45 * DAY,
            resolution="Done",
            comments=[("dev", texts.PAY_388_RESOLUTION, 45 * DAY)],
        ),
        Issue(
            "PAY-431",
            "Bug",
            "Reconciliation job crashes on empty fee column",
            2 * DAY,
            "In Progress",
            texts.PAY_431_DESCRIPTION,
            "Medium",
            "dev",
            "lead",
            ("reconciliation",),
            ("Reconciliation",),
        ),
        Issue(
            "PAY-432",
            "Bug",
            "Checkout widget crashes when the wallet list is empty",
            4 * DAY,
            "To Do",
            texts.PAY_432_DESCRIPTION,
            "Medium",
            None,
            "pm",
            (),
            ("Checkout",),
        ),
        Issue(
            "PAY-433",
            "Bug",
            "Webhook dispatcher panics under load",
            3 * DAY,
            "To Do",
            texts.PAY_433_DESCRIPTION,
            "High",
            "dev",
            "sre",
            ("webhooks",),
            ("Webhooks",),
        ),
        # PROD: the roadmap epic and its stories
        Issue(
            "PROD-100",
            "Epic",
            "Q4 Roadmap",
            40 * DAY,
            "In Progress",
            "Reporting, enterprise sign-on and notifications for Q4.",
            "High",
            "pm",
            "pm",
            ("roadmap",),
        ),
        Issue(
            "PROD-101",
            "Story",
            "Export reports to CSV",
            35 * DAY,
            "To Do",
            texts.CSV_EXPORT,
            "High",
            "pm",
            "pm",
            ("export",),
            ("Reporting",),
            "PROD-100",
            5,
        ),
        Issue(
            "PROD-102",
            "Story",
            "Single sign-on with Okta (SAML)",
            34 * DAY,
            "In Progress",
            texts.SSO,
            "High",
            "dev",
            "pm",
            ("sso",),
            ("Auth",),
            "PROD-100",
            8,
            idle=3 * DAY,
        ),
        Issue(
            "PROD-103",
            "Story",
            "Dark mode for the dashboard",
            30 * DAY,
            "To Do",
            texts.DARK_MODE,
            "Low",
            None,
            "pm",
            ("ui",),
            ("Dashboard",),
            "PROD-100",
            3,
        ),
        Issue(
            "PROD-104",
            "Story",
            "Weekly email digest of key metrics",
            28 * DAY,
            "To Do",
            texts.DIGEST,
            "Medium",
            None,
            "pm",
            ("notifications",),
            ("Reporting",),
            "PROD-100",
            5,
        ),
        # PROD backlog to groom
        Issue(
            "PROD-110",
            "Story",
            "Improve the onboarding checklist",
            120 * DAY,
            "To Do",
            texts.STALE_ONBOARDING,
            "Medium",
            None,
            "pm",
            ("onboarding",),
            ("Dashboard",),
            points=3,
            idle=95 * DAY,
        ),
        Issue(
            "PROD-111",
            "Task",
            "Review audit log retention settings",
            90 * DAY,
            "Backlog",
            "Check that audit logs are kept for 13 months as the contract says.",
            "Low",
            None,
            "lead",
            points=2,
            idle=70 * DAY,
        ),
        Issue(
            "PROD-112",
            "Story",
            "Add pagination to the invoices list",
            20 * DAY,
            "To Do",
            texts.PAGINATION,
            "Medium",
            None,
            "pm",
            ("invoices",),
            ("Billing",),
        ),
        Issue("PROD-113", "Task", "Fix it", 15 * DAY, "To Do", None, "Medium", None, "lead", points=1),
        Issue("PROD-114", "Story", "Search is slow", 12 * DAY, "Backlog", texts.SEARCH_SLOW, "Medium", None, "pm"),
        Issue(
            "PROD-115",
            "Story",
            "Allow exporting invoices as PDF",
            25 * DAY,
            "To Do",
            texts.INVOICE_PDF,
            "Medium",
            None,
            "pm",
            ("invoices",),
            ("Billing",),
            points=3,
        ),
        Issue(
            "PROD-116",
            "Story",
            "Export invoices to PDF",
            8 * DAY,
            "Backlog",
            texts.INVOICE_PDF_DUPLICATE,
            "Medium",
            None,
            "lead",
            ("invoices",),
            ("Billing",),
            points=3,
        ),
        # SEC: restricted
        Issue(
            "SEC-7",
            "Incident",
            "Suspicious login attempts from TOR exit nodes",
            1 * DAY,
            "In Progress",
            "Blocked at the WAF; investigating affected accounts.",
            "Highest",
            "sec",
            "sec",
            ("security",),
            ("Identity",),
        ),
        Issue(
            "SEC-6",
            "Task",
            "Rotate the signing keys of the payment webhooks",
            10 * DAY,
            "Done",
            "Done after the pen test.",
            "High",
            "sec",
            "sec",
            (),
            ("Identity",),
            resolution="Done",
        ),
    ]


PAGES = [
    # id, space, parent id, title, storage body, labels, author, age
    (
        65536,
        "OPS",
        None,
        "Operations Home",
        "<p>Runbooks and on-call material for the platform.</p>",
        (),
        "sre",
        200 * DAY,
    ),
    (
        65537,
        "OPS",
        65536,
        "Runbook: Database connection pool exhaustion",
        texts.RUNBOOK_POOL,
        ("runbook", "database", "payment-gateway"),
        "sre",
        120 * DAY,
    ),
    (
        65538,
        "OPS",
        65536,
        "Runbook: Disk full on build agents",
        texts.RUNBOOK_DISK,
        ("runbook", "ci"),
        "sre",
        150 * DAY,
    ),
    (
        65539,
        "OPS",
        65536,
        "Runbook: Elevated 5xx on checkout-web",
        texts.RUNBOOK_5XX,
        ("runbook", "checkout-web"),
        "sre",
        90 * DAY,
    ),
    (65540, "OPS", 65536, "On-call handbook", texts.ONCALL, ("oncall",), "lead", 300 * DAY),
    (65600, "ENG", None, "Engineering Home", "<p>Designs and API specifications.</p>", (), "dev", 400 * DAY),
    (65601, "ENG", 65600, "Payments API", texts.PAYMENTS_API, ("api", "payments", "spec"), "dev", 180 * DAY),
    (65700, "PROD", None, "Product Home", "<p>Roadmaps and research.</p>", (), "pm", 365 * DAY),
    (65701, "PROD", 65700, "Q4 Roadmap", texts.ROADMAP, ("roadmap",), "pm", 40 * DAY),
]
SPACES = [(1, "OPS", "Operations"), (2, "ENG", "Engineering"), (3, "PROD", "Product")]

COMPONENTS = [
    # key, type, description, owner team, on-call, labels, links
    (
        "payment-gateway",
        "SERVICE",
        "Authorises and captures card payments; talks to payments-db.",
        "Payments Team",
        "Dana Kim",
        ["payments", "tier-1"],
        [
            ("Repository", "REPOSITORY", "https://git.example.com/acme/payment-gateway"),
            ("Runbook", "DOCUMENT", "/wiki/spaces/OPS/pages/65537"),
        ],
    ),
    (
        "customer-api",
        "SERVICE",
        "Customer profiles and saved payment methods.",
        "Customer Platform",
        "Lee Chen",
        ["tier-1"],
        [("Repository", "REPOSITORY", "https://git.example.com/acme/customer-api")],
    ),
    (
        "checkout-web",
        "APPLICATION",
        "The web checkout.",
        "Web Team",
        "Priya Patel",
        ["frontend"],
        [("Dashboard", "DASHBOARD", "https://grafana.example.com/d/checkout")],
    ),
    (
        "payments-db",
        "CLOUD_RESOURCE",
        "PostgreSQL cluster for payments.",
        "Data Platform",
        "Sam Rivera",
        ["database"],
        [("Dashboard", "DASHBOARD", "https://grafana.example.com/d/hikari")],
    ),
]
DEPENDS_ON = [
    ("checkout-web", "payment-gateway"),
    ("customer-api", "payment-gateway"),
    ("payment-gateway", "payments-db"),
]
LINKS = [("Duplicate", "PROD-116", "PROD-115"), ("Relates", "PAY-429", "PAY-388"), ("Relates", "OPS-141", "PAY-429")]


def _account_id(username: str) -> str:
    return "712020:" + str(uuid.UUID(hashlib.sha256(username.encode()).hexdigest()[:32]))


def seed(store: Store, scale: int = 0) -> None:
    """Fill an empty store with the seed (and `scale` generated issues for benchmarks)."""
    now = store.now()
    cloud_id = str(uuid.uuid4())
    with store.transaction() as conn:
        conn.execute("INSERT INTO meta VALUES ('cloud_id', ?)", (cloud_id,))
        users = _seed_users(conn)
        _seed_catalogue(conn, users)
        issue_ids = _seed_issues(conn, users, now)
        _seed_pages(conn, users, now)
        _seed_compass(conn, cloud_id)
        for link_type, inward, outward in LINKS:
            type_id = conn.execute("SELECT id FROM link_types WHERE name = ?", (link_type,)).fetchone()[0]
            conn.execute(
                "INSERT INTO issue_links (type_id, inward_issue_id, outward_issue_id) VALUES (?, ?, ?)",
                (type_id, issue_ids[inward], issue_ids[outward]),
            )
        if scale:
            _generate_issues(conn, scale, now)


def _seed_users(conn: sqlite3.Connection) -> dict[str, int]:
    ids = {}
    for index, (username, name, email, kind) in enumerate(USERS, start=1):
        conn.execute(
            "INSERT INTO users (id, account_id, username, display_name, email, token, account_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (index, _account_id(username), username, name, email, f"sbx-{username}-{secrets.token_hex(12)}", kind),
        )
        ids[username] = index
    return ids


def _seed_catalogue(conn: sqlite3.Connection, users: dict[str, int]) -> None:
    conn.executemany("INSERT INTO issue_types VALUES (?, ?, ?, ?, ?)", ISSUE_TYPES)
    conn.executemany("INSERT INTO statuses VALUES (?, ?, ?)", STATUSES)
    conn.executemany("INSERT INTO transitions (id, name, to_status_id) VALUES (?, ?, ?)", TRANSITIONS)
    conn.executemany("INSERT INTO priorities VALUES (?, ?, ?)", PRIORITIES)
    conn.executemany("INSERT INTO link_types VALUES (?, ?, ?, ?)", LINK_TYPES)
    for number, (key, name, lead, restricted, members, components) in enumerate(PROJECTS):
        project_id = 10000 + number
        conn.execute(
            "INSERT INTO projects (id, key, name, lead_id, restricted) VALUES (?, ?, ?, ?, ?)",
            (project_id, key, name, users[lead], restricted),
        )
        conn.executemany("INSERT INTO project_members VALUES (?, ?)", [(project_id, users[m]) for m in members])
        conn.executemany(
            "INSERT INTO components (project_id, name) VALUES (?, ?)", [(project_id, c) for c in components]
        )


def _adf(wiki: str | None, users: dict[str, int]) -> tuple[str | None, str]:
    if wiki is None:
        return None, ""
    filled = wiki.format(wiki="/wiki", **{name: _account_id(name) for name in users})
    doc = richtext.wiki_to_adf(filled)
    return json.dumps(doc), richtext.adf_to_text(doc)


def _seed_issues(conn: sqlite3.Connection, users: dict[str, int], now: float) -> dict[str, int]:
    lookup = {
        table: dict(conn.execute(f"SELECT name, id FROM {table}").fetchall())
        for table in ("issue_types", "statuses", "priorities")
    }
    projects = dict(conn.execute("SELECT key, id FROM projects").fetchall())
    ids: dict[str, int] = {}
    issues = sorted(_issues(), key=lambda i: (i.key.split("-")[0], int(i.key.split("-")[1])))
    for issue in issues:
        project_key, number = issue.key.split("-")
        project_id = projects[project_key]
        created = now - issue.age
        updated = now - (issue.idle if issue.idle is not None else min(issue.age, _last_comment_age(issue)))
        description, description_text = _adf(issue.description, users)
        resolved = updated if issue.resolution else None
        cursor = conn.execute(
            "INSERT INTO issues (project_id, number, key, issue_type_id, status_id, priority_id, summary, description,"
            " description_text, assignee_id, reporter_id, parent_id, resolution, story_points, created, updated,"
            " resolved, seeded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                project_id,
                int(number),
                issue.key,
                lookup["issue_types"][issue.type],
                lookup["statuses"][issue.status],
                lookup["priorities"].get(issue.priority),
                issue.summary,
                description,
                description_text,
                users.get(issue.assignee or ""),
                users[issue.reporter],
                ids.get(issue.parent or ""),
                issue.resolution,
                issue.points,
                created,
                updated,
                resolved,
            ),
        )
        issue_id = cursor.lastrowid
        ids[issue.key] = issue_id
        conn.executemany("INSERT INTO issue_labels VALUES (?, ?)", [(issue_id, label) for label in issue.labels])
        for component in issue.components:
            conn.execute(
                "INSERT INTO issue_components SELECT ?, id FROM components WHERE project_id = ? AND name = ?",
                (issue_id, project_id, component),
            )
        for author, body, age in issue.comments:
            stored, text = _adf(body, users)
            conn.execute(
                "INSERT INTO comments (issue_id, author_id, body, body_text, created, updated, seeded) "
                "VALUES (?, ?, ?, ?, ?, ?, 1)",
                (issue_id, users[author], stored, text, now - age, now - age),
            )
    for key, project_id in projects.items():
        conn.execute(
            "UPDATE projects SET next_number = (SELECT COALESCE(MAX(number), 0) + 1 FROM issues WHERE project_id = ?)"
            " WHERE key = ?",
            (project_id, key),
        )
    return ids


def _last_comment_age(issue: Issue) -> float:
    return min((age for _, _, age in issue.comments), default=issue.age)


def _seed_pages(conn: sqlite3.Connection, users: dict[str, int], now: float) -> None:
    conn.executemany("INSERT INTO spaces (id, key, name) VALUES (?, ?, ?)", SPACES)
    space_ids = {key: ident for ident, key, _ in SPACES}
    accounts = {f"{{{name}}}": _account_id(name) for name in users}
    for page_id, space, parent, title, body, labels, author, age in PAGES:
        for placeholder, account in accounts.items():
            body = body.replace(placeholder, account)
        conn.execute(
            "INSERT INTO pages (id, space_id, parent_id, title, body, body_text, author_id, created, updated, seeded)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                page_id,
                space_ids[space],
                parent,
                title,
                body,
                richtext.storage_to_text(body),
                users[author],
                now - age,
                now - age / 2,
            ),
        )
        conn.executemany("INSERT INTO page_labels VALUES (?, ?)", [(page_id, label) for label in labels])


def _seed_compass(conn: sqlite3.Connection, cloud_id: str) -> None:
    for key, type_id, description, team, on_call, labels, links in COMPONENTS:
        ari = component_ari(cloud_id, key)
        team_id = f"ari:cloud:identity::team/{uuid.uuid5(uuid.NAMESPACE_DNS, team)}"
        conn.execute(
            "INSERT INTO compass_components VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ari, key, type_id, description, team, team_id, on_call, json.dumps(labels)),
        )
        conn.executemany(
            "INSERT INTO compass_links VALUES (?, ?, ?, ?, ?)",
            [(f"{ari}/link/{n}", ari, name, kind, url) for n, (name, kind, url) in enumerate(links)],
        )
    conn.executemany(
        "INSERT INTO compass_relationships (start_id, end_id) VALUES (?, ?)",
        [(component_ari(cloud_id, a), component_ari(cloud_id, b)) for a, b in DEPENDS_ON],
    )


def _generate_issues(conn: sqlite3.Connection, count: int, now: float) -> None:
    """Bulk issues for benchmarks: spread over open projects, types, statuses and the last year."""
    rng = random.Random(count)
    projects = conn.execute("SELECT id, key, next_number FROM projects WHERE restricted = 0").fetchall()
    types = [r[0] for r in conn.execute("SELECT id FROM issue_types WHERE hierarchy_level = 0")]
    statuses = [r[0] for r in conn.execute("SELECT id FROM statuses")]
    words = [
        "payment",
        "refund",
        "export",
        "invoice",
        "login",
        "report",
        "checkout",
        "latency",
        "webhook",
        "dashboard",
        "search",
        "api",
    ]
    numbers = {project_id: next_number for project_id, _, next_number in projects}
    rows = []
    for _ in range(count):
        project_id, key, _ = rng.choice(projects)
        number = numbers[project_id]
        numbers[project_id] += 1
        summary = " ".join(rng.sample(words, 4)).capitalize()
        created = now - rng.uniform(0, 365 * DAY)
        rows.append(
            (
                project_id,
                number,
                f"{key}-{number}",
                rng.choice(types),
                rng.choice(statuses),
                rng.randint(1, 5),
                summary,
                summary,
                created,
                created + rng.uniform(0, now - created),
                1,
            )
        )
    conn.executemany(
        "INSERT INTO issues (project_id, number, key, issue_type_id, status_id, priority_id, summary,"
        " description_text, created, updated, seeded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany("UPDATE projects SET next_number = ? WHERE id = ?", [(n, p) for p, n in numbers.items()])
