"""Token renewal with ``refreshAccessToken``, against the sandbox.

The client renews its access token ahead of expiry with the refresh token (which the
sandbox rotates on every use), and signs in with the password only when it has no
refresh token or the server refuses it. The command line keeps the refresh token in its
0600 cache, so commands keep working without the password past the access token's life.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from omnivoltaic_erm import AsyncErmClient
from omnivoltaic_erm.sandbox import Sandbox
from tests.support.cli_helpers import Cli
from tests.support.sandbox_http import error_of, gql

# Each test waits out access tokens of 2 s: seconds, not milliseconds.
pytestmark = pytest.mark.slow

REFRESH = "mutation ($r: String!) { refreshAccessToken(refreshToken: $r) { accessToken } }"


def _listing(erm: AsyncErmClient) -> object:
    return erm.find_item("DVAV2501000001")


def test_the_client_renews_with_the_refresh_token_not_the_password() -> None:
    with Sandbox(items=2, token_ttl=2.0, refresh_ttl=60.0) as sb:

        async def run() -> tuple[int, int, str]:
            async with AsyncErmClient(sb.url, sb.email, sb.password) as erm:
                for _ in range(3):
                    await _listing(erm)
                    # Past the access token's life (2 s): the next call must renew.
                    await asyncio.sleep(2.2)
                await _listing(erm)
                return erm.sign_ins, erm.refreshes, repr(erm._tokens)

        sign_ins, refreshes, text = asyncio.run(run())
    assert (sign_ins, refreshes) == (1, 3)
    assert "refresh=<redacted>" in text and "eyJ" not in text


def test_a_refused_refresh_falls_back_to_the_password(tmp_path: Path) -> None:
    cache = tmp_path / "token.json"
    with Sandbox(items=2, token_ttl=2.0, refresh_ttl=60.0) as sb:

        async def run() -> tuple[int, int]:
            async with AsyncErmClient(sb.url, sb.email, sb.password, token_cache=cache) as erm:
                await _listing(erm)
                # Another process spends the refresh token first: it is rotated away.
                stolen = json.loads(cache.read_text())["refresh"]
                spent = await asyncio.to_thread(gql, sb, REFRESH, {"r": stolen})
                assert spent["data"]["refreshAccessToken"]["accessToken"]
                again = await asyncio.to_thread(gql, sb, REFRESH, {"r": stolen})
                assert error_of(again)["message"] == "Unauthorized"
                await asyncio.sleep(2.2)
                await _listing(erm)
                return erm.sign_ins, erm.refreshes

        assert asyncio.run(run()) == (2, 0)
    assert cache.stat().st_mode & 0o777 == 0o600


def test_the_cli_keeps_working_past_the_access_token_on_its_refresh_token(
    tmp_path: Path,
) -> None:
    with Sandbox(items=3, token_ttl=2.0, refresh_ttl=3600.0, code_interval=0.2) as sb:
        cli = Cli(sb, tmp_path / "cache")
        login = cli.run("login")
        assert login.code == 0, login.err
        [cache] = (cli.cache / "omnivoltaic-erm").glob("token-*.json")
        first = json.loads(cache.read_text())
        assert first["refresh"] and cache.stat().st_mode & 0o777 == 0o600
        time.sleep(2.2)  # the cached access token has expired
        for _ in range(2):
            r = cli.run("--json", "items", "--limit", "2", ERM_PASSWORD=None)
            assert r.code == 0, r.err
            assert len(r.json()) == 2
            for secret in (first["token"], first["refresh"]):
                assert secret not in r.out + r.err
            time.sleep(2.2)
        rotated = json.loads(cache.read_text())
        assert rotated["refresh"] != first["refresh"]  # each renewal rotates it
        assert rotated["expires_at"] > first["expires_at"]
        # A cache whose refresh token the server refuses: one line saying to log in again.
        cache.write_text(json.dumps({**rotated, "refresh": "spent", "expires_at": 0}))
        cli.run("items", ERM_PASSWORD=None).assert_one_line_error(1, "run `erm login` again")
