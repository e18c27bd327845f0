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
    if expect.terminal_reason is not None:
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
    for text in texts:
        found = report.find(text, at)
        if found < 0:
            where = "at all" if text not in report else f"after {texts[texts.index(text) - 1]!r}"
            return Verdict(name=name, passed=False, detail=f"{text!r} is not there {where}")
        at = found + len(text)
    return Verdict(name=name, passed=True)


def _output(item: OutputCheck, output: dict[str, Any] | None) -> Verdict:
    found = [match.value for match in parse_path(item.path).find(output)] if output is not None else []
    shown = json.dumps(found[0] if len(found) == 1 else found, ensure_ascii=False, default=str)[:200]
    if item.exists is not None:
        return Verdict(name=f"{item.path} {'exists' if item.exists else 'is absent'}",
                       passed=bool(found) == item.exists, detail=f"found {shown}")  # fmt: skip
    if not found:
        return Verdict(name=_described(item), passed=False, detail="the answer has nothing there" if output else
                       "there is no answer")  # fmt: skip
    value = found[0]
    if item.equals is not None:
        return Verdict(name=_described(item), passed=value == item.equals, detail=f"found {shown}")
    if item.contains is not None:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return Verdict(name=_described(item), passed=item.contains in text, detail=f"found {shown}")
    size = len(value) if isinstance(value, list | dict | str) else 0
    return Verdict(name=_described(item), passed=size >= (item.min_items or 0), detail=f"found {size}")


def _described(item: OutputCheck) -> str:
    if item.equals is not None:
        return f"{item.path} equals {json.dumps(item.equals, ensure_ascii=False)}"
    if item.contains is not None:
        return f"{item.path} contains {item.contains!r}"
    return f"{item.path} has at least {item.min_items} items"
