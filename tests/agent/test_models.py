"""The model seam's implementations: AnthropicModel (through the real SDK, its HTTP served by a mock
transport in the Messages API wire format), ScriptedModel, and `model_from_spec`."""

from __future__ import annotations

import json
import logging
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agentflow.agent.anthropic import DEFAULT_MODEL, AnthropicModel, price_of
from agentflow.agent.models import ToolSpec, Usage
from agentflow.agent.scripted import ScriptedModel
from agentflow.agent.select import model_from_spec
from agentflow.errors import ConfigError, ModelError

pytestmark = pytest.mark.anyio

KEY = "sk-ant-test-0123456789secret"
BASE_URL = "http://gateway.test"
MODEL = "claude-sonnet-5-5"
TOOLS = [
    ToolSpec(
        name="jira_get_issue",
        description="Read one Jira issue.",
        input_schema={"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]},
    ),
    ToolSpec(name="submit_result", description="The final answer.", input_schema={"type": "object"}),
]
USER = [{"role": "user", "content": "Summarise DEMO-1."}]


# --- the Anthropic Messages API, served in-process -------------------------------------------------------


def message(content: list[dict[str, Any]], stop_reason: str, **usage: int) -> dict[str, Any]:
    """A Messages API reply body as the API sends it."""
    return {
        "id": "msg_01Test",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.get("input_tokens", 120),
            "output_tokens": usage.get("output_tokens", 30),
            "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
            "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
        },
    }


def api_error(status: int, kind: str, text: str, **headers: str) -> httpx2.Response:
    body = {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_01Test"}
    return httpx2.Response(status, json=body, headers=headers)


class FakeAPI:
    """Answers each POST /v1/messages with the next queued response and keeps what was asked."""

    def __init__(self, *responses: httpx2.Response | dict[str, Any]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages", request.url
        self.requests.append(request)
        self.times.append(time.monotonic())
        reply = self.responses.pop(0)
        return reply if isinstance(reply, httpx2.Response) else httpx2.Response(200, json=reply)

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)

    def model(self, **kwargs: Any) -> AnthropicModel:
        client = httpx2.AsyncClient(transport=httpx2.MockTransport(self))
        return AnthropicModel(MODEL, api_key=KEY, base_url=BASE_URL, http_client=client, **kwargs)


async def ask(api: FakeAPI, **kwargs: Any) -> Any:
    return await api.model(**kwargs).turn(system="You are careful.", messages=USER, tools=TOOLS, max_tokens=1024)


async def test_a_text_answer_becomes_a_turn_with_usage_and_model() -> None:
    api = FakeAPI(
        message(
            [{"type": "text", "text": "DEMO-1 is done.", "citations": None}],
            "end_turn",
            cache_read_input_tokens=900,
            cache_creation_input_tokens=40,
        )
    )
    turn = await ask(api)
    assert turn.content == [{"type": "text", "text": "DEMO-1 is done."}]
    assert turn.stop_reason == "end_turn"
    assert turn.model == MODEL
    assert turn.usage == Usage(
        input_tokens=120, output_tokens=30, cache_read_input_tokens=900, cache_creation_input_tokens=40
    )


async def test_the_request_caches_system_and_tools_and_names_model_and_max_tokens() -> None:
    api = FakeAPI(message([{"type": "text", "text": "ok"}], "end_turn"))
    await ask(api)
    body = api.body()
    assert body["model"] == MODEL
    assert body["max_tokens"] == 1024
    assert body["messages"] == USER
    assert body["system"] == [{"type": "text", "text": "You are careful.", "cache_control": {"type": "ephemeral"}}]
    assert [tool["name"] for tool in body["tools"]] == ["jira_get_issue", "submit_result"]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][0]["input_schema"] == TOOLS[0].input_schema
    headers = api.requests[0].headers
    assert "anthropic-version" in headers
    assert any(KEY in value for value in headers.values())  # the SDK chooses the header (x-api-key or Bearer)


