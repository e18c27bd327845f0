"""Incident triage without a model: which recent changes most likely caused an alert, and a runbook's steps.

`rank_changes` scores each change (an `IssueSearch` dump) on recency, closeness to the alerting service in
the Compass dependency graph, the kind of change and its words against the alert's, and says why in short
reasons a responder can check. `runbook_steps` pulls the numbered procedure out of a runbook page.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from agentflow.analysis.words import ago, content_stems, issues_of, parse_time, stem, strings, text_of, word_set, words

# Suspicion halves every this many hours: a change from this morning beats one from last week.
HALF_LIFE_HOURS = 12.0
RECENCY_WEIGHT = 3.0
SERVICE_WEIGHT, DEPENDENCY_WEIGHT, DEPENDENT_WEIGHT = 3.0, 1.5, 1.0
RISKY_TYPE_WEIGHT = 1.0
CAPACITY_WEIGHT, COSMETIC_PENALTY = 2.0, 1.0
ALERT_WORD_WEIGHT, ALERT_WORDS_MAX = 1.0, 3

# Types that change production; bugs and stories do not by themselves.
RISKY_TYPES = {"deployment", "change"}
# Settings whose change starves or floods a service (compared as stems).
CAPACITY_WORDS = word_set(
    "pool limit timeout size memory connection thread cache quota capacity replica config setting max min heap cpu "
    "rate retry ttl buffer queue concurrency worker",
    stemmed=True,
)
# Changes that cannot plausibly break a backend.
COSMETIC_WORDS = word_set("copy text typo ui css style wording colour color logo docs readme translation", stemmed=True)
# Verbs that introduce what a change did to a setting, said back in the third person ("reduces ...").
_VERBS = {
    stem(form): base + "s"
    for base in word_set("reduce lower decrease increase raise change set disable enable remove bump shrink cap tune")
    for form in (base, base + "s", base + "d", base + "ed")
}


def rank_changes(
    changes: dict[str, Any],
    alert: str,
    service: str | None = None,
    component: dict[str, Any] | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """The changes in `changes` as suspects for `alert`, most suspect first, each with a score and reasons.

    `service` (else `component`'s name) is the alerting service; `component` (a Compass `Component` dump)
    adds what it depends on and what depends on it. `now` is the alert's time, by default the newest change's,
    so that the same input always ranks the same way.
    """
    issues = [i for i in issues_of(changes) if isinstance(i.get("key"), str)]
    component = component if isinstance(component, dict) else {}
    service = text_of(service) or text_of(component.get("name")) or None
    upstream = _ref_names(component.get("depends_on"))
    downstream = _ref_names(component.get("dependents"))
    created = [t for t in (parse_time(i.get("created")) for i in issues) if t is not None]
    moment = parse_time(now) or (max(created) if created else None)
    alert_stems = content_stems(alert)
    alert_words: dict[str, str] = {}  # stem -> the alert's own spelling, to quote it back
    for word in words(alert):
        alert_words.setdefault(stem(word), word)

    suspects = []
    for issue in issues:
        score, why = 0.0, []
        when = parse_time(issue.get("created"))
        seconds = (moment - when).total_seconds() if moment and when else None
        kind = text_of(issue.get("type")).lower()
        label = kind if kind in RISKY_TYPES else f"{kind or 'issue'} created"
        if seconds is not None:
            # A change made after the alert cannot have caused it.
            score += RECENCY_WEIGHT * 0.5 ** (seconds / 3600 / HALF_LIFE_HOURS) if seconds >= 0 else 0.0
            why.append(f"{label} {ago(seconds)}" if seconds >= 0 else f"{label} after the alert")
        elif kind in RISKY_TYPES:
            why.append(kind)
        if kind in RISKY_TYPES:
            score += RISKY_TYPE_WEIGHT

        touched = _touches(issue, service, upstream, downstream)
        if touched:
            weight, reason = touched
            score += weight
            why.append(reason)

        summary = text_of(issue.get("summary"))
        summary_stems = content_stems(summary)
        capacity = [s for s in summary_stems if s in CAPACITY_WORDS]
        if capacity:
            score += CAPACITY_WEIGHT
            why.insert(0, _capacity_reason(summary, capacity))
        elif cosmetic := [w for w in words(summary) if stem(w) in COSMETIC_WORDS]:
            score -= COSMETIC_PENALTY
            why.append(f"looks cosmetic ({', '.join(dict.fromkeys(cosmetic))})")

        change_stems = set(summary_stems) | set(content_stems(" ".join(strings(issue.get("labels")))))
        change_stems |= set(content_stems(" ".join(strings(issue.get("components")))))
        shared = [s for s in alert_stems if s in change_stems]
        if shared:
            score += ALERT_WORD_WEIGHT * min(len(shared), ALERT_WORDS_MAX)
            why.append("matches the alert: " + ", ".join(alert_words.get(s, s) for s in shared))

        suspects.append(
            {
                "key": issue["key"],
                "summary": summary,
                "when": issue.get("created"),
                "age": ago(seconds) if seconds is not None else None,
                "score": round(score, 2),
                "why": why,
                "_seconds": seconds if seconds is not None else math.inf,
            }
        )
    suspects.sort(key=lambda s: (-s["score"], s["_seconds"], s["key"]))
    for suspect in suspects:
        del suspect["_seconds"]
    if service is None and suspects:
        top = next(i for i in issues if i["key"] == suspects[0]["key"])
        service = next(iter(strings(top.get("components"))), None)
    return {"suspects": suspects, "service": service}


def _touches(
    issue: dict[str, Any], service: str | None, upstream: list[str], downstream: list[str]
) -> tuple[float, str] | None:
    """How close the change is to the service: the service itself, what it depends on, or what depends on it."""
    names = {n.lower() for n in strings(issue.get("components")) + strings(issue.get("labels"))}
    summary = text_of(issue.get("summary")).lower()

    def hits(name: str) -> bool:
        return name.lower() in names or re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", summary) is not None

    if service and hits(service):
        return SERVICE_WEIGHT, f"touches {service}"
    for name in upstream:
        if hits(name):
            return DEPENDENCY_WEIGHT, f"touches {name}, which {service} depends on"
    for name in downstream:
        if hits(name):
            return DEPENDENT_WEIGHT, f"touches {name}, which depends on {service}"
    return None


def _capacity_reason(summary: str, capacity: list[str]) -> str:
    """What the change did to a setting, in the summary's own words: "reduces DB connection pool size"."""
    tokens = re.findall(r"[\w.-]+", summary)
    for start, token in enumerate(tokens):
        verb = _VERBS.get(stem(token))
        if verb is None:
            continue
        rest = tokens[start + 1 :]
        last = max((i for i, t in enumerate(rest) if stem(t.lower()) in capacity), default=None)
        if last is not None:
            return f"{verb} {' '.join(rest[: last + 1])}"
    return "changes capacity settings: " + ", ".join(capacity)


def runbook_steps(page: dict[str, Any] | None) -> dict[str, Any]:
    """The numbered steps of a runbook (`Page` dump with a Markdown body), each a Markdown string: the step's
    text on its first line (links as their text, emphasis dropped, inline code kept), then whatever belongs to
    the step — its code blocks, sub-lists, tables and further paragraphs — dedented, after a blank line. A step
    like "Look for long-running transactions:" is nothing without the query under it.

    They come from the section titled like "Steps", "Procedure" or "What to do", else from the first
    numbered list on the page.
    """
    if not isinstance(page, dict):
        return {"title": None, "url": None, "steps": []}
    lines = text_of(page.get("body")).splitlines()
    start, level = _steps_section(lines)
    steps = _ordered_list(lines[start:], level) if start is not None else []
    if not steps:
        steps = _ordered_list(lines, None)
    return {"title": page.get("title"), "url": page.get("url"), "steps": steps}


_STEPS_TITLE = re.compile(r"\b(steps|procedure|what to do|resolution|remediation|mitigation|actions)\b", re.I)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^( {0,3})(\d+[.)]\s+)(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_BLOCK_START = re.compile(r"^\s*([-*+]\s|\d+[.)]\s|```|~~~|\|)")


def _steps_section(lines: list[str]) -> tuple[int | None, int | None]:
    """Where the steps section's content starts, and its heading level."""
    for index, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and _STEPS_TITLE.search(heading.group(2)):
            return index + 1, len(heading.group(1))
    return None, None


@dataclass
class _Step:
    text: str
    indent: int  # the column the item's content starts at: its blocks are indented at least this much
    blocks: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        text = _inline(self.text)
        detail = "\n".join(self.blocks).strip("\n")
        return f"{text}\n\n{detail}" if text and detail else text


def _ordered_list(lines: list[str], level: int | None) -> list[str]:
    """The top-level items of the first ordered list in `lines`, stopping at a heading of `level` or above
    (or, once the list began, at any text outside it), each with the blocks indented under it."""
    steps: list[_Step] = []
    in_code = False  # inside a fence: of the current step when indented under it, else outside any step
    for line in lines:
        step = steps[-1] if steps else None
        indented = step is not None and (not line.strip() or len(line) - len(line.lstrip()) >= 1)
        if in_code:
            if step is not None and indented:
                step.blocks.append(_dedent(line, step.indent))
            in_code = not _FENCE.match(line)
            continue
        if _FENCE.match(line):
            in_code = True
            if step is not None and indented:
                step.blocks.append(_dedent(line, step.indent))
            continue
        heading = _HEADING.match(line)
        if heading and (level is None or len(heading.group(1)) <= level):
            if steps or level is not None:
                break
            continue
        item = _ITEM.match(line)
        if item:
            steps.append(_Step(item.group(3), len(item.group(1)) + len(item.group(2))))
        elif step is not None and indented:
            if not step.blocks and line.strip() and not _BLOCK_START.match(line):
                step.text += " " + line.strip()  # the item's text wrapped onto the next line
            else:
                step.blocks.append(_dedent(line, step.indent))
        elif steps and line.strip():
            break
    return [markdown for markdown in (s.markdown() for s in steps) if markdown]


def _dedent(line: str, indent: int) -> str:
    """The line with up to `indent` leading spaces removed: a block as it reads outside its list item."""
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


def _inline(markdown: str) -> str:
    """One line of plain text, keeping `inline code`: links become their text, emphasis marks go."""
    parts = re.split(r"(`[^`]*`)", markdown)
    for index in range(0, len(parts), 2):
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", parts[index])
        text = re.sub(r"(\*\*|__|\*|~~)", "", text)
        parts[index] = re.sub(r"(?<!\w)_(\S[^_]*?)_(?!\w)", r"\1", text)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _ref_names(refs: object) -> list[str]:
    """The names of Compass component refs (`depends_on`, `dependents`)."""
    if not isinstance(refs, list):
        return []
    return [r["name"] for r in refs if isinstance(r, dict) and isinstance(r.get("name"), str) and r["name"]]
