"""Backlog grooming without a model: stale, unestimated and under-specified issues, and likely duplicates.

Works on an `IssueSearch` dump of the open backlog. Search results carry no description unless the caller
asked for it (an `extra` dict or a `description` key); an issue without one is counted as unknown, not
flagged, so a missing field never reads as an empty description.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agentflow.analysis.words import content_stems, issues_of, parse_time, strings, text_of, word_set

ESTIMATED_TYPES = {"story", "task", "bug"}
# An epic is described by its stories and a sub-task by its parent: short texts there are normal.
UNDESCRIBED_OK_TYPES = {"epic", "sub-task", "subtask"}
SHORT_DESCRIPTION = 60
DUPLICATE_THRESHOLD = 0.7
# Words that make titles differ without changing what is asked for.
TITLE_FILLER = word_set(
    "allow allows add ability able let lets support should want need please user users customer customers "
    "new option possible way"
)
_UNKNOWN = object()


def grooming_findings(issues: dict[str, Any], stale_days: int = 60, now: str | None = None) -> dict[str, Any]:
    """What a groomer would flag in `issues`, plus the labels to add to each issue.

    `now` (ISO) defaults to the latest update among the issues, so the same input gives the same findings.
    """
    backlog = [
        i
        for i in issues_of(issues)
        if isinstance(i.get("key"), str) and text_of(i.get("status_category")).lower() != "done"
    ]
    stale_days = stale_days if isinstance(stale_days, int) else 60
    times = [t for t in (_last_touched(i) for i in backlog) if t is not None]
    moment = parse_time(now) or (max(times) if times else None)

    stale, unestimated, under_specified, unknown = [], [], [], 0
    for issue in backlog:
        touched = _last_touched(issue)
        if moment and touched and (moment - touched).days >= stale_days:
            stale.append({"key": issue["key"], "summary": _summary(issue), "days_idle": (moment - touched).days})
        kind = text_of(issue.get("type")).lower()
        if kind in ESTIMATED_TYPES and not isinstance(issue.get("story_points"), int | float):
            unestimated.append({"key": issue["key"], "summary": _summary(issue), "type": issue.get("type")})
        if kind in UNDESCRIBED_OK_TYPES:
            continue
        description = _description(issue)
        unknown += description is _UNKNOWN
        why = _under_specified(_summary(issue), None if description is _UNKNOWN else description)
        if why:
            under_specified.append({"key": issue["key"], "summary": _summary(issue), "why": why})

    duplicates = _duplicates(backlog)
    labels: dict[str, list[str]] = {}
    flagged = (
        ("stale", {s["key"] for s in stale}),
        ("needs-grooming", {u["key"] for u in unestimated + under_specified}),
        ("possible-duplicate", {k for d in duplicates for k in d["keys"]}),
    )
    for issue in backlog:
        present = set(strings(issue.get("labels")))
        add = [label for label, keys in flagged if issue["key"] in keys and label not in present]
        if add:
            labels[issue["key"]] = add
    return {
        "stale": stale,
        "unestimated": unestimated,
        "under_specified": under_specified,
        "duplicates": duplicates,
        "labels": labels,
        "coverage": _coverage(issues, backlog),
        "counts": {
            "issues": len(backlog),
            "stale": len(stale),
            "unestimated": len(unestimated),
            "under_specified": len(under_specified),
            "duplicates": len(duplicates),
            "description_unknown": unknown,
        },
    }


def _coverage(search: Any, backlog: list[dict[str, Any]]) -> dict[str, Any]:
    """How much of the backlog the findings rest on: complete, or the issues read (in the search's order, up to
    the last one) and why the rest were not, from the search step's `paging` (see `gather`). A single page
    with a next page left is incomplete too: the step was not asked to read further."""
    if not isinstance(search, dict):  # the search step failed or was skipped: nothing was read
        return {"complete": False, "read": 0, "last_key": None, "last_created": None, "stopped": "the search failed"}
    paging = search.get("paging")
    more = bool(search.get("next_page_token"))
    complete = not more and (not isinstance(paging, dict) or paging.get("complete") is not False)
    last = backlog[-1] if backlog else {}
    stopped = paging.get("stopped") if isinstance(paging, dict) else None
    return {
        "complete": complete,
        "read": len(backlog),
        "last_key": None if complete else last.get("key"),
        "last_created": None if complete else last.get("created"),
        "stopped": None if complete else stopped or "the search step reads one page (set its pages)",
    }


def _last_touched(issue: dict[str, Any]) -> datetime | None:
    return parse_time(issue.get("updated")) or parse_time(issue.get("created"))


def _summary(issue: dict[str, Any]) -> str:
    return text_of(issue.get("summary"))


def _description(issue: dict[str, Any]) -> object:
    """The description's text, "" when the issue has none, or `_UNKNOWN` when the result does not say."""
    extra = issue.get("extra")
    if isinstance(extra, dict) and "description" in extra:
        return _plain(extra["description"])
    if "description" in issue:
        return _plain(issue["description"])
    return _UNKNOWN


