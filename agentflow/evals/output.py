"""A suite's results for people and for CI: rows for a table, a JSON document, JUnit XML."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

from agentflow.evals.running import CaseResult


def rows(results: list[CaseResult]) -> list[tuple[str, ...]]:
    """(case, result, runs passed, requests, tokens, cost, seconds) per case; figures summed over its runs."""
    table = []
    for result in results:
        runs = result.runs
        cost = sum(run.cost_usd or 0 for run in runs)
        table.append((
            result.name,
            "pass" if result.passed else "FAIL",
            f"{sum(run.passed for run in runs)}/{len(runs)}",
            str(sum(run.requests for run in runs)),
            str(sum(run.tokens for run in runs)),
            f"${cost:.4f}" if cost else "-",
            f"{sum(run.duration_s for run in runs):.1f}",
        ))  # fmt: skip
    return table


def failures(results: list[CaseResult]) -> list[str]:
    """One line per expectation that broke (or run that could not start), naming the case and the run."""
    lines = []
    for result in results:
        for number, run in enumerate(result.runs, 1):
            which = f"{result.name}" + (f" (run {number} of {len(result.runs)})" if len(result.runs) > 1 else "")
            if run.error:
                lines.append(f"{which}: could not run: {run.error}")
            lines += [f"{which}: {v.name}: {v.detail}" for v in run.verdicts if not v.passed]
    return lines


def document(name: str, results: list[CaseResult]) -> dict[str, Any]:
    """What `--json` prints."""
    cases = [
        {**result.model_dump(), "passed": result.passed,
         "runs": [{**run.model_dump(), "passed": run.passed} for run in result.runs]}
        for result in results
    ]  # fmt: skip
    return {"suite": name, "passed": all(result.passed for result in results), "cases": cases}


def junit(name: str, results: list[CaseResult]) -> str:
    """JUnit XML: a testcase per case, a failure element listing what broke. Characters XML 1.0 cannot hold (an
    escape byte a site or a model put in a message) are left out, so that every CI can read the file."""
    suite = ElementTree.Element("testsuite", name=_xml(name or "agentflow eval"), tests=str(len(results)),
                                failures=str(sum(not result.passed for result in results)),
                                time=f"{sum(run.duration_s for r in results for run in r.runs):.3f}")  # fmt: skip
    for result in results:
        case = ElementTree.SubElement(suite, "testcase", classname=_xml(result.workflow), name=_xml(result.name),
                                      time=f"{sum(run.duration_s for run in result.runs):.3f}")  # fmt: skip
        if not result.passed:
            broken = failures([result])
            first = broken[0] if broken else "pass rate not met"
            failure = ElementTree.SubElement(case, "failure", message=_xml(first))
            failure.text = _xml("\n".join(broken))
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)
