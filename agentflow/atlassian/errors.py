"""The two ways a tool call fails that the model should read about (as an `is_error` result), not crash on."""

from __future__ import annotations


class AtlassianError(Exception):
    """A request the site refused or could not answer; `message` quotes the site's own words."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class ToolInputError(ValueError):
    """The caller asked for something the site cannot do as asked; the message says what would work."""
