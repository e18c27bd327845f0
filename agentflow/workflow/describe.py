"""Plain-data summaries of workflows, for `agentflow list`/`show` and their `--json` output."""

from __future__ import annotations

from typing import Any

from agentflow.workflow.loader import LoadedWorkflow, builtin_dir
from agentflow.workflow.schema import InputSpec, Workflow


def origin(loaded: LoadedWorkflow) -> str:
    """`built-in`, or the file's path for a workflow of the user's own."""
    if loaded.path.resolve().parent == builtin_dir().resolve():
        return "built-in"
    return str(loaded.path)


def schedule_text(workflow: Workflow) -> str:
    if workflow.schedule is None:
        return ""
    zone = workflow.schedule.timezone
    return workflow.schedule.cron if zone == "UTC" else f"{workflow.schedule.cron} ({zone})"


def input_text(name: str, spec: InputSpec) -> str:
    """How an input is written on the command line: `keys=JIRA_KEYS` or `[window=-24h]`."""
    text = f"{name}={spec.type.upper()}"
    return text if spec.required else f"[{text}]"


def summary(loaded: LoadedWorkflow) -> dict[str, Any]:
    """One row of `agentflow list`."""
    workflow = loaded.workflow
    return {
        "name": workflow.name,
        "persona": workflow.persona,
        "title": workflow.title,
        "writes": workflow.writes.mode,
        "schedule": schedule_text(workflow),
        "origin": origin(loaded),
    }


def detail(loaded: LoadedWorkflow) -> dict[str, Any]:
    """Everything `agentflow show` prints, as JSON-ready data."""
    return {
        **summary(loaded),
        "path": str(loaded.path),
        "signature": signature(loaded.workflow),
        **loaded.workflow.model_dump(mode="json", by_alias=True, exclude={"name", "title", "persona"}),
    }


def signature(workflow: Workflow) -> str:
    """The workflow's name and inputs as they are given: `bug-triage keys=JIRA_KEYS [comment=BOOLEAN]`."""
    return " ".join([workflow.name, *(input_text(n, s) for n, s in workflow.inputs.items())])
