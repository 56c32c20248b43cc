"""The local API's tokens, kept beside the history in the encrypted database.

``HistoryStore`` inherits these methods. A token itself is never stored: only its SHA-256
(the token is 256 random bits, so a fast hash is as good as a slow one and keeps every
request's check cheap). Rows carry what a token may do (scopes, route) and its lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.errors import EnclaveError, ExitCode
from app.core.inputs import clean_text
from app.core.store.database import Connection
from app.core.store.tables import EncryptedTables

_COLUMNS = "name, scopes, route, created, expires, revoked, last_used"


class ApiTokenExists(EnclaveError):
    """A token with that name is still in use."""

    exit_code = ExitCode.USAGE


class ApiTokenNotFound(EnclaveError):
    """No token has that name."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ApiTokenRecord:
    """One API token as stored (never the token itself). Times: seconds since the epoch.

    Attributes:
        name: The name the user gave it; audit records and history name it.
        scopes: What it may do (``chat``, ``embeddings``, ``history``).
        route: ``local`` or a connector endpoint's name: where its turns go.
        created: When it was made.
        expires: When it stops working; ``None``: never.
        revoked: When it was revoked; ``None``: it was not.
        last_used: Roughly when it last authenticated (updated at most once a minute).
    """

    name: str
    scopes: tuple[str, ...]
    route: str
    created: float
    expires: float | None
    revoked: float | None
    last_used: float | None

    def state(self, now: float) -> str:
        """``active``, ``revoked`` or ``expired`` at time ``now``."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"


def _record(row: Any) -> ApiTokenRecord:
    return ApiTokenRecord(
        name=str(row[0]), scopes=tuple(s for s in str(row[1]).split(",") if s),
        route=str(row[2]), created=float(row[3]),
        expires=None if row[4] is None else float(row[4]),
        revoked=None if row[5] is None else float(row[5]),
        last_used=None if row[6] is None else float(row[6]),
    )


class ApiTokens(EncryptedTables):
    """API tokens by name, looked up by hash (mixed into ``HistoryStore``)."""

    def add_api_token(
        self,
        name: str,
        token_sha256: str,
        *,
        scopes: tuple[str, ...],
        route: str,
        created: float,
        expires: float | None,
    ) -> ApiTokenRecord:
        """Keep a new token's hash under ``name``; a revoked or expired token's name is reused.

        Raises:
            ApiTokenExists: an active token already has that name.
        """
        name = clean_text(name)
        row = (name, token_sha256, ",".join(scopes), route, created, expires)

        def op(conn: Connection) -> None:
            old = conn.execute("SELECT revoked, expires FROM api_tokens WHERE name = ?",
                               (name,)).fetchone()
            if old is not None:
                if old[0] is None and (old[1] is None or old[1] > created):
                    raise ApiTokenExists(
                        f"There is already an API token named {name!r}.",
                        f"Revoke it first (enclave api tokens revoke {name}), or choose "
                        "another name.")
                conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,))
            conn.execute(
                "INSERT INTO api_tokens (name, token_sha256, scopes, route, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?)", row)

        self._write(op)
        return ApiTokenRecord(name, scopes, route, created, expires, None, None)

    def api_token_by_hash(self, token_sha256: str) -> ApiTokenRecord | None:
        """The token whose SHA-256 this is, whatever its state; ``None`` if none."""
        rows = self._query(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_sha256 = ?",
                           (token_sha256,))
        return _record(rows[0]) if rows else None

    def api_tokens(self) -> list[ApiTokenRecord]:
        """Every token, revoked and expired ones too, by name."""
        rows = self._query(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY name")
        return [_record(r) for r in rows]

    def revoke_api_token(self, name: str, when: float) -> ApiTokenRecord:
        """Revoke the token named ``name`` from ``when`` on (again: no change).

        Raises:
            ApiTokenNotFound: no token has that name.
        """

        def op(conn: Connection) -> Any:
            conn.execute("UPDATE api_tokens SET revoked = ? WHERE name = ? AND revoked IS NULL",
                         (when, name))
            return conn.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE name = ?",
                                (name,)).fetchone()

        row = self._write(op)
        if row is None:
            raise ApiTokenNotFound(f"There is no API token named {name!r}.",
                                   "List them with: enclave api tokens list")
        return _record(row)

    def touch_api_token(self, name: str, when: float) -> None:
        """Note that the token was used at ``when``."""

        def op(conn: Connection) -> None:
            conn.execute("UPDATE api_tokens SET last_used = ? WHERE name = ?", (when, name))

        self._write(op)
