"""What the analyses share: words with light stemming, ISO times, "2 hours ago", tolerant reads of tool results.

The stemming is deliberately crude (suffix stripping): it only has to make "exhaustion"/"exhausted" and
"invoice"/"invoices" meet, the same way on both sides of a comparison.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any


def word_set(text: str, *, stemmed: bool = False) -> frozenset[str]:
    """The words of a space-separated list (stemmed when asked): how the analyses write word lists."""
    return frozenset(stem(w) if stemmed else w for w in text.split())


STOP_WORDS = word_set(
    """
    a an and any are as at be been being but by can could did do does for from had has have i if in into is it its
    just me my no not of on or our out so than that the their them then there these they this to too up us was we
    were what when whenever which while who will with would you your yours via per
    """
)

# Abbreviations that mean the same as a longer word people also write.
_ALIASES = {"db": "database", "cfg": "config", "configuration": "config", "k8s": "kubernetes"}

# Longest first; each is stripped only when at least three letters remain, so short words stay whole.
_SUFFIXES = (
    ("ations", ""), ("ation", ""), ("ments", ""), ("ment", ""), ("ions", ""), ("ion", ""), ("ings", ""),
    ("ing", ""), ("ies", "y"), ("ied", "y"), ("ed", ""), ("es", ""), ("s", ""), ("e", ""),
)  # fmt: skip


def stem(word: str) -> str:
    """`word` lowercased, aliased and stripped of one common suffix ("connections" -> "connect")."""
    word = _ALIASES.get(word.lower(), word.lower())
    if word.endswith("ss"):
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    return word


def words(text: object) -> list[str]:
    """The lowercase words of `text` in order (letters and digits; "sign-on" is two words), numbers dropped."""
    if not isinstance(text, str):
        return []
    return [w for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'")) if not w.isdigit()]


def content_stems(text: object, extra_stop: frozenset[str] = frozenset()) -> list[str]:
    """The stems of `text`'s meaningful words, in order and without repeats."""
    out: list[str] = []
    for word in words(text):
        base, _, suffix = word.partition("'")
        # A possessive keeps its noun; other contractions ("don't", "we'd") are function words.
        if suffix not in ("", "s") or base in STOP_WORDS or base in extra_stop or len(base) < 2:
            continue
        stemmed = stem(base)
        if stemmed not in out:
            out.append(stemmed)
    return out


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as Jira, Confluence and the runner write them (`+0000`, `Z`, or naive meaning UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ago(seconds: float) -> str:
    """A duration in words the way people say it: "just now", "5 minutes ago", "2 hours ago", "in 3 days"."""
    size = abs(seconds)
    if size < 60:
        return "just now"
    if size < 3600:
        count, unit = int(size // 60), "minute"
    elif size < 48 * 3600:
        count, unit = int(size // 3600), "hour"
    else:
        count, unit = int(size // 86400), "day"
    phrase = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {phrase}" if seconds < 0 else f"{phrase} ago"


def issues_of(search: object) -> list[dict[str, Any]]:
    """The issue dicts of an `IssueSearch` dump; nothing for anything else."""
    issues = search.get("issues") if isinstance(search, dict) else None
    return [i for i in issues if isinstance(i, dict)] if isinstance(issues, list) else []


def issue_texts(issue: dict[str, Any]) -> Iterator[str]:
    """An issue's description, then its comments' bodies: where people paste traces and name pages."""
    yield issue.get("description") or ""
    for comment in issue.get("comments") or []:
        if isinstance(comment, dict):
            yield comment.get("body") or ""


def strings(values: object) -> list[str]:
    """The strings of a list (labels, components); nothing for anything else."""
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def text_of(value: object) -> str:
    return value if isinstance(value, str) else ""
