"""Transport security and secrets at rest: TLS verified by default, plain http only to
loopback, the token cache written 0600."""

from __future__ import annotations

import asyncio
import logging
import ssl
import stat
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from omnivoltaic_erm import AsyncErmClient, ConfigurationError, TransportError
from omnivoltaic_erm._auth import Token, TokenCache
from omnivoltaic_erm._logging import REDACTED, get_logger, register_secret
from omnivoltaic_erm.testing import BackgroundServer


def test_tls_is_verified_by_default() -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"data": {"signInUser": {"accessToken": "a.b.c", "_id": "1"}}})

    app = web.Application()
    app.router.add_post("/graphql", handle)
    with BackgroundServer(app, ssl_context=context) as server:
        url = f"https://127.0.0.1:{server.port}/graphql"

        async def run() -> None:
            async with AsyncErmClient(url, "ops@example.test", "pw") as erm:
                await erm.find_item("DVAV2501000001")

        with pytest.raises(TransportError) as info:
            asyncio.run(run())
        assert info.value.sent is False, "a failed handshake sends nothing"
        assert "certificate" in str(info.value.__cause__).lower()


@pytest.mark.parametrize(
    "url", ["http://erm.example.com/graphql", "http://192.168.1.10:8765/graphql"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        AsyncErmClient(url, "ops@example.test", "pw")
    AsyncErmClient(url, "ops@example.test", "pw", allow_insecure=True)  # explicit opt-in


def test_token_cache_file_is_0600(tmp_path: Path) -> None:
    cache = TokenCache.for_account("https://erm.example.com/graphql", "a@b.c", tmp_path / "c")
    cache.save(Token("header.payload.sig", 2e9))
    mode = stat.S_IMODE(cache.path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    assert cache.load() == Token("header.payload.sig", 2e9)
    assert "header.payload.sig" not in repr(cache)
    cache.clear()
    assert cache.load() is None


def test_a_registered_secret_is_redacted_from_message_and_args(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "PLANTED-secret-5e4d3c2b1a"
    register_secret(secret)
    log = get_logger("omnivoltaic_erm.client")
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm")
    log.warning(f"in the message: {secret}")
    log.info("in the args: %s", secret)
    log.debug("in a mapping: %(token)s and %(n)d", {"token": f"Bearer {secret}", "n": 7})
    log.error("around it: %s|%s", "before", f"x{secret}y")
    records = [r for r in caplog.records if r.name == "omnivoltaic_erm.client"]
    assert len(records) == 4
    for record in records:
        text = record.getMessage()
        assert secret not in text, text
        assert REDACTED in text, text
    assert secret not in caplog.text
    assert records[2].getMessage() == f"in a mapping: Bearer {REDACTED} and 7"
    assert records[3].getMessage() == f"around it: before|x{REDACTED}y"
