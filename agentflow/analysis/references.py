"""What issues point at: the Confluence pages they name, and JQL that finds similar past issues.

Three compute steps for bug triage: `page_references` (page ids and titles to fetch or search),
`similar_queries` (one JQL per issue, from its exception or its summary) and `resolved_first` (the search
results merged, resolved issues first, since their fixes are what a triager wants to read).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from agentflow.analysis.words import STOP_WORDS, issue_texts, issues_of, word_set

# In one pass, so that references keep the order the text gives them: a Markdown link, a bracketed wiki page
# link (`[Title]`, `[SPACE:Title]`), a bare URL or path, or a quoted title next to a word that names a page.
_PAGE_WORDS = r"(?:page|runbook|article|doc|document|spec|how-to|wiki)"
_REFERENCE = re.compile(
    r"\[(?P<text>[^\]\n]{0,300})\]\((?P<target>[^)\s]{0,1000})[^)\n]{0,300}\)"
    r"|\[(?P<bracket>[^\]\n]{3,120})\](?![(\[])"
    r"|(?P<url>(?:https?://|/)[^\s<>()\[\]]+)"
    rf"|\b{_PAGE_WORDS}\s+(?:called\s+|named\s+|titled\s+)?[\"“](?P<after>[^\"”\n]{{2,120}})[\"”]"
    rf"|[\"“](?P<before>[^\"”\n]{{2,120}})[\"”]\s+(?:Confluence\s+)?{_PAGE_WORDS}\b",
    re.IGNORECASE,
)
_PAGE_ID = re.compile(r"/pages/(?P<id>\d+)(?:/(?P<slug>[^/?#\s]+))?|[?&]pageId=(?P<query_id>\d+)")
_DISPLAY = re.compile(r"/display/[^/\s]+/(?P<slug>[^/?#\s]+)")
_FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-\d+$")
_SPACE_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]*:(?=\S)")
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")

# Words every bug summary has: they find everything, so they find nothing similar.
SUMMARY_STOP_WORDS = STOP_WORDS | word_set(
    """
    after before over under without onto where how why cannot should does doesn don didn isn wasn won
    error errors issue issues bug bugs problem fails failed failing failure broken wrong working work works
    """
)
SUMMARY_WORDS = 3


def _unique(values: Iterable[str]) -> list[str]:
    """Values in first-seen order; titles that differ only in case count once."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.casefold(), value)
    return list(seen.values())


def _slug_title(slug: str | None) -> str | None:
    title = unquote_plus(slug).strip() if slug else ""
    return title or None


def _bracket_title(text: str) -> str | None:
    """The page a `[Title]` or `[SPACE:Title]` wiki link names; checkboxes, statuses and issue keys are none."""
    text = text.strip()
    spaced = _SPACE_PREFIX.match(text)
    if spaced:
        return text[spaced.end() :].strip()
    ordinary = text[:1].isalnum() and any(c.isalpha() for c in text) and not text.lower().startswith("attachment:")
    if not ordinary or _ISSUE_KEY.match(text) or text.isupper():
        return None
    return text


def _references(text: str) -> tuple[list[str], list[str]]:
    """The page ids and titles one text refers to, in order."""
    ids: list[str] = []
    titles: list[str] = []
    # Code blocks hold logs and data, whose brackets and quotes name no pages.
    for match in _REFERENCE.finditer(_FENCED.sub("", text)):
        target = match["target"] if match["target"] is not None else match["url"]
        if target is not None:
            # A bare URL at the end of a sentence does not include the sentence's punctuation.
            target = target.rstrip(".,;:!?'\"")
            page = _PAGE_ID.search(target)
            display = _DISPLAY.search(target)
            if page is None and display is None:
                continue
            if page is not None:
                ids.append(page["id"] or page["query_id"])
            label = _MARKDOWN_ESCAPE.sub(r"\1", match["text"] or "").strip()
            slug = _slug_title((page or display)["slug"])
            # A link whose text is its own URL names no title.
            titles.extend(title for title in (label, slug) if title and not title.startswith(("http", "/")))
        else:
            title = _bracket_title(match["bracket"]) if match["bracket"] else match["after"] or match["before"]
            if title:
                titles.append(title.strip())
    return ids, titles


