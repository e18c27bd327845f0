"""Where remote MCP servers' OAuth credentials are kept: the OS keyring when one works, else a private file.

Two kinds of entry, as the MCP authorization spec asks ("Client registration"; SEP-2352):
- a registered OAuth client per authorization-server issuer (`client <issuer>`): never offered to another
  authorization server;
- a sign-in per server entry and MCP endpoint URL (`sign-in <name> <url>`: two entries for one endpoint, say a
  read-only one and one with write scopes, are two sign-ins): its tokens, the scopes granted, when they expire,
  and the authorization server's metadata, so a refresh or a logout needs no discovery;
- the issuer an endpoint's sign-ins go to (`issuer <url>`), so a new sign-in finds the client registered before.

The vault is chosen by `$AGENTFLOW_TOKEN_STORE`: `keyring` (the OS keyring through the `keyring` package; an
error when none is usable), `file` (`credentials.json`, 0600, in the state directory, replaced atomically under
a lock), or `auto` (the default: the keyring when a real backend is available, else the file). Every token read
or written is registered with `agentflow.redact`, so none can reach a log, record, audit line or error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Protocol

import anyio
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import BaseModel, ConfigDict, ValidationError

from agentflow import redact, statefiles
from agentflow.errors import ConfigError

STORE_VAR = "AGENTFLOW_TOKEN_STORE"
LOCK_POLL = 0.05  # seconds between tries of a sign-in lock another process holds
SERVICE = "agentflow"
FILE_NAME = "credentials.json"
_REMEDY = "delete it and sign in again (agentflow servers login NAME)"


class SignIn(BaseModel):
    """One OAuth sign-in to one MCP endpoint. Times are epoch seconds on the store's clock."""

    model_config = ConfigDict(extra="ignore")

    server: str  # the config's name for it when it was signed in to (what `servers status` shows)
    resource: str  # the MCP endpoint URL the tokens are for (RFC 8707)
    issuer: str | None = None
    client_id: str | None = None
    tokens: OAuthToken
    scopes: list[str] = []
    expires_at: float | None = None
    signed_in_at: float
    refreshed_at: float | None = None
    account: str | None = None  # who approved, when the server says (Rovo's atlassianUserInfo)
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None
    authorization_server: dict[str, Any] | None = None  # its RFC 8414 metadata, as discovered
    resource_metadata: dict[str, Any] | None = None  # the endpoint's RFC 9728 metadata, as discovered

    def __repr__(self) -> str:  # tokens stay out of tracebacks and logs
        return f"SignIn(server={self.server!r}, resource={self.resource!r}, scopes={self.scopes!r}, tokens=***)"

    __str__ = __repr__


class Vault(Protocol):
    """Secret text by key."""

    name: str

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


class KeyringVault:
    """The OS keyring (macOS Keychain, Windows Credential Locker, Secret Service, ...), service `agentflow`."""

    def __init__(self, backend: object | None = None) -> None:
        import keyring

        self._keyring = backend or keyring.get_keyring()
        self.name = f"the OS keyring ({type(self._keyring).__name__})"

    def get(self, key: str) -> str | None:
        return self._call(self._keyring.get_password, SERVICE, key)  # type: ignore[attr-defined]

    def set(self, key: str, value: str) -> None:
        self._call(self._keyring.set_password, SERVICE, key, value)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        from keyring.errors import PasswordDeleteError

        with suppress(PasswordDeleteError):  # nothing stored under that key: nothing to forget
            self._call(self._keyring.delete_password, SERVICE, key)  # type: ignore[attr-defined]

    def _call(self, method: Callable[..., str | None], *args: str) -> str | None:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            return method(*args)
        except PasswordDeleteError:
            raise
        except KeyringError as exc:
            raise ConfigError(
                f"{self.name} refused: {exc}; unlock it, or keep tokens in a private file with {STORE_VAR}=file"
            ) from None


