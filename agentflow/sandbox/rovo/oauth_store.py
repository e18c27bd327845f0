"""The authorization server's records in the sandbox database: clients, pending consents, codes and tokens.

Secrets are kept and looked up as their SHA-256 digest (RFC 6819 §5.1.4.1.3), so a copied site file holds no
usable code or token. Expiry times are on the store's clock, which tests inject.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from mcp.shared.auth import OAuthClientInformationFull

from agentflow.sandbox.store import Store

TokenKind = Literal["access", "refresh"]


def new_secret() -> str:
    """A code or token: 256 random bits (RFC 6749 §10.10 asks for at least 128)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Pending:
    """An authorization request waiting on the consent page, or a code waiting to be exchanged."""

    client_id: str
    params: dict[str, Any]
    expires_at: float
    user_id: int | None = None


@dataclass(frozen=True)
class TokenRecord:
    kind: TokenKind
    family: str
    client_id: str
    user_id: int
    scopes: tuple[str, ...]
    resource: str
    expires_at: float | None
    used: bool
    revoked: bool


class OAuthStore:
    """The OAuth tables of one site's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def now(self) -> float:
        return self.store.now()

    # --- clients (RFC 7591) ------------------------------------------------------------------------------

    def client(self, client_id: str) -> OAuthClientInformationFull | None:
        row = self.store.query_one("SELECT info FROM oauth_clients WHERE client_id = ?", (client_id,))
        return OAuthClientInformationFull.model_validate_json(row["info"]) if row else None

    def add_client(self, info: OAuthClientInformationFull) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_clients(client_id, info) VALUES (?, ?)",
                (info.client_id, info.model_dump_json(exclude_none=True)),
            )

    # --- consent requests and authorization codes --------------------------------------------------------

    def add_request(self, client_id: str, params: dict[str, Any], ttl: float) -> str:
        request_id = new_secret()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_requests(id_hash, client_id, params, expires_at) VALUES (?, ?, ?, ?)",
                (digest(request_id), client_id, json.dumps(params), self.now() + ttl),
            )
        return request_id

    def request(self, request_id: str) -> Pending | None:
        row = self.store.query_one(
            "SELECT * FROM oauth_requests WHERE id_hash = ? AND expires_at > ?", (digest(request_id), self.now())
        )
        return Pending(row["client_id"], json.loads(row["params"]), row["expires_at"]) if row else None

    def take_request(self, request_id: str) -> Pending | None:
        """The request, removed so that one consent answers it once."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "DELETE FROM oauth_requests WHERE id_hash = ? RETURNING *", (digest(request_id),)
            ).fetchone()
        if row is None or row["expires_at"] <= self.now():
            return None
        return Pending(row["client_id"], json.loads(row["params"]), row["expires_at"])

    def add_code(self, client_id: str, user_id: int, params: dict[str, Any], ttl: float) -> str:
        code = new_secret()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_codes(code_hash, client_id, user_id, params, expires_at) VALUES (?, ?, ?, ?, ?)",
                (digest(code), client_id, user_id, json.dumps(params), self.now() + ttl),
            )
        return code

    def code(self, code: str) -> Pending | None:
        row = self.store.query_one(
            "SELECT * FROM oauth_codes WHERE code_hash = ? AND expires_at > ?", (digest(code), self.now())
        )
        if row is None:
            return None
        return Pending(row["client_id"], json.loads(row["params"]), row["expires_at"], row["user_id"])

    def take_code(self, code: str) -> bool:
        """Remove the code; False when it was already gone (RFC 6749 §4.1.2: a code is used once)."""
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM oauth_codes WHERE code_hash = ?", (digest(code),)).rowcount == 1

    # --- tokens --------------------------------------------------------------------------------------------

    def new_family(self) -> str:
        return uuid.uuid4().hex

    def issue(
        self,
        kind: TokenKind,
        family: str,
        client_id: str,
        user_id: int,
        scopes: list[str],
        resource: str,
        ttl: float | None,
    ) -> str:
        token = new_secret()
        expires_at = None if ttl is None else self.now() + ttl
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO oauth_tokens(token_hash, kind, family, client_id, user_id, scopes, resource, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (digest(token), kind, family, client_id, user_id, " ".join(scopes), resource, expires_at),
            )
        return token

    def token(self, token: str) -> TokenRecord | None:
        """The record of `token`, whatever its state; callers decide what expired, used or revoked means."""
        row = self.store.query_one("SELECT * FROM oauth_tokens WHERE token_hash = ?", (digest(token),))
        if row is None:
            return None
        return TokenRecord(
            kind=row["kind"],
            family=row["family"],
            client_id=row["client_id"],
            user_id=row["user_id"],
            scopes=tuple(row["scopes"].split()),
            resource=row["resource"],
            expires_at=row["expires_at"],
            used=bool(row["used"]),
            revoked=bool(row["revoked"]),
        )

    def is_live(self, record: TokenRecord) -> bool:
        return not record.revoked and (record.expires_at is None or record.expires_at > self.now())

    def mark_used(self, token: str) -> bool:
        """Spend a refresh token; False when it was already spent or revoked (two racing refreshes: one wins)."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE oauth_tokens SET used = 1 WHERE token_hash = ? AND used = 0 AND revoked = 0", (digest(token),)
            )
            return cursor.rowcount == 1

    def revoke_family(self, family: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE oauth_tokens SET revoked = 1 WHERE family = ?", (family,))
