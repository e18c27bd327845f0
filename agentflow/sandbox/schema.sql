-- The embedded Atlassian site's tables. Times are UTC epoch seconds (REAL). Rich text is stored once,
-- in its richest form: Jira bodies as ADF JSON, Confluence bodies as storage XHTML; each has a plain-text
-- twin (`*_text`) that `~` searches. Rows with `seeded = 1` came from the seed; their times move with the
-- clock on every start so that "two hours ago" stays true (see store.py).

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    id           INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL UNIQUE,           -- Cloud identity
    username     TEXT NOT NULL UNIQUE,           -- DC `name` and `key`
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL UNIQUE,
    token        TEXT NOT NULL UNIQUE,           -- Cloud API token and DC personal access token
    time_zone    TEXT NOT NULL DEFAULT 'UTC',
    account_type TEXT NOT NULL DEFAULT 'atlassian',  -- 'app' for bots
    active       INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS projects (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    lead_id     INTEGER REFERENCES users(id),
    restricted  INTEGER NOT NULL DEFAULT 0,      -- 1: only project_members may see it
    next_number INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS project_members (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (project_id, user_id)
);

-- Project roles are site-wide names (Administrators, Developers, Users); who holds one is per project.
CREATE TABLE IF NOT EXISTS project_roles (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
);

CREATE TABLE IF NOT EXISTS role_members (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    role_id    INTEGER NOT NULL REFERENCES project_roles(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (project_id, role_id, user_id)
);

CREATE TABLE IF NOT EXISTS groups (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE COLLATE NOCASE,
    group_id TEXT NOT NULL UNIQUE                 -- Cloud's groupId (a UUID); DC knows groups by name
);

CREATE TABLE IF NOT EXISTS group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id),
    user_id  INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE IF NOT EXISTS issue_types (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description     TEXT NOT NULL DEFAULT '',
    subtask         INTEGER NOT NULL DEFAULT 0,
    hierarchy_level INTEGER NOT NULL DEFAULT 0   -- 1 epic, 0 standard, -1 sub-task
);

CREATE TABLE IF NOT EXISTS statuses (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE COLLATE NOCASE,
    category TEXT NOT NULL CHECK (category IN ('new', 'indeterminate', 'done'))
);

CREATE TABLE IF NOT EXISTS transitions (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    from_status_id INTEGER REFERENCES statuses(id),  -- NULL: from any status
    to_status_id   INTEGER NOT NULL REFERENCES statuses(id)
);

CREATE TABLE IF NOT EXISTS priorities (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    rank INTEGER NOT NULL                       -- 1 is the highest
);

CREATE TABLE IF NOT EXISTS components (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (project_id, name)
);

CREATE TABLE IF NOT EXISTS issues (
    id               INTEGER PRIMARY KEY,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    number           INTEGER NOT NULL,
    key              TEXT NOT NULL UNIQUE,
    issue_type_id    INTEGER NOT NULL REFERENCES issue_types(id),
    status_id        INTEGER NOT NULL REFERENCES statuses(id),
    priority_id      INTEGER REFERENCES priorities(id),
    summary          TEXT NOT NULL,
    description      TEXT,                       -- ADF document as JSON, NULL when empty
    description_text TEXT NOT NULL DEFAULT '',
    environment      TEXT,                       -- ADF document as JSON
    assignee_id      INTEGER REFERENCES users(id),
    reporter_id      INTEGER REFERENCES users(id),
    parent_id        INTEGER REFERENCES issues(id),  -- the epic (or parent of a sub-task)
    resolution       TEXT,                       -- NULL: unresolved
    story_points     REAL,
    sprint           TEXT,
    created          REAL NOT NULL,
    updated          REAL NOT NULL,
    resolved         REAL,
    seeded           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, number)
);
CREATE INDEX IF NOT EXISTS issues_project ON issues(project_id, created);
CREATE INDEX IF NOT EXISTS issues_updated ON issues(updated);
CREATE INDEX IF NOT EXISTS issues_parent ON issues(parent_id);
CREATE INDEX IF NOT EXISTS issues_status ON issues(status_id);

CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER NOT NULL REFERENCES issues(id),
    label    TEXT NOT NULL,
    PRIMARY KEY (issue_id, label)
);
CREATE INDEX IF NOT EXISTS issue_labels_label ON issue_labels(label);

CREATE TABLE IF NOT EXISTS issue_components (
    issue_id     INTEGER NOT NULL REFERENCES issues(id),
    component_id INTEGER NOT NULL REFERENCES components(id),
    PRIMARY KEY (issue_id, component_id)
);