async def test_an_empty_system_prompt_and_no_tools_are_left_out() -> None:
    api = FakeAPI(message([{"type": "text", "text": "ok"}], "end_turn"))
    await api.model().turn(system="", messages=USER, tools=[], max_tokens=64)
    assert "system" not in api.body() and "tools" not in api.body()


async def test_tool_use_keeps_id_name_and_input() -> None:
    api = FakeAPI(
        message(
            [
                {"type": "text", "text": "Reading the issue."},
                {"type": "tool_use", "id": "toolu_01A", "name": "jira_get_issue", "input": {"key": "DEMO-1"}},
            ],
            "tool_use",
        )
    )
    turn = await ask(api)
    assert turn.stop_reason == "tool_use"
    assert turn.tool_uses() == [
        {"type": "tool_use", "id": "toolu_01A", "name": "jira_get_issue", "input": {"key": "DEMO-1"}}
    ]
    assert turn.text() == "Reading the issue."


async def test_parallel_tool_uses_come_back_in_order() -> None:
    calls = [
        {"type": "tool_use", "id": "toolu_01A", "name": "jira_get_issue", "input": {"key": "DEMO-1"}},
        {"type": "tool_use", "id": "toolu_01B", "name": "jira_get_issue", "input": {"key": "DEMO-2"}},
    ]
    turn = await ask(FakeAPI(message(calls, "tool_use")))
    assert [call["id"] for call in turn.tool_uses()] == ["toolu_01A", "toolu_01B"]
    assert [call["input"]["key"] for call in turn.tool_uses()] == ["DEMO-1", "DEMO-2"]


async def test_thinking_blocks_are_kept_intact_to_be_sent_back() -> None:
    blocks = [
        {"type": "thinking", "thinking": "The key is in the prompt.", "signature": "EqQBCkYIBhgCKkD"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "tool_use", "id": "toolu_01A", "name": "jira_get_issue", "input": {"key": "DEMO-1"}},
    ]
    turn = await ask(FakeAPI(message(blocks, "tool_use")))
    assert turn.content == blocks


async def test_max_tokens_in_the_middle_of_a_tool_call_is_returned_as_is() -> None:
    blocks = [
        {"type": "text", "text": "I will file the summary"},
        {"type": "tool_use", "id": "toolu_01C", "name": "submit_result", "input": {}},
    ]
    turn = await ask(FakeAPI(message(blocks, "max_tokens", output_tokens=1024)))
    assert turn.stop_reason == "max_tokens"
    assert turn.content == blocks
    assert turn.usage.output_tokens == 1024


@pytest.mark.parametrize("stop_reason", ["pause_turn", "refusal", "model_context_window_exceeded"])
async def test_other_stop_reasons_are_passed_through(stop_reason: str) -> None:
    turn = await ask(FakeAPI(message([{"type": "text", "text": "..."}], stop_reason)))
    assert turn.stop_reason == stop_reason


async def test_a_429_is_retried_honouring_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeAPI(
        api_error(
            429, "rate_limit_error", "Number of requests has exceeded your rate limit", **{"retry-after-ms": "5"}
        ),
        message([{"type": "text", "text": "ok"}], "end_turn"),
    )
    caplog.set_level(logging.INFO, logger="anthropic")
    turn = await ask(api)
    assert turn.text() == "ok"
    assert len(api.requests) == 2
    # The SDK's own backoff would wait 0.375 to 0.5 s; honouring the header it waits 5 ms. What it chose is
    # read from the SDK's log, not from the clock, which a loaded machine can stretch by any amount.
    waits = [record.args[-1] for record in caplog.records if record.getMessage().startswith("Retrying request")]
    assert waits == [0.005]
    assert api.times[1] - api.times[0] >= 0.004  # and it did wait
    assert api.requests[1].headers["x-stainless-retry-count"] == "1"


