"""What a case stands for, resolved from the suite's folder: its workflow, inputs and model; and every mistake in
a suite's cases found before anything runs, as `file:line` problems (`check`), as `validate` finds them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentflow.agent.models import Model
from agentflow.agent.select import model_from_spec
from agentflow.errors import AgentflowError, Problem, ProblemsError
from agentflow.evals.suite import Case, Suite
from agentflow.replay import REPLAY
from agentflow.sandbox.seed.data import USERS
from agentflow.workflow import loader, source
from agentflow.workflow.loader import LoadedWorkflow


def workflow(case: Case, folder: Path) -> LoadedWorkflow:
    """The case's workflow: by name, or a file found from the suite's folder."""
    target = case.workflow
    if target.endswith(loader.SUFFIXES) or "/" in target or os.sep in target:
        path = Path(target).expanduser()
        target = str(path if path.is_absolute() else folder / path)
    return loader.load(target)


def inputs(case: Case, loaded: LoadedWorkflow, folder: Path) -> dict[str, Any]:
    """The case's inputs as a run gets them: a relative path of a `file` input is found from the suite's
    folder; a replay without inputs takes the replayed run's."""
    given = dict(case.inputs)
    if not given and case.model.startswith(REPLAY):
        from agentflow import replay, runs

        given = replay.export(runs.load(case.model.removeprefix(REPLAY))).inputs
    for name, value in list(given.items()):
        spec = loaded.workflow.inputs.get(name)
        if spec is not None and spec.type == "file" and isinstance(value, str) and not Path(value).is_absolute():
            given[name] = str(folder / value)
    return given


def model(case: Case, folder: Path) -> Model | None:
    """The case's model; a script's path is found from the suite's folder."""
    spec = case.model
    kind, _, rest = spec.partition(":")
    if kind == "script" and rest and not Path(rest).expanduser().is_absolute():
        spec = f"script:{folder / rest}"
    return model_from_spec(spec, os.environ)


def check(suite: Suite, lines: source.SourceMap) -> None:
    """`ProblemsError` listing every case that cannot run as written (file:line), before any of them runs."""
    path = suite.path or Path("suite")
    folder = path.parent
    problems: list[Problem] = []
    for index, case in enumerate(suite.cases):

        def problem(key: str, message: str, index: int = index) -> None:
            at = ("cases", index, key)
            problems.append(Problem(f"{source.dotted(at)}: {message}", path, lines.line_for(at)))

        try:
            loaded = workflow(case, folder)
        except AgentflowError as error:
            problem("workflow", " ".join(str(error).split()))
            continue
        try:
            loaded.coerce_inputs(inputs(case, loaded, folder))
        except AgentflowError as error:
            problem("inputs", " ".join(str(error).split()))
        try:
            model(case, folder)
        except AgentflowError as error:
            problem("model", " ".join(str(error).replace("(from --model)", "").split()))
        _check_site(case, loaded, problem)
        tools = set(loaded.workflow.tools)
        for tool in case.expect.changes.count if case.expect.changes else {}:
            if tool not in tools and not any(name.endswith(f".{tool}") for name in tools):
                problem("expect", f"changes.count names {tool!r}, which {loaded.workflow.name} may not call")
    if problems:
        raise ProblemsError(sorted(problems, key=lambda p: p.line or 0))


def _check_site(case: Case, loaded: LoadedWorkflow, problem: Any) -> None:
    from agentflow.atlassian import catalog

    if case.sandbox_flavor is not None:
        users = [user[0] for user in USERS]  # the seed's, the same on both flavors
        if case.user not in users:
            problem("user", f"the sandbox has no user {case.user!r} (it has {', '.join(users)})")
        return
    try:
        from agentflow.atlassian.sites import resolve_site

        resolve_site(case.site)
    except AgentflowError as error:
        problem("site", " ".join(str(error).split()))
        return
    writes = [tool for tool in loaded.workflow.tools if tool.rsplit(".", 1)[-1] in catalog.WRITE_TOOLS]
    if writes and not case.writes:
        problem(
            "site",
            f"{loaded.workflow.name} needs write tools ({', '.join(writes)}), which the bundled server "
            "offers a configured site only with writes: true (its writes: auto changes are then applied there)",
        )
