"""The one path of every tool call a run makes, from the agent loop and from gather steps alike:

resolve the name -> allowlist -> arguments declared? -> write? stage it : cached? -> budget -> call within the
server's time box -> redact -> audit -> cache -> one typed `GateOutcome`.

Writes never execute here: a tool the model calls that does not declare itself read-only becomes a change of
the run's plan (`changes.plan`); a gather step may not call a declared write (workflow checks refuse the
bundled server's; the gate refuses any). Identical calls of read-only tools within a run, from the model or a
gather step, are answered from the run's cache. The budget follows `metering.Metering`: the bundled
server reserves each HTTP request itself; another Atlassian server is reserved per call by its estimate;
other servers cost nothing. An approved change takes the same budget, call, redaction and audit through
`Gate.execute` (it was allowed and staged when the run made it).

A tool's own failure is an outcome (`is_error`) the model reads; only a server's failure (it died, timed out,
broke the protocol) raises `ServerError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel

from agentflow import audit, redact
from agentflow.atlassian.quota import QuotaExhausted, Reservation, reserve_waiting
from agentflow.budget import SiteQuota
from agentflow.changes.plan import Stager
from agentflow.host.arguments import refusal, undeclared
from agentflow.host.servers import Host, HostTool, ToolOutcome
from agentflow.host.specs import ServerSpec
from agentflow.host.toolbox import Toolbox
from agentflow.metering import Metering, reaches_atlassian
from agentflow.runs import CallStatus, status_for

MAX_RESULT_CHARS = 100_000  # of a result's text: what a model can use of one call, and what a record keeps


def _capped(text: str) -> str:
    """A result's text within `MAX_RESULT_CHARS`, saying what was cut so that the model can ask for less."""
    if len(text) <= MAX_RESULT_CHARS:
        return text
    cut = len(text) - MAX_RESULT_CHARS
    return text[:MAX_RESULT_CHARS] + f"\n\n[... {cut:,} more characters cut: ask for less, e.g. a narrower query]"


