"""Token sessions: the access and refresh tokens the sandbox issued, their expiry and
rotation chain, and the ones the dashboard expired or revoked.

A session is named by a short fingerprint of its access token (``token_fingerprint``),
never by the token. Kept in memory, latest ``MAX_SESSIONS`` only.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Any

MAX_SESSIONS = 1000
REVOKED, EXPIRED = "revoked", "expired"


def token_fingerprint(token: str) -> str:
    """A short, stable name for a token (10 hex digits of its SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()[:10]


@dataclass
class Session:
    """One sign-in or refresh: the tokens it issued."""

    session: str
    jti: str
    parent: str | None
    email: str
    issued_at: float
    access_expires_at: float
    refresh_expires_at: float
    ended: str | None = None

    def to_json(self, now: float) -> dict[str, Any]:
        """As the admin API shows it (no token, only its fingerprint)."""
        if self.ended is not None:
            state = self.ended
        elif now >= self.access_expires_at:
            state = "expired"
        else:
            state = "active"
        return {
            "session": self.session,
            "refreshId": self.jti,
            "parent": self.parent,
            "email": self.email,
            "issuedAt": self.issued_at,
            "accessExpiresAt": self.access_expires_at,
            "refreshExpiresAt": self.refresh_expires_at,
            "state": state,
        }


class Sessions:
    """The issued sessions, and the fingerprints the dashboard ended early."""

    def __init__(self) -> None:
        self.issued: deque[Session] = deque(maxlen=MAX_SESSIONS)
        self.ended: dict[str, str] = {}

    def add(self, session: Session) -> None:
        """Remember a newly issued session."""
        self.issued.append(session)

    def find(self, name: str) -> Session | None:
        """A session by its fingerprint."""
        return next((s for s in self.issued if s.session == name), None)

    def end(self, name: str, how: str) -> Session | None:
        """Expire or revoke a session's access token now; None when unknown."""
        found = self.find(name)
        if found is not None:
            found.ended = how
            self.ended[name] = how
        return found

    def refused(self, token: str) -> bool:
        """Whether the dashboard ended this access token's session."""
        return bool(self.ended) and token_fingerprint(token) in self.ended

    def clear(self) -> None:
        """Forget every session."""
        self.issued.clear()
        self.ended.clear()
