"""Signing in to a remote MCP server — the sandbox's Rovo-like endpoint behind its OAuth 2.1 authorization server,
over real HTTP on loopback: sign-in with consent, runs with the stored tokens, refresh and rotation, a forgotten
client registered again, the RFC 9207 `iss` check, a missing scope, logout's revocation; Basic and Bearer."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest

from agentflow.errors import ConfigError, ServerError, ServerStartError, SignInRequired
from agentflow.host import consent as consents
from agentflow.host import login as signing
from agentflow.host.auth import Consent
from agentflow.host.credentials import CredentialStore, KeyringVault, SignIn, open_vault
from agentflow.host.servers import Host
from agentflow.host.specs import ServerSpec
from agentflow.sandbox.rovo.oauth import OAuthSettings, oauth_grant
from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS
from tests.support.browser import approve
from tests.support.clock import Clock

ACCESS_TTL = 3600.0
READ = ["read:jira-work", "offline_access"]


@dataclass
class Rovo:
    site: Site
    url: str
    clock: Clock
    store: CredentialStore

    @property
    def v1(self) -> str:
        return f"{self.url}/v1/mcp"

    @property
    def cloud_id(self) -> str:
        return self.site.app.state.cloud_id

    def spec(self, **settings: Any) -> ServerSpec:
        options = {"auth": "oauth", "scopes": READ, "startup_timeout": SLOW_MACHINE_SECONDS} | settings
        return ServerSpec(name="rovo", transport="http", url=self.v1, **options)

    def stored(self) -> SignIn:
        found = self.store.sign_in("rovo", self.v1)
        assert found is not None
        return found


@pytest.fixture
def rovo() -> Iterator[Rovo]:
    clock = Clock()
    site = Site.open("cloud", clock=clock, oauth=OAuthSettings(access_ttl=ACCESS_TTL))
    with running(site) as url:
        yield Rovo(site, url, clock, CredentialStore(open_vault(), clock=clock))


def browser(user: str = "sre", **options: Any) -> Callable[[int], Any]:
    """A consent factory whose 'browser' approves as `user` in a thread, as a real browser would beside us."""
    opened: list[str] = []

    def open_url(url: str) -> None:
        opened.append(url)
        threading.Thread(target=approve, args=(url, user), kwargs=options, daemon=True).start()

    @asynccontextmanager
    async def factory(port: int) -> AsyncIterator[Consent]:
        async with consents.loopback(open_url, lambda _: None, port) as consent:
            yield consent

    factory.opened = opened  # type: ignore[attr-defined]
    return factory


async def sign_in(rovo: Rovo, spec: ServerSpec | None = None, **options: Any) -> SignIn:
    with anyio.fail_after(SLOW_MACHINE_SECONDS):
        return await signing.login(spec or rovo.spec(), rovo.store, options.pop("consent", None) or browser(),
                                   **options)  # fmt: skip


async def search(rovo: Rovo, spec: ServerSpec | None = None) -> str:
    """A run's use of the server: connect with the stored sign-in and search Jira."""
    async with Host([spec or rovo.spec()], credentials=rovo.store) as host:
        names = {tool.name for tool in host.tools()}
        assert "searchJiraIssuesUsingJql" in names
        query = {"cloudId": rovo.cloud_id, "jql": "key = PAY-429"}
        outcome = await host.call("rovo", "searchJiraIssuesUsingJql", query)
    assert not outcome.is_error, outcome.text
    return outcome.text


def forget_clients(rovo: Rovo) -> None:
    """The authorization server drops every registration (expired, deleted by an admin)."""
    with rovo.site.store.transaction() as db:
        for table in ("oauth_tokens", "oauth_codes", "oauth_requests", "oauth_clients"):
            db.execute(f"DELETE FROM {table}")


@pytest.mark.anyio
async def test_sign_in_with_consent_then_a_run_uses_the_stored_tokens(rovo: Rovo) -> None:
    found = await sign_in(rovo, consent=browser("dev"))
    dev = rovo.site.user("dev")
    assert found.account == f"{dev.display_name} <{dev.email}>"
    assert set(found.scopes) == set(READ)
    assert found.issuer == rovo.url and found.client_id
    assert found.expires_at == pytest.approx(rovo.clock.now + ACCESS_TTL, abs=5)
    grant = oauth_grant(rovo.site.store, found.tokens.access_token, rovo.v1)
    assert grant is not None and grant.user.username == "dev" and grant.scopes == frozenset(READ)
    assert rovo.store.client(rovo.url) is not None  # the registration is kept per issuer, for the next sign-in
    assert isinstance(rovo.store.vault, KeyringVault)  # the test keyring, never the developer's

    assert "PAY-429" in await search(rovo)