async def test_overloaded_until_retries_run_out_is_an_overloaded_model_error() -> None:
    overloaded = [api_error(529, "overloaded_error", "Overloaded", **{"retry-after-ms": "1"}) for _ in range(3)]
    api = FakeAPI(*overloaded)
    with pytest.raises(ModelError) as caught:
        await ask(api)
    assert caught.value.kind == "overloaded"
    assert "after 2 retries" in caught.value.message and "Overloaded" in caught.value.message
    assert len(api.requests) == 3


async def test_rate_limited_until_retries_run_out_is_a_rate_limited_model_error() -> None:
    api = FakeAPI(api_error(429, "rate_limit_error", "slow down"))
    with pytest.raises(ModelError) as caught:
        await ask(api, max_retries=0)
    assert caught.value.kind == "rate_limited"
    assert "slow down" in caught.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_an_auth_error_that_does_not_show_the_key(status: int) -> None:
    kind = "authentication_error" if status == 401 else "permission_error"
    api = FakeAPI(api_error(status, kind, f"invalid x-api-key {KEY}"))
    with pytest.raises(ModelError) as caught:
        await ask(api)
    assert caught.value.kind == "auth"
    assert KEY not in str(caught.value) and "ANTHROPIC_API_KEY" in caught.value.message
    assert len(api.requests) == 1  # a bad key is not retried


async def test_a_bad_request_quotes_the_api() -> None:
    api = FakeAPI(api_error(400, "invalid_request_error", "tools.0.name: String should match pattern"))
    with pytest.raises(ModelError) as caught:
        await ask(api)
    assert caught.value.kind == "bad_request"
    assert "400 invalid_request_error: tools.0.name: String should match pattern" in caught.value.message


async def test_a_server_error_after_retries_is_a_server_model_error() -> None:
    api = FakeAPI(api_error(500, "api_error", "Internal server error"))
    with pytest.raises(ModelError) as caught:
        await ask(api, max_retries=0)
    assert caught.value.kind == "server"


async def test_connection_failures_and_timeouts_have_their_own_kinds() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    def stall(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    for handler, kind in ((refuse, "connection"), (stall, "timeout")):
        client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        model = AnthropicModel(MODEL, api_key=KEY, base_url=BASE_URL, http_client=client, max_retries=0)
        with pytest.raises(ModelError) as caught:
            await model.turn(system="s", messages=USER, tools=[], max_tokens=16)
        assert caught.value.kind == kind
        assert BASE_URL in caught.value.message


def test_a_missing_key_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelError) as caught:
        AnthropicModel(MODEL)
    assert caught.value.kind == "auth"
    assert caught.value.message.startswith("ANTHROPIC_API_KEY is not set")


def test_cost_uses_the_price_table_and_is_none_for_unknown_models() -> None:
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
    )
    # Sonnet 4.5: $3 in, $15 out, $3.75 cache write, $0.30 cache read.
    assert AnthropicModel("claude-sonnet-4-5-20250929", api_key=KEY).cost(usage) == pytest.approx(22.05)
    assert AnthropicModel("claude-haiku-4-5", api_key=KEY).cost(usage) == pytest.approx(7.35)
    assert AnthropicModel("my-gateway-model", api_key=KEY).cost(usage) is None
    assert price_of(DEFAULT_MODEL) is not None
    assert price_of("claude-opus-4-20250514") == price_of("claude-opus-4-1")
    assert price_of("claude-opus-4-9") is None  # an unknown newer version is not priced as claude-opus-4


# --- ScriptedModel --------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SCRIPT = """\
- - {type: text, text: "Planning."}
  - {type: tool_use, name: update_plan, input: {steps: [{title: Read, status: in_progress}]}}
  - {type: tool_use, name: jira_get_issue, input: {key: DEMO-1}}
- stop_reason: pause_turn
  content:
    - {type: text, text: "Still working."}
