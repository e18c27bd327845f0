"""What agentflow does with a chat (or API) command once the request is verified, independent of HTTP: check
who may do it, validate the inputs, queue the run, and later post its result.

Validation happens before anything is queued, so a typo is answered at once (with the usage) instead of
failing in the background. A run's id is chosen at ack time so the person can `status` it straight away.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from agentflow import runs
from agentflow.changes.plan import DEFERRED, Applied
from agentflow.chatops import slack_format
from agentflow.chatops.commands import USAGE, Command, with_primary
from agentflow.chatops.executors import Executor, InSubprocess, JobFailed
from agentflow.chatops.jobs import Job, Pool, QueueFull
from agentflow.chatops.settings import ChatOpsSettings, Grant
from agentflow.chatops.verify import RateLimit
from agentflow.errors import ConfigError
from agentflow.runner import RunRequest
from agentflow.webhooks import Send, post, send
from agentflow.workflow import loader
from agentflow.workflow.inputs import FileInput

log = logging.getLogger(__name__)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,}")


@dataclass(frozen=True)
class Caller:
    """Who asked: a Slack user (in a workspace and channel), or an API client named by its token holder."""

    actor: str
    response_url: str | None = None
    via_api: bool = False
    team: str = ""
    channel: str = ""


@dataclass
class Reply:
    """The immediate answer. `status` is for the API; Slack always gets 200 with the text (or blocks)."""

    text: str
    status: int = 200
    run_id: str | None = None
    position: int | None = None
    payload: dict[str, Any] | None = None  # a full Slack message when there is more than text to show


class ChatOps:
    def __init__(
        self,
        settings: ChatOpsSettings,
        *,
        executor: Executor | None = None,
        send: Send = send,
        workers: int | None = None,
        model: str | None = None,
        site: str | None = None,
        rate_clock: Callable[[], float] | None = None,
        stop_timeout_s: float = 5,
    ) -> None:
        self.settings = settings
        self.stop_timeout_s = stop_timeout_s  # how long stopping may spend telling channels their runs stopped
        self.executor = executor or InSubprocess()
        self.send = send
        self.model = model
        self.site = site
        self.pool = Pool(workers or settings.workers, settings.queue, self._execute)
        clock = {"clock": rate_clock} if rate_clock else {}
        self.limits = RateLimit(settings.per_user, **clock)
        self.api_limits = RateLimit(settings.api_per_window, **clock)  # one token, one allowance
        self.jobs: dict[str, Job] = {}  # by run id: the jobs this process holds, queued or running
        self.loaded: dict[Path, tuple[tuple[int, int], loader.LoadedWorkflow]] = {}

    def grant(self, caller: Caller) -> Grant:
        return self.settings.api if caller.via_api else self.settings.grant(caller.actor, caller.team, caller.channel)

    async def handle(self, command: Command, caller: Caller) -> Reply:
        grant = self.grant(caller)
        if command.kind in ("help", "list"):
            return Reply(self._listing(grant, with_usage=command.kind == "help"))
        if command.kind == "status":
            return self._status(command.run_id or "", grant)
        if command.kind == "apply":
            return self._apply(command, caller, grant)
        return await self._run(command, caller, grant)

    # --- listing and status ----------------------------------------------------------------------------

    def _listing(self, grant: Grant, with_usage: bool) -> str:
        lines = [USAGE, ""] if with_usage else []
        known = loader.discover()
        allowed = [name for name in sorted(known) if grant.may_run(name)]
        if not allowed:
            return "\n".join([*lines, "You may not run any workflow here; ask an agentflow admin."])
        lines.append("Workflows you may run:")
        for name in allowed:
            try:
                workflow = self._load(known[name]).workflow
            except ConfigError:
                lines.append(f"• `{name}` (invalid; `agentflow validate {name}` says why)")
                continue
            inputs = " ".join(f"[{n}=…]" if not s.required else f"{n}=…" for n, s in workflow.inputs.items())
            lines.append(f"• `{name}` {inputs} — {workflow.title}")
        if grant.apply:
            lines.append("You may also `apply` staged changes.")
        return "\n".join(lines)

    def record_for(self, run_id: str, grant: Grant) -> runs.RunRecord:
        """The run with exactly this id (no prefixes, no `last`: ids are not to be guessed), if the grant covers
        its workflow. Every refusal reads the same, so a stranger learns nothing about other runs."""
        if not RUN_ID.fullmatch(run_id):
            raise ConfigError("that is not a run id (they look like 20261126-093000-incident-1a2b3c)")
        unseen = ConfigError(f"no run `{run_id}` that you may see")
        if not (runs.runs_dir() / f"{run_id}.json").is_file():
            raise unseen
        try:
            record = runs.load(run_id)
        except ConfigError:
            raise unseen from None
        if record.id != run_id or not grant.may_run(record.workflow):
            raise unseen
        return record

    def _status(self, run_id: str, grant: Grant) -> Reply:
        if run_id in self.jobs:
            return Reply(f"Run `{run_id}` is {self.jobs[run_id].state}.", run_id=run_id)
        try:
            record = self.record_for(run_id, grant)
        except ConfigError as error:
            return Reply(str(error), status=404)
        if record.status != "finished":
            return Reply(f"Run `{record.id}` ({record.workflow}) is running.", run_id=record.id)
        blocks = slack_format.blocks_for_run(record, apply_allowed=grant.apply)
        payload = {**slack_format.ephemeral(slack_format.text_fallback(record)), "blocks": blocks}
        return Reply(payload["text"], run_id=record.id, payload=payload)

    # --- starting work ---------------------------------------------------------------------------------

    def _apply(self, command: Command, caller: Caller, grant: Grant) -> Reply:
        if not grant.apply:
            return Reply("You may not apply changes; ask someone who may, or an agentflow admin.", status=403)
        try:
            record = self.record_for(command.run_id or "", grant)
        except ConfigError as error:
            return Reply(str(error), status=404)
        if record.id in self.jobs:
            return Reply(f"Run `{record.id}` is {self.jobs[record.id].state} (running or being applied); "
                         f"apply it once that is done.", status=409)  # fmt: skip
        if not record.changes:
            return Reply(f"Run `{record.id}` staged no changes; there is nothing to apply.", status=400)
        wanted = command.only or {change.index for change in record.changes}
        unknown = sorted(wanted - {change.index for change in record.changes})
        if unknown:
            return Reply(f"Run `{record.id}` has changes 1 to {len(record.changes)}; there is no {unknown[0]}.", 400)
        job = Job("apply", record.id, caller.actor, record.workflow, only=command.only,
                  response_url=caller.response_url)  # fmt: skip
        return self._enqueue(job, f"Applying {len(wanted)} change{'s' if len(wanted) != 1 else ''} of `{record.id}`")

    async def _run(self, command: Command, caller: Caller, grant: Grant) -> Reply:
        name = command.workflow or ""
        known = loader.discover()
        if name not in known:  # only named workflows: a chat user never picks a file on this machine
            allowed = ", ".join(f"`{n}`" for n in sorted(known) if grant.may_run(n)) or "none"
            return Reply(f"There is no workflow '{name}'. You may run: {allowed}.\n{USAGE}", status=404)
        if not grant.may_run(name):
            return Reply(f"You may not run `{name}`; ask an agentflow admin to allow it.", status=403)
        try:
            inputs = await anyio.to_thread.run_sync(self._validated, known[name], command.inputs, caller)
        except ConfigError as error:
            return Reply(f"{error}\n{USAGE}", status=400)
        limits, key = (self.api_limits, "api") if caller.via_api else (self.limits, caller.actor)
        wait = limits.take(key)
        if wait is not None:
            return Reply(f"You have started {limits.limit} runs in the last 10 minutes; "
                         f"try again in {int(wait) + 1} s.", status=429)  # fmt: skip
        job = Job("run", runs.new_run_id(name), caller.actor, name, inputs, response_url=caller.response_url,
                  apply_allowed=grant.apply)  # fmt: skip
        reply = self._enqueue(job, f"Running `{name}` as `{job.run_id}`")
        if reply.status != 202:
            limits.give_back(key)
        return reply

    def _load(self, path: Path) -> loader.LoadedWorkflow:
        """Parsing a workflow costs ~20 ms; fifty commands at once must not queue behind each other for it.
        Kept until the file changes (the run itself always loads the file afresh)."""
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self.loaded.get(path)
        if cached is None or cached[0] != key:
            cached = self.loaded[path] = (key, loader.load_file(path))
        return cached[1]

    def _validated(self, path: Path, raw: dict[str, Any], caller: Caller) -> dict[str, Any]:
        loaded = self._load(path)
        values: dict[str, Any] = with_primary(raw, list(loaded.workflow.inputs))
        for key, spec in loaded.workflow.inputs.items():
            if spec.type == "file" and isinstance(values.get(key), str):
                # A chat user cannot name a file on this machine; what they pasted is the file's text.
                values[key] = FileInput(path=f"(chat: {caller.actor})", name="message", text=values[key])
        loaded.coerce_inputs(values)
        return values

    def _enqueue(self, job: Job, doing: str) -> Reply:
        try:
            position = self.pool.submit(job)
        except QueueFull:
            return Reply(f"agentflow is busy ({self.pool.workers} running, {self.pool.capacity} waiting); "
                         f"nothing was started — try again in a few minutes.", status=503)  # fmt: skip
        job.state = "queued" if position else "running"
        self.jobs[job.run_id] = job
        when = "starting now" if not position else f"queued, {_ordinal(position)} in line"
        status = f"`/agentflow status {job.run_id}` shows how it went."
        target = "I will post the result here." if job.response_url else status
        log.info("%s: %s %s (%s)", job.actor, job.kind, job.run_id, when)
        return Reply(f"{doing} ({when}). {target}", status=202, run_id=job.run_id, position=position)

    # --- doing the work (in the pool) --------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        job.state = "running"
        try:
            payload = await (self._apply_job(job) if job.kind == "apply" else self._run_job(job))
        except Exception as error:  # the person was promised an answer; a bug here must not swallow it
            log.exception("chat job %s (%s) failed", job.run_id, job.kind)
            payload = slack_format.ephemeral(
                f"`{job.run_id}` failed inside agentflow ({type(error).__name__}); `/agentflow status {job.run_id}` "
                "shows what was recorded."
            )
        finally:
            self.jobs.pop(job.run_id, None)
        if job.response_url:
            await self._post(job.response_url, payload)

    async def stop(self) -> None:
        """Stop the pool; tell each waiting or running job's channel (one attempt each, within `stop_timeout_s`)
        that it stopped."""
        told = [(job, job.state) for job in self.jobs.values() if job.response_url]
        await self.pool.stop()
        with anyio.move_on_after(self.stop_timeout_s):
            async with anyio.create_task_group() as group:
                for job, state in told:
                    what = "was not started" if state == "queued" else "was stopped while it ran"
                    text = f"`{job.run_id}` ({job.workflow}) {what}: agentflow serve shut down. Run it again."
                    group.start_soon(self._notify, job.response_url, text)

    async def _notify(self, url: str, text: str) -> None:
        await self._post(url, slack_format.ephemeral(text), attempts=1)

    async def _post(self, url: str, payload: dict[str, Any], attempts: int = 4) -> None:
        undelivered = await post(url, payload, send=self.send, attempts=attempts)
        if undelivered:
            log.warning("could not post to the chat %s", undelivered)

    async def _run_job(self, job: Job) -> dict[str, Any]:
        request = RunRequest(
            workflow=job.workflow, inputs=job.inputs, actor=job.actor, trigger="chatops", priority="interactive",
            model=self.model, site=self.site, run_id=job.run_id,
        )  # fmt: skip
        try:
            record = await self.executor.run(request)
        except JobFailed as error:
            return slack_format.ephemeral(str(error))
        log.info("%s: run %s %s", job.actor, job.run_id, record.terminal_reason)
        blocks = slack_format.blocks_for_run(record, apply_allowed=job.apply_allowed)
        return slack_format.in_channel(blocks, slack_format.text_fallback(record))

    async def _apply_job(self, job: Job) -> dict[str, Any]:
        try:
            results = await self.executor.apply(job.run_id, job.actor, job.only)
        except JobFailed as error:
            return slack_format.ephemeral(f"Applying `{job.run_id}` failed: {error}")
        return _applied_message(job, results)


def _applied_message(job: Job, results: list[Applied]) -> dict[str, Any]:
    """What an apply did, for the channel: one line per change, failures first."""
    deferred = next((r for r in results if r.state == DEFERRED), None)
    failed = [r for r in results if r.state not in ("applied", DEFERRED)]
    applied = sum(1 for r in results if r.state == "applied")
    done = f"applied {applied} of {len(results)} changes of `{job.run_id}`"
    outcome = f"; **{len(failed)} failed**: fix the cause and apply again (what is done is skipped)" if failed else ""
    if deferred is not None:
        outcome += (f"; **stopped by the hourly rate budget** at `${deferred.index}`, the changes after it not tried: "
                    "apply again later (what is done is skipped)")  # fmt: skip
    outcome += "."
    marks = {"applied": "✅", DEFERRED: "⏸️"}
    lines = [f"{marks.get(r.state, '❌')} `${r.index}` {r.summary}: {r.detail}"
             for r in sorted(results, key=lambda r: (r.state == "applied", r.index))]  # fmt: skip
    who = job.actor if job.actor.startswith("api:") else f"<@{job.actor}>"  # Slack shows a user id as a mention
    text = f"{who} " + slack_format.to_mrkdwn(done + outcome + "\n\n" + "\n".join(f"- {line}" for line in lines))
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in slack_format.split_sections(text)
    ]
    return slack_format.in_channel(blocks[: slack_format.BLOCK_LIMIT], f"{job.actor} {done}{outcome}")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
