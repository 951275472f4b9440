"""The token manager and its pure helpers, without a server.

Sign-in and refresh are plain coroutines and the clock is injected, so every renewal
decision (when, how, with which refresh token, what is kept and cached) is checked
exactly. How the client wires the manager to the real operations is tested over the wire
in ``tests/e2e``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from omnivoltaic_erm import _logging
from omnivoltaic_erm._auth import (
    Grant,
    Token,
    TokenCache,
    TokenManager,
    jwt_expiry,
    refresh_due,
)
from omnivoltaic_erm.errors import AuthenticationError, TransportError
from tests.support.tokens import Clock, b64url
from tests.support.tokens import jwt as unsigned_jwt


def _jwt_of_payload(payload: bytes) -> str:
    return ".".join([b64url(b'{"alg":"none"}'), b64url(payload), "sig"])


def jwt(exp: float) -> str:
    """An unsigned JWT with ``exp`` and a unique marker, so no two are equal."""
    return unsigned_jwt(exp, marker=uuid.uuid4().hex)


def secret(name: str) -> str:
    """A unique opaque token, so the redaction registry has not seen it yet."""
    return f"{name}-{uuid.uuid4().hex}"


# -- jwt_expiry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "pads", "exp"),
    [
        (b'{"exp":1700000000}', 0, 1700000000.0),  # 24 characters: no padding
        (b'{"exp":1e9}', 1, 1e9),  # 15 characters: one "=" restored
        (b'{"exp":1700000000.125}', 2, 1700000000.125),  # 30 characters: two "="
        (b'{"exp": 1700000000 }', 1, 1700000000.0),  # 27 characters: one "="
    ],
)
def test_jwt_expiry_restores_the_stripped_padding(payload: bytes, pads: int, exp: float) -> None:
    assert len(b64url(payload)) % 4 == (4 - pads) % 4
    assert jwt_expiry(_jwt_of_payload(payload)) == exp


@pytest.mark.parametrize(
    "payload",
    [b"[1700000000]", b"1700000000", b'"exp"', b'{"exp":"1700000000"}', b'{"exp":null}', b"{"],
)
def test_jwt_expiry_is_none_for_claims_without_a_numeric_exp(payload: bytes) -> None:
    assert jwt_expiry(_jwt_of_payload(payload)) is None


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "opaque-token-value"])
def test_jwt_expiry_is_none_for_what_is_not_three_parts(token: str) -> None:
    assert jwt_expiry(token) is None


# -- refresh_due --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "margin", "lifetime", "due"),
    [
        (700.0, 300.0, None, True),  # exactly at the margin: due
        (699.5, 300.0, None, False),
        (900.0, 300.0, 400.0, True),  # a 400 s token: the margin shrinks to 100 s
        (899.5, 300.0, 400.0, False),
        (800.0, 200.0, 4000.0, True),  # the smaller of margin and a quarter lifetime
        (799.5, 200.0, 4000.0, False),
    ],
)
def test_refresh_due_at_the_edge(
    now: float, margin: float, lifetime: float | None, due: bool
) -> None:
    assert refresh_due(Token("t", 1000.0), now, margin, lifetime) is due


# -- Token.__repr__ -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        (
            Token("acc3ss-s3cret", 1700000000.4, "r3fresh-s3cret"),
            "Token(expires_at=1700000000, value=<redacted>, refresh=<redacted>)",
        ),
        (
            Token("acc3ss-s3cret", 1700000000.6),
            "Token(expires_at=1700000001, value=<redacted>, refresh=None)",
        ),
        (
            Token("acc3ss-s3cret", 5.0, ""),
            "Token(expires_at=5, value=<redacted>, refresh=None)",
        ),
    ],
)
def test_token_repr_shows_the_expiry_and_never_a_secret(token: Token, shown: str) -> None:
    # The exact text: whether a refresh token is held shows, its value never does.
    assert repr(token) == shown
    assert str(token) == shown
    assert "s3cret" not in repr(token)


def test_grant_repr_never_shows_a_secret() -> None:
    assert repr(Grant("acc3ss-s3cret", "r3fresh-s3cret")) == (
        "Grant(access=<redacted>, refresh=<redacted>)"
    )
    assert repr(Grant("acc3ss-s3cret")) == "Grant(access=<redacted>, refresh=None)"


# -- TokenManager -------------------------------------------------------------------


class Account:
    """The server side of sign-in and refresh: issues JWTs that live ``lifetime`` s,
    rotates refresh tokens when ``rotate`` is set, and refuses when told to."""

    def __init__(self, clock: Clock, lifetime: float = 1000.0, *, rotate: bool = True) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.rotate = rotate
        self.refusing = False
        self.sign_ins: list[Grant] = []
        self.refreshed_with: list[str] = []
        self.refresh_grants: list[Grant] = []

    async def sign_in(self) -> Grant:
        grant = Grant(jwt(self.clock.now + self.lifetime), secret("refresh"))
        self.sign_ins.append(grant)
        return grant

    async def refresh(self, refresh_token: str) -> Grant:
        self.refreshed_with.append(refresh_token)
        if self.refusing:
            raise AuthenticationError("refresh token expired")
        new = secret("refresh") if self.rotate else None
        grant = Grant(jwt(self.clock.now + self.lifetime), new)
        self.refresh_grants.append(grant)
        return grant


T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


def test_counts_sign_ins_and_refreshes_and_shows_them_without_secrets() -> None:
    clock = Clock(1000.0)
    account = Account(clock, lifetime=1000.0)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=100.0, clock=clock
    )
    assert repr(tokens) == "TokenManager(sign_ins=0, refreshes=0, token=None)"

    async def scenario() -> list[str]:
        seen = [await tokens.token()]
        for _ in range(2):
            clock.now += 950.0  # inside the last 100 s of the token
            seen.append(await tokens.token())
        return seen

    seen = run(scenario)
    assert (tokens.sign_ins, tokens.refreshes) == (1, 2)
    assert seen == [account.sign_ins[0].access, *(g.access for g in account.refresh_grants)]
    assert repr(tokens) == (
        "TokenManager(sign_ins=1, refreshes=2, "
        "token=Token(expires_at=3900, value=<redacted>, refresh=<redacted>))"
    )
    for grant in [*account.sign_ins, *account.refresh_grants]:
        assert grant.access not in repr(tokens)
        assert grant.refresh is not None and grant.refresh not in repr(tokens)


def test_a_valid_token_is_reused_until_the_margin_and_renewed_at_it() -> None:
    clock = Clock(1000.0)
    account = Account(clock, lifetime=1000.0)
    tokens = TokenManager(account.sign_in, refresh_margin=100.0, clock=clock)

    async def scenario() -> None:
        first = await tokens.token()
        clock.now = 1899.5
        assert await tokens.token() == first
        clock.now = 1900.0  # exactly at the margin
        assert await tokens.token() != first

    run(scenario)
    assert tokens.sign_ins == 2 and tokens.refreshes == 0


def test_each_refresh_spends_the_latest_refresh_token() -> None:
    clock = Clock(0.0)
    account = Account(clock, lifetime=1000.0, rotate=True)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, clock=clock
    )

    async def scenario() -> None:
        await tokens.token()
        for _ in range(3):
            clock.now += 995.0
            await tokens.token()

    run(scenario)
    first = account.sign_ins[0].refresh
    rotated = [g.refresh for g in account.refresh_grants]
    assert account.refreshed_with == [first, *rotated[:2]]
    assert (tokens.sign_ins, tokens.refreshes) == (1, 3)


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one() -> None:
    clock = Clock(0.0)
    account = Account(clock, lifetime=1000.0, rotate=False)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, clock=clock
    )

    async def scenario() -> None:
        await tokens.token()
        for _ in range(2):
            clock.now += 995.0
            await tokens.token()

    run(scenario)
    first = account.sign_ins[0].refresh
    assert account.refreshed_with == [first, first]
    assert "refresh=<redacted>" in repr(tokens)


def test_a_refused_refresh_falls_back_to_the_password() -> None:
    clock = Clock(0.0)
    account = Account(clock, lifetime=1000.0)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, clock=clock
    )

    async def scenario() -> str:
        await tokens.token()
        account.refusing = True
        clock.now += 995.0
        return await tokens.token()

    value = run(scenario)
    assert account.refreshed_with == [account.sign_ins[0].refresh]
    assert value == account.sign_ins[1].access
    assert (tokens.sign_ins, tokens.refreshes) == (2, 0)


def test_a_refresh_failing_otherwise_than_with_an_erm_error_propagates() -> None:
    clock = Clock(0.0)
    account = Account(clock)

    async def refresh(_token: str) -> Grant:
        raise RuntimeError("bug")

    tokens = TokenManager(account.sign_in, refresh=refresh, refresh_margin=10.0, clock=clock)

    async def scenario() -> None:
        await tokens.token()
        clock.now += 995.0
        await tokens.token()

    with pytest.raises(RuntimeError):
        run(scenario)
    assert len(account.sign_ins) == 1


def test_without_a_refresh_token_a_renewal_signs_in_and_never_calls_refresh() -> None:
    clock = Clock(0.0)
    calls: list[str] = []

    async def sign_in() -> Grant:
        return Grant(jwt(clock.now + 1000.0))  # no refresh token

    async def refresh(token: str) -> Grant:
        calls.append(token)
        return Grant(jwt(clock.now + 1000.0))

    tokens = TokenManager(sign_in, refresh=refresh, refresh_margin=10.0, clock=clock)

    async def scenario() -> None:
        await tokens.token()
        clock.now += 995.0
        await tokens.token()

    run(scenario)
    assert calls == []
    assert (tokens.sign_ins, tokens.refreshes) == (2, 0)
    assert repr(tokens).endswith("refresh=None))")


def test_a_refresh_token_without_a_refresh_operation_is_not_used() -> None:
    clock = Clock(0.0)
    account = Account(clock)
    tokens = TokenManager(account.sign_in, refresh_margin=10.0, clock=clock)

    async def scenario() -> None:
        await tokens.token()
        clock.now += 995.0
        await tokens.token()

    run(scenario)
    assert (tokens.sign_ins, tokens.refreshes) == (2, 0)


def test_concurrent_callers_share_one_renewal() -> None:
    clock = Clock(0.0)
    account = Account(clock)
    gate = asyncio.Event

    async def scenario() -> list[str]:
        opened = gate()

        async def slow_sign_in() -> Grant:
            await opened.wait()
            return await account.sign_in()

        tokens = TokenManager(slow_sign_in, refresh_margin=10.0, clock=clock)
        waiting = [asyncio.ensure_future(tokens.token()) for _ in range(5)]
        await asyncio.sleep(0)
        opened.set()
        values = list(await asyncio.gather(*waiting))
        assert tokens.sign_ins == 1
        return values

    values = run(scenario)
    assert len(account.sign_ins) == 1
    assert values == [account.sign_ins[0].access] * 5


def test_a_usable_token_is_handed_out_without_waiting_for_a_renewal_in_flight() -> None:
    # The wall clock can step back (an NTP correction) while a renewal waits on the
    # server; a caller for whom the current token is usable again gets it at once.
    clock = Clock(0.0)

    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()
        issued: list[str] = []

        async def sign_in() -> Grant:
            if issued:
                started.set()
                await release.wait()
            issued.append(jwt(clock.now + 1000.0))
            return Grant(issued[-1])

        tokens = TokenManager(sign_in, refresh_margin=10.0, clock=clock)
        first = await tokens.token()
        clock.now = 995.0
        renewal = asyncio.ensure_future(tokens.token())
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait([renewal, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert started.is_set() and not renewal.done()
        clock.now = 900.0
        meanwhile = asyncio.ensure_future(tokens.token())
        await asyncio.sleep(0)
        assert meanwhile.done() and meanwhile.result() == first
        release.set()
        assert await renewal == issued[1]
        assert tokens.sign_ins == 2

    run(scenario)


def test_the_lifetime_runs_from_before_the_sign_in() -> None:
    # The sign-in takes 40 s; the token's lifetime (100 s) counts from before it, so the
    # margin (300 s) shrinks to 25 s, not to 15 s.
    clock = Clock(1000.0)

    async def sign_in() -> Grant:
        exp = clock.now + 100.0
        clock.now += 40.0
        return Grant(jwt(exp))

    tokens = TokenManager(sign_in, refresh_margin=300.0, clock=clock)

    async def scenario() -> None:
        first = await tokens.token()
        clock.now = 1074.5
        assert await tokens.token() == first
        clock.now = 1075.0
        assert await tokens.token() != first

    run(scenario)


def test_a_sub_second_token_is_renewed_in_its_last_quarter() -> None:
    clock = Clock(1000.0)

    async def sign_in() -> Grant:
        return Grant(jwt(clock.now + 0.5))

    tokens = TokenManager(sign_in, refresh_margin=300.0, clock=clock)

    async def scenario() -> None:
        first = await tokens.token()
        clock.now = 1000.25
        assert await tokens.token() == first
        clock.now = 1000.375
        assert await tokens.token() != first

    run(scenario)
    assert tokens.sign_ins == 2


def test_an_already_expired_token_is_renewed_on_the_next_call() -> None:
    clock = Clock(1000.0)

    async def sign_in() -> Grant:
        return Grant(jwt(clock.now - 50.0))

    tokens = TokenManager(sign_in, refresh_margin=10.0, clock=clock)

    async def scenario() -> None:
        first = await tokens.token()
        assert await tokens.token() != first

    run(scenario)
    assert tokens.sign_ins == 2


def test_a_token_without_exp_lives_an_hour_from_its_sign_in() -> None:
    clock = Clock(5000.0)

    async def sign_in() -> Grant:
        return Grant(secret("opaque"))

    tokens = TokenManager(sign_in, refresh_margin=60.0, clock=clock)

    async def scenario() -> None:
        first = await tokens.token()
        assert "Token(expires_at=8600," in repr(tokens)
        clock.now = 8539.5
        assert await tokens.token() == first
        clock.now = 8540.0
        assert await tokens.token() != first

    run(scenario)
    assert tokens.sign_ins == 2


def test_an_empty_access_token_is_refused_and_nothing_is_kept() -> None:
    clock = Clock(0.0)

    async def sign_in() -> Grant:
        return Grant("")

    tokens = TokenManager(sign_in, refresh_margin=10.0, clock=clock)
    with pytest.raises(AuthenticationError) as info:
        run(tokens.token)
    assert info.value.message == "sign-in returned no access token"
    assert repr(tokens) == "TokenManager(sign_ins=1, refreshes=0, token=None)"


def test_every_token_held_is_registered_for_redaction_as_a_token() -> None:
    clock = Clock(0.0)
    account = Account(clock)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, clock=clock
    )

    async def scenario() -> None:
        await tokens.token()
        clock.now += 995.0
        await tokens.token()

    run(scenario)
    grants = [account.sign_ins[0], account.refresh_grants[0]]
    for grant in grants:
        # Tokens, which newer ones push out, not passwords, which are kept for good.
        assert grant.access in _logging._tokens and grant.access not in _logging._passwords
        assert grant.refresh in _logging._tokens and grant.refresh not in _logging._passwords
        assert _logging.redact(f"Bearer {grant.access}") == f"Bearer {_logging.REDACTED}"


def test_invalidate_drops_only_the_current_token_and_keeps_its_refresh_token() -> None:
    clock = Clock(0.0)
    account = Account(clock)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, clock=clock
    )

    async def scenario() -> None:
        first = await tokens.token()
        tokens.invalidate("another-token")
        assert await tokens.token() == first
        tokens.invalidate(first)
        assert await tokens.token() != first

    run(scenario)
    assert account.refreshed_with == [account.sign_ins[0].refresh]
    assert (tokens.sign_ins, tokens.refreshes) == (1, 1)


# -- with a token cache -------------------------------------------------------------


def test_a_cached_token_is_used_without_signing_in(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "token.json")
    access, refresh = secret("cached-access"), secret("cached-refresh")
    cache.save(Token(access, 2000.0, refresh))
    clock = Clock(1000.0)
    account = Account(clock)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=300.0, cache=cache, clock=clock
    )
    # Read when the manager is made, and registered for redaction at once.
    assert access in _logging._tokens and access not in _logging._passwords
    assert refresh in _logging._tokens and refresh not in _logging._passwords
    assert repr(tokens) == (
        "TokenManager(sign_ins=0, refreshes=0, "
        "token=Token(expires_at=2000, value=<redacted>, refresh=<redacted>))"
    )
    assert run(tokens.token) == access
    assert account.sign_ins == [] and account.refreshed_with == []


def test_a_cached_token_is_renewed_within_the_full_margin(tmp_path: Path) -> None:
    # The cached token's lifetime is unknown, so the whole margin applies to it.
    cache = TokenCache(tmp_path / "token.json")
    cache.save(Token(secret("cached-access"), 2000.0, secret("cached-refresh")))
    clock = Clock(1700.0)
    account = Account(clock)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=300.0, cache=cache, clock=clock
    )
    value = run(tokens.token)
    assert value == account.refresh_grants[0].access


def test_a_cached_refresh_token_renews_an_expired_token_and_the_cache_is_updated(
    tmp_path: Path,
) -> None:
    cache = TokenCache(tmp_path / "token.json")
    cached_refresh = secret("cached-refresh")
    cache.save(Token(secret("expired-access"), 500.0, cached_refresh))
    clock = Clock(1000.0)
    account = Account(clock, lifetime=1000.0)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, cache=cache, clock=clock
    )
    value = run(tokens.token)
    assert account.refreshed_with == [cached_refresh] and account.sign_ins == []
    grant = account.refresh_grants[0]
    assert value == grant.access
    assert cache.load() == Token(grant.access, 2000.0, grant.refresh)
    assert (tokens.sign_ins, tokens.refreshes) == (0, 1)


def test_the_cache_keeps_the_refresh_token_a_refresh_did_not_replace(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "token.json")
    clock = Clock(1000.0)
    account = Account(clock, lifetime=1000.0, rotate=False)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, cache=cache, clock=clock
    )

    async def scenario() -> str:
        await tokens.token()
        clock.now += 995.0
        return await tokens.token()

    value = run(scenario)
    assert cache.load() == Token(value, 2995.0, account.sign_ins[0].refresh)


def test_invalidate_forgets_only_the_current_access_token_and_keeps_its_refresh_token(
    tmp_path: Path,
) -> None:
    cache = TokenCache(tmp_path / "token.json")
    clock = Clock(0.0)
    account = Account(clock)
    tokens = TokenManager(account.sign_in, refresh_margin=10.0, cache=cache, clock=clock)
    value = run(tokens.token)
    before = cache.load()
    assert before is not None and before.refresh
    tokens.invalidate("another-token")
    assert cache.load() == before
    tokens.invalidate(value)
    after = cache.load()
    # The refused access token is gone; the refresh token stays for the next renewal.
    assert after is not None and after.value == "" and after.refresh == before.refresh
    again = TokenManager(account.sign_in, refresh_margin=10.0, cache=cache, clock=clock)
    assert again._refresh_token == before.refresh and again._token is not None
    assert not again._usable(again._token)


def test_a_transport_error_from_sign_in_propagates_and_nothing_is_kept() -> None:
    clock = Clock(0.0)

    async def sign_in() -> Grant:
        raise TransportError("refused", sent=False)

    tokens = TokenManager(sign_in, refresh_margin=10.0, clock=clock)
    with pytest.raises(TransportError):
        run(tokens.token)
    assert repr(tokens) == "TokenManager(sign_ins=0, refreshes=0, token=None)"


def test_a_refused_token_written_back_to_the_cache_is_never_taken_again(
    tmp_path: Path,
) -> None:
    cache = TokenCache(tmp_path / "token.json")
    clock = Clock(0.0)
    account = Account(clock)
    tokens = TokenManager(account.sign_in, refresh_margin=10.0, cache=cache, clock=clock)
    refused = run(tokens.token)
    tokens.invalidate(refused)
    # Another process, unaware of the refusal, writes the same token back.
    cache.save(Token(refused, clock.now + 1000.0, None))
    fresh = run(tokens.token)
    assert fresh != refused
    assert len(account.sign_ins) == 2


def test_a_renewal_forgotten_after_a_fork_is_started_anew() -> None:
    clock = Clock(0.0)
    account = Account(clock)
    release = asyncio.Event()

    async def slow_sign_in() -> Grant:
        await release.wait()
        return await account.sign_in()

    tokens = TokenManager(slow_sign_in, refresh_margin=10.0, clock=clock)

    async def scenario() -> tuple[str, str]:
        first = asyncio.create_task(tokens.token())
        await asyncio.sleep(0)  # the first renewal is under way
        tokens.forget_renewal()  # what a forked child does with its parent's
        second = asyncio.create_task(tokens.token())
        await asyncio.sleep(0)
        release.set()
        return await first, await second

    first, second = run(scenario)
    # Two renewals: the second call did not wait for the forgotten one.
    assert len(account.sign_ins) == 2
    assert {first, second} == {g.access for g in account.sign_ins}


# -- another process shares the cache ------------------------------------------------------
#
# Two ``TokenCache`` objects on one file are two processes' views of it: each opens the
# file and its lock on its own. What the other "process" writes lands between this
# manager's construction and its renewal, which is where a real one's write lands while
# this one waits for the cache's lock.


@dataclass
class _SharedCache:
    """This manager, over a cache holding an expired token, and a second view of the
    same file (the other process's)."""

    clock: Clock
    account: Account
    mine: TokenCache
    theirs: TokenCache
    old_refresh: str
    tokens: TokenManager


def _shared_cache(tmp_path: Path) -> _SharedCache:
    clock = Clock(1000.0)
    account = Account(clock)
    mine = TokenCache(tmp_path / "token.json")
    old_refresh = secret("old-refresh")
    mine.save(Token(secret("expired"), clock.now - 10.0, old_refresh))
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, cache=mine, clock=clock
    )
    return _SharedCache(
        clock, account, mine, TokenCache(tmp_path / "token.json"), old_refresh, tokens
    )


