"""The built-in analyses a workflow's `compute` steps may name, and how one is run.

Each is a pure function over earlier steps' results (JSON data) returning JSON data; imported only when a
run uses it.
"""

from __future__ import annotations

import importlib
from typing import Any

COMPUTES = {
    "stack_traces": "agentflow.analysis.traces:traces_for_issues",
    "page_references": "agentflow.analysis.references:page_references",
    "similar_queries": "agentflow.analysis.references:similar_queries",
    "resolved_first": "agentflow.analysis.references:resolved_first",
    "rank_changes": "agentflow.analysis.ranking:rank_changes",
    "runbook_steps": "agentflow.analysis.ranking:runbook_steps",
    "grooming_findings": "agentflow.analysis.grooming:grooming_findings",
    "feature_requests": "agentflow.analysis.transcripts:feature_requests",
}


def run_compute(name: str, arguments: dict[str, Any]) -> Any:
    module, _, function = COMPUTES[name].partition(":")
    return getattr(importlib.import_module(module), function)(**arguments)
