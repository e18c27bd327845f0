"""Arguments a tool does not declare are refused before the call: against the sandbox's Rovo-like `/v2/mcp`, which,
like Rovo's, drops an argument it does not know without a word."""

from __future__ import annotations

import anyio
import pytest

from agentflow import audit
from agentflow.budget import Budget, Settings
from agentflow.host.arguments import refusal, undeclared
from agentflow.host.gate import Gate
from agentflow.host.servers import Host
from agentflow.host.specs import ServerSpec
from agentflow.host.toolbox import build_toolbox
from agentflow.ledger import SQLiteLedger
from agentflow.metering import Metering
from agentflow.runs import CallStatus
from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS

WHO = audit.Actor(actor="sam", trigger="cli", run_id="run-arguments", workflow="projects")
SCHEMA = {"type": "object", "properties": {"cloudId": {}, "searchString": {}, "maxResults": {}}}


def test_undeclared_names_only_what_the_schema_does_not_declare() -> None:
    assert undeclared(SCHEMA, {"cloudId": "x", "maxResult": 1, "serchString": "a"}) == ["maxResult", "serchString"]
    # An open schema is no promise the server keeps what it does not declare (Rovo's v2 drops it).
    assert undeclared(SCHEMA | {"additionalProperties": True}, {"anything": 1}) == ["anything"]
    assert undeclared({"type": "object"}, {"anything": 1}) == []  # declares nothing: taken at its word
    assert refusal("listJiraProjects", SCHEMA, ["maxResult"]) == (
        "listJiraProjects does not take 'maxResult' (did you mean 'maxResults'?); it takes: cloudId, searchString, "
        "maxResults. Nothing was sent."
    )


@pytest.mark.anyio
async def test_a_misspelt_argument_is_refused_before_the_call_where_the_server_would_drop_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = Site.open("cloud")
    sre = site.user("sre")
    monkeypatch.setenv("ROVO_EMAIL", sre.email)
    monkeypatch.setenv("ROVO_API_TOKEN", sre.token)
    with running(site) as url:
        spec = ServerSpec(name="rovo", transport="http", url=f"{url}/v2/mcp", auth="basic", email_env="ROVO_EMAIL",
                          token_env="ROVO_API_TOKEN", startup_timeout=SLOW_MACHINE_SECONDS)  # fmt: skip
        budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=500))
        metering = Metering.plan([spec], budget, site=None, priority="interactive", who=WHO, cap=None)
        cloud_id = site.app.state.cloud_id
        with anyio.fail_after(SLOW_MACHINE_SECONDS):
            async with Host([spec]) as host:
                gate = Gate(host, metering, who=WHO, toolbox=build_toolbox(host.tools(), ["listJiraProjects"]))
                refused = await gate.call("listJiraProjects", {"cloudId": cloud_id, "maxResult": 1})
                answered = await gate.call("listJiraProjects", {"cloudId": cloud_id, "maxResults": 1})
    assert refused.status == CallStatus.REFUSED and refused.is_error and refused.requests == 0
    assert "does not take 'maxResult' (did you mean 'maxResults'?)" in refused.text
    assert answered.status == CallStatus.OK and not answered.is_error
    outcomes = [(line["tool"], line["outcome"]) for line in audit.read(run_id=WHO.run_id)]
    assert outcomes == [("listJiraProjects", "refused"), ("listJiraProjects", "ok")]