def test_a_token_another_process_renewed_meanwhile_is_taken_without_a_renewal(
    tmp_path: Path,
) -> None:
    c = _shared_cache(tmp_path)
    theirs_access, theirs_refresh = secret("their-access"), secret("their-refresh")
    c.theirs.save(Token(theirs_access, c.clock.now + 500.0, theirs_refresh))
    assert run(c.tokens.token) == theirs_access
    assert (c.account.sign_ins, c.account.refreshed_with) == ([], [])
    assert theirs_access in _logging._tokens and theirs_refresh in _logging._tokens
    # Taken as this manager's own: the next call reads no cache.
    c.theirs.clear()
    assert run(c.tokens.token) == theirs_access
    c.theirs.save(Token(theirs_access, c.clock.now + 500.0, theirs_refresh))
    # Its refresh token came with it: the next renewal spends that one.
    c.clock.now += 495.0
    run(c.tokens.token)
    assert c.account.refreshed_with == [theirs_refresh]
    assert c.tokens.refreshes == 1 and c.tokens.sign_ins == 0


@pytest.mark.parametrize(
    "written",
    [
        "expired",  # renewed by the other, and expired since
        "due",  # valid, but inside this manager's refresh margin
        "refused",  # its access token refused: only the refresh token is kept
        "empty",  # no access token, though an expiry ahead (a file written otherwise)
    ],
)
def test_a_refresh_token_another_process_rotated_is_the_one_spent(
    tmp_path: Path, written: str
) -> None:
    c = _shared_cache(tmp_path)
    rotated = secret("rotated-refresh")
    access = secret("their-access")
    expires = {"expired": c.clock.now - 1.0, "due": c.clock.now + 5.0}.get(
        written, c.clock.now + 500
    )
    if written == "empty":
        access = ""
    c.theirs.save(Token(access, expires, rotated))
    if written == "refused":
        c.theirs.forget_access(Token(access, expires, rotated))
    value = run(c.tokens.token)
    assert c.account.refreshed_with == [rotated]  # not the old one, which is spent
    # Read from the cache, it is redacted from the logs as a token (not as a password).
    assert rotated in _logging._tokens and rotated not in _logging._passwords
    assert value == c.account.refresh_grants[0].access != access
    assert c.old_refresh not in c.account.refreshed_with
    assert c.mine.load() == Token(value, c.clock.now + 1000.0, c.account.refresh_grants[0].refresh)


