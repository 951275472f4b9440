"""Proxies as in requests and httpx: HTTP_PROXY / HTTPS_PROXY / NO_PROXY are honoured, and
an explicit proxy (``proxy=``, ``--proxy``, ``ERM_PROXY``) overrides them. Checked through
a small forward proxy on loopback that counts what passes."""

from __future__ import annotations

import asyncio
import base64
import os
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from omnivoltaic_erm_gql import QueryOrder

from omnivoltaic_erm import AsyncErmClient, ErmError, TransportError
from omnivoltaic_erm._transport import GraphQLTransport, basic_credentials
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.stub_erm import PASSWORD, StubErm

# Nothing listens here: a request sent to this "proxy" fails to connect.
DEAD_PROXY = "http://127.0.0.1:9"


def _basic(user: str, password: str) -> str:
    """The ``Proxy-Authorization`` value a proxy expects, written out here rather than
    taken from the code under test."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


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
                wanted = _basic(user, password)
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


class ConnectProxy:
    """A tunnelling proxy for https: answers ``CONNECT host:port`` and relays the bytes,
    refusing with 407 a CONNECT without the expected ``Proxy-Authorization``."""

    def __init__(self, credentials: tuple[str, str]) -> None:
        user, password = credentials
        self.wanted = _basic(user, password)
        self.tunnels: list[str] = []
        self.refused = 0
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request_line = self.rfile.readline().decode("latin-1").split()
                headers: dict[str, str] = {}
                while (line := self.rfile.readline().decode("latin-1").strip()) != "":
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get("proxy-authorization") != proxy.wanted:
                    proxy.refused += 1
                    self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
                    self.wfile.write(b"Content-Length: 0\r\n\r\n")
                    return
                host, _, port = request_line[1].rpartition(":")
                proxy.tunnels.append(request_line[1])
                with socket.create_connection((host, int(port))) as upstream:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    _pipe(self.connection, upstream)

        return Handler

    def __enter__(self) -> ConnectProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Relay bytes both ways until one side closes."""
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 10)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


def test_credentials_in_an_https_proxy_url_reach_the_tunnel_and_not_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"data": {"ok": True}})

    app = web.Application()
    app.router.add_post("/graphql", handle)

    async def post(url: str, proxy: str | None = None) -> bytes:
        transport = GraphQLTransport(url, ssl=client_context, proxy=proxy)
        try:
            return (await transport.post("{ ok }", "Ok", None)).body
        finally:
            await transport.close()

    with (
        BackgroundServer(app, ssl_context=context) as server,
        ConnectProxy((PROXY_USER, PROXY_PASSWORD)) as tunnel,
    ):
        url = f"https://127.0.0.1:{server.port}/graphql"
        with_credentials = tunnel.url.replace("http://", f"http://{PROXY_USERINFO}@")
        # From the environment, and given explicitly.
        monkeypatch.setenv("HTTPS_PROXY", with_credentials)
        assert b'"ok"' in asyncio.run(post(url))
        monkeypatch.setenv("HTTPS_PROXY", DEAD_PROXY)
        assert b'"ok"' in asyncio.run(post(url, proxy=with_credentials))
        assert tunnel.tunnels == [f"127.0.0.1:{server.port}"] * 2
        assert tunnel.refused == 0
        # The proxy's credentials end at the proxy: the server never sees them.
        assert len(seen) == 2
        assert all("Proxy-Authorization" not in headers for headers in seen)
        # Without them, the tunnel is refused: the check above is not vacuous.
        monkeypatch.setenv("HTTPS_PROXY", tunnel.url)
        with pytest.raises(TransportError, match=r"HTTP 407 .*user name and password") as info:
            asyncio.run(post(url))
        assert (info.value.sent, info.value.retryable) == (False, False)
        assert tunnel.refused == 1
        assert len(seen) == 2


def test_basic_credentials_encode_as_the_standard_says() -> None:
    assert basic_credentials("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert basic_credentials("ops@depot", "pä") == "Basic b3BzQGRlcG90OnDDpA=="  # UTF-8
    with pytest.raises(ValueError, match="cannot hold"):
        basic_credentials("a:b", "pw")