class FileVault:
    """A JSON object in a 0600 file of the state directory, replaced atomically; a lock file serialises writers
    (two processes refreshing at once must not lose each other's rotation)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"the private file {path}"

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def set(self, key: str, value: str) -> None:
        with self._locked():
            entries = self._read()
            entries[key] = value
            statefiles.write_private(self.path, json.dumps(entries, indent=1, sort_keys=True) + "\n")

    def delete(self, key: str) -> None:
        with self._locked():
            entries = self._read()
            if entries.pop(key, None) is not None:
                statefiles.write_private(self.path, json.dumps(entries, indent=1, sort_keys=True) + "\n")

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            statefiles.private_file(self.path)
            entries = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError) as exc:
            raise statefiles.damaged(self.path, "credentials file", exc, _REMEDY) from None
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise statefiles.damaged(self.path, "credentials file", "not an object of strings", _REMEDY)
        return entries

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = statefiles.private_file(self.path.with_name(self.path.name + ".lock"))
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def open_vault(env: Mapping[str, str] | None = None) -> Vault:
    """The vault `$AGENTFLOW_TOKEN_STORE` chooses (see the module docstring); `ConfigError` for another value."""
    from agentflow import config

    env = os.environ if env is None else env
    choice = (env.get(STORE_VAR) or "auto").strip().lower()
    if choice not in ("auto", "keyring", "file"):
        raise ConfigError(f"{STORE_VAR} must be keyring, file or auto, not {choice!r}")
    if choice in ("auto", "keyring"):
        backend = _usable_keyring()
        if backend is not None:
            return KeyringVault(backend)
        if choice == "keyring":
            raise ConfigError(
                f"{STORE_VAR}=keyring but no OS keyring is usable here; use {STORE_VAR}=file (a 0600 file in the "
                "state directory) or install a keyring backend"
            )
    return FileVault(config.state_dir() / FILE_NAME)


def _usable_keyring() -> object | None:
    """The keyring package's backend when it is a real one (priority above zero), else None."""
    import keyring
    from keyring.backends import chainer, fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    try:
        priority = float(backend.priority)  # type: ignore[attr-defined]
    except Exception:  # a backend that cannot say how well it works here is not trusted with tokens
        return None
    return backend if priority > 0 else None


class CredentialStore:
    """Sign-ins and registered clients in a vault; `clock` (epoch seconds) stamps and judges expiry."""

    def __init__(self, vault: Vault, clock: Callable[[], float] = time.time, locks: Path | None = None) -> None:
        self.vault = vault
        self.clock = clock
        self._locks = locks

    async def refreshing(self, server: str, resource: str) -> Held:
        """Hold the sign-in of `server` at `resource` for a refresh: one process at a time, on this machine (a
        lock file in the state directory), since a rotating refresh token spent twice ends the whole sign-in
        (OAuth 2.1 §4.3.1). Waits (cancellably) while another process holds it; `Held.release()` lets go."""
        from agentflow import config

        folder = statefiles.private_dir(self._locks or config.state_dir() / "locks")
        name = hashlib.sha256(f"{server}\0{resource}".encode()).hexdigest()[:24]
        path = statefiles.private_file(folder / f"sign-in-{name}.lock")
        handle = open(path, "w")  # noqa: SIM115 - held beyond this call, closed by Held.release
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return Held(handle)
                except BlockingIOError:
                    await anyio.sleep(LOCK_POLL)
        except BaseException:
            handle.close()
            raise

    def sign_in(self, server: str, resource: str) -> SignIn | None:
        """The sign-in of the server entry `server` to the MCP endpoint `resource`, None when there is none."""
        text = self.vault.get(f"sign-in {server} {resource}")
        if text is None:
            return None
        try:
            found = SignIn.model_validate_json(text)
        except ValidationError:
            raise ConfigError(
                f"the stored sign-in for {resource} in {self.vault.name} is damaged; sign in again "
                "(agentflow servers login NAME)"
            ) from None
        _register(found.tokens)
        return found

    def save_sign_in(self, sign_in: SignIn) -> None:
        _register(sign_in.tokens)
        self.vault.set(f"sign-in {sign_in.server} {sign_in.resource}", sign_in.model_dump_json())

    def forget_sign_in(self, server: str, resource: str) -> None:
        self.vault.delete(f"sign-in {server} {resource}")

    def issuer_for(self, resource: str) -> str | None:
        """The authorization server the endpoint `resource` sent a sign-in to last (None: never)."""
        return self.vault.get(f"issuer {resource}")

    def remember_issuer(self, resource: str, issuer: str) -> None:
        if self.issuer_for(resource) != issuer:
            self.vault.set(f"issuer {resource}", issuer)

    def client(self, issuer: str) -> OAuthClientInformationFull | None:
        """The client registered with the authorization server `issuer`, None when there is none (or it is
        damaged: registering again costs nothing)."""
        text = self.vault.get(f"client {issuer}")
        if text is None:
            return None
        try:
            return OAuthClientInformationFull.model_validate_json(text)
        except ValidationError:
            return None

    def save_client(self, issuer: str, client: OAuthClientInformationFull) -> None:
        if client.client_secret:
            redact.register(client.client_secret)
        self.vault.set(f"client {issuer}", client.model_dump_json(exclude_none=True))

    def forget_client(self, issuer: str) -> None:
        self.vault.delete(f"client {issuer}")


class Held:
    """A held sign-in lock (`CredentialStore.refreshing`)."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _register(tokens: OAuthToken) -> None:
    redact.register(tokens.access_token, tokens.refresh_token or "")
