"""`agentflow servers login / logout / status`: signing in to remote MCP servers and seeing where agentflow is
signed in (the work is `agentflow.host.login`'s; this module parses and prints, and never prints a token)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from agentflow.cli import base as ui
from agentflow.cli.base import EXIT_FAILED
from agentflow.errors import ConfigError

if TYPE_CHECKING:
    from agentflow.host.specs import ServerSpec

NAME = typer.Argument(help="The server's name in the config (\\[servers.NAME] or mcpServers).", show_default=False)


def register(group: typer.Typer) -> None:
    group.command("login")(login)
    group.command("logout")(logout)
    group.command("status")(status)


def login(
    name: Annotated[str, NAME],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="A scope to ask for beyond the configured ones (repeat), e.g. write:jira-work."),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the address instead, and paste back where it ends.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(min=10, help="Seconds to wait for the approval in the browser (a paste is waited for)."),
    ] = 300.0,
) -> None:
    """Sign in to a remote MCP server with OAuth 2.1 (auth = "oauth"): approve in the browser, and agentflow keeps
    the tokens (in the OS keyring, else a 0600 file in the state directory) and refreshes them for every run.

    Without a display, or with --no-browser, it prints the address to open anywhere and asks for the address the
    browser ends on (a http://127.0.0.1 address that may fail to load: paste it all the same).
    """
    import anyio

    from agentflow.host import consent
    from agentflow.host import login as signing

    spec = signing.remote(_spec(name))
    if any(not word or any(c.isspace() for c in word) for word in scope or []):
        raise ConfigError("--scope takes one scope at a time (repeat it): e.g. --scope write:jira-work")
    store = _store()
    say = _say
    cancelled: list[bool] = []

    if no_browser or not _browser_available():

        def prompt(text: str) -> str:
            try:
                return str(typer.prompt(text, err=True))
            except typer.Abort:  # Ctrl+C inside the prompt, or the end of input
                cancelled.append(True)
                raise ConfigError("no address was pasted") from None

        def factory(port: int):  # type: ignore[no-untyped-def]
            return _pasted(consent.PastedConsent(port or _free_port(), prompt, say))

    else:
        import webbrowser

        def factory(port: int):  # type: ignore[no-untyped-def]
            return consent.loopback(webbrowser.open, say, port)

    try:
        found = anyio.run(
            lambda: signing.login(spec, store, factory, scopes=list(scope or []), timeout=timeout, say=say)
        )
    except ConfigError:
        if cancelled:  # as Ctrl+C while the browser is open ends it: nothing changed, exit 130
            _say("agentflow: sign-in cancelled; nothing changed")
            raise typer.Exit(130) from None
        raise
    who = f" as {found.account}" if found.account else ""
    scopes = " ".join(found.scopes) or "none named"
    expires = signing.moment(found.expires_at, store.clock())
    console = ui.console()
    console.print(f"Signed in to [bold]{ui.escape(name)}[/]{ui.escape(who)}; scopes: {ui.escape(scopes)}")
    refresh = "refreshed as needed" if found.tokens.refresh_token else "no refresh token: sign in again then"
    console.print(f"  access token expires {expires} ({refresh}); kept in {ui.escape(store.vault.name)}")


def logout(
    name: Annotated[str, NAME],
    forget: Annotated[
        bool, typer.Option("--forget", help="Forget the sign-in here even when the server cannot revoke it.")
    ] = False,
) -> None:
    """Revoke the sign-in at the server's authorization server and forget its tokens here. When revocation fails
    (the server is out of reach) the sign-in is kept, to try again, and the exit code is 1."""
    import anyio

    from agentflow.host import login as signing

    spec = signing.remote(_spec(name))
    outcome, detail = anyio.run(lambda: signing.logout(spec, _store(), forget=forget))
    if outcome is signing.LogoutOutcome.NOT_SIGNED_IN:
        ui.console().print(f"{ui.escape(name)}: not signed in ({ui.escape(detail)})")
        return
    ui.console(stderr=outcome is signing.LogoutOutcome.KEPT).print(
        f"{ui.escape(name)}: {outcome.value}: {ui.escape(detail)}"
    )
    if outcome is signing.LogoutOutcome.KEPT:
        raise typer.Exit(EXIT_FAILED)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per server, one per line.")] = False,
) -> None:
    """Where agentflow is signed in: each remote server's kind of sign-in, account, scopes, expiry and last refresh
    (tokens are never shown), and what needs doing before unattended runs can use it."""
    from agentflow.config import load_config
    from agentflow.host import login as signing
    from agentflow.host.specs import AuthKind, load_server_specs

    specs = list(load_server_specs(load_config()).values())
    store = _store() if any(s.sign_in is AuthKind.OAUTH for s in specs if s.transport in ("http", "sse")) else None
    rows = signing.status(specs, store, dict(os.environ))
    if as_json:
        for row in rows:
            typer.echo(row.model_dump_json())
        return
    now = store.clock() if store else None
    table = ui.table("server", "sign-in", "state", "account", "scopes", "expires", "last refresh")
    for row in rows:
        table.add_row(
            ui.escape(row.name),
            str(row.auth or "-"),
            ui.escape(row.state),
            ui.escape(row.account or "-"),
            ui.escape(" ".join(row.scopes) or "-"),
            signing.moment(row.expires_at, now) if row.expires_at else "-",
            signing.moment(row.refreshed_at, now) if row.refreshed_at else "-",
        )
    console = ui.console()
    console.print(table)
    for row in rows:
        if row.warning:
            console.print(f"[yellow]{ui.escape(row.name)}: {ui.escape(row.warning)}[/]")
    if store is not None:
        console.print(f"[dim]OAuth tokens are kept in {ui.escape(store.vault.name)}[/]")


def _spec(name: str) -> ServerSpec:
    from agentflow.config import load_config
    from agentflow.host.specs import load_server_specs

    specs = load_server_specs(load_config())
    if name not in specs:
        raise ConfigError(f"no MCP server named '{name}' in the config; configured: {', '.join(sorted(specs))}")
    return specs[name]


def _store():  # type: ignore[no-untyped-def]
    from agentflow.host.credentials import CredentialStore, open_vault

    return CredentialStore(open_vault())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _browser_available() -> bool:
    """Whether a browser can be opened here: $BROWSER names one, or there is a display and Python finds one."""
    import webbrowser

    if os.environ.get("BROWSER"):
        return True
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _free_port() -> int:
    """A loopback port nothing listens on now, for a redirect URI nobody will serve (the address is pasted)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pasted(consent):  # type: ignore[no-untyped-def]
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def holding():  # type: ignore[no-untyped-def]
        yield consent

    return holding()
