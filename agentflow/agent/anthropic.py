"""`AnthropicModel`: the model seam over the Anthropic Messages API, or any gateway that speaks it.

It sends the system prompt and the tools with prompt caching on that stable prefix, returns the reply's
content blocks as plain dicts (tool_use ids and thinking signatures intact, so the loop can send them back),
and turns every SDK failure into a `ModelError` whose kind says what the user can do about it. Retries of
429/5xx/529 are left to the SDK, which honours `retry-after`.
"""

from __future__ import annotations

import os
from typing import Any

import anthropic
import httpx2

from agentflow.agent.claude import DEFAULT_MODEL, price_of
from agentflow.agent.models import Model, ToolSpec, Turn, Usage
from agentflow.errors import ModelError

# Non-streaming requests need an explicit timeout: without one the SDK refuses any `max_tokens` it guesses
# could take over 10 minutes. A turn that really runs this long fails as a `timeout` ModelError instead.
DEFAULT_TIMEOUT_SECONDS = 600.0

_EPHEMERAL = {"type": "ephemeral"}


class AnthropicModel(Model):
    """Claude through `anthropic.AsyncAnthropic`."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = anthropic.DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        http_client: httpx2.AsyncClient | None = None,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        """`client` replaces the default one, e.g. an `AsyncAnthropicBedrock` or `AsyncAnthropicVertex` client
        for a regional endpoint; it brings its own credentials."""
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY", "")
        if client is not None:
            self.name, self._key, self._timeout, self._max_retries = model, "", timeout, max_retries
            self._client = client
            return
        if not key:
            raise ModelError(
                "auth",
                "ANTHROPIC_API_KEY is not set: export your Anthropic API key (or a gateway's key together with "
                "ANTHROPIC_BASE_URL), or run with --model none",
            )
        self.name = model
        self._key = key
        self._timeout = timeout
        self._max_retries = max_retries
        # base_url=None lets the SDK read ANTHROPIC_BASE_URL itself, then fall back to api.anthropic.com.
        self._client = anthropic.AsyncAnthropic(
            api_key=key, base_url=base_url, max_retries=max_retries, http_client=http_client
        )

    async def turn(
        self, *, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec], max_tokens: int
    ) -> Turn:
        params: dict[str, Any] = {"model": self.name, "max_tokens": max_tokens, "messages": messages}
        # The API rejects an empty text block, so an empty system prompt is left out rather than sent.
        if system:
            params["system"] = [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
        if tools:
            params["tools"] = [tool.model_dump() for tool in tools]
            # One breakpoint after the last tool caches every tool definition; the one on the system prompt
            # caches tools + system (the cached prefix runs tools, then system, then messages).
            params["tools"][-1]["cache_control"] = _EPHEMERAL
        try:
            message = await self._client.messages.create(**params, timeout=self._timeout)
        except anthropic.APIError as err:
            raise self._model_error(err) from err
        usage = message.usage
        return Turn(
            content=[block.model_dump(mode="json", exclude_none=True) for block in message.content],
            # Never None outside streaming; a gateway that omits it has finished its answer.
            stop_reason=message.stop_reason or "end_turn",
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_input_tokens=usage.cache_read_input_tokens or 0,
                cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            ),
            model=message.model,
        )

    def cost(self, usage: Usage) -> float | None:
        price = price_of(self.name)
        return None if price is None else price.dollars(usage)

    def _model_error(self, err: anthropic.APIError) -> ModelError:
        where = str(self._client.base_url).rstrip("/")
        retried = f"after {self._max_retries} retries" if self._max_retries else "(retries are off)"
        # APITimeoutError is an APIConnectionError: test it first.
        if isinstance(err, anthropic.APITimeoutError):
            return ModelError("timeout", f"{where} did not answer within {self._timeout:g} s {retried}")
        if isinstance(err, anthropic.APIConnectionError):
            cause = f": {err.__cause__}" if err.__cause__ else ""
            return ModelError("connection", f"could not reach {where} {retried}{cause}")
        if not isinstance(err, anthropic.APIStatusError):
            return ModelError("server", f"{where} sent an answer that is not a Messages API reply: {err.message}")
        detail = self._detail(err)
        status = err.status_code
        if status in (401, 403):
            return ModelError(
                "auth", f"{where} refused the API key from ANTHROPIC_API_KEY ({detail}); check the key and its access"
            )
        if status == 429:
            return ModelError("rate_limited", f"rate limited {retried} ({detail}); wait a minute and run again")
        if status == 529 or err.type == "overloaded_error":
            return ModelError("overloaded", f"the API is overloaded {retried} ({detail}); try again shortly")
        if status == 408:
            return ModelError("timeout", f"the request timed out {retried} ({detail})")
        if status >= 500:
            return ModelError("server", f"{where} failed {retried} ({detail})")
        return ModelError("bad_request", f"the API rejected the request ({detail})")

    def _detail(self, err: anthropic.APIStatusError) -> str:
        """`401 authentication_error: invalid x-api-key`, with the key blanked should an API ever echo it."""
        text = f"{err.status_code} {err.type or 'error'}: {err.api_message or err.response.reason_phrase}"
        return text.replace(self._key, "[redacted]")
