"""Malformed and hostile responses, and hostile input: every case ends in a typed error
within the configured timeout, with no hang and no crash."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from omnivoltaic_erm import (
    AsyncErmClient,
    ClientConfig,
    ErmError,
    ErmTimeoutError,
    GraphQLError,
    InvalidInputError,
    InvalidResponseError,
    RetryPolicy,
    ServerError,
)
from omnivoltaic_erm.errors import UnexpectedShapeError
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.hostile import Hostile

TIMEOUT = 1.5


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[Hostile, BackgroundServer]]:
    h = Hostile()
    with BackgroundServer(h.app()) as server:
        yield h, server


def _client(server: BackgroundServer, **config: object) -> AsyncErmClient:
    settings: dict[str, object] = {"timeout": TIMEOUT, "retry": RetryPolicy(max_retries=0)}
    settings.update(config)
    cfg = ClientConfig(**settings)  # type: ignore[arg-type]
    return AsyncErmClient(f"{server.base_url}/graphql", "ops@example.test", "pw", config=cfg)


def _first_item(server: BackgroundServer, **config: object) -> tuple[BaseException, float]:
    async def run() -> None:
        async with _client(server, **config) as erm:
            async for _ in erm.iter_items():
                pass

    started = time.monotonic()
    with pytest.raises(ErmError) as info:
        asyncio.run(run())
    return info.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("html", ServerError),
        ("html200", InvalidResponseError),
        ("empty", InvalidResponseError),
        ("truncated", InvalidResponseError),
        ("neither", InvalidResponseError),
        ("wrong_types", UnexpectedShapeError),
        ("missing_required", UnexpectedShapeError),
        ("never", ErmTimeoutError),
        ("drip", ErmTimeoutError),
    ],
)
def test_malformed_response_gives_typed_error_in_time(
    hostile: tuple[Hostile, BackgroundServer], mode: str, expected: type[ErmError]
) -> None:
    h, server = hostile
    h.mode = mode
    err, elapsed = _first_item(server)
    assert type(err) is expected, f"{mode}: got {type(err).__name__}: {err}"
    assert elapsed < TIMEOUT + 2.0, f"{mode} took {elapsed:.1f} s"
    assert str(err), "every error says what happened"


def test_data_with_errors_is_an_error_not_a_result(
    hostile: tuple[Hostile, BackgroundServer],
) -> None:
    h, server = hostile
    h.mode = "data_and_errors"
    err, _ = _first_item(server)
    assert type(err) is GraphQLError and isinstance(err, GraphQLError), type(err).__name__
    assert "partial failure" in str(err)
    # The partial data stays on the error, for a caller who wants to look.
    assert isinstance(err.data, dict) and "getAllClientItems" in err.data


@pytest.mark.parametrize("mode", ["huge", "huge_chunked"])
def test_response_size_cap(hostile: tuple[Hostile, BackgroundServer], mode: str) -> None:
    h, server = hostile
    h.mode = mode
    err, _ = _first_item(server, max_response_bytes=1_000_000, timeout=10.0)
    assert isinstance(err, InvalidResponseError)
    assert "cap" in str(err)


@pytest.mark.slow
def test_huge_body_within_a_raised_cap_parses(hostile: tuple[Hostile, BackgroundServer]) -> None:
    h, server = hostile
    h.mode = "huge"

    async def run() -> int:
        cfg = ClientConfig(timeout=20.0, max_response_bytes=50_000_000)
        async with AsyncErmClient(
            f"{server.base_url}/graphql", "ops@example.test", "pw", config=cfg
        ) as erm:
            return len([i async for i in erm.iter_items()])

    assert asyncio.run(run()) == 60_000


HOSTILE_IDS = [
    'abc"}) { __typename } #',
    "x{y}z",
    "line\nbreak",
    "DVAV2501000001\r\n",
    "ünïcødé-ΩΣ-设备",
    "'; DROP TABLE items; --",
    "x" * 10_000,
]


@pytest.mark.parametrize("item_id", HOSTILE_IDS, ids=lambda v: repr(v[:20]))
def test_hostile_id_travels_only_as_a_variable_or_is_refused(
    hostile: tuple[Hostile, BackgroundServer], item_id: str
) -> None:
    h, server = hostile
    h.mode = "neither"
    h.seen.clear()

    async def run() -> None:
        async with _client(server) as erm:
            await erm.generate_days_code(item_id, days=1)

    with pytest.raises(ErmError) as info:
        asyncio.run(run())
    sent = [r for r in h.seen if r.get("operationName") != "SignInUser"]
    if isinstance(info.value, InvalidInputError):
        assert sent == [], "refused input must not be sent"
        return
    assert sent, "an accepted id must reach the server"
    for request in sent:
        assert item_id not in request["query"], "the id was spliced into the document"
        assert item_id in json.dumps(request["variables"], ensure_ascii=False) or item_id in str(
            request["variables"]
        )


@pytest.mark.parametrize("days", [0, -1, 1097, 10**12, "7", 7.5])
def test_bad_days_are_refused_before_sending(
    hostile: tuple[Hostile, BackgroundServer], days: object
) -> None:
    h, server = hostile
    h.seen.clear()

    async def run() -> None:
        async with _client(server) as erm:
            await erm.generate_days_code("DVAV2501000001", days=days)  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError):
        asyncio.run(run())
    assert h.seen == [], "nothing may be sent for invalid days"
