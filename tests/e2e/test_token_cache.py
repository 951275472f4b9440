"""The token cache as processes share it: one renewal while others wait and reuse its
token, atomic writes, the refresh token kept when only the access token was refused, and
no cache at all (one warning) where its folder cannot be written."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from omnivoltaic_erm import AsyncErmClient
from omnivoltaic_erm._auth import Token, TokenCache, default_cache_dir
from omnivoltaic_erm.sandbox import Sandbox

WORKER = """
import asyncio, sys
from omnivoltaic_erm import AsyncErmClient
url, email, password, cache = sys.argv[1:5]
async def main():
    async with AsyncErmClient(url, email, password, token_cache=cache) as erm:
        await erm.find_item("DVAV2501000001")
        print(erm.sign_ins + erm.refreshes, flush=True)
asyncio.run(main())
"""


def test_two_processes_renewing_at_once_share_one_renewal_and_a_valid_cache(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache" / "token.json"
    lock = cache.with_suffix(".lock")
    lock.parent.mkdir(mode=0o700)
    with Sandbox(items=1) as sb:
        # Hold the lock, so that both processes need a token while a renewal is "under
        # way"; release it once both wait.
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        argv = [sys.executable, "-c", WORKER, sb.url, sb.email, sb.password, str(cache)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
        procs = [
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            for _ in range(2)
        ]
        time.sleep(2.0)  # both have started and wait for the lock
        os.close(fd)
        outputs = [p.communicate(timeout=60) for p in procs]
        codes = [p.returncode for p in procs]
        saved = json.loads(cache.read_text())

        async def check() -> None:  # the cached token is one the server accepts
            async with AsyncErmClient(
                sb.url, sb.email, "not-the-password", token_cache=cache
            ) as erm:
                await erm.find_item("DVAV2501000001")
                assert erm.sign_ins == 0

        asyncio.run(check())
    assert codes == [0, 0], outputs
    renewals = sorted(int(out.strip()) for out, _ in outputs)
    assert renewals == [0, 1], outputs  # one renewed; the other took its token
    assert saved["token"] and saved["refresh"]
    assert [p.name for p in cache.parent.iterdir() if p.suffix == ".tmp"] == []


def test_concurrent_writes_leave_one_whole_file(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "token.json")
    tokens = [Token(f"token-{n}" * 50, float(n), f"refresh-{n}") for n in range(8)]

    def write(token: Token) -> None:
        for _ in range(50):
            cache.save(token)

    threads = [threading.Thread(target=write, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.load() in tokens
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]
    assert (tmp_path / "token.json").stat().st_mode & 0o777 == 0o600


def test_a_cache_folder_that_cannot_be_written_means_no_cache_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    caplog.set_level(logging.WARNING, logger="omnivoltaic_erm")
    with Sandbox(items=1) as sb:

        async def run() -> None:
            async with AsyncErmClient(
                sb.url, sb.email, sb.password, token_cache=blocker / "token.json"
            ) as erm:
                await erm.find_item("DVAV2501000001")
                await erm.find_item("DVAV2501000001")

        asyncio.run(run())
    warnings = [r for r in caplog.records if "token cache" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "going on without it" in warnings[0].getMessage()


def test_the_default_folder_is_the_platforms_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform != "linux":
        pytest.skip("the XDG rule is Linux's")
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-cache-test")
    assert default_cache_dir() == Path("/tmp/xdg-cache-test/omnivoltaic-erm")


def test_a_client_without_a_password_runs_on_the_cached_token_and_never_signs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnivoltaic_erm import ConfigurationError, SignInRequiredError

    monkeypatch.delenv("ERM_PASSWORD", raising=False)
    cache = tmp_path / "token.json"
    with Sandbox(items=1) as sb:
        item = str(sb.items()[0]["oemItemID"])

        async def with_password() -> None:
            async with AsyncErmClient(sb.url, sb.email, sb.password, token_cache=cache) as erm:
                await erm.find_item(item)

        async def token_only() -> tuple[str, int]:
            async with AsyncErmClient(sb.url, sb.email, token_cache=cache) as erm:
                found = await erm.find_item(item)
                return str(found.oem_item_id), erm.sign_ins

        asyncio.run(with_password())
        assert asyncio.run(token_only()) == (item, 0)
        cache.unlink()
        with pytest.raises(SignInRequiredError, match="no password to sign in again"):
            asyncio.run(token_only())
    with pytest.raises(ConfigurationError, match="no credentials"):
        AsyncErmClient("http://127.0.0.1:9/graphql", "d@example.com")
