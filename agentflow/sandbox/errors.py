"""Errors in the shapes Atlassian's own services answer with, so clients handle them as they would for real.

Jira: `{"errorMessages": [...], "errors": {field: message}}`. Confluence v1: `{"statusCode", "data", "message",
"reason"}`. Confluence v2: `{"errors": [{"status", "code", "title", "detail"}]}`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
FIELD_NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."


class SandboxError(Exception):
    """An error answer; `response()` renders it in the API's own shape."""

    def __init__(self, status: int, message: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class JiraError(SandboxError):
    """Jira's ErrorCollection; `errors` maps a field to what is wrong with it."""

    def __init__(
        self,
        status: int,
        messages: list[str] | str = (),
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        self.errors = errors or {}
        super().__init__(status, "; ".join(self.messages + list(self.errors.values())), headers)

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


class ConfluenceError(SandboxError):
    """Confluence REST v1's error body."""

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "data": {"authorized": self.status != 401, "valid": True, "errors": [], "successful": False},
            "message": self.message,
            "reason": HTTPStatus(self.status).phrase,
        }


class ConfluenceV2Error(SandboxError):
    """Confluence REST v2's error list."""

    def body(self) -> dict[str, Any]:
        phrase = HTTPStatus(self.status).phrase
        code = phrase.upper().replace(" ", "_")
        return {"errors": [{"status": self.status, "code": code, "title": phrase, "detail": self.message or None}]}
