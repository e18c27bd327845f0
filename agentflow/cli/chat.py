"""`agentflow serve`: the `/agentflow` Slack slash command and the `/api/runs` webhook."""

from __future__ import annotations

from typing import Annotated

import typer

from agentflow.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (put a TLS proxy in front to face the internet).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 3000,
    workers: Annotated[
        int | None, typer.Option(min=1, max=32, help="Runs at once (default: \\[chatops] workers in config, 2).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="none, script:PATH, or a Claude model id, for every run (default: as `run`).")
    ] = None,
    site: Annotated[str | None, typer.Option(help="The Atlassian site runs use (default: see README).")] = None,
) -> None:
    """Answer `/agentflow ...` from Slack and `POST /api/runs` from other tools: ack at once, run in the
    background, post the result back.

    Slack requests must be signed with $SLACK_SIGNING_SECRET; API calls must carry `Authorization: Bearer
    $AGENTFLOW_API_TOKEN`. Who may run and apply what is set under \\[chatops] in the config file (README).
    """
    import logging
    import os

    from agentflow.chatops.app import create_app
    from agentflow.chatops.executors import InSubprocess
    from agentflow.chatops.service import ChatOps
    from agentflow.chatops.settings import settings_from
    from agentflow.cli import serving
    from agentflow.config import load_config

    settings = settings_from(load_config())
    secret, token = settings.signing_secret(), settings.api_token()
    if not secret and not token:
        raise ConfigError(
            f"agentflow serve accepts only verified requests: set {settings.signing_secret_env} (the Slack app's "
            f"signing secret) and/or {settings.api_token_env} (a bearer token for /api/runs)"
        )
    # A run needs the Atlassian and model credentials, not the keys to this server.
    env = {k: v for k, v in os.environ.items() if k not in (settings.signing_secret_env, settings.api_token_env)}
    chatops = ChatOps(settings, executor=InSubprocess(env), workers=workers, model=model, site=site)
    logging.getLogger("agentflow.chatops").setLevel(logging.INFO)

    def announce(base_url: str) -> None:
        slack = "POST /slack/commands" if secret else f"off (no {settings.signing_secret_env})"
        api = "POST /api/runs" if token else f"off (no {settings.api_token_env})"
        typer.echo(f"agentflow serve at {base_url}: Slack {slack}; API {api}; "
                   f"{chatops.pool.workers} at once, {settings.queue} may wait. Ctrl+C stops it.")  # fmt: skip

    try:
        serving.serve(create_app(chatops, signing_secret=secret, api_token=token), host, port, announce)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port") from None
