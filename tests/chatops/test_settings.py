"""`[chatops]` settings: grants, places, and where the service's secrets come from (never a request)."""

from __future__ import annotations

import pytest

from agentflow.chatops.settings import settings_from
from agentflow.errors import ConfigError
from agentflow.redact import Redactor, secrets_from


def test_grants_fall_back_to_the_default_and_places_are_checked():
    settings = settings_from({"chatops": {"workspaces": ["T1"], "channels": ["C1"],
                                          "users": {"U1": {"workflows": ["*"], "apply": True}}}})  # fmt: skip
    assert settings.grant("U1").may_run("backlog-grooming") and settings.grant("U1").apply
    assert settings.grant("U2").may_run("incident") and not settings.grant("U2").may_run("backlog-grooming")
    assert not settings.grant("U2").apply
    assert settings.place_allowed("T1", "C1") and not settings.place_allowed("T2", "C1")
    assert not settings.place_allowed("T1", "C2")
    assert settings_from({}).place_allowed("anything", "anywhere")


def test_workspace_and_channel_grants_widen_a_users_own():
    settings = settings_from({"chatops": {
        "default": {"workflows": ["bug-triage"]},
        "workspace_grants": {"T1": {"workflows": ["incident"]}},
        "channel_grants": {"C_LEADS": {"workflows": ["backlog-grooming"], "apply": True}},
    }})  # fmt: skip
    assert settings.grant("U1", "T1", "C_OTHER").workflows == ["bug-triage", "incident"]
    assert not settings.grant("U1", "T1", "C_OTHER").apply
    leads = settings.grant("U1", "T2", "C_LEADS")
    assert leads.workflows == ["backlog-grooming", "bug-triage"] and leads.apply


def test_a_blank_secret_is_no_secret():
    assert settings_from({}).signing_secret({"SLACK_SIGNING_SECRET": "   "}) is None


def test_secrets_come_from_the_environment_first_then_the_config():
    config = {"chatops": {"signing_secret": "from-config-secret", "api_token_env": "CHAT_KEY"}}
    settings = settings_from(config)
    assert settings.signing_secret({}) == "from-config-secret"
    assert settings.signing_secret({"SLACK_SIGNING_SECRET": "from-env-secret"}) == "from-env-secret"
    assert settings.api_token({"CHAT_KEY": "custom-named-token"}) == "custom-named-token"
    assert settings.api_token({}) is None
    redact = Redactor(secrets_from({"CHAT_KEY": "custom-named-token"}, config))
    assert redact("from-config-secret and custom-named-token") == "[REDACTED] and [REDACTED]"


@pytest.mark.parametrize(
    ("table", "expected"),
    [({"workers": 0}, "workers"), ({"users": {"U1": {"workflow": ["x"]}}}, "users.U1.workflow"),
     ({"signing_secret_value": "x"}, "signing_secret_value")],
)  # fmt: skip
def test_a_bad_table_is_a_config_error_naming_the_key(table, expected):
    with pytest.raises(ConfigError, match=expected):
        settings_from({"chatops": table})