- - {type: tool_use, name: submit_result, input: {summary: done}}
- - {type: text, text: "All done."}
"""


async def test_a_script_is_replayed_turn_by_turn_with_generated_ids(tmp_path: Path) -> None:
    model = ScriptedModel(write(tmp_path, SCRIPT))
    turns = [await model.turn(system="sys", messages=USER, tools=TOOLS, max_tokens=100) for _ in range(4)]
    assert [turn.stop_reason for turn in turns] == ["tool_use", "pause_turn", "tool_use", "end_turn"]
    assert [call["id"] for turn in turns for call in turn.tool_uses()] == [
        "toolu_script_1",
        "toolu_script_2",
        "toolu_script_3",
    ]
    assert turns[0].tool_uses()[1] == {
        "type": "tool_use",
        "id": "toolu_script_2",
        "name": "jira_get_issue",
        "input": {"key": "DEMO-1"},
    }
    assert turns[3].text() == "All done."
    assert all(turn.usage.input_tokens > 0 and turn.usage.output_tokens > 0 for turn in turns)
    assert model.name == f"script:{tmp_path / 'script.yaml'}"


async def test_the_same_script_gives_the_same_turns_and_usage(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    first, second = ScriptedModel(path), ScriptedModel(path)
    one = await first.turn(system="sys", messages=USER, tools=TOOLS, max_tokens=100)
    two = await second.turn(system="sys", messages=USER, tools=TOOLS, max_tokens=100)
    assert one == two


async def test_the_calls_keep_what_the_loop_sent() -> None:
    model = ScriptedModel.from_turns([[{"type": "text", "text": "a"}], [{"type": "text", "text": "b"}]])
    conversation = list(USER)
    await model.turn(system="sys", messages=conversation, tools=TOOLS, max_tokens=50)
    conversation.append({"role": "assistant", "content": [{"type": "text", "text": "a"}]})
    conversation.append({"role": "user", "content": "go on"})
    await model.turn(system="sys", messages=conversation, tools=[], max_tokens=50)
    assert model.calls[0].messages == USER  # a copy: later turns do not change it
    assert model.calls[1].messages[-1] == {"role": "user", "content": "go on"}
    assert model.calls[0].tools == TOOLS and model.calls[1].max_tokens == 50 and model.calls[0].system == "sys"


@pytest.mark.parametrize("stop_reason", ["max_tokens", "refusal", "end_turn"])
async def test_a_scripted_stop_reason_wins_over_the_default(stop_reason: str) -> None:
    model = ScriptedModel.from_turns(
        [{"stop_reason": stop_reason, "content": [{"type": "tool_use", "name": "submit_result", "input": {}}]}]
    )
    turn = await model.turn(system="", messages=USER, tools=[], max_tokens=10)
    assert turn.stop_reason == stop_reason


async def test_running_out_of_turns_fails_loudly(tmp_path: Path) -> None:
    path = write(tmp_path, "- [{type: text, text: one}]\n")
    model = ScriptedModel(path)
    await model.turn(system="", messages=USER, tools=[], max_tokens=10)
    with pytest.raises(ModelError) as caught:
        await model.turn(system="", messages=USER, tools=[], max_tokens=10)
    assert caught.value.kind == "script"
    assert f"the script {path} has 1 turns and the run asked for turn 2" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{type: text, text: hi}\n", "script.yaml:1: the script is a mapping; it must be a list of assistant turns"),
        ("", "the script is empty"),
        ("- [{text: hi}]\n", "script.yaml:1: turn 1, block 1: has no 'type'"),
        (
            "- - {type: text, text: hi}\n- - {type: tool_use, input: {}}\n",
            "script.yaml:2: turn 2, block 1: a tool_use block needs 'name'",
        ),
        ("- - {type: image, source: x}\n", "turn 1, block 1: has 'type: image'"),
        (
            "- - {type: tool_use, name: t, inputs: {}}\n",
            "unknown key 'inputs' (a tool_use block has: type, name, input)",
        ),
        ("- - {type: tool_use, name: t, input: [1]}\n", "turn 1, block 1: 'input' must be a mapping"),
        ("- {stop_reason: paused, content: [{type: text, text: x}]}\n", "turn 1: unknown stop_reason 'paused'"),
        ("- {stop_reason: end_turn}\n", "turn 1: a turn written as a mapping needs 'content'"),
        ("- hello\n", "turn 1: expected a list of content blocks"),
        ("- []\n", "turn 1: has no content blocks"),
        ("- [ {type: text\n", "script.yaml:2: YAML syntax error"),
    ],
)
def test_a_malformed_script_says_where_and_what(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ModelError) as caught:
        ScriptedModel(path)
    assert caught.value.kind == "script"
    assert expected in caught.value.message
    assert "script.yaml" in caught.value.message


def test_every_mistake_is_listed_at_once() -> None:
    with pytest.raises(ModelError) as caught:
        ScriptedModel.from_turns([[{"type": "tool_use"}], [{"text": "x"}]])
    assert "turn 1, block 1: a tool_use block needs 'name'" in caught.value.message
    assert "turn 2, block 1: has no 'type'" in caught.value.message


def test_an_unreadable_script_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot read the script .*missing\.yaml"):
        ScriptedModel(tmp_path / "missing.yaml")


# --- model_from_spec ------------------------------------------------------------------------------------


def test_none_means_no_model() -> None:
    assert model_from_spec("none", {"ANTHROPIC_API_KEY": KEY}) is None


def test_script_spec(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    model = model_from_spec(f"script:{path}", {})
    assert isinstance(model, ScriptedModel) and len(model.turns) == 4


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("anthropic:claude-opus-4-5", "claude-opus-4-5"),
        ("anthropic:my-gateway/model", "my-gateway/model"),
        ("claude-haiku-4-5", "claude-haiku-4-5"),
    ],
)
def test_anthropic_specs(spec: str, name: str) -> None:
    model = model_from_spec(spec, {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": BASE_URL})
    assert isinstance(model, AnthropicModel) and model.name == name
    assert str(model._client.base_url).startswith(BASE_URL)


def test_an_anthropic_spec_without_a_key_is_an_auth_error() -> None:
    with pytest.raises(ModelError, match="ANTHROPIC_API_KEY is not set"):
        model_from_spec("claude-haiku-4-5", {})


@pytest.mark.parametrize(
    ("env", "config_model", "expected"),
    [
        ({"AGENTFLOW_MODEL": "claude-haiku-4-5", "ANTHROPIC_API_KEY": KEY}, "claude-opus-4-5", "claude-haiku-4-5"),
        ({"ANTHROPIC_API_KEY": KEY}, "claude-opus-4-5", "claude-opus-4-5"),
        ({"ANTHROPIC_API_KEY": KEY}, None, DEFAULT_MODEL),
        ({"AGENTFLOW_MODEL": "none", "ANTHROPIC_API_KEY": KEY}, None, None),
        ({}, None, None),
    ],
)
def test_without_a_spec_env_then_config_then_the_key_decide(
    env: dict[str, str], config_model: str | None, expected: str | None
) -> None:
    model = model_from_spec(None, env, config_model)
    assert (model.name if model else None) == expected


@pytest.mark.parametrize(
    ("spec", "env", "origin"),
    [
        ("gpt-4", {}, "--model"),
        ("script:", {}, "--model"),
        ("anthropic:", {}, "--model"),
        (None, {"AGENTFLOW_MODEL": "openai:gpt-4"}, "AGENTFLOW_MODEL"),
    ],
)
def test_an_unknown_spec_lists_the_accepted_forms(spec: str | None, env: dict[str, str], origin: str) -> None:
    with pytest.raises(ConfigError) as caught:
        model_from_spec(spec, env)
    assert f"(from {origin})" in str(caught.value)
    assert "none, script:PATH, replay:RUN_ID, anthropic:MODEL_ID" in str(caught.value)
