"""Where OAuth credentials are kept: the keyring when one works, else a private file; and the headers of Basic
and Bearer sign-in, their secrets registered for redaction."""

from __future__ import annotations

import base64
import stat

import keyring
import pytest
from keyring.backends import fail
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from agentflow import config, redact
from agentflow.errors import ConfigError, ServerStartError
from agentflow.host.auth import static_headers
from agentflow.host.credentials import CredentialStore, FileVault, KeyringVault, SignIn, open_vault
from agentflow.host.specs import ServerSpec

TOKENS = OAuthToken(access_token="access-canary-0123456789", refresh_token="refresh-canary-0123456789")


def sign_in(resource: str = "https://mcp.example.com/v1/mcp") -> SignIn:
    return SignIn(server="rovo", resource=resource, issuer="https://auth.example.com", tokens=TOKENS,
                  scopes=["read:jira-work"], signed_in_at=1.0)  # fmt: skip


def test_the_test_keyring_is_used_when_the_store_is_auto() -> None:
    vault = open_vault()
    assert isinstance(vault, KeyringVault) and "FileKeyring" in vault.name


def test_without_a_usable_keyring_tokens_go_to_a_private_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    vault = open_vault()
    assert isinstance(vault, FileVault)
    store = CredentialStore(vault)
    store.save_sign_in(sign_in())
    path = config.state_dir() / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    found = store.sign_in("rovo", "https://mcp.example.com/v1/mcp")
    assert found is not None and found.tokens == TOKENS
    store.forget_sign_in("rovo", "https://mcp.example.com/v1/mcp")
    assert store.sign_in("rovo", "https://mcp.example.com/v1/mcp") is None
    with pytest.raises(ConfigError, match="no OS keyring is usable"):
        open_vault({"AGENTFLOW_TOKEN_STORE": "keyring"})


def test_the_store_can_be_chosen_and_a_wrong_choice_is_named() -> None:
    assert isinstance(open_vault({"AGENTFLOW_TOKEN_STORE": "file"}), FileVault)
    with pytest.raises(ConfigError, match="keyring, file or auto"):
        open_vault({"AGENTFLOW_TOKEN_STORE": "vault"})


def test_a_damaged_credentials_file_is_named_with_the_remedy() -> None:
    vault = open_vault({"AGENTFLOW_TOKEN_STORE": "file"})
    assert isinstance(vault, FileVault)
    vault.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    vault.path.write_text("{not json")
    vault.path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"credentials file .* damaged.*servers login"):
        CredentialStore(vault).sign_in("rovo", "https://mcp.example.com/v1/mcp")


def test_clients_are_kept_per_issuer() -> None:
    store = CredentialStore(open_vault())
    client = OAuthClientInformationFull(client_id="abc", redirect_uris=None, token_endpoint_auth_method="none")
    store.save_client("https://auth.example.com", client)
    assert store.client("https://auth.example.com") == client
    assert store.client("https://other.example.com") is None
    store.forget_client("https://auth.example.com")
    assert store.client("https://auth.example.com") is None


def test_tokens_read_or_written_are_masked_by_the_redactor() -> None:
    store = CredentialStore(open_vault())
    store.save_sign_in(sign_in())
    text = f"got {TOKENS.access_token} and {TOKENS.refresh_token}"
    assert redact.scrub(text) == f"got {redact.MASK} and {redact.MASK}"
    assert TOKENS.access_token not in repr(sign_in()) and TOKENS.access_token not in str(sign_in())


def remote(**settings: object) -> ServerSpec:
    return ServerSpec(name="rovo", transport="http", url="https://mcp.example.com/v1/mcp", **settings)  # type: ignore[arg-type]