def _plain(value: object) -> str:
    """Text of a description as a string, or of a raw rich-text document (ADF: the `text` of its nodes)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        own = value.get("text") if isinstance(value.get("text"), str) else ""
        inner = [_plain(v) for v in value.get("content", [])] if isinstance(value.get("content"), list) else []
        block = value.get("type") in ("paragraph", "heading", "listItem", "codeBlock")
        return own + " ".join(t for t in inner if t) + ("\n" if block else "")
    if isinstance(value, list):
        return "\n".join(_plain(v) for v in value)
    return ""


def _under_specified(summary: str, description: str | None) -> str:
    """Why an issue is too thin to work on ("" when it is fine); `description` None means unknown."""
    reasons = []
    if description is not None:
        lines = [line for line in description.splitlines() if line.strip()]
        if not lines:
            reasons.append("no description")
        elif len(lines) == 1 and len(lines[0].strip()) < SHORT_DESCRIPTION:
            reasons.append(f"one-line description ({len(lines[0].strip())} characters)")
    if len(content_stems(summary)) < 2:
        reasons.append("vague title")
    return "; ".join(reasons)


def _duplicates(backlog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs whose titles ask for the same thing, most similar first.

    A backlog of thousands is not compared pair by pair: issues with the same title words are one group, and
    only groups sharing two words (the least two titles must share to be similar) are compared, found through
    an index of words."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for issue in backlog:
        groups.setdefault(tuple(sorted(content_stems(_summary(issue), TITLE_FILLER))), []).append(issue)
    titles = list(groups)
    postings: dict[str, list[int]] = {}
    for index, title in enumerate(titles):
        for word in set(title):
            postings.setdefault(word, []).append(index)
    shared = Counter(pair for indexes in postings.values() for pair in itertools.combinations(indexes, 2))
    similar = [(title, title, 1.0) for title in titles if len(set(title)) >= 2 and len(groups[title]) > 1]
    for (i, j), count in shared.items():
        similarity = _similarity(titles[i], titles[j], count) if count >= 2 else 0.0
        if similarity >= DUPLICATE_THRESHOLD:
            similar.append((titles[i], titles[j], similarity))
    pairs = []
    for first_title, second_title, similarity in similar:
        if first_title == second_title:
            matches: Iterable[tuple[dict[str, Any], dict[str, Any]]] = itertools.combinations(groups[first_title], 2)
        else:
            matches = itertools.product(groups[first_title], groups[second_title])
        for a, b in matches:
            first, second = sorted((a, b), key=lambda i: _key_order(i["key"]))
            pairs.append(
                {
                    "keys": [first["key"], second["key"]],
                    "summaries": [_summary(first), _summary(second)],
                    "similarity": similarity,
                }
            )
    return sorted(pairs, key=lambda p: (-p["similarity"], [_key_order(k) for k in p["keys"]]))


def _similarity(a: tuple[str, ...], b: tuple[str, ...], shared: int) -> float:
    """How alike two titles' sorted words are: word overlap (Jaccard) and character similarity, 0 to 1."""
    jaccard = shared / len(set(a) | set(b))
    if round(0.6 * jaccard + 0.4, 2) < DUPLICATE_THRESHOLD:  # even identical characters would not reach it
        return 0.0
    ratio = difflib.SequenceMatcher(None, " ".join(a), " ".join(b)).ratio()
    return round(0.6 * jaccard + 0.4 * ratio, 2)


def _key_order(key: str) -> tuple[str, int]:
    """PROD-9 before PROD-10."""
    project, _, number = key.rpartition("-")
    return (project, int(number)) if re.fullmatch(r"\d+", number) else (key, 0)
