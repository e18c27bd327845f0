"""A keyring backend for tests: a JSON file named by `$AGENTFLOW_TEST_KEYRING`, so that agentflow's OS-keyring path
is exercised (also by child processes: `PYTHON_KEYRING_BACKEND` names this class) and a developer's own keyring is
never read or written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

PATH_VAR = "AGENTFLOW_TEST_KEYRING"


class FileKeyring(KeyringBackend):
    priority = 10  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ[PATH_VAR])

    def _entries(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._entries().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._entries()
        entries[f"{service}\0{username}"] = password
        self._path().write_text(json.dumps(entries))

    def delete_password(self, service: str, username: str) -> None:
        entries = self._entries()
        if entries.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path().write_text(json.dumps(entries))