CREATE TABLE IF NOT EXISTS comments (
    id        INTEGER PRIMARY KEY,
    issue_id  INTEGER NOT NULL REFERENCES issues(id),
    author_id INTEGER NOT NULL REFERENCES users(id),
    body      TEXT NOT NULL,                     -- ADF document as JSON
    body_text TEXT NOT NULL DEFAULT '',
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    seeded    INTEGER NOT NULL DEFAULT 0,
    -- `visibility`: readable only by this project role (in the issue's project) or group; both NULL: by all.
    -- A file made before these columns existed gets them from store.py's migration.
    visibility_role_id  INTEGER REFERENCES project_roles(id),
    visibility_group_id INTEGER REFERENCES groups(id)
);
CREATE INDEX IF NOT EXISTS comments_issue ON comments(issue_id, created);

CREATE TABLE IF NOT EXISTS link_types (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE COLLATE NOCASE,
    inward  TEXT NOT NULL,
    outward TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS issue_links (
    id                INTEGER PRIMARY KEY,
    type_id           INTEGER NOT NULL REFERENCES link_types(id),
    inward_issue_id   INTEGER NOT NULL REFERENCES issues(id),
    outward_issue_id  INTEGER NOT NULL REFERENCES issues(id),
    UNIQUE (type_id, inward_issue_id, outward_issue_id)
);

CREATE TABLE IF NOT EXISTS spaces (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL DEFAULT 'global'
);

CREATE TABLE IF NOT EXISTS pages (
    id        INTEGER PRIMARY KEY,
    space_id  INTEGER NOT NULL REFERENCES spaces(id),
    parent_id INTEGER REFERENCES pages(id),
    title     TEXT NOT NULL,
    body      TEXT NOT NULL DEFAULT '',          -- storage format (XHTML)
    body_text TEXT NOT NULL DEFAULT '',
    author_id INTEGER NOT NULL REFERENCES users(id),
    version   INTEGER NOT NULL DEFAULT 1,
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    seeded    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (space_id, title)
);

CREATE TABLE IF NOT EXISTS page_labels (
    page_id INTEGER NOT NULL REFERENCES pages(id),
    label   TEXT NOT NULL,
    PRIMARY KEY (page_id, label)
);

CREATE TABLE IF NOT EXISTS compass_components (
    id          TEXT PRIMARY KEY,                -- an ARI
    name        TEXT NOT NULL UNIQUE,
    type_id     TEXT NOT NULL,                   -- SERVICE, LIBRARY, APPLICATION, ...
    description TEXT NOT NULL DEFAULT '',
    owner_team  TEXT,                            -- the owner team's display name
    owner_id    TEXT,                            -- the owner team's ARI
    on_call     TEXT,                            -- who is on call, as a display name
    labels      TEXT NOT NULL DEFAULT '[]'       -- JSON list of strings
);

CREATE TABLE IF NOT EXISTS compass_links (
    id           TEXT PRIMARY KEY,
    component_id TEXT NOT NULL REFERENCES compass_components(id),
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,                  -- REPOSITORY, DOCUMENT, DASHBOARD, ON_CALL, PROJECT, ...
    url          TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS compass_relationships (
    start_id TEXT NOT NULL REFERENCES compass_components(id),
    end_id   TEXT NOT NULL REFERENCES compass_components(id),
    type     TEXT NOT NULL DEFAULT 'DEPENDS_ON',
    PRIMARY KEY (start_id, end_id, type)
);

-- Service-account API keys for the Rovo-like MCP endpoints (`Authorization: Bearer <key>`), one per user so a test
-- can act headless as anyone; made on open for every user that lacks one (store.py), old files included.
CREATE TABLE IF NOT EXISTS service_account_keys (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    key     TEXT NOT NULL UNIQUE
);

-- The Rovo-like MCP endpoints' OAuth 2.1 authorization server (rovo/oauth_store.py). Every secret (code,
-- token, pending-consent id) is kept as its SHA-256 hex digest, never in clear. Times are the store clock's.
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id TEXT PRIMARY KEY,
    info      TEXT NOT NULL                      -- the RFC 7591 client information, JSON
);

CREATE TABLE IF NOT EXISTS oauth_requests (      -- authorization requests waiting on the consent page
    id_hash    TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES oauth_clients(client_id),
    params     TEXT NOT NULL,                    -- the validated authorization parameters, JSON
    expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS oauth_codes (
    code_hash  TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES oauth_clients(client_id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    params     TEXT NOT NULL,                    -- the authorization parameters the code answers, JSON
    expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS oauth_tokens (        -- access and refresh tokens; a family is one sign-in's chain
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                    -- 'access' or 'refresh'
    family     TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES oauth_clients(client_id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    scopes     TEXT NOT NULL,                    -- space-separated
    resource   TEXT NOT NULL,                    -- RFC 8707: the one MCP endpoint the token is for
    expires_at REAL,                             -- NULL: never
    used       INTEGER NOT NULL DEFAULT 0,       -- a refresh token already exchanged (rotation)
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS oauth_tokens_family ON oauth_tokens(family);
