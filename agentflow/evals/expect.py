"""Checking one run against a case's expectations: one `Verdict` per expectation, each saying what it found."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from jsonpath_ng.ext import parse as parse_path
from pydantic import BaseModel

from agentflow.evals.suite import Expect, OutputCheck
from agentflow.runs import RunRecord


class Verdict(BaseModel):
    """One expectation: what it asked (`name`), whether it held, and what was found when it did not."""

    name: str
    passed: bool
    detail: str = ""


def check(expect: Expect, record: RunRecord) -> list[Verdict]:
    """Every expectation of `expect` against the finished run `record`."""
    verdicts: list[Verdict] = []
    report = record.report or ""
    got = str(record.terminal_reason)
    detail = f"it ended {got}" + (f": {record.error}" if record.error else "")
    verdicts.append(Verdict(name=f"terminal_reason is {expect.terminal_reason}",
                            passed=got == expect.terminal_reason, detail=detail))  # fmt: skip
    for text in expect.report_contains:
        verdicts.append(Verdict(name=f"report contains {text!r}", passed=text in report, detail="it does not"))
    for text in expect.report_excludes:
        verdicts.append(Verdict(name=f"report excludes {text!r}", passed=text not in report, detail="it contains it"))
    if expect.report_in_order:
        verdicts.append(_in_order(expect.report_in_order, report))
    verdicts += [_output(item, record.output) for item in expect.output]
    if expect.changes is not None:
        counted = Counter(change.tool for change in record.changes)
        for tool, count in expect.changes.count.items():
            verdicts.append(Verdict(name=f"{count} staged {tool}", passed=counted[tool] == count,
                                    detail=f"{counted[tool]} were staged"))  # fmt: skip
        if expect.changes.total is not None:
            verdicts.append(Verdict(name=f"{expect.changes.total} staged changes in all",
                                    passed=len(record.changes) == expect.changes.total,
                                    detail=f"{len(record.changes)} were staged"))  # fmt: skip
        summaries = [change.summary for change in record.changes]
        for text in expect.changes.summaries_contain:
            verdicts.append(Verdict(name=f"a staged change's summary contains {text!r}",
                                    passed=any(text in summary for summary in summaries),
                                    detail=f"none does: {summaries[:5]}"))  # fmt: skip
    if expect.max_requests is not None:
        verdicts.append(Verdict(name=f"at most {expect.max_requests} Atlassian requests",
                                passed=record.requests() <= expect.max_requests,
                                detail=f"it made {record.requests()}"))  # fmt: skip
    if expect.max_tokens is not None:
        used = record.usage.input_tokens + record.usage.output_tokens
        verdicts.append(Verdict(name=f"at most {expect.max_tokens} tokens", passed=used <= expect.max_tokens,
                                detail=f"it used {used}"))  # fmt: skip
    return verdicts


def _in_order(texts: list[str], report: str) -> Verdict:
    name = "report has " + " before ".join(repr(text) for text in texts)
    at = 0
    for number, text in enumerate(texts):
        found = report.find(text, at)
        if found < 0:
            where = "at all" if text not in report else f"after {texts[number - 1]!r}"
            return Verdict(name=name, passed=False, detail=f"{text!r} is not there {where}")
        at = found + len(text)
    return Verdict(name=name, passed=True)


def _output(item: OutputCheck, output: dict[str, Any] | None) -> Verdict:
    """Every condition the check gives, against the path's one match (or the list of its several)."""
    found = [match.value for match in parse_path(item.path).find(output)] if output is not None else []
    value = found[0] if len(found) == 1 else found
    shown = _json(value)[:200]
    asked = item.model_fields_set
    conditions: list[tuple[bool, str]] = []  # (holds, what was found)
    if "exists" in asked:
        conditions.append((bool(found) == item.exists, f"found {shown}"))
    if asked & {"equals", "contains", "min_items"} and not found:
        nothing = "the answer has nothing there" if output is not None else "there is no answer"
        return Verdict(name=_described(item), passed=False, detail=nothing)
    if "equals" in asked:
        conditions.append((_json(value) == _json(item.equals), f"found {shown}"))
    if "contains" in asked:
        if isinstance(value, str):
            holds = isinstance(item.contains, str) and item.contains in value
        elif isinstance(value, list):
            holds = any(_json(element) == _json(item.contains) for element in value)
        else:
            holds = False
        conditions.append((holds, f"found {shown}"))
    if "min_items" in asked:
        size = len(value) if isinstance(value, list | dict) else None
        detail = f"found {size} items" if size is not None else f"found {shown}, which is not a list or object"
        conditions.append((size is not None and size >= (item.min_items or 0), detail))
    broken = [detail for holds, detail in conditions if not holds]
    return Verdict(name=_described(item), passed=not broken, detail=broken[0] if broken else "")


def _described(item: OutputCheck) -> str:
    asked = item.model_fields_set
    parts = []
    if "exists" in asked:
        parts.append("exists" if item.exists else "is absent")
    if "equals" in asked:
        parts.append(f"equals {_json(item.equals)}")
    if "contains" in asked:
        parts.append(f"contains {_json(item.contains)}")
    if "min_items" in asked:
        parts.append(f"has at least {item.min_items} items")
    return f"{item.path} " + " and ".join(parts)


def _json(value: Any) -> str:
    """A value as JSON text, keys sorted: equal only when the JSON values are (`true` is not `1`)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
