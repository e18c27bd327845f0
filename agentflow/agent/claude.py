"""What agentflow knows about Claude models, importable without the Anthropic SDK (whose import alone takes
about a second): the default model id, which `select` names in every run's model choice, and list prices,
by which `AnthropicModel` prices a run's usage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentflow.agent.models import Usage

# The current Sonnet-class model (platform.claude.com/docs models pages, read 2026-10: Sonnet 5.5 is "Latest").
DEFAULT_MODEL = "claude-sonnet-5-5"


@dataclass(frozen=True)
class Price:
    """USD per million tokens. A 5-minute cache write costs 1.25x input on every Claude model."""

    input: float
    output: float
    cache_read_ratio: float = 0.1

    def dollars(self, usage: Usage) -> float:
        per_token = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.input * 1.25
            + usage.cache_read_input_tokens * self.input * self.cache_read_ratio
        )
        return per_token / 1_000_000


# List prices from platform.claude.com/docs/en/about-claude/pricing and the per-model pages, read 2026-10.
# Opus 5.5, Sonnet 5.5 (since 2026-10-07) and Fable/Mythos 5.1 read the cache at less than the usual 0.1x.
# Haiku 5.5 is left out on purpose: its price depends on each request's prompt length, which a usage summed
# over a run no longer tells, so it is reported as unknown rather than guessed.
PRICES: dict[str, Price] = {
    "claude-fable-5-1": Price(10.0, 50.0, 0.025),
    "claude-mythos-5-1": Price(10.0, 50.0, 0.025),
    "claude-fable-5": Price(10.0, 50.0),
    "claude-mythos-5": Price(10.0, 50.0),
    "claude-opus-5-5": Price(4.0, 20.0, 0.05),
    "claude-opus-5": Price(5.0, 25.0),
    "claude-opus-4-8": Price(5.0, 25.0),
    "claude-opus-4-7": Price(5.0, 25.0),
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4-0": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-5-5": Price(2.0, 10.0, 0.05),
    "claude-sonnet-5": Price(2.0, 10.0),
    "claude-sonnet-4-6": Price(3.0, 15.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-sonnet-4-0": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
}

# A dated snapshot (`claude-sonnet-4-5-20250929`) costs what its alias costs; any other suffix may be a newer
# model with another price, so it does not match (`claude-opus-4-9` is not priced as `claude-opus-4`).
_SNAPSHOT_SUFFIX = re.compile(r"(-\d{8})?")


def price_of(model: str) -> Price | None:
    """The list price of `model` (an alias or a dated snapshot of a known one), or None."""
    for prefix, price in PRICES.items():
        if model.startswith(prefix) and _SNAPSHOT_SUFFIX.fullmatch(model[len(prefix) :]):
            return price
    return None
