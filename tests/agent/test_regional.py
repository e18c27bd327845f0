"""Claude on Bedrock or Vertex: a regional client behind the same seam, or a clear message about the extra."""

import importlib.util

import pytest

from agentflow.agent.select import model_from_spec
from agentflow.errors import ConfigError


@pytest.mark.parametrize(("cloud", "library"), [("bedrock", "botocore"), ("vertex", "google")])
def test_regional_models_need_their_extra_or_get_a_regional_client(cloud, library):
    env = {"AWS_REGION": "eu-central-1", "CLOUD_ML_REGION": "europe-west1", "ANTHROPIC_VERTEX_PROJECT_ID": "acme"}
    if importlib.util.find_spec(library) is None:
        with pytest.raises(ConfigError, match=f"pip install 'agentflow\\[{cloud}\\]'"):
            model_from_spec(f"{cloud}:claude-sonnet-5-5", env)
    else:
        model = model_from_spec(f"{cloud}:claude-sonnet-5-5", env)
        assert model.name == "claude-sonnet-5-5"
        assert type(model._client).__name__ == (
            "AsyncAnthropicBedrock" if cloud == "bedrock" else "AsyncAnthropicVertex"
        )