@pytest.mark.anyio
async def test_a_second_sign_in_reuses_the_registered_client(rovo: Rovo) -> None:
    first = await sign_in(rovo)
    second = await sign_in(rovo)
    assert second.client_id == first.client_id
    assert second.tokens.access_token != first.tokens.access_token


@pytest.mark.anyio
async def test_an_expired_token_is_refreshed_and_the_refresh_token_rotated(rovo: Rovo) -> None:
    factory = browser()
    first = await sign_in(rovo, consent=factory)
    rovo.clock.now += ACCESS_TTL + 1
    assert oauth_grant(rovo.site.store, first.tokens.access_token, rovo.v1) is None

    assert "PAY-429" in await search(rovo)
    refreshed = rovo.stored()
    assert refreshed.tokens.refresh_token not in (None, first.tokens.refresh_token)
    assert refreshed.refreshed_at == rovo.clock.now and refreshed.signed_in_at == first.signed_in_at
    assert refreshed.account == first.account
    assert len(factory.opened) == 1  # refreshed, not signed in again

    # The token is refreshed when it would expire within the margin, so a run never starts on a dying token.
    rovo.clock.now += ACCESS_TTL - 60
    await search(rovo)
    assert rovo.stored().tokens.refresh_token != refreshed.tokens.refresh_token


@pytest.mark.anyio
async def test_a_refresh_the_server_refuses_needs_a_sign_in_with_the_command(rovo: Rovo) -> None:
    first = await sign_in(rovo)
    # Someone else used the refresh token (a copy of the credentials): the server ends the whole sign-in.
    with httpx2.Client(base_url=rovo.url, timeout=SLOW_MACHINE_SECONDS) as http:
        spent = first.tokens.refresh_token
        form = {"grant_type": "refresh_token", "client_id": first.client_id, "refresh_token": spent}
        assert http.post("/token", data=form).status_code == 200
    rovo.clock.now += ACCESS_TTL + 1
    with pytest.raises(SignInRequired) as refused:
        with anyio.fail_after(SLOW_MACHINE_SECONDS):
            await search(rovo)
    assert "invalid_grant" in str(refused.value) and "agentflow servers login rovo" in str(refused.value)


@pytest.mark.anyio
async def test_without_a_sign_in_a_run_is_told_to_sign_in_and_nothing_is_registered(rovo: Rovo) -> None:
    with pytest.raises(SignInRequired, match=r"not signed in .*agentflow servers login rovo"):
        await search(rovo)
    assert rovo.site.store.query_one("SELECT COUNT(*) FROM oauth_clients")[0] == 0


@pytest.mark.anyio
async def test_a_client_the_server_forgot_is_registered_again(rovo: Rovo) -> None:
    first = await sign_in(rovo)
    forget_clients(rovo)
    rovo.clock.now += ACCESS_TTL + 1
    with pytest.raises(SignInRequired, match="invalid_client"):
        await search(rovo)
    assert rovo.store.client(rovo.url) is None  # forgotten: the next sign-in registers

    again = await sign_in(rovo)
    assert again.client_id != first.client_id
    assert "PAY-429" in await search(rovo)


@pytest.mark.anyio
async def test_a_stored_client_refused_at_authorize_is_registered_again_within_one_login(rovo: Rovo) -> None:
    first = await sign_in(rovo)
    forget_clients(rovo)
    again = await sign_in(rovo)
    assert again.client_id != first.client_id


@pytest.mark.anyio
async def test_an_authorization_response_from_another_issuer_is_refused(rovo: Rovo) -> None:
    with pytest.raises(ConfigError, match="iss"):
        await sign_in(rovo, consent=browser(iss="https://evil.example"))
    assert rovo.store.sign_in("rovo", rovo.v1) is None


@pytest.mark.anyio
async def test_a_denied_consent_fails_the_sign_in_with_the_reason(rovo: Rovo) -> None:
    with pytest.raises(ConfigError, match="access_denied"):
        await sign_in(rovo, consent=browser(decision="deny"))


@pytest.mark.anyio
async def test_a_missing_scope_names_it_and_the_command_and_a_step_up_keeps_the_old_scopes(rovo: Rovo) -> None:
    await sign_in(rovo)
    arguments = {"cloudId": rovo.cloud_id, "projectKey": "PAY", "issueTypeName": "Task", "summary": "x"}
    async with Host([rovo.spec()], credentials=rovo.store) as host:
        with pytest.raises(ServerError) as refused:
            with anyio.fail_after(SLOW_MACHINE_SECONDS):
                await host.call("rovo", "createJiraIssue", arguments)
    assert "write:jira-work" in str(refused.value)
    assert "agentflow servers login rovo --scope write:jira-work" in str(refused.value)

    stepped = await sign_in(rovo, scopes=["write:jira-work"])
    assert set(stepped.scopes) == {*READ, "write:jira-work"}
    async with Host([rovo.spec()], credentials=rovo.store) as host:
        created = await host.call("rovo", "createJiraIssue", arguments)
    assert not created.is_error, created.text


