"""Access tokens: sign in lazily, renew ahead of expiry, one renewal in flight.

``TokenManager.token()`` returns a valid token, renewing it when there is none or when
the current one is within the refresh margin of its ``exp``. A renewal first spends the
refresh token (``refreshAccessToken``), and signs in with the password only when there is
no refresh token or the server refuses it. Concurrent callers share a single renewal.
``invalidate(token)`` drops an access token the server rejected (its refresh token is
kept). An optional on-disk cache (a 0600 file) lets a command line reuse both tokens
across runs, so commands keep working without the password past the access token's life.
The sign-in and refresh callables run while the manager holds its lock, so neither may
ask the manager for a token (the pipeline exempts the sign-in and refresh operations).
Every token the manager holds is registered for redaction.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ._logging import get_logger, register_secret
from .errors import AuthenticationError, ErmError

log = get_logger("omnivoltaic_erm.auth")


@dataclass(frozen=True, slots=True)
class Grant:
    """What a sign-in or a refresh returns: an access token, and a refresh token if any."""

    access: str
    refresh: str | None = None

    def __repr__(self) -> str:
        return f"Grant(access=<redacted>, refresh={'<redacted>' if self.refresh else None})"


SignIn = Callable[[], Awaitable[Grant]]
Refresh = Callable[[str], Awaitable[Grant]]


@dataclass(frozen=True, slots=True)
class Token:
    """An access token, the epoch second it expires at, and the refresh token if any."""

    value: str
    expires_at: float
    refresh: str | None = None

    def __repr__(self) -> str:
        refresh = "<redacted>" if self.refresh else None
        return f"Token(expires_at={self.expires_at:.0f}, value=<redacted>, refresh={refresh})"


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (the server verifies)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    # Two "=" restore whatever padding was stripped: the decoder (not in strict mode)
    # ignores padding beyond what the data needs.
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def refresh_due(token: Token, now: float, margin: float, lifetime: float | None) -> bool:
    """Whether ``token`` should be replaced now (pure).

    The margin shrinks for short-lived tokens, to a quarter of their lifetime, so that a
    token is never refreshed on every call.
    """
    effective = margin if lifetime is None else min(margin, lifetime / 4)
    return now >= token.expires_at - effective


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/omnivoltaic-erm``, else ``~/.cache/omnivoltaic-erm``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omnivoltaic-erm"


class TokenCache:
    """One token per (url, email) in a 0600 JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_account(cls, url: str, email: str, directory: Path | None = None) -> TokenCache:
        """The cache file for this endpoint and account."""
        key = hashlib.sha256(f"{url}\n{email}".encode()).hexdigest()[:20]
        return cls((directory or default_cache_dir()) / f"token-{key}.json")

    def __repr__(self) -> str:
        return f"TokenCache({str(self.path)!r})"

    def load(self) -> Token | None:
        """The cached token, or None when absent or unreadable."""
        try:
            data = json.loads(self.path.read_text())
            refresh = data.get("refresh")
            return Token(
                str(data["token"]),
                float(data["expires_at"]),
                refresh if isinstance(refresh, str) and refresh else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self, token: Token) -> None:
        """Write the token; the file is created with mode 0600, its folder 0700."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {"token": token.value, "expires_at": token.expires_at, "refresh": token.refresh},
                fh,
            )
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        """Remove the cached token."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class TokenManager:
    """Hands out a valid token; one renewal at a time, whatever the concurrency.

    Callers that need a token while a renewal is under way wait for that renewal, and
    all of them get its outcome: its token, or its error. A failed sign-in is therefore
    tried once for all of them (with the pipeline's retries), not once per caller, which
    would multiply the attempts that lock an account.
    """

    def __init__(
        self,
        sign_in: SignIn,
        *,
        refresh: Refresh | None = None,
        refresh_margin: float,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sign_in = sign_in
        self._refresh = refresh
        self._margin = refresh_margin
        self._cache = cache
        self._clock = clock
        self._token: Token | None = cache.load() if cache else None
        self._refresh_token: str | None = self._token.refresh if self._token else None
        if self._token is not None:
            register_secret(self._token.value, token=True)
            register_secret(self._refresh_token, token=True)
        self._lifetime: float | None = None
        # The renewal under way, shared by every caller that waits for a token.
        self._renewal: asyncio.Task[Token] | None = None
        self.sign_ins = 0
        self.refreshes = 0

    def __repr__(self) -> str:
        return (
            f"TokenManager(sign_ins={self.sign_ins}, refreshes={self.refreshes}, "
            f"token={self._token!r})"
        )

    def _usable(self, token: Token | None) -> bool:
        return token is not None and not refresh_due(
            token, self._clock(), self._margin, self._lifetime
        )

    async def token(self) -> str:
        """A token valid for at least the refresh margin; renews it if needed (one
        renewal for all callers, whose outcome, token or error, each of them gets)."""
        token = self._token
        if token is not None and self._usable(token):
            return token.value
        renewal = self._renewal
        if renewal is None or renewal.get_loop() is not asyncio.get_running_loop():
            renewal = self._renewal = asyncio.ensure_future(self._fresh())
            renewal.add_done_callback(self._renewal_done)
        # Shielded: one caller cancelled does not cancel the renewal the others wait for.
        return (await asyncio.shield(renewal)).value

    def forget_renewal(self) -> None:
        """Forget a renewal under way on another loop (a forked child's parent's)."""
        self._renewal = None

    def _renewal_done(self, renewal: asyncio.Task[Token]) -> None:
        if self._renewal is renewal:
            self._renewal = None
        if not renewal.cancelled():
            renewal.exception()  # retrieved here: a renewal nobody waits for any more

    async def _renew(self) -> Grant:
        """A refreshed grant when a refresh token works, else a signed-in one."""
        if self._refresh is not None and self._refresh_token:
            try:
                grant = await self._refresh(self._refresh_token)
            except ErmError as exc:
                # Expired, rotated by another process, or refused: the password still works.
                log.debug("token refresh failed (%s); signing in", type(exc).__name__)
            else:
                self.refreshes += 1
                return grant
        grant = await self._sign_in()
        self.sign_ins += 1
        return grant

    async def _fresh(self) -> Token:
        issued = self._clock()
        grant = await self._renew()
        if not grant.access:
            raise AuthenticationError("sign-in returned no access token")
        register_secret(grant.access, token=True)
        register_secret(grant.refresh, token=True)
        exp = jwt_expiry(grant.access)
        expires_at = exp if exp is not None else issued + 3600.0
        self._lifetime = max(0.0, expires_at - issued)
        # A server that returns no new refresh token leaves the old one in use.
        self._refresh_token = grant.refresh or self._refresh_token
        token = Token(grant.access, expires_at, self._refresh_token)
        self._token = token
        if self._cache is not None:
            self._cache.save(token)
        return token

    def invalidate(self, value: str) -> None:
        """Forget ``value`` if it is the current access token (the server rejected it);
        the refresh token stays, for the renewal that follows."""
        if self._token is not None and self._token.value == value:
            self._token = None
            if self._cache is not None:
                self._cache.clear()
