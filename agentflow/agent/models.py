"""The model seam: one abstract method, `Model.turn()`, and the data that crosses it.

Messages and turns use Anthropic's Messages API content blocks as plain dicts (`{"type": "text", "text"}`,
`{"type": "tool_use", "id", "name", "input"}`, `{"type": "tool_result", "tool_use_id", "content", "is_error"}`),
whatever model is behind the seam. Implementations: `AnthropicModel` (`agentflow.agent.anthropic`) and
`ScriptedModel` (`agentflow.agent.scripted`); `model_from_spec` picks one from `--model`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentflow.runs import Usage


class ToolSpec(BaseModel):
    """A tool as the model sees it (names match `^[a-zA-Z0-9_-]{1,64}$`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    input_schema: dict[str, Any]


class Turn(BaseModel):
    """One assistant turn: its content blocks, why it stopped, and what it cost."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage = Usage()
    model: str = ""

    def tool_uses(self) -> list[dict[str, Any]]:
        return [block for block in self.content if block.get("type") == "tool_use"]

    def text(self) -> str:
        return "\n".join(block["text"] for block in self.content if block.get("type") == "text").strip()


class Model(ABC):
    """Produces the next assistant turn for a conversation."""

    name: str = ""

    @abstractmethod
    async def turn(
        self, *, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec], max_tokens: int
    ) -> Turn:
        """The next turn. Raises `agentflow.errors.ModelError` when the model cannot answer."""

    def cost(self, usage: Usage) -> float | None:
        """An estimate in US dollars for `usage`, or None when the price is unknown."""
        return None
