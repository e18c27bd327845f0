"""The seed's data: users, projects, issues, pages and Compass components (texts live in `seed_texts`).

Ages are seconds before the moment the site is seeded; `seed.py` turns them into times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentflow.sandbox.seed import texts

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
# Project roles (site-wide) and who holds each in every open project; a restricted project's members hold
# Users, and those of them named here the others too. The lead of a project is always one of its Administrators.
ROLES = [(10000, "Users"), (10001, "Developers"), (10002, "Administrators")]
ROLE_HOLDERS = {
    "Users": ("sre", "dev", "pm", "lead", "sec", "bot"),
    "Developers": ("sre", "dev", "lead", "bot"),
    "Administrators": ("lead",),
}
GROUPS = {
    "jira-administrators": ("lead", "sec"),
    "jira-software-users": ("sre", "dev", "pm", "lead", "sec", "bot"),
    "security-team": ("sec", "sre"),
}
PROJECTS = [
    # key, name, lead, restricted, members, components
    ("OPS", "Operations", "sre", 0, (), ("payment-gateway", "customer-api", "checkout-web", "payments-db")),
    ("PAY", "Payments", "dev", 0, (), ("Payments API", "Checkout", "Reconciliation", "Webhooks")),
    ("PROD", "Product", "pm", 0, (), ("Reporting", "Auth", "Dashboard", "Billing")),
    ("SEC", "Security Incidents", "sec", 1, ("sec", "sre", "bot"), ("Identity",)),
]


@dataclass(frozen=True)
class Comment:
    author: str
    body: str  # wiki markup
    age: float  # seconds since it was written
    role: str | None = None  # `visibility`: readable only by this project role ...
    group: str | None = None  # ... or this group


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
    comments: list[Comment] = field(default_factory=list)


ISSUES = [
    # OPS: the incident's suspects (inside the last 24 h) and older changes
    Issue(
        key="OPS-141",
        type="Deployment",
        summary="Deploy payment-gateway 2.14.0: reduce DB connection pool size to 10",
        age=2 * HOUR,
        status="Done",
        description=texts.POOL_DEPLOYMENT,
        priority="High",
        assignee="dev",
        reporter="dev",
        labels=("deployment", "database"),
        components=("payment-gateway",),
        resolution="Done",
    ),
    Issue(
        key="OPS-140",
        type="Change",
        summary="Enable verbose request logging on customer-api",
        age=6 * HOUR,
        status="Done",
        description=texts.LOGGING_CHANGE,
        priority="Low",
        assignee="lead",
        reporter="lead",
        labels=("logging",),
        components=("customer-api",),
        resolution="Done",
    ),
    Issue(
        key="OPS-139",
        type="Deployment",
        summary="Deploy checkout-web 5.2.1 (payment page copy fixes)",
        age=14 * HOUR,
        status="Done",
        description=texts.CHECKOUT_DEPLOYMENT,
        priority="Medium",
        assignee="dev",
        reporter="dev",
        labels=("deployment",),
        components=("checkout-web",),
        resolution="Done",
    ),
    Issue(
        key="OPS-138",
        type="Deployment",
        summary="Deploy customer-api 3.8.0",
        age=3 * DAY,
        status="Done",
        description="Routine release.",
        priority="Medium",
        assignee="lead",
        reporter="lead",
        labels=("deployment",),
        components=("customer-api",),
        resolution="Done",
    ),
    Issue(
        key="OPS-137",
        type="Change",
        summary="Rotate TLS certificates on checkout-web",
        age=5 * DAY,
        status="Done",
        description="Yearly rotation.",
        priority="Medium",
        assignee="sre",
        reporter="sre",
        labels=(),
        components=("checkout-web",),
        resolution="Done",
    ),
    Issue(
        key="OPS-136",
        type="Incident",
        summary="Checkout latency spike during flash sale",
        age=9 * DAY,
        status="Done",
        description="Resolved by scaling checkout-web.",
        priority="High",
        assignee="sre",
        reporter="sre",
        labels=("incident",),
        components=("checkout-web",),
        resolution="Done",
    ),
    # PAY: bugs with stack traces
    Issue(
        key="PAY-429",
        type="Bug",
        summary="NullPointerException in PaymentResponseSerializer when a refund has no currency",
        age=1 * DAY,
        status="To Do",
        description=texts.PAY_429_DESCRIPTION,
        priority="High",
        assignee="dev",
        reporter="sre",
        labels=("refunds", "serializer"),
        components=("Payments API",),
        comments=[
            Comment("sre", texts.PAY_429_TRACE_COMMENT, 23 * HOUR),
            Comment("sre", texts.PAY_429_MERCHANT, 22 * HOUR, role="Developers"),
            Comment("dev", texts.PAY_429_FOLLOWUP, 20 * HOUR),
        ],
    ),
    Issue(
        key="PAY-388",
        type="Bug",
        summary="NullPointerException in PaymentResponseSerializer for partial captures",
        age=60 * DAY,
        status="Done",
        description=texts.PAY_388_DESCRIPTION,
        priority="High",
        assignee="dev",
        reporter="dev",
        labels=("serializer",),
        components=("Payments API",),
        idle=45 * DAY,
        resolution="Done",
        comments=[
            Comment("lead", texts.PAY_388_POSTMORTEM, 50 * DAY, group="jira-administrators"),
            Comment("dev", texts.PAY_388_RESOLUTION, 45 * DAY),
        ],
    ),
    Issue(
        key="PAY-431",
        type="Bug",
        summary="Reconciliation job crashes on empty fee column",
        age=2 * DAY,
        status="In Progress",
        description=texts.PAY_431_DESCRIPTION,
        priority="Medium",
        assignee="dev",
        reporter="lead",
        labels=("reconciliation",),
        components=("Reconciliation",),
        comments=[Comment("lead", texts.PAY_431_INJECTION, 1 * DAY)],
    ),
    Issue(
        key="PAY-432",
        type="Bug",
        summary="Checkout widget crashes when the wallet list is empty",
        age=4 * DAY,
        status="To Do",
        description=texts.PAY_432_DESCRIPTION,
        priority="Medium",
        assignee=None,
        reporter="pm",
        labels=(),
        components=("Checkout",),
    ),
    Issue(
        key="PAY-433",
        type="Bug",
        summary="Webhook dispatcher panics under load",
        age=3 * DAY,
        status="To Do",
        description=texts.PAY_433_DESCRIPTION,
        priority="High",
        assignee="dev",
        reporter="sre",
        labels=("webhooks",),
        components=("Webhooks",),
    ),
    # PROD: the roadmap epic and its stories
    Issue(
        key="PROD-100",
        type="Epic",
        summary="Q4 Roadmap",
        age=40 * DAY,
        status="In Progress",
        description="Reporting, enterprise sign-on and notifications for Q4.",
        priority="High",
        assignee="pm",
        reporter="pm",
        labels=("roadmap",),
    ),
    Issue(
        key="PROD-101",
        type="Story",
        summary="Export reports to CSV",
        age=35 * DAY,
        status="To Do",
        description=texts.CSV_EXPORT,
        priority="High",
        assignee="pm",
        reporter="pm",
        labels=("export",),
        components=("Reporting",),
        parent="PROD-100",
        points=5,
    ),
    Issue(
        key="PROD-102",
        type="Story",
        summary="Single sign-on with Okta (SAML)",
        age=34 * DAY,
        status="In Progress",
        description=texts.SSO,
        priority="High",
        assignee="dev",
        reporter="pm",
        labels=("sso",),
        components=("Auth",),
        parent="PROD-100",
        points=8,
        idle=3 * DAY,
    ),
    Issue(
        key="PROD-103",
        type="Story",
        summary="Dark mode for the dashboard",
        age=30 * DAY,
        status="To Do",
        description=texts.DARK_MODE,
        priority="Low",
        assignee=None,
        reporter="pm",
        labels=("ui",),
        components=("Dashboard",),
        parent="PROD-100",
        points=3,
    ),
    Issue(
        key="PROD-104",
        type="Story",
        summary="Weekly email digest of key metrics",
        age=28 * DAY,
        status="To Do",
        description=texts.DIGEST,
        priority="Medium",
        assignee=None,
        reporter="pm",
        labels=("notifications",),
        components=("Reporting",),
        parent="PROD-100",
        points=5,
    ),
    # PROD backlog to groom
    Issue(
        key="PROD-110",
        type="Story",
        summary="Improve the onboarding checklist",
        age=120 * DAY,
        status="To Do",
        description=texts.STALE_ONBOARDING,
        priority="Medium",
        assignee=None,
        reporter="pm",
        labels=("onboarding",),
        components=("Dashboard",),
        points=3,
        idle=95 * DAY,
    ),
    Issue(
        key="PROD-111",
        type="Task",
        summary="Review audit log retention settings",
        age=90 * DAY,
        status="Backlog",
        description="Check that audit logs are kept for 13 months as the contract says.",
        priority="Low",
        assignee=None,
        reporter="lead",
        points=2,
        idle=70 * DAY,
    ),
    Issue(
        key="PROD-112",
        type="Story",
        summary="Add pagination to the invoices list",
        age=20 * DAY,
        status="To Do",
        description=texts.PAGINATION,
        priority="Medium",
        assignee=None,
        reporter="pm",
        labels=("invoices",),
        components=("Billing",),
    ),
    Issue(
        key="PROD-113",
        type="Task",
        summary="Fix it",
        age=15 * DAY,
        status="To Do",
        description=None,
        priority="Medium",
        assignee=None,
        reporter="lead",
        points=1,
    ),
    Issue(
        key="PROD-114",
        type="Story",
        summary="Search is slow",
        age=12 * DAY,
        status="Backlog",
        description=texts.SEARCH_SLOW,
        priority="Medium",
        assignee=None,
        reporter="pm",
    ),
    Issue(
        key="PROD-115",
        type="Story",
        summary="Allow exporting invoices as PDF",
        age=25 * DAY,
        status="To Do",
        description=texts.INVOICE_PDF,
        priority="Medium",
        assignee=None,
        reporter="pm",
        labels=("invoices",),
        components=("Billing",),
        points=3,
    ),
    Issue(
        key="PROD-116",
        type="Story",
        summary="Export invoices to PDF",
        age=8 * DAY,
        status="Backlog",
        description=texts.INVOICE_PDF_DUPLICATE,
        priority="Medium",
        assignee=None,
        reporter="lead",
        labels=("invoices",),
        components=("Billing",),
        points=3,
    ),
    # SEC: restricted
    Issue(
        key="SEC-7",
        type="Incident",
        summary="Suspicious login attempts from TOR exit nodes",
        age=1 * DAY,
        status="In Progress",
        description="Blocked at the WAF; investigating affected accounts.",
        priority="Highest",
        assignee="sec",
        reporter="sec",
        labels=("security",),
        components=("Identity",),
    ),
    Issue(
        key="SEC-6",
        type="Task",
        summary="Rotate the signing keys of the payment webhooks",
        age=10 * DAY,
        status="Done",
        description="Done after the pen test.",
        priority="High",
        assignee="sec",
        reporter="sec",
        labels=(),
        components=("Identity",),
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