def test_a_token_this_manager_saw_refused_is_not_taken_from_another_process(
    tmp_path: Path,
) -> None:
    c = _shared_cache(tmp_path)
    refused = secret("refused-access")
    c.tokens.invalidate(refused)
    c.theirs.save(Token(refused, c.clock.now + 500.0, None))
    value = run(c.tokens.token)
    assert value != refused
    assert len(c.account.refreshed_with) + len(c.account.sign_ins) == 1


# -- the shared renewal's life -------------------------------------------------------------


def test_a_renewal_runs_in_a_context_of_its_own() -> None:
    # Shared by every waiter, it is not bound by the context (a deadline, a trace) of
    # the call that happened to start it.
    from omnivoltaic_erm._pipeline import deadline_var

    seen: list[float | None] = []
    clock = Clock(0.0)
    account = Account(clock)

    async def sign_in() -> Grant:
        seen.append(deadline_var.get())
        return await account.sign_in()

    async def scenario() -> str:
        deadline_var.set(12.5)
        return await TokenManager(sign_in, refresh_margin=10.0, clock=clock).token()

    assert run(scenario) == account.sign_ins[0].access
    assert seen == [None]


def test_aclose_cancels_a_renewal_under_way_and_lets_it_unwind() -> None:
    clock = Clock(0.0)
    account = Account(clock)
    unwound: list[str] = []

    async def stuck_sign_in() -> Grant:
        try:
            await asyncio.Event().wait()
        finally:
            unwound.append("sign-in")
        raise AssertionError("never reached")

    async def scenario() -> None:
        tokens = TokenManager(stuck_sign_in, refresh_margin=10.0, clock=clock)
        caller = asyncio.ensure_future(tokens.token())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not caller.done()
        # Bounded: an aclose that did not cancel the renewal would wait for ever.
        closing = asyncio.ensure_future(tokens.aclose())
        await asyncio.wait({closing}, timeout=5)
        assert closing.done(), "aclose waits for a renewal it did not cancel"
        assert closing.exception() is None  # the renewal's cancellation stays inside
        assert unwound == ["sign-in"]  # done within aclose, not later
        with pytest.raises(asyncio.CancelledError):
            await caller
        # Closed with nothing under way, or twice: nothing to do.
        await tokens.aclose()
        # The cancelled renewal is forgotten: a later call starts its own.
        tokens._sign_in = account.sign_in
        assert await tokens.token() == account.sign_ins[0].access

    run(scenario)