def page_references(issues: list[dict[str, Any]]) -> dict[str, Any]:
    """The `page_references` compute step: Confluence pages the issues link (by id) or name (by title).

    Returns `{"page_ids": [...], "titles": [...], "by_issue": {key: {"page_ids": [...], "titles": [...]}}}`,
    each list unique and in order of appearance.
    """
    by_issue: dict[str, dict[str, list[str]]] = {}
    for issue in issues or []:
        if not isinstance(issue, dict):
            continue
        ids: list[str] = []
        titles: list[str] = []
        for text in issue_texts(issue):
            found_ids, found_titles = _references(text)
            ids += found_ids
            titles += found_titles
        by_issue[str(issue.get("key", ""))] = {"page_ids": _unique(ids), "titles": _unique(titles)}
    found = by_issue.values()
    return {
        "page_ids": _unique(page for refs in found for page in refs["page_ids"]),
        "titles": _unique(title for refs in found for title in refs["titles"]),
        "by_issue": by_issue,
    }


def quote(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def summary_terms(summary: str, count: int = SUMMARY_WORDS) -> list[str]:
    """The `count` most significant words of a summary: not stop words, longest first, kept in summary order."""
    tokens = re.findall(r"[^\W_]{2,}", summary)
    words = _unique(word for word in tokens if word.lower() not in SUMMARY_STOP_WORDS)
    chosen = set(sorted(words, key=len, reverse=True)[:count])
    return [word for word in words if word in chosen]


def similar_queries(issues: list[dict[str, Any]], traces: dict[str, Any] | None) -> dict[str, Any]:
    """The `similar_queries` compute step: per issue, JQL for other issues with the same exception (or summary
    words, without a trace) in the same component, most recently resolved first.

    `traces` is the `stack_traces` step's result. Returns `{"queries": [{"key", "jql"}]}`; an issue with nothing
    to search for gets no query.
    """
    exceptions = {
        entry.get("key"): entry.get("exception_types") or []
        for entry in (traces or {}).get("issues") or []
        if isinstance(entry, dict)
    }
    queries: list[dict[str, str]] = []
    for issue in issues or []:
        if not isinstance(issue, dict):
            continue
        key = str(issue.get("key", ""))
        found = exceptions.get(key) or []
        terms = found[0] if found else " ".join(summary_terms(issue.get("summary") or ""))
        if not terms:
            continue
        clauses = [f"text ~ {quote(terms)}"]
        components = issue.get("components") or []
        if components:
            clauses.append(f"component = {quote(components[0])}")
        if key:
            clauses.append(f"key != {key if _ISSUE_KEY.match(key) else quote(key)}")
        queries.append({"key": key, "jql": " AND ".join(clauses) + " ORDER BY resolved DESC, updated DESC"})
    return {"queries": queries}


def _resolved(issue: dict[str, Any]) -> bool:
    return str(issue.get("status_category") or "").lower() == "done" or bool(issue.get("resolution"))


def resolved_first(results: list[dict[str, Any]] | dict[str, Any], exclude: list[str] | None = None) -> dict[str, Any]:
    """The `resolved_first` compute step: issues of several searches, once each, resolved ones first.

    `results` are `search_jira_issues` results (one, or a list from a `foreach` step); keys in `exclude` (the
    issues being triaged) are left out. Returns `{"similar": [issue summaries]}`.
    """
    searches = [results] if isinstance(results, dict) else results or []
    skip = set(exclude or [])
    issues: dict[str, dict[str, Any]] = {}
    for search in searches:
        for issue in issues_of(search):
            key = issue.get("key")
            if key and key not in skip:
                issues.setdefault(key, issue)
    ordered = sorted(issues.values(), key=lambda issue: not _resolved(issue))
    return {"similar": ordered}
