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
import contextvars
import hashlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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


def jwt_claim(token: str, name: str) -> object:
    """One claim of a JWT's payload, read without verifying it (the server verifies);
    None when the token is not a JWT or lacks the claim."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    # Two "=" restore whatever padding was stripped: the decoder (not in strict mode)
    # ignores padding beyond what the data needs.
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
    except (ValueError, binascii.Error):
        return None
    return claims.get(name) if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (the server verifies)."""
    exp = jwt_claim(token, "exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def refresh_due(token: Token, now: float, margin: float, lifetime: float | None) -> bool:
    """Whether ``token`` should be replaced now (pure).

    The margin shrinks for short-lived tokens, to a quarter of their lifetime, so that a
    token is never refreshed on every call.
    """
    effective = margin if lifetime is None else min(margin, lifetime / 4)
    return now >= token.expires_at - effective


def default_cache_dir() -> Path:
    """Where this platform keeps a user's cached state (``platformdirs``): on Linux
    ``$XDG_CACHE_HOME/omnivoltaic-erm`` or ``~/.cache/omnivoltaic-erm``, on macOS
    ``~/Library/Caches/omnivoltaic-erm``, on Windows under ``%LOCALAPPDATA%``."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("omnivoltaic-erm", appauthor=False))


class TokenCache:
    """One token per (url, email) in a 0600 JSON file.

    Written atomically (a unique temporary file in the same folder, then a rename), so
    two processes writing at once leave one whole file. ``renewing()`` holds a lock file
    beside it while a process renews, so that others wait and reuse its token. A folder
    that cannot be written turns the cache off, with one warning: the client works on
    without it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.disabled = False

    @classmethod
    def for_account(cls, url: str, email: str, directory: Path | None = None) -> TokenCache:
        """The cache file for this endpoint and account."""
        key = hashlib.sha256(f"{url}\n{email}".encode()).hexdigest()[:20]
        return cls((directory or default_cache_dir()) / f"token-{key}.json")

    def __repr__(self) -> str:
        return f"TokenCache({str(self.path)!r})"

    def load(self) -> Token | None:
        """The cached token, or None when absent or unreadable. A token whose access
        part was refused is kept with its refresh token only (an empty ``value``)."""
        if self.disabled:
            return None
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
        """Write the token atomically; the file is 0600, its folder 0700."""
        if self.disabled:
            return
        data = {"token": token.value, "expires_at": token.expires_at, "refresh": token.refresh}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
            try:
                with os.fdopen(fd, "w") as fh:  # mkstemp makes it 0600
                    json.dump(data, fh)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self._give_up(exc)

    def forget_access(self, token: Token) -> None:
        """The server refused ``token``'s access part: keep only its refresh token."""
        if token.refresh:
            self.save(Token("", 0.0, token.refresh))
        else:
            self.clear()

    def clear(self) -> None:
        """Remove the cached token."""
        if self.disabled:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._give_up(exc)

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[None]:
        """Hold the cache's lock file while renewing (other processes wait); without a
        usable folder, or off POSIX, no lock: renewals may then race, each atomically."""
        fd = -1 if self.disabled else await asyncio.to_thread(self._lock)
        try:
            yield
        finally:
            if fd >= 0:
                os.close(fd)  # releases the lock

    def _lock(self) -> int:
        try:
            import fcntl
        except ImportError:  # not POSIX
            return -1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self._give_up(exc)
            return -1
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _give_up(self, exc: OSError) -> None:
        self.disabled = True
        log.warning(
            "the token cache %s cannot be used (%s); going on without it",
            self.path.parent,
            exc.strerror or type(exc).__name__,
        )


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
        self._token: Token | None = None
        self._refresh_token: str | None = None
        cached = cache.load() if cache else None
        if cached is not None:
            self._adopt(cached)
        # Access tokens the server refused: never taken back from the cache.
        self._refused: set[str] = set()
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
        # An empty access token (a refused one, cached as its refresh token only) is
        # never usable, whatever its expiry says.
        return (
            token is not None
            and token.value != ""
            and not refresh_due(token, self._clock(), self._margin, self._lifetime)
        )

    async def token(self) -> str:
        """A token valid for at least the refresh margin; renews it if needed (one
        renewal for all callers, whose outcome, token or error, each of them gets)."""
        token = self._token
        if token is not None and self._usable(token):
            return token.value
        renewal = self._renewal
        loop = asyncio.get_running_loop()
        if renewal is None or renewal.get_loop() is not loop:
            # In a context of its own: the renewal is shared, so it is bounded by its own
            # operations' deadlines, not by those of the call that happened to start it.
            renewal = self._renewal = loop.create_task(self._fresh(), context=contextvars.Context())
            renewal.add_done_callback(self._renewal_done)
        # Shielded: one caller cancelled does not cancel the renewal the others wait for.
        return (await asyncio.shield(renewal)).value

    async def aclose(self) -> None:
        """Cancel a renewal still under way (its callers have gone), and let it unwind."""
        renewal = self._renewal
        if renewal is not None and not renewal.done():
            renewal.cancel()
            with contextlib.suppress(BaseException):
                await renewal

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
        if self._cache is None:
            return await self._renewed()
        async with self._cache.renewing():
            # Another process may have renewed while this one waited for the lock.
            cached = self._cache.load()
            if cached is not None and cached.value not in self._refused and self._usable(cached):
                self._adopt(cached)
                return cached
            if cached is not None and cached.refresh:
                # Its refresh token is the newest (another process may have rotated it).
                register_secret(cached.refresh, token=True)
                self._refresh_token = cached.refresh
            return await self._renewed()

    def _adopt(self, token: Token) -> None:
        """Take ``token``, read from the cache, as the current one (its secrets are
        registered for redaction; a missing refresh token keeps the one in use)."""
        register_secret(token.value, token=True)
        register_secret(token.refresh, token=True)
        self._token = token
        self._refresh_token = token.refresh or self._refresh_token

    async def _renewed(self) -> Token:
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
        the refresh token stays, here and in the cache, for the renewal that follows."""
        self._refused.add(value)
        if self._token is not None and self._token.value == value:
            token, self._token = self._token, None
            if self._cache is not None:
                self._cache.forget_access(token)