class GateOutcome(BaseModel):
    """What one call came to. `requests`: the Atlassian requests it cost (0 when staged, refused or cached).
    `status`: ok, error (the tool's own), staged, refused (not allowed, or a write where none may be made),
    budget (no room: nothing, or nothing more, was sent), cached. `result_sha256`: of the whole result (before
    `_capped`), as the audit line has it; None when no server answered."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False
    requests: int = 0
    server: str | None = None
    status: CallStatus = CallStatus.OK
    result_sha256: str | None = None
    stable_sha256: str | None = None  # the same with moments and generated ids masked (`audit.stable_digest`)


class Gate:
    def __init__(
        self,
        host: Host,
        metering: Metering,
        *,
        who: audit.Actor,
        toolbox: Toolbox | None = None,
        stager: Stager | None = None,
        kind: str = "tool_call",
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        """`toolbox`: the run's allowed tools (none for an apply, which executes recorded changes); `stager`:
        where a write the model calls is staged (none: writes are refused); `kind` labels the audit lines,
        "tool_call" inside a run, "apply" for an approved change."""
        self.host = host
        self.metering = metering
        self.who = who
        self.toolbox = toolbox
        self.stager = stager
        self.kind = kind
        self.sleep = sleep
        self.exhausted: str | None = None
        self.scrub = redact.default()
        self._cache: dict[str, GateOutcome] = {}

    def requests_left(self) -> int | None:
        """The Atlassian requests the run may still make (`budget.max_calls` less what it spent); None: no cap."""
        allowance = self.metering.allowance
        return None if allowance is None else allowance.left()

    def note(self) -> str | None:
        """What the model is told after each call once half the run's requests are spent."""
        allowance = self.metering.allowance
        if allowance is None or allowance.left() > allowance.cap / 2:
            return None
        return f"[budget: {allowance.left()} Atlassian requests left in this run]"

    async def call(self, name: str, arguments: dict[str, Any], *, turn: int = 0) -> GateOutcome:
        """A call the model made, by the name it sees the tool under."""
        tools = self.toolbox
        if tools is None or name not in tools.names():
            listing = ", ".join(tools.names()) if tools else "none"
            text = f"There is no tool named {name}. The tools are: {listing}."
            refused = GateOutcome(text=text, is_error=True, status=CallStatus.REFUSED)
            return self._answered("", name, arguments, refused, None)
        return await self.call_tool(tools.resolve(name), arguments, turn=turn, may_write=True)

    async def call_tool(
        self, tool: HostTool, arguments: dict[str, Any], *, turn: int = 0, may_write: bool = False
    ) -> GateOutcome:
        """A call of an allowed tool. From the model (`may_write`): a tool that does not declare itself
        read-only is staged as a write. From a gather step: a declared write is refused, and an unannotated tool
        is called as the workflow's author wrote it. Anything else is answered from the run's cache or made.
        First of all, an argument the tool does not declare is refused (`host.arguments`): never dropped."""
        unknown = undeclared(tool.input_schema, arguments)
        if unknown:
            text = refusal(tool.name, tool.input_schema, unknown)
            refused = GateOutcome(text=text, is_error=True, status=CallStatus.REFUSED, server=tool.server)
            return self._answered(tool.server, tool.name, arguments, refused, tool.pin)
        if may_write and tool.read_only is not True:  # the model's call: only a declared read is taken at its word
            if self.stager is None:
                text = f"{tool.name} may change something and this run stages no writes; nothing was done."
                refused = GateOutcome(text=text, is_error=True, status=CallStatus.REFUSED, server=tool.server)
                return self._answered(tool.server, tool.name, arguments, refused, tool.pin)
            staged = self.stager.stage(tool.name, tool.server, tool.input_schema, arguments, turn)
            status = CallStatus.STAGED if staged.change else CallStatus.REFUSED
            outcome = GateOutcome(text=staged.message(), is_error=staged.change is None, status=status,
                                  server=tool.server)  # fmt: skip
            return self._answered(tool.server, tool.name, arguments, outcome, tool.pin)
        if not may_write and tool.read_only is False:  # a gather step the workflow's author wrote: a declared write
            text = f"{tool.name} writes, and a gather step may not write; nothing was done."
            refused = GateOutcome(text=text, is_error=True, status=CallStatus.REFUSED, server=tool.server)
            return self._answered(tool.server, tool.name, arguments, refused, tool.pin)
        if tool.read_only is not True:  # only a read may be answered again from the cache
            return await self.execute(tool.server, tool.name, arguments)
        key = json.dumps([tool.server, tool.name, arguments], sort_keys=True, default=str)
        cached = self._cache.get(key)
        if cached is not None:
            again = cached.model_copy(update={"requests": 0, "status": CallStatus.CACHED})
            return self._answered(tool.server, tool.name, arguments, again, tool.pin)
        outcome = await self.execute(tool.server, tool.name, arguments)
        if outcome.status == CallStatus.OK:
            self._cache[key] = outcome
        return outcome

    async def execute(self, server: str, tool: str, arguments: dict[str, Any]) -> GateOutcome:
        """Make the call: within the budget, time-boxed, its result scrubbed of secrets, audited."""
        spec = self.host.spec(server)
        quota = self.metering.by_server.get(server)
        began = time.monotonic()
        held: Reservation | None = None
        if quota is not None:
            try:
                if spec.meters_itself:
                    quota.hold(spec.requests_per_call)
                else:
                    held, _ = await reserve_waiting(quota, spec.requests_per_call, self.sleep)
            except QuotaExhausted as exhausted:
                self._audit(server, tool, arguments, CallStatus.BUDGET, began, 0, "")
                return self._spent(exhausted.message, 0, server)
        try:
            outcome = await self.host.call(server, tool, arguments)
        except BaseException as error:
            # The call may have reached the site: what was reserved stays counted. The caller records the same
            # status from the same error (`status_for`), so the run record and the audit line agree.
            self._audit(server, tool, arguments, status_for(error), began, held.count if held else 0, "")
            raise
        requests = self._settle(spec, quota, held, outcome)
        whole = self.scrub(outcome.text)
        if outcome.budget_exhausted:
            self._audit(server, tool, arguments, CallStatus.BUDGET, began, requests, whole)
            return self._spent(_capped(whole), requests, server)
        status = CallStatus.ERROR if outcome.is_error else CallStatus.OK
        sha256 = audit.digest(whole)  # once, for the audit line and the record alike
        self._audit(server, tool, arguments, status, began, requests, whole, sha256)
        structured = self.scrub.data(outcome.structured)
        return GateOutcome(text=_capped(whole), structured=structured, is_error=outcome.is_error, requests=requests,
                           server=server, status=status, result_sha256=sha256,
                           stable_sha256=audit.stable_digest(whole))  # fmt: skip

    def _answered(
        self, server: str, tool: str, arguments: dict[str, Any], outcome: GateOutcome, pin: str | None
    ) -> GateOutcome:
        """A call the gate answered itself (staged, refused, from the cache): no server saw it, the audit does."""
        self._audit(server, tool, arguments, outcome.status, time.monotonic(), 0, outcome.text, pin=pin)
        return outcome

    def _spent(self, message: str, requests: int, server: str) -> GateOutcome:
        """The budget had no room: the run spends nothing more."""
        self.exhausted = message
        return GateOutcome(text=message, is_error=True, requests=requests, server=server, status=CallStatus.BUDGET)

    def _settle(self, spec: ServerSpec, quota: SiteQuota | None, held: Reservation | None, outcome: ToolOutcome) -> int:
        """What the call cost the site, charged where the gate meters the server. A server's word that it
        counted its requests itself is believed only when it names this very ledger."""
        if not reaches_atlassian(spec):
            return 0
        if quota is None:  # the bundled server, metered through the quota it was handed, or no budget at all
            return outcome.requests or 0
        requests = outcome.requests if outcome.requests is not None else spec.requests_per_call
        counted = outcome.metered_in == quota.ledger
        if held is None:  # declared to meter itself: the gate held the estimate in the allowance only
            quota.charge(requests, in_ledger=not counted, held=spec.requests_per_call)
        elif counted:  # it reserved its own requests in our ledger: give the gate's back
            held.settle(0)
            quota.charge(requests, in_ledger=False)
        else:
            held.settle(requests)
        if outcome.retry_after and not counted:
            quota.pause(outcome.retry_after)
        return requests

    def _audit(self, server: str, tool: str, arguments: dict[str, Any], outcome: str, began: float, requests: int,
               result: str, result_sha256: str | None = None, *, pin: str | None = None) -> None:  # fmt: skip
        if not pin:  # a call by server and name (an apply, or the gate's own): the tool the host knows by it
            found = self.host.tool(server, tool)
            pin = found.pin if found else None
        audit.record(
            self.who,
            server=server,
            tool=tool,
            arguments=arguments,
            outcome=str(outcome),
            duration_ms=(time.monotonic() - began) * 1000,
            requests=requests,
            result=result,
            result_sha256=result_sha256,
            kind=self.kind,
            pin=pin,
        )
