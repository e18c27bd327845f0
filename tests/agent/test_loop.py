"""The plan/act loop with a model that plays a fixed part: every stop reason, limit and failure path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentflow.agent.loop import Limits, Loop, Outcome
from agentflow.agent.models import Model, ToolSpec, Turn, Usage
from agentflow.errors import ModelError, ServerError, ServerTimeout

pytestmark = pytest.mark.anyio

SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"type": "string"}},
    "additionalProperties": False,
}
TOOLS = [
    ToolSpec(name="get_jira_issue", description="read", input_schema={"type": "object"}),
    ToolSpec(name="search_jira_issues", description="search", input_schema={"type": "object"}),
]


def use(name: str, ident: str = "", **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": ident or f"toolu_{name}_{len(arguments)}", "name": name, "input": arguments}


def turn(*blocks: dict[str, Any], stop: str | None = None) -> Turn:
    has_tools = any(b["type"] == "tool_use" for b in blocks)
    return Turn(content=list(blocks), stop_reason=stop or ("tool_use" if has_tools else "end_turn"),
                usage=Usage(input_tokens=100, output_tokens=10))  # fmt: skip


def say(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


class PlayedModel(Model):
    """Answers with the given turns in order and keeps what it was asked."""

    name = "played"

    def __init__(self, *turns: Turn | Exception) -> None:
        self.turns = list(turns)
        self.requests: list[dict[str, Any]] = []

    async def turn(self, *, system, messages, tools, max_tokens) -> Turn:
        self.requests.append({"messages": [dict(m) for m in messages], "tools": [t.name for t in tools]})
        if not self.turns:
            raise ModelError("script", "out of turns")
        answer = self.turns.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Tools:
    """A dispatch double: canned outcomes per tool, and a log of calls."""

    def __init__(self, **outcomes: Outcome | Exception) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.turns: list[tuple[str, dict[str, Any], int]] = []

    async def __call__(self, name: str, arguments: dict[str, Any], turn: int) -> Outcome:
        self.calls.append((name, arguments))
        self.turns.append((name, arguments, turn))
        await asyncio.sleep(0)
        answer = self.outcomes.get(name, Outcome(f"{name} ok", requests=1, server="atlassian"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def loop(model: Model, tools: Tools, **limits: Any) -> Loop:
    return Loop(
        model,
        TOOLS,
        tools,
        SCHEMA,
        Limits(**limits),
        title="Test",
    )


async def test_plan_parallel_tools_an_error_then_a_valid_answer():
    model = PlayedModel(
        turn(say("Planning."), use("update_plan", "p1", steps=[{"title": "read", "status": "in_progress"}])),
        turn(use("get_jira_issue", "a", key="PAY-429"), use("search_jira_issues", "b", jql="bad"),
             use("get_jira_issue", "c", key="PAY-388")),
        turn(use("submit_result", "s", answer="NPE in serializer")),
    )  # fmt: skip
    tools = Tools(search_jira_issues=Outcome("Jira said: bad JQL", is_error=True, requests=1, server="atlassian"))
    result = await loop(model, tools).run("Triage PAY-429")
    assert result.terminal_reason == "completed"
    assert result.output == {"answer": "NPE in serializer"}
    assert [p.title for p in result.plan] == ["read"]
    results = model.requests[2]["messages"][-1]["content"]
    assert [r["tool_use_id"] for r in results] == ["a", "b", "c"]
    assert [r.get("is_error", False) for r in results] == [False, True, False]
    assert 'trust="untrusted data"' in results[0]["content"] and "get_jira_issue ok" in results[0]["content"]
    statuses = {c.id: c.status for c in result.tool_calls}
    assert statuses == {"p1": "ok", "a": "ok", "b": "error", "c": "ok", "s": "ok"}
    assert result.usage.input_tokens == 300 and len(result.turns) == 3
    assert model.requests[0]["tools"] == ["get_jira_issue", "search_jira_issues", "update_plan", "submit_result"]


async def test_an_invalid_answer_goes_back_to_the_model_until_it_fits():
    model = PlayedModel(turn(use("submit_result", "s1", answer=3)), turn(use("submit_result", "s2", answer="ok")))
    result = await loop(model, Tools()).run("go")
    assert result.terminal_reason == "completed" and result.output == {"answer": "ok"}
    feedback = model.requests[1]["messages"][-1]["content"][0]
    assert feedback["is_error"] and "answer: 3 is not of type 'string'" in feedback["content"]
    assert "2 attempts left" in feedback["content"]


async def test_three_invalid_answers_end_the_run():
    model = PlayedModel(*[turn(use("submit_result", f"s{i}", wrong=True)) for i in range(3)])
    result = await loop(model, Tools()).run("go")
    assert result.terminal_reason == "invalid_output" and result.output is None


async def test_max_turns_gets_one_last_turn_that_may_only_submit():
    model = PlayedModel(
        turn(use("get_jira_issue", "a", key="X-1")),
        turn(use("get_jira_issue", "b", key="X-2")),
        turn(use("submit_result", "s", answer="best so far")),
    )
    result = await loop(model, Tools(), max_turns=2).run("go")
    assert result.terminal_reason == "max_turns"  # never "completed" when a limit cut it short
    assert result.output == {"answer": "best so far"}
    assert model.requests[-1]["tools"] == ["submit_result"]
    assert "A limit was reached (max_turns)" in model.requests[-1]["messages"][-1]["content"]


async def test_max_tool_calls_counts_only_real_tools():
    model = PlayedModel(
        turn(
            use("update_plan", "p", steps=[]),
            use("get_jira_issue", "a", key="X-1"),
            use("get_jira_issue", "b", key="X-2"),
        ),
        turn(use("get_jira_issue", "c", key="X-3")),
        turn(say("no submit")),
    )  # fmt: skip
    tools = Tools()
    result = await loop(model, tools, max_tool_calls=2).run("go")
    assert result.terminal_reason == "max_tool_calls"
    assert len(tools.calls) == 2 and result.output is None


async def test_the_wall_clock_limit_uses_the_injected_clock():
    now = [0.0]

    class Slow(PlayedModel):
        async def turn(self, **kwargs) -> Turn:
            now[0] += 400
            return await super().turn(**kwargs)

    model = Slow(turn(use("get_jira_issue", "a", key="X-1")), turn(use("get_jira_issue", "b", key="X-2")),
                 turn(use("submit_result", "s", answer="late")))  # fmt: skip
    result = await Loop(model, TOOLS, Tools(), SCHEMA, Limits(timeout_seconds=600), clock=lambda: now[0]).run("go")
    assert result.terminal_reason == "timeout" and result.output == {"answer": "late"}


async def test_token_limit():
    model = PlayedModel(turn(use("get_jira_issue", "a", key="X-1")), turn(say("done?")))
    result = await loop(model, Tools(), max_total_tokens=50).run("go")
    assert result.terminal_reason == "max_tokens_total"


@pytest.mark.parametrize(
    ("stop", "reason"), [("max_tokens", "incomplete"), ("refusal", "refused"), ("model_context_window_exceeded",
                                                                              "model_context_window_exceeded")]
)  # fmt: skip
async def test_stop_reasons_end_the_run_without_running_cut_off_tools(stop, reason):
    tools = Tools()
    model = PlayedModel(turn(say("partial"), use("get_jira_issue", "a", key="X-1"), stop=stop))
    result = await loop(model, tools).run("go")
    assert result.terminal_reason == reason and tools.calls == []


async def test_pause_turn_sends_the_turn_back():
    model = PlayedModel(turn(say("searching..."), stop="pause_turn"), turn(use("submit_result", "s", answer="x")))
    result = await loop(model, Tools()).run("go")
    assert result.terminal_reason == "completed"
    assert model.requests[1]["messages"][-1]["role"] == "assistant"


async def test_ending_without_an_answer_is_nudged_once_then_no_output():
    nudged = PlayedModel(turn(say("Here is my answer in prose.")), turn(use("submit_result", "s", answer="x")))
    assert (await loop(nudged, Tools()).run("go")).terminal_reason == "completed"
    assert nudged.requests[1]["messages"][-1]["content"] == "Call submit_result with your final answer now."
    stubborn = PlayedModel(turn(say("prose")), turn(say("more prose")))
    result = await loop(stubborn, Tools()).run("go")
    assert result.terminal_reason == "no_output" and result.final_text == "more prose"


async def test_an_answer_from_the_run_cache_does_not_count_against_the_tools_limit():
    tools = Tools(get_jira_issue=Outcome("PAY-429", server="atlassian", status="cached"))
    model = PlayedModel(
        turn(use("get_jira_issue", "a", key="PAY-429")),
        turn(use("get_jira_issue", "b", key="PAY-429")),
        turn(use("submit_result", "s", answer="x")),
    )
    result = await loop(model, tools, max_calls_per_tool=1).run("go")
    assert [c.status for c in result.tool_calls if c.tool == "get_jira_issue"] == ["cached", "cached"]
    assert [turn_ for _, _, turn_ in tools.turns] == [1, 2]


async def test_per_tool_limit_refuses_calls_beyond_it():
    model = PlayedModel(
        turn(use("search_jira_issues", "a", jql="1"), use("search_jira_issues", "b", jql="2")),
        turn(use("submit_result", "s", answer="x")),
    )
    result = await loop(model, Tools(), max_calls_per_tool=1).run("go")
    assert [c.status for c in result.tool_calls][:2] == ["ok", "refused"]


async def test_model_and_server_failures_become_terminal_reasons():
    broken = PlayedModel(ModelError("overloaded", "529 Overloaded"))
    result = await loop(broken, Tools()).run("go")
    assert result.terminal_reason == "model_error" and "529 Overloaded" in result.error
    dead = PlayedModel(turn(use("get_jira_issue", "a", key="X")))
    result = await loop(dead, Tools(get_jira_issue=ServerError("atlassian", "exited"))).run("go")
    assert result.terminal_reason == "server_error" and "exited" in result.error


async def test_a_call_that_raised_is_recorded_as_it_ended_and_its_siblings_as_cancelled():
    class Hangs(Tools):
        async def __call__(self, name: str, arguments: dict[str, Any], turn: int) -> Outcome:
            if name == "search_jira_issues":
                await asyncio.Event().wait()  # out until the run gives up on it
            return await super().__call__(name, arguments, turn)

    model = PlayedModel(turn(use("get_jira_issue", "a", key="X"), use("search_jira_issues", "b", jql="x")))
    tools = Hangs(get_jira_issue=ServerTimeout("atlassian", "get_jira_issue did not answer within 120 s"))
    result = await loop(model, tools).run("go")
    assert result.terminal_reason == "server_error" and "did not answer" in result.error
    assert [(c.tool, c.status) for c in result.tool_calls] == [
        ("get_jira_issue", "timeout"), ("search_jira_issues", "cancelled")
    ]  # fmt: skip


async def test_cancellation_is_recorded_and_propagates():
    class Hanging(PlayedModel):
        async def turn(self, **kwargs) -> Turn:
            await asyncio.sleep(3600)
            raise AssertionError("not reached")

    the_loop = loop(Hanging(), Tools())
    task = asyncio.ensure_future(the_loop.run("go"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert the_loop.result.terminal_reason == "cancelled"


async def test_a_stop_reason_the_loop_does_not_know_ends_the_run_at_once_and_names_it():
    model = PlayedModel(turn(say("thinking"), stop="some_future_reason"), turn(use("submit_result", "s", answer="x")))
    result = await loop(model, Tools()).run("go")
    assert result.terminal_reason == "stopped" and result.error == "stop reason: some_future_reason"
    assert len(model.requests) == 1  # no nudge


async def test_a_live_view_hears_of_each_call_once_it_has_ended_with_its_outcome():
    from agentflow.agent.loop import Events
    from agentflow.runs import CallStatus

    heard: list[tuple[str, str, str | None]] = []
    events = Events(on_tool_end=lambda call: heard.append((call.tool, call.status, call.result_sha256)))
    model = PlayedModel(turn(use("get_jira_issue", "a", key="X")), turn(use("submit_result", "s", answer="x")))
    read = Outcome("PAY-1", requests=1, server="atlassian", result_sha256="ab" * 32)
    tools = Tools(get_jira_issue=read)
    the_loop = Loop(model, TOOLS, tools, SCHEMA, Limits(), title="Test", events=events)
    await the_loop.run("go")
    assert heard == [("get_jira_issue", CallStatus.OK, "ab" * 32), ("submit_result", CallStatus.OK, None)]
