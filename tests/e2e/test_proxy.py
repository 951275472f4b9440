"""Proxies as in requests and httpx: HTTP_PROXY / HTTPS_PROXY / NO_PROXY are honoured, and
an explicit proxy (``proxy=``, ``--proxy``, ``ERM_PROXY``) overrides them. Checked through
a small forward proxy on loopback that counts what passes."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from omnivoltaic_erm_gql import QueryOrder

from omnivoltaic_erm import AsyncErmClient, ErmError
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.stub_erm import PASSWORD, StubErm

# Nothing listens here: a request sent to this "proxy" fails to connect.
DEAD_PROXY = "http://127.0.0.1:9"


class ForwardProxy:
    """A plain-HTTP forward proxy: relays each request to its absolute URL and counts it."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.relayed: list[str] = []
        # With credentials, a request without them is refused with 407, as an
        # authenticating proxy does.
        self.credentials = credentials
        self.refused = 0

    def app(self) -> web.Application:
        async def relay(request: web.Request) -> web.StreamResponse:
            if self.credentials is not None:
                user, password = self.credentials
                wanted = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                if request.headers.get("Proxy-Authorization") != wanted:
                    self.refused += 1
                    return web.Response(status=407, text="Proxy Authentication Required")
            target = str(request.url)
            self.relayed.append(target)
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() not in ("host", "proxy-connection")
            }
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    request.method,
                    target,
                    data=await request.read(),
                    headers=headers,
                    allow_redirects=False,
                ) as answer,
            ):
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    content_type=answer.content_type,
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", relay)
        return app


@pytest.fixture
def stub() -> Iterator[tuple[StubErm, BackgroundServer]]:
    erm = StubErm()
    with erm.serve() as srv:
        yield erm, srv


@pytest.fixture
def proxy() -> Iterator[tuple[ForwardProxy, BackgroundServer]]:
    fwd = ForwardProxy()
    with BackgroundServer(fwd.app()) as srv:
        yield fwd, srv


def _items(url: str, proxy: str | None = None) -> int:
    async def run() -> int:
        async with AsyncErmClient(url, "d@example.com", PASSWORD, proxy=proxy) as erm:
            page = await erm.api.get_all_client_items(
                queryorder=QueryOrder.DESC, assetaccount=False
            )
            return len(page.get_all_client_items.page.edges or [])

    return asyncio.run(run())


@pytest.fixture(autouse=True)
def _clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "ERM_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_http_proxy_from_the_environment_is_used(
    stub: tuple[StubErm, BackgroundServer],
    proxy: tuple[ForwardProxy, BackgroundServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    erm_stub, srv = stub
    fwd, fwd_srv = proxy
    monkeypatch.setenv("HTTP_PROXY", fwd_srv.base_url)
    assert _items(f"{srv.base_url}/graphql") == 2
    assert fwd.relayed == [f"{srv.base_url}/graphql"] * 2  # sign-in, then the query
    assert erm_stub.calls["GetAllClientItems"] == 1


# A user name and password as people write them in a proxy URL, percent-encoded.
PROXY_USER, PROXY_PASSWORD = "ops@depot", "p:w/0rd"
PROXY_USERINFO = "ops%40depot:p%3Aw%2F0rd"


def test_credentials_in_the_proxy_url_reach_the_proxy(
    stub: tuple[StubErm, BackgroundServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    erm_stub, srv = stub
    fwd = ForwardProxy(credentials=(PROXY_USER, PROXY_PASSWORD))
    with BackgroundServer(fwd.app()) as fwd_srv:
        with_credentials = fwd_srv.base_url.replace("http://", f"http://{PROXY_USERINFO}@")
        # From the environment, as behind a corporate proxy, and given explicitly.
        monkeypatch.setenv("HTTP_PROXY", with_credentials)
        assert _items(f"{srv.base_url}/graphql") == 2
        monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
        assert _items(f"{srv.base_url}/graphql", proxy=with_credentials) == 2
        assert fwd.refused == 0
        assert len(fwd.relayed) == 4
        # Without them, the proxy refuses: the check above is not vacuous.
        monkeypatch.setenv("HTTP_PROXY", fwd_srv.base_url)
        with pytest.raises(ErmError, match="407"):
            _items(f"{srv.base_url}/graphql")
        assert fwd.refused >= 1
    assert erm_stub.calls["GetAllClientItems"] == 2


def test_no_proxy_bypasses_the_proxy(
    stub: tuple[StubErm, BackgroundServer],
    proxy: tuple[ForwardProxy, BackgroundServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    erm_stub, srv = stub
    fwd, fwd_srv = proxy
    monkeypatch.setenv("HTTP_PROXY", fwd_srv.base_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _items(f"{srv.base_url}/graphql") == 2
    assert fwd.relayed == []
    assert erm_stub.calls["GetAllClientItems"] == 1


def test_explicit_proxy_overrides_the_environment(
    stub: tuple[StubErm, BackgroundServer],
    proxy: tuple[ForwardProxy, BackgroundServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    erm_stub, srv = stub
    fwd, fwd_srv = proxy
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _items(f"{srv.base_url}/graphql", proxy=fwd_srv.base_url) == 2
    assert len(fwd.relayed) == 2
    assert erm_stub.calls["GetAllClientItems"] == 1


@pytest.mark.parametrize("how", ["--proxy", "ERM_PROXY"])
def test_cli_proxy_option_and_variable(
    stub: tuple[StubErm, BackgroundServer],
    proxy: tuple[ForwardProxy, BackgroundServer],
    tmp_path: Path,
    how: str,
) -> None:
    erm_stub, srv = stub
    fwd, fwd_srv = proxy
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
    env.update(
        ERM_URL=f"{srv.base_url}/graphql",
        ERM_EMAIL="d@example.com",
        ERM_PASSWORD=PASSWORD,
        XDG_CACHE_HOME=str(tmp_path),
        HTTP_PROXY=DEAD_PROXY,
    )
    args = [sys.executable, "-m", "omnivoltaic_erm"]
    if how == "--proxy":
        args += ["--proxy", fwd_srv.base_url]
    else:
        env["ERM_PROXY"] = fwd_srv.base_url
    done = subprocess.run(
        [*args, "--json", "items", "--limit", "1"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(fwd.relayed) == 2
    assert erm_stub.calls["GetAllClientItems"] == 1
