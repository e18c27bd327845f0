"""The full-text index behind JQL `~`: it narrows the issues `af_match` must read, and never decides a match itself.

`issue_words` is an FTS5 table with one row per issue (rowid = issue id) and a column per searched field: the
summary, the description and all the issue's comments. Each column holds the distinct words of that text and their
stems, as textsearch.py splits and stems them, so FTS5 only ever sees ready-made tokens and its own tokenizer
cannot disagree with the matcher. A `~` query asks the index for the issues that hold every term's stems (each
stem of a phrase, wherever it stands) or, for a wildcard such as `conn*`, a word starting with the letters before
its first wildcard. That set holds every issue the scan would match and possibly more (a phrase's words apart,
a comment the caller may not see); `af_match` over the real text still confirms each one, so results are the
scan's exactly.

Triggers keep the index in step with every write that can add words (an issue's summary or description, a
comment's text); they call `af_index_terms`, which `register` gives the connection before anything is written
through it. Deleting rows (no write path does) would only leave extra words, which the confirming matcher drops.
`ensure` (re)builds the table and its triggers when the database was made by a version without them, or with
another `INDEX_VERSION`; a bulk load runs with the triggers `deferred`, one rebuild being far cheaper than a trigger
per row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from agentflow.sandbox.query.textsearch import parse_text_query, stem, words

# Bump whenever what is indexed changes (the stemmer, the words, the columns, the triggers): an index built by
# another version would no longer be a superset of what the matcher finds, so `ensure` rebuilds it.
INDEX_VERSION = "1"
_VERSION_KEY = "issue_words_version"
_TABLE = "issue_words"
COLUMNS = ("summary", "description", "comments")

# Every indexed column of one issue, recomputed whole by each trigger: simpler than patching a column, and cheap.
_ROW = (
    f"INSERT OR REPLACE INTO {_TABLE} (rowid, summary, description, comments) "
    "SELECT i.id, af_index_terms(i.summary), af_index_terms(i.description_text), "
    "af_index_terms((SELECT group_concat(c.body_text, ' ') FROM comments c WHERE c.issue_id = i.id)) "
    "FROM issues i"
)
_TRIGGERS = {
    "issue_words_issue_insert": "AFTER INSERT ON issues",
    "issue_words_issue_update": "AFTER UPDATE OF summary, description_text ON issues",
    "issue_words_comment_insert": "AFTER INSERT ON comments",
    "issue_words_comment_update": "AFTER UPDATE OF body_text ON comments",
}


def index_terms(text: str | None) -> str:
    """The tokens stored for a text: its distinct words and their stems, space-separated."""
    found = set(words(text))
    return " ".join(sorted(found | {stem(word) for word in found}))


def register(conn: sqlite3.Connection) -> None:
    """Give the connection `af_index_terms`, which the triggers call: before anything is written through it."""
    conn.create_function("af_index_terms", 1, index_terms, deterministic=True)


def ensure(conn: sqlite3.Connection) -> None:
    """Build the index, inside the caller's write transaction, if this database lacks the current one."""
    if _version(conn) != INDEX_VERSION:
        _build(conn)


@contextmanager
def deferred(conn: sqlite3.Connection) -> Iterator[None]:
    """For a bulk write inside one transaction: no trigger runs per row, the index is rebuilt once at the end."""
    for name in _TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    yield
    _build(conn)


def _version(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_VERSION_KEY,)).fetchone()
    return row[0] if row else None


def _build(conn: sqlite3.Connection) -> None:
    for name in _TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute(f"DROP TABLE IF EXISTS {_TABLE}")
    # The ascii tokenizer splits only at ASCII punctuation and spaces, so each stored token (letters and digits of
    # any script, already lowercase) stays one token; detail=column keeps column filters and drops positions.
    conn.execute(
        f"CREATE VIRTUAL TABLE {_TABLE} USING fts5({', '.join(COLUMNS)}, tokenize = 'ascii', detail = 'column')"
    )
    for name, event in _TRIGGERS.items():
        issue = "new.issue_id" if event.endswith("ON comments") else "new.id"
        conn.execute(f"CREATE TRIGGER {name} {event} BEGIN {_ROW} WHERE i.id = {issue}; END")
    conn.execute(_ROW)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_VERSION_KEY, INDEX_VERSION))


def narrowing(row_id: str, query: str, columns: tuple[str, ...] = COLUMNS) -> tuple[str, list]:
    """SQL to put before a `~` matcher, `<row_id> IN (<issues the index holds for every term>) AND `, and its
    parameter; nothing when no term can be looked up (only wildcards with nothing before them)."""
    parts = []
    for term in parse_text_query(query):
        if term.pattern is None:
            parts.extend(f'"{s}"' for s in term.stems)
        elif term.prefix:
            parts.append(f'"{term.prefix}" *')
    if not parts:
        return "", []
    match = f"{{{' '.join(columns)}}} : ({' AND '.join(parts)})"
    return f"{row_id} IN (SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ?) AND ", [match]