def test_a_failed_renewal_nobody_waits_for_is_not_reported_as_unretrieved() -> None:
    clock = Clock(0.0)
    reported: list[str] = []

    async def failing_sign_in() -> Grant:
        await asyncio.sleep(0)
        raise AuthenticationError("Invalid Credentials")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
        tokens = TokenManager(failing_sign_in, refresh_margin=10.0, clock=clock)
        caller = asyncio.ensure_future(tokens.token())
        await asyncio.sleep(0)
        caller.cancel()  # the only waiter leaves; the renewal goes on and fails
        for _ in range(5):
            await asyncio.sleep(0)
        assert tokens._renewal is None
        del tokens
        gc.collect()

    run(scenario)
    gc.collect()
    assert reported == []


@pytest.mark.parametrize("expires_at", [0.0, 1500.0])  # as this client writes it; or not
def test_a_cached_token_without_its_access_part_is_renewed_with_its_refresh_token(
    tmp_path: Path, expires_at: float
) -> None:
    cache = TokenCache(tmp_path / "token.json")
    kept = secret("kept-refresh")
    cache.save(Token("", expires_at, kept))
    clock = Clock(1000.0)
    account = Account(clock)
    tokens = TokenManager(
        account.sign_in, refresh=account.refresh, refresh_margin=10.0, cache=cache, clock=clock
    )
    assert run(tokens.token) == account.refresh_grants[0].access
    assert account.refreshed_with == [kept] and account.sign_ins == []


def test_a_token_without_a_refresh_token_is_cached_with_none(tmp_path: Path) -> None:
    # The file is read by other processes and versions: no refresh token is null.
    cache = TokenCache(tmp_path / "token.json")
    clock = Clock(0.0)

    async def sign_in() -> Grant:
        return Grant(jwt(1000.0))

    tokens = TokenManager(sign_in, refresh_margin=10.0, cache=cache, clock=clock)
    run(tokens.token)
    assert json.loads(cache.path.read_text())["refresh"] is None
