"""Which site the server talks to: community env variables, named sites in the config file, the sandbox."""

import pytest

from agentflow.atlassian.sites import budget_key_of, detect_flavor, resolve_site
from agentflow.errors import ConfigError

CLOUD_ENV = {"JIRA_URL": "https://acme.atlassian.net", "JIRA_USERNAME": "me@acme.com", "JIRA_API_TOKEN": "s3cr3t"}


@pytest.fixture(autouse=True)
def no_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text("")
    return tmp_path / "config.toml"


def test_with_nothing_configured_the_sandbox_is_the_site():
    site = resolve_site(env={})
    assert site.sandbox and site.name == "sandbox"


def test_the_community_variables_describe_a_cloud_site():
    site = resolve_site(env=CLOUD_ENV)
    assert (site.name, site.flavor, site.email) == ("env", "cloud", "me@acme.com")
    assert site.token.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(site) and "s3cr3t" not in str(site.model_dump())
    assert site.describe().startswith("site 'env' (cloud) at https://") and "s3cr3t" not in site.describe()


def test_data_center_uses_a_personal_token():
    env = {"JIRA_URL": "https://jira.corp.example", "JIRA_PERSONAL_TOKEN": "pat", "CONFLUENCE_URL": "https://wiki.corp"}
    site = resolve_site(env=env)
    assert site.flavor == "dc" and site.email is None and site.confluence_url == "https://wiki.corp"
    forced = resolve_site(env={**env, "AGENTFLOW_SITE_FLAVOR": "cloud", "JIRA_USERNAME": "a@b", "JIRA_API_TOKEN": "t"})
    assert forced.flavor == "cloud"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"JIRA_URL": "https://acme.atlassian.net", "JIRA_API_TOKEN": "t"},
            "needs the account's email (JIRA_USERNAME)",
        ),
        ({"JIRA_URL": "https://jira.corp"}, "needs a personal access token (JIRA_PERSONAL_TOKEN)"),
        ({**CLOUD_ENV, "JIRA_SSL_VERIFY": "false"}, "agentflow does not turn TLS verification off"),
    ],
)
def test_incomplete_or_unsafe_settings_are_clear_errors(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_site(env=env)


def test_named_sites_from_the_config_file(no_config_file, monkeypatch):
    monkeypatch.setenv("ENG_TOKEN", "from-env")
    no_config_file.write_text(
        'default_site = "eng"\n'
        "[sites.eng]\n"
        'url = "https://eng.atlassian.net"\n'
        'email = "me@eng.example"\n'
        'token_env = "ENG_TOKEN"\n'
        "[sites.ops]\n"
        'url = "https://jira.ops.corp"\n'
        'token = "inline"\n'
        'ca_bundle = "/etc/ssl/corp.pem"\n'
    )
    assert resolve_site(env={}).name == "eng"
    eng = resolve_site("eng", env={})
    assert eng.flavor == "cloud" and eng.token.get_secret_value() == "from-env"
    ops = resolve_site("ops", env={})
    assert ops.flavor == "dc" and ops.ca_bundle == "/etc/ssl/corp.pem"
    assert resolve_site("sandbox", env={}).sandbox
    assert resolve_site(env={"AGENTFLOW_SITE": "ops"}).name == "ops"
    with pytest.raises(ConfigError, match="unknown site 'nope'; known sites: eng, ops, sandbox"):
        resolve_site("nope", env={})


def test_config_file_mistakes_are_named(no_config_file, monkeypatch):
    no_config_file.write_text('[sites.eng]\nurl = "https://eng.atlassian.net"\npasword = "x"\n')
    with pytest.raises(ConfigError, match=r"\[sites.eng\] has unknown keys: pasword"):
        resolve_site("eng", env={})
    no_config_file.write_text(
        '[sites.eng]\nurl = "https://x.atlassian.net"\nemail = "a@b"\ntoken_env = "MISSING_VAR"\n'
    )
    monkeypatch.delenv("MISSING_VAR", raising=False)
    with pytest.raises(ConfigError, match="the variable MISSING_VAR"):
        resolve_site("eng", env={})
    no_config_file.write_text("[sites\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        resolve_site(env={})


def test_flavor_detection():
    assert detect_flavor("https://acme.atlassian.net/") == "cloud"
    assert detect_flavor("https://jira.acme.com/jira") == "dc"


def test_the_budget_key_of_a_site_comes_from_its_url_without_its_credentials(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        '[sites.engineering]\nurl = "https://eng.atlassian.net"\nemail = "a@b.c"\ntoken_env = "UNSET_TOKEN"\n'
        '[sites.wiki]\nconfluence_url = "https://wiki.example.com"\ntoken = "t"\n'
    )
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    assert budget_key_of("engineering") == "eng.atlassian.net"  # its token variable is not set: no matter
    monkeypatch.setenv("UNSET_TOKEN", "t")  # resolve_site checks every site's credentials
    assert budget_key_of("wiki") == "wiki.example.com" == resolve_site("wiki").budget_key
    assert budget_key_of(None) == "sandbox" == resolve_site(None).budget_key
    monkeypatch.setenv("JIRA_URL", "https://acme.atlassian.net")
    monkeypatch.setenv("JIRA_USERNAME", "me@acme.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "t")
    assert budget_key_of(None) == "acme.atlassian.net" == resolve_site(None).budget_key
    with pytest.raises(ConfigError, match="unknown site 'nope'; known sites: engineering, env, sandbox, wiki"):
        budget_key_of("nope")
