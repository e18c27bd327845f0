"""The full-text index behind JQL `~` changes how fast issues are found, never which: every search here is run
twice over HTTP, through the index and as the plain scan (the same SQL without the index's narrowing), and the
two answers must be the same issues, on the seed of both flavors, after writes, and on a file made without it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agentflow.sandbox.query import jql, textindex
from agentflow.sandbox.site import Site, running
from tests.sandbox.conftest import Served

# Phrases, stems, wildcards (with and without letters before them), stop words, case, digits, and misses.
QUERIES = [
    "connection pool",
    '"connection pool"',
    '"pool connection"',
    "Crashed",
    "serializing",
    "deployments",
    "crash",
    "serializer currency",
    '"response serializer" refund',
    "conn*",
    "pay*",
    "?ool",
    "NullPointer*",
    "c?ash*",
    "*ool",
    "the",
    "the export",
    "2.14.0",
    "okta saml",
    "instructions",
    "zyzzyva",
]
FIELDS = ["text", "summary", "description", "comment"]
# Whole queries, for `~` beside other clauses, under NOT, and `!~` (which the index leaves alone).
COMPOSED = [
    'project = PAY AND text ~ "currency"',
    'text ~ "pool" OR summary ~ "crash*"',
    'project in (PAY, OPS) AND NOT text ~ "deploy"',
    'project = PROD AND text !~ "export"',
]
MISSES = {'"pool connection"', "zyzzyva"}


def found(served: Served, query: str) -> set[str]:
    """The ids of every issue a search finds, as the flavor's own search endpoint pages them."""
    client = served.client("sec")  # a member of the restricted project too: every issue is searched
    if served.site.flavor == "cloud":
        page = client.post("/rest/api/3/search/jql", json={"jql": query, "maxResults": 5000}).json()
        assert page["isLast"], page
    else:
        page = client.post("/rest/api/2/search", json={"jql": query, "maxResults": 1000, "fields": ["summary"]}).json()
        assert page["total"] == len(page["issues"]), page
    return {issue["id"] for issue in page["issues"]}


def scanned(served: Served, query: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """What the same search finds with the matcher reading every issue, as before the index."""
    with monkeypatch.context() as patch:
        patch.setattr(jql, "narrowing", lambda *_: ("", []))
        return found(served, query)


def field_query(field: str, words: str) -> str:
    return f"{field} ~ {json.dumps(words)}"  # a JSON string is a JQL string: quotes inside come escaped


def test_searches_find_what_the_scan_finds(served, monkeypatch):
    for field in FIELDS:
        for words in QUERIES:
            query = field_query(field, words)
            indexed = found(served, query)
            assert indexed == scanned(served, query, monkeypatch), query
            if field == "text":
                assert bool(indexed) == (words not in MISSES), query
    for query in COMPOSED:
        indexed = found(served, query)
        assert indexed and indexed == scanned(served, query, monkeypatch), query


def test_the_index_narrows_and_the_matcher_decides(cloud, monkeypatch):
    # Both words occur in some issues, never as this phrase: the index lets those issues through, the matcher not.
    narrow, params = textindex.narrowing("i.id", '"pool connection"')
    candidates = cloud.site.store.query(f"SELECT i.id FROM issues i WHERE {narrow}1", params)
    assert candidates
    assert found(cloud, field_query("text", '"pool connection"')) == set()
    # A wildcard with nothing before it cannot be looked up; the other terms still narrow.
    assert textindex.narrowing("i.id", "*ool") == ("", [])
    assert textindex.narrowing("i.id", "*ool pay*")[1] == ['{summary description comments} : ("pay" *)']


def _body(served: Served, text: str) -> object:
    if served.site.flavor == "dc":
        return text
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"version": 1, "type": "doc", "content": [paragraph]}


def test_the_index_follows_creates_edits_and_comments(fresh, monkeypatch):
    client = fresh.client("pm")
    api = "/rest/api/3" if fresh.site.flavor == "cloud" else "/rest/api/2"

    def agrees(field: str, words: str) -> bool:
        """Whether the new issue is found, once the index and the scan agree on everything found."""
        query = field_query(field, words)
        indexed = found(fresh, query)
        assert indexed == scanned(fresh, query, monkeypatch), query
        return issue_id in indexed

    created = client.post(
        f"{api}/issue",
        json={
            "fields": {
                "project": {"key": "PROD"},
                "issuetype": {"name": "Story"},
                "summary": "Zebra crossing by the café",
                "description": _body(fresh, "A stampede near the okapi enclosure"),
            }
        },
    )
    assert created.status_code == 201, created.text
    issue_id, key = created.json()["id"], created.json()["key"]
    assert agrees("text", "zebra") and agrees("summary", "café") and agrees("summary", "caf*")
    assert agrees("description", "stampeding okapi") and not agrees("summary", "okapi")

    for fields in ({"summary": "Quagga crossing"}, {"description": _body(fresh, "Quiet again")}):
        edited = client.put(f"{api}/issue/{key}", json={"fields": fields})
        assert edited.status_code == 204, edited.text
    assert agrees("summary", "quagga") and not agrees("summary", "zebra")
    assert agrees("description", "quiet") and not agrees("text", "okapi")

    commented = client.post(f"{api}/issue/{key}/comment", json={"body": _body(fresh, "Giraffes everywhere")})
    assert commented.status_code == 201, commented.text
    updated = client.put(
        f"{api}/issue/{key}", json={"update": {"comment": [{"add": {"body": _body(fresh, "A narwhal sighting")}}]}}
    )
    assert updated.status_code == 204, updated.text
    assert agrees("comment", "giraffe") and agrees("comment", "narwhal") and agrees("text", "quagga narwh*")
    assert not agrees("comment", "quagga")
    with fresh.site.store.transaction() as conn:  # no REST path edits a comment yet; the index follows all the same
        conn.execute("UPDATE comments SET body_text = 'A walrus sighting' WHERE body_text = 'A narwhal sighting'")
    assert agrees("comment", "walrus") and not agrees("comment", "narwhal")


def test_a_file_made_without_the_index_gets_it_on_open(tmp_path, monkeypatch):
    db = tmp_path / "site.db"
    Site.open("dc", db=db).store.close()
    with sqlite3.connect(db) as conn:  # what a file from a version before the index looks like
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE issue_words")
        conn.execute("DELETE FROM meta WHERE key = 'issue_words_version'")
    site = Site.open("dc", db=db)
    store = site.store
    assert store.query_one("SELECT COUNT(*) FROM issue_words")[0] == store.query_one("SELECT COUNT(*) FROM issues")[0]
    with running(site) as url:
        served = Served(site, url)
        for words in ("connection pool", "conn*", '"response serializer"'):
            query = field_query("text", words)
            indexed = found(served, query)
            assert indexed and indexed == scanned(served, query, monkeypatch), query
    store.close()


def test_generated_issues_give_a_text_search_some_issues_to_find(monkeypatch):
    site = Site.open("cloud", scale=500)
    generated = site.store.query_one("SELECT COUNT(*) FROM issues WHERE id > (SELECT MAX(id) - 500 FROM issues)")[0]
    with running(site) as url:
        served = Served(site, url)
        query = field_query("text", "connection pool")
        indexed = found(served, query)
        assert indexed == scanned(served, query, monkeypatch)
    assert 0 < len(indexed) < generated / 5