@pytest.mark.anyio
async def test_logout_revokes_at_the_server_and_forgets(rovo: Rovo) -> None:
    found = await sign_in(rovo)
    outcome, detail = await signing.logout(rovo.spec(), rovo.store)
    assert outcome is signing.LogoutOutcome.REVOKED and rovo.url in detail
    assert oauth_grant(rovo.site.store, found.tokens.access_token, rovo.v1) is None
    assert rovo.store.sign_in("rovo", rovo.v1) is None
    again, _ = await signing.logout(rovo.spec(), rovo.store)
    assert again is signing.LogoutOutcome.NOT_SIGNED_IN


@pytest.mark.anyio
async def test_basic_and_bearer_sign_in_from_the_environment(rovo: Rovo, monkeypatch: pytest.MonkeyPatch) -> None:
    sre = rovo.site.user("sre")
    key = next(u for u in rovo.site.describe(rovo.url)["users"] if u["username"] == "sre")["service_account_key"]
    monkeypatch.setenv("ROVO_EMAIL", sre.email)
    monkeypatch.setenv("ROVO_API_TOKEN", sre.token)
    monkeypatch.setenv("ROVO_SERVICE_KEY", key)
    basic = rovo.spec(auth="basic", scopes=None, email_env="ROVO_EMAIL", token_env="ROVO_API_TOKEN")
    bearer = rovo.spec(auth="bearer", scopes=None, token_env="ROVO_SERVICE_KEY")
    assert "PAY-429" in await search(rovo, basic)
    assert "PAY-429" in await search(rovo, bearer)
    monkeypatch.delenv("ROVO_API_TOKEN")
    with pytest.raises(ServerStartError, match="ROVO_API_TOKEN"):
        await search(rovo, basic)


def test_status_never_shows_a_token(rovo: Rovo) -> None:
    found = anyio.run(sign_in, rovo)
    rows = signing.status([rovo.spec()], rovo.store, {})
    assert rows[0].state == "signed in" and set(rows[0].scopes) == set(READ)
    shown = rows[0].model_dump_json()
    assert found.tokens.access_token not in shown and (found.tokens.refresh_token or "") not in shown
    assert found.tokens.access_token not in repr(found) and found.tokens.access_token not in str(found)


@pytest.mark.anyio
async def test_a_configured_client_id_is_used_and_nothing_is_registered(rovo: Rovo) -> None:
    with httpx2.Client(base_url=rovo.url, timeout=SLOW_MACHINE_SECONDS) as http:
        body = {"redirect_uris": ["http://127.0.0.1:8123/callback"], "token_endpoint_auth_method": "none",
                "client_name": "registered by an admin", "scope": " ".join(READ)}  # fmt: skip
        client_id = http.post("/register", json=body).json()["client_id"]
    spec = rovo.spec(client_id=client_id, callback_port=8123)
    found = await sign_in(rovo, spec)
    assert found.client_id == client_id
    assert rovo.site.store.query_one("SELECT COUNT(*) FROM oauth_clients")[0] == 1
    assert rovo.store.client(rovo.url) is None  # a configured id is the config's, not the store's
    assert "PAY-429" in await search(rovo, spec)


@pytest.mark.anyio
async def test_a_client_id_metadata_document_is_not_used_where_the_server_does_not_support_it(rovo: Rovo) -> None:
    metadata = await anyio.to_thread.run_sync(lambda: httpx2.get(f"{rovo.url}/.well-known/oauth-authorization-server"))
    assert not metadata.json().get("client_id_metadata_document_supported")
    spec = rovo.spec(client_metadata_url="https://agentflow.example.com/oauth/client.json")
    found = await sign_in(rovo, spec)
    assert found.client_id != spec.client_metadata_url  # registered dynamically instead
    assert rovo.site.store.query_one("SELECT COUNT(*) FROM oauth_clients")[0] == 1


@pytest.mark.anyio
async def test_runs_refreshing_one_sign_in_at_once_spend_its_refresh_token_once(rovo: Rovo) -> None:
    first = await sign_in(rovo)
    rovo.clock.now += ACCESS_TTL + 1
    # Each run opens the store afresh, as separate processes do; the lock file is what they share.
    stores = [CredentialStore(open_vault(), clock=rovo.clock) for _ in range(5)]

    async def run(store: CredentialStore) -> None:
        async with Host([rovo.spec()], credentials=store) as host:
            query = {"cloudId": rovo.cloud_id, "jql": "key = PAY-429"}
            assert not (await host.call("rovo", "searchJiraIssuesUsingJql", query)).is_error

    with anyio.fail_after(SLOW_MACHINE_SECONDS):
        async with anyio.create_task_group() as group:
            for store in stores:
                group.start_soon(run, store)
    assert rovo.stored().tokens.refresh_token != first.tokens.refresh_token
    assert "PAY-429" in await search(rovo)  # the sign-in survived: no refresh token was spent twice


