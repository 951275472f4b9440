"""The generated client on its aiohttp base, against a loopback server that replays the
handbook's example responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from omnivoltaic_erm_gql import Client, CodeTypes, QueryOrder

from omnivoltaic_erm.errors import (
    AuthenticationError,
    InvalidResponseError,
    ServerError,
)
from omnivoltaic_erm.testing import BackgroundServer
from tests.conftest import ROOT
from tests.support.replay import Canned, ReplayServer

DATA = ROOT / "tests" / "data"


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def _same(expected: Any, actual: Any) -> bool:
    """Equal, treating ISO date strings and datetimes as the same instant."""
    if isinstance(expected, str) and isinstance(actual, datetime):
        return datetime.fromisoformat(expected.replace("Z", "+00:00")) == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            _same(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(_same, expected, actual))
    return bool(expected == actual)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ReplayServer, BackgroundServer]]:
    replay = ReplayServer()
    with replay.serve() as srv:
        yield replay, srv


def _call(srv: BackgroundServer, fn: Any) -> Any:
    async def run() -> Any:
        async with Client(url=f"{srv.base_url}/graphql") as client:
            return await fn(client)

    return asyncio.run(run())


def test_items_page_parses_with_no_field_lost(server: Any) -> None:
    replay, srv = server
    raw = _load("handbook_items_page")
    replay.answers["GetAllClientItems"] = Canned(json.dumps(raw).encode())
    result = _call(
        srv,
        lambda c: c.get_all_client_items(queryorder=QueryOrder.DESC, last=100, assetaccount=False),
    )
    edges = result.get_all_client_items.page.edges
    assert [e.node.oem_item_id for e in edges] == ["DVAV0111000999", "DVAV0111000998"]
    assert edges[0].node.id == "677f9698818e7a7fe66a939e"
    assert isinstance(edges[0].node.created_at, datetime)
    for edge, raw_edge in zip(
        edges, raw["data"]["getAllClientItems"]["page"]["edges"], strict=True
    ):
        dumped = edge.model_dump(by_alias=True)
        assert _same(raw_edge, dumped), f"field lost or changed in {raw_edge['node']['_id']}"


def test_sign_in_user_parses_every_field(server: Any) -> None:
    replay, srv = server
    raw = _load("handbook_sign_in_user")
    replay.answers["SignInUser"] = Canned(json.dumps(raw).encode())
    result = _call(srv, lambda c: c.sign_in_user(email="e", password="p"))
    assert result.sign_in_user is not None
    assert result.sign_in_user.role_name == "DISTRIBUTOR"
    assert _same(raw["data"]["signInUser"], result.sign_in_user.model_dump(by_alias=True))


def test_days_code_parses(server: Any) -> None:
    replay, srv = server
    replay.answers["GenerateDaysCode"] = Canned(json.dumps(_load("handbook_days_code")).encode())
    result = _call(srv, lambda c: c.generate_days_code(item_id="x", code_days=1))
    code = result.generate_days_code
    assert code.code_type is CodeTypes.DAYSCODE
    assert code.code_hex == "5F9378720CBB25A8"
    assert code.code_dec == "*016 035 001 460 213 591 464#"


def test_unauthorized_raises_typed_error_with_extensions(server: Any) -> None:
    replay, srv = server
    replay.answers["GetAllClientItems"] = Canned(
        json.dumps(_load("handbook_unauthorized")).encode()
    )
    with pytest.raises(AuthenticationError) as info:
        _call(srv, lambda c: c.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False))
    err = info.value
    assert err.message == "Unauthorized"
    assert err.code == "UNAUTHENTICATED"
    assert err.extensions["response"]["statusCode"] == 401
    assert err.data is None


def test_partial_data_is_kept_on_graphql_errors(server: Any) -> None:
    replay, srv = server
    body = {
        "data": {"getAllClientItems": None},
        "errors": [{"message": "boom", "path": ["getAllClientItems"]}],
    }
    replay.answers["GetAllClientItems"] = Canned(json.dumps(body).encode())
    with pytest.raises(Exception) as info:
        _call(srv, lambda c: c.get_all_client_items(queryorder=QueryOrder.ASC, assetaccount=False))
    err = info.value
    assert getattr(err, "data", None) == {"getAllClientItems": None}
    assert getattr(err, "path", None) == ["getAllClientItems"]


def test_html_502_raises_server_error(server: Any) -> None:
    replay, srv = server
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    replay.answers["GenerateFreeCode"] = Canned(html, status=502, content_type="text/html")
    with pytest.raises(ServerError) as info:
        _call(srv, lambda c: c.generate_free_code(item_id="x"))
    assert info.value.status == 502
    assert "502 Bad Gateway" in str(info.value)


def test_truncated_json_raises_invalid_response(server: Any) -> None:
    replay, srv = server
    full = json.dumps(_load("handbook_days_code")).encode()
    replay.answers["GenerateDaysCode"] = Canned(full[: len(full) // 2])
    with pytest.raises(InvalidResponseError):
        _call(srv, lambda c: c.generate_days_code(item_id="x", code_days=1))


def test_html_200_raises_invalid_response(server: Any) -> None:
    replay, srv = server
    replay.answers["GenerateResetCode"] = Canned(b"<html>oops</html>", content_type="text/html")
    with pytest.raises(InvalidResponseError):
        _call(srv, lambda c: c.generate_reset_code(item_id="x"))


def test_session_is_reused_across_calls(server: Any) -> None:
    replay, srv = server
    replay.answers["GenerateDaysCode"] = Canned(json.dumps(_load("handbook_days_code")).encode())

    async def run() -> int:
        async with Client(url=f"{srv.base_url}/graphql") as client:
            await client.generate_days_code(item_id="x", code_days=1)
            first = client.session
            await client.generate_days_code(item_id="x", code_days=1, headers={"X-Trace": "1"})
            assert client.session is first
        return len(replay.headers)

    asyncio.run(run())
    assert replay.headers[-1].get("X-Trace") == "1"
