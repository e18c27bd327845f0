"""Which model a run uses: `model_from_spec` turns `--model`, `AGENTFLOW_MODEL` or the config into a `Model`.

Accepted forms: `none` (no model: gather steps and the report template only), `script:PATH` (replay a YAML
script), `replay:RUN_ID` (replay a recorded run's model turns, see `agentflow.replay`), `anthropic:MODEL_ID`
(any id, for gateways that name models their own way) and a bare `claude-...` id.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from agentflow.agent.claude import DEFAULT_MODEL
from agentflow.agent.models import Model
from agentflow.agent.scripted import ScriptedModel
from agentflow.errors import ConfigError

if TYPE_CHECKING:  # the SDK is imported only when a run uses Claude (none and scripted runs never do)
    from agentflow.agent.anthropic import AnthropicModel

ACCEPTED_FORMS = (
    "none, script:PATH, replay:RUN_ID, anthropic:MODEL_ID, bedrock:MODEL_ID, vertex:MODEL_ID or a Claude model id "
    f"such as {DEFAULT_MODEL}"
)


def model_from_spec(spec: str | None, env: Mapping[str, str], config_model: str | None = None) -> Model | None:
    """The model for `spec`; None means run without one.

    Without a spec: `AGENTFLOW_MODEL`, then the config's model, then `DEFAULT_MODEL` when `ANTHROPIC_API_KEY`
    is set, else None (the caller then runs in `none` mode and says how to enable a model).
    """
    origin = "--model"
    if spec is None:
        if env.get("AGENTFLOW_MODEL"):
            spec, origin = env["AGENTFLOW_MODEL"], "AGENTFLOW_MODEL"
        elif config_model:
            spec, origin = config_model, "the config file's model"
        elif env.get("ANTHROPIC_API_KEY"):
            spec = DEFAULT_MODEL
        else:
            return None
    spec = spec.strip()
    if spec == "none":
        return None
    kind, _, rest = spec.partition(":")
    if kind == "script" and rest.strip():
        return ScriptedModel(Path(rest.strip()).expanduser())
    if kind == "replay" and rest.strip():
        from agentflow import replay, runs

        record = runs.load(rest.strip())
        return ScriptedModel.from_turns(replay.export(record).turns, name=f"{replay.REPLAY}{record.id}")
    if kind == "anthropic" and rest.strip():
        return _anthropic(rest.strip(), env)
    if kind in ("bedrock", "vertex") and rest.strip():
        return _regional(kind, rest.strip(), env)
    if not rest and spec.startswith("claude-"):
        return _anthropic(spec, env)
    raise ConfigError(f"unknown model {spec!r} (from {origin}); use one of: {ACCEPTED_FORMS}")


def _anthropic(model: str, env: Mapping[str, str]) -> AnthropicModel:
    from agentflow.agent.anthropic import AnthropicModel

    # The key comes from `env`, not os.environ, so that callers and tests decide what is seen. Without a base
    # URL in `env`, the SDK's own lookup applies (the process's ANTHROPIC_BASE_URL, then api.anthropic.com).
    return AnthropicModel(
        model, api_key=env.get("ANTHROPIC_API_KEY", ""), base_url=env.get("ANTHROPIC_BASE_URL") or None
    )


def _regional(cloud: str, model: str, env: Mapping[str, str]) -> AnthropicModel:
    """Claude on AWS Bedrock or Google Vertex AI, for data that must stay in a region (EU, UK, ...).

    Credentials and region come from the cloud's own settings: AWS_REGION and the AWS credential chain;
    CLOUD_ML_REGION, ANTHROPIC_VERTEX_PROJECT_ID and Google application-default credentials.
    """
    import importlib.util

    import anthropic

    from agentflow.agent.anthropic import AnthropicModel

    # The SDK imports the cloud's signing libraries only when the first request is made; check now instead.
    needed = "botocore" if cloud == "bedrock" else "google.auth"
    if importlib.util.find_spec(needed.split(".")[0]) is None:
        raise ConfigError(f"--model {cloud}:... needs the {cloud} extra: pip install 'agentflow[{cloud}]'")
    try:
        if cloud == "bedrock":
            client = anthropic.AsyncAnthropicBedrock(aws_region=env.get("AWS_REGION") or None)
        else:
            client = anthropic.AsyncAnthropicVertex(
                region=env.get("CLOUD_ML_REGION") or None, project_id=env.get("ANTHROPIC_VERTEX_PROJECT_ID") or None
            )
    except Exception as exc:  # the SDKs raise plain errors for missing region/project settings
        raise ConfigError(f"cannot set up Claude on {cloud}: {exc}") from None
    return AnthropicModel(model, client=client)