def test_basic_and_bearer_headers_come_from_the_named_variables() -> None:
    env = {"ROVO_EMAIL": "sam@example.com", "ROVO_KEY": "token-canary-abcdef12345"}
    basic = static_headers(remote(auth="basic", email_env="ROVO_EMAIL", token_env="ROVO_KEY"), env)
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"sam@example.com:token-canary-abcdef12345").decode()}
    assert static_headers(remote(auth="bearer", token_env="ROVO_KEY"), env) == {
        "Authorization": "Bearer token-canary-abcdef12345"
    }
    assert static_headers(remote(bearer_token_env="ROVO_KEY"), env)["Authorization"].startswith("Bearer ")
    assert static_headers(remote(auth="oauth"), env) == {} and static_headers(remote(), env) == {}
    assert redact.scrub("key token-canary-abcdef12345") == f"key {redact.MASK}"
    with pytest.raises(ServerStartError, match=r"ROVO_EMAIL \(email_env\) is not set"):
        static_headers(remote(auth="basic", email_env="ROVO_EMAIL", token_env="ROVO_KEY"), {"ROVO_KEY": "x"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth": "basic", "token_env": "T"}, "needs email_env"),
        ({"auth": "bearer"}, "needs token_env"),
        ({"auth": "oauth", "token_env": "T"}, 'token_env is not used with auth = "oauth"'),
        ({"auth": "none", "scopes": ["a"]}, 'scopes is not used with auth = "none"'),
        ({"auth": "oauth", "client_metadata_url": "http://me.example.com/client.json"}, "must be an https URL"),
        ({"auth": "oauth", "client_metadata_url": "https://me.example.com/"}, "must be an https URL"),
        ({"auth": "oauth", "scopes": ["read write"]}, "scopes are single words"),
        ({"token_env": "A", "bearer_token_env": "B"}, "say the same thing"),
        ({"auth": "sso"}, "auth"),
    ],
)
def test_sign_in_settings_that_do_not_fit_are_refused(settings: dict, message: str) -> None:
    from agentflow.host.specs import load_server_specs

    table = {"servers": {"rovo": {"url": "https://mcp.example.com/v1/mcp", **settings}}}
    with pytest.raises(ConfigError, match=message):
        load_server_specs(table)


def test_sign_in_settings_are_for_remote_servers_only() -> None:
    from agentflow.host.specs import load_server_specs

    with pytest.raises(ConfigError, match="auth is not used by stdio servers"):
        load_server_specs({"servers": {"local": {"command": "x", "auth": "oauth"}}})
    specs = load_server_specs({"mcpServers": {"rovo": {"url": "https://mcp.example.com/v1/mcp", "auth": "oauth",
                                                       "scopes": ["read:jira-work"]}}})  # fmt: skip
    assert specs["rovo"].sign_in == "oauth" and specs["rovo"].scopes == ["read:jira-work"]


@pytest.mark.anyio
async def test_a_ca_bundle_that_cannot_be_loaded_stops_the_start_with_its_name(tmp_path) -> None:
    from agentflow.host.servers import Host

    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"server 'rovo': cannot load the CA bundle .*corp-ca.pem"):
        async with Host([remote(ca_bundle=str(bundle))]):
            pass


@pytest.mark.parametrize(
    "settings",
    [
        {"auth": "bearer", "token_env": "T"},
        {"auth": "oauth"},
        {"bearer_token_env": "T"},
        {"headers": {"Authorization": "Bearer ${T}"}},
    ],
)
def test_credentials_never_go_over_plain_http_to_another_machine(settings: dict) -> None:
    from agentflow.host.specs import load_server_specs

    with pytest.raises(ConfigError, match="clear text; use https"):
        load_server_specs({"servers": {"plain": {"url": "http://192.0.2.2:8777/mcp", **settings}}})
    for local in ("http://127.0.0.1:8990/v1/mcp", "http://localhost:8990/mcp", "http://[::1]:8990/mcp"):
        assert load_server_specs({"servers": {"plain": {"url": local, **settings}}})["plain"].url == local
    assert load_server_specs({"servers": {"open": {"url": "http://192.0.2.2:8777/mcp"}}})["open"].sign_in == "none"


def test_an_authorization_header_and_auth_do_not_both_sign_in() -> None:
    from agentflow.host.specs import load_server_specs

    table = {"url": "https://mcp.example.com/mcp", "auth": "oauth", "headers": {"Authorization": "Bearer x"}}
    with pytest.raises(ConfigError, match="keep one"):
        load_server_specs({"servers": {"both": table}})