@pytest.mark.anyio
async def test_refused_basic_or_bearer_credentials_name_the_variables(
    rovo: Rovo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROVO_EMAIL", rovo.site.user("sre").email)
    monkeypatch.setenv("ROVO_API_TOKEN", "sbx-wrong-token-000000000000000")
    basic = rovo.spec(auth="basic", scopes=None, email_env="ROVO_EMAIL", token_env="ROVO_API_TOKEN")
    with pytest.raises(ServerStartError, match=r"refused the email and API token in \$ROVO_EMAIL and \$ROVO_API_TOKEN"):
        await search(rovo, basic)
    bearer = rovo.spec(auth="bearer", scopes=None, token_env="ROVO_API_TOKEN")
    with pytest.raises(ServerStartError, match=r"refused the token in \$ROVO_API_TOKEN \(HTTP 401"):
        await search(rovo, bearer)
    monkeypatch.setenv("ROVO_API_TOKEN", "")
    with pytest.raises(ServerStartError, match=r"ROVO_API_TOKEN \(token_env\) is empty"):
        await search(rovo, bearer)


@pytest.mark.anyio
async def test_the_listener_ignores_a_redirect_that_does_not_answer_this_sign_in(rovo: Rovo) -> None:
    opened: list[str] = []

    def open_url(url: str) -> None:
        opened.append(url)

        def forged_then_real() -> None:
            port = url.split("redirect_uri=http%3A%2F%2F127.0.0.1%3A")[1].split("%2F")[0]
            forged = httpx2.get(f"http://127.0.0.1:{port}/callback?code=x&state=forged", timeout=SLOW_MACHINE_SECONDS)
            assert forged.status_code == 400
            approve(url)

        threading.Thread(target=forged_then_real, daemon=True).start()

    @asynccontextmanager
    async def factory(port: int) -> AsyncIterator[Consent]:
        async with consents.loopback(open_url, lambda _: None, port) as consent:
            yield consent

    found = await sign_in(rovo, consent=factory)
    assert found.tokens.access_token and len(opened) == 1


@pytest.mark.anyio
async def test_a_new_sign_in_revokes_the_one_it_replaces(rovo: Rovo) -> None:
    first = await sign_in(rovo)
    second = await sign_in(rovo, consent=browser("dev"))
    assert oauth_grant(rovo.site.store, first.tokens.access_token, rovo.v1) is None
    with httpx2.Client(base_url=rovo.url, timeout=SLOW_MACHINE_SECONDS) as http:
        form = {
            "grant_type": "refresh_token",
            "client_id": first.client_id,
            "refresh_token": first.tokens.refresh_token,
        }
        assert http.post("/token", data=form).json()["error"] == "invalid_grant"
    assert oauth_grant(rovo.site.store, second.tokens.access_token, rovo.v1) is not None


@pytest.mark.anyio
async def test_logout_keeps_a_sign_in_it_could_not_revoke_unless_told_to_forget(rovo: Rovo) -> None:
    found = await sign_in(rovo)
    unreachable = found.model_copy(update={"revocation_endpoint": "http://127.0.0.1:9/revoke"})
    rovo.store.save_sign_in(unreachable)
    outcome, detail = await signing.logout(rovo.spec(), rovo.store)
    assert outcome is signing.LogoutOutcome.KEPT and "--forget" in detail
    assert rovo.store.sign_in("rovo", rovo.v1) is not None
    outcome, detail = await signing.logout(rovo.spec(), rovo.store, forget=True)
    assert outcome is signing.LogoutOutcome.FORGOTTEN and "still valid at the server" in detail
    assert rovo.store.sign_in("rovo", rovo.v1) is None


@pytest.mark.anyio
async def test_two_entries_for_one_endpoint_are_two_sign_ins(rovo: Rovo) -> None:
    await sign_in(rovo, rovo.spec(scopes=[*READ, "write:jira-work"]))
    reader = ServerSpec(name="rovo-read", transport="http", url=rovo.v1, auth="oauth", scopes=READ)
    assert rovo.store.sign_in("rovo-read", rovo.v1) is None
    assert signing.status([reader], rovo.store, {})[0].state == "not signed in"
    with pytest.raises(SignInRequired, match="rovo-read"):
        await search(rovo, reader)
