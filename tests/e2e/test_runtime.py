"""The client runtime under shared failures and hostile waits, against a scripted server
on loopback: one renewal for all callers, success or failure; a sign-in failure is the
call's error, tried once per call; a server's wait hint is honoured only up to a cap."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import pytest
from aiohttp import web

from omnivoltaic_erm import (
    AsyncErmClient,
    AuthenticationError,
    ClientConfig,
    ErmTimeoutError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from omnivoltaic_erm.models import QueryOrder
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.stub_erm import ITEM_ID, PASSWORD, StubErm, graphql_error, ok_sign_in, status
from tests.support.tokens import Clock, jwt

POLICY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, max_retry_after=5.0)


def _client(
    url: str, clock: Callable[[], float] = time.time, password: str = PASSWORD
) -> AsyncErmClient:
    erm = AsyncErmClient(f"{url}/graphql", "d@example.com", password, retry=POLICY)
    erm._clock = clock  # the token manager and the issuing machine read it from here
    return erm


@pytest.mark.parametrize("callers", [20, 50])
def test_concurrent_callers_share_one_failed_sign_in(callers: int) -> None:
    stub = StubErm(answers={"SignInUser": graphql_error("UNAUTHENTICATED", "Invalid Credentials")})
    with stub.serve() as server:

        async def run() -> list[BaseException | object]:
            async with _client(server.base_url, password="wrong") as erm:
                calls = (
                    erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
                    for _ in range(callers)
                )
                return await asyncio.gather(*calls, return_exceptions=True)

        results = asyncio.run(run())
    # One attempt for all of them: an account lockout counts attempts.
    assert stub.calls["SignInUser"] == 1
    assert len(results) == callers
    assert all(isinstance(r, AuthenticationError) for r in results), results
    assert stub.calls["GetAllClientItems"] == 0


def test_concurrent_callers_share_one_successful_renewal() -> None:
    stub = StubErm()
    clock = Clock()
    with stub.serve() as server:

        async def run() -> None:
            async with _client(server.base_url, clock) as erm:
                await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
                clock.now += 7200  # expired: every caller needs a new token at once
                await asyncio.gather(
                    *(
                        erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
                        for _ in range(20)
                    )
                )

        asyncio.run(run())
    # The stub has no refresh: one sign-in at the start, one renewal for all 20.
    assert stub.calls["SignInUser"] == 2
    assert stub.calls["GetAllClientItems"] == 21


@pytest.mark.parametrize(
    ("answer", "error", "attempts"),
    [(status(502), ServerError, 3), (status(429), RateLimitError, 3)],
)
def test_a_failing_sign_in_is_tried_once_per_call_not_once_per_read(
    answer: Callable[[], web.Response], error: type[Exception], attempts: int
) -> None:
    # The item is known but its fleet limits are not: before, the limits read swallowed
    # the failed sign-in as "limits unavailable", and the code request signed in again.
    stub = StubErm(sign_in_script=[answer])
    clock = Clock()
    with stub.serve() as server:

        async def run() -> BaseException:
            async with _client(server.base_url, clock) as erm:
                await erm.code_history(ITEM_ID)  # the item is known, its limits are not
                clock.now += 7200  # the first token has expired
                with pytest.raises(error) as info:
                    await erm.generate_days_code(ITEM_ID, 7)
                return info.value

        asyncio.run(run())
    # The first sign-in, then max_retries + 1 attempts for the failing call.
    assert stub.calls["SignInUser"] == 1 + attempts
    assert stub.calls["GenerateDaysCode"] == 0


def _too_many(retry_after: str) -> Callable[[], web.Response]:
    return lambda: web.Response(status=429, headers={"Retry-After": retry_after}, text="slow down")


@pytest.mark.parametrize("hint", ["86400", "inf", "Infinity", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_a_wait_hint_beyond_the_cap_ends_the_call_with_the_hint(hint: str) -> None:
    stub = StubErm(answers={"GetAllClientItems": _too_many(hint)})
    with stub.serve() as server:

        async def run() -> tuple[RateLimitError, float]:
            async with _client(server.base_url) as erm:
                started = time.monotonic()
                with pytest.raises(RateLimitError) as info:
                    await erm.api.get_all_client_items(
                        queryorder=QueryOrder.DESC, assetaccount=False
                    )
                return info.value, time.monotonic() - started

        error, took = asyncio.run(run())
    assert stub.calls["GetAllClientItems"] == 1  # not slept for, not retried
    assert error.retry_after is not None and error.retry_after > POLICY.max_retry_after
    # It returns at once instead of sleeping for the hint (a day, forever); the bound is
    # generous, as the machines are shared.
    assert took < POLICY.max_retry_after


def test_a_wait_hint_within_the_cap_is_honoured() -> None:
    # Then a refusal that is never retried, so that the count is exact.
    answers = iter([_too_many("0.3"), graphql_error("FORBIDDEN", "not yours")])
    stub = StubErm(answers={"GetAllClientItems": lambda: next(answers)()})
    with stub.serve() as server:

        async def run() -> float:
            async with _client(server.base_url) as erm:
                started = time.monotonic()
                with pytest.raises(PermissionDeniedError):
                    await erm.api.get_all_client_items(
                        queryorder=QueryOrder.DESC, assetaccount=False
                    )
                return time.monotonic() - started

        took = asyncio.run(run())
    assert stub.calls["GetAllClientItems"] == 2  # retried after the hint
    assert took >= 0.3


def test_an_error_carries_what_a_problem_report_needs() -> None:
    def bad_gateway() -> web.Response:
        return web.Response(
            status=502,
            text="<html><title>502 Bad Gateway</title></html>",
            content_type="text/html",
            headers={"X-Request-Id": "gw-7f3a"},
        )

    stub = StubErm(answers={"GetAllClientItems": bad_gateway})
    with stub.serve() as server:

        async def run() -> ServerError:
            async with _client(server.base_url) as erm:
                with pytest.raises(ServerError) as info:
                    await erm.api.get_all_client_items(
                        queryorder=QueryOrder.DESC, assetaccount=False
                    )
                return info.value

        error = asyncio.run(run())
    assert (error.operation, error.http_status, error.server_request_id) == (
        "GetAllClientItems",
        502,
        "gw-7f3a",
    )
    assert error.report() == (
        "ServerError: HTTP 502 from the ERM API: 502 Bad Gateway "
        "[operation=GetAllClientItems http_status=502 server_request_id=gw-7f3a]"
    )


def test_a_failed_sign_in_names_the_sign_in_as_its_operation() -> None:
    stub = StubErm(answers={"SignInUser": graphql_error("UNAUTHENTICATED", "Invalid Credentials")})
    with stub.serve() as server:

        async def run() -> AuthenticationError:
            async with _client(server.base_url, password="wrong") as erm:
                with pytest.raises(AuthenticationError) as info:
                    await erm.find_item(ITEM_ID)
                return info.value

        error = asyncio.run(run())
    assert error.operation == "SignInUser" and error.http_status == 200
    assert error.server_request_id is None


def _slow_gateway(seconds: float, counts: dict[str, int]) -> web.Application:
    """Signs in at once; every other request gets a 502 page after ``seconds``."""

    async def handle(request: web.Request) -> web.Response:
        name = (await request.json()).get("operationName") or ""
        counts[name] = counts.get(name, 0) + 1
        if name == "SignInUser":
            return ok_sign_in(jwt(time.time() + 3600))
        await asyncio.sleep(seconds)
        return web.Response(status=502, text="<title>502 Bad Gateway</title>")

    app = web.Application()
    app.router.add_post("/graphql", handle)
    return app


@pytest.mark.parametrize(("call_timeout", "most_attempts"), [(None, 4), (math.inf, 11)])
def test_the_timeout_covers_the_whole_call_retries_included(
    call_timeout: float | None, most_attempts: int
) -> None:
    counts: dict[str, int] = {}
    policy = RetryPolicy(max_retries=10, initial_delay=0.01, max_delay=0.02)
    with BackgroundServer(_slow_gateway(0.3, counts)) as server:

        async def run() -> float:
            config = ClientConfig(timeout=1.0, call_timeout=call_timeout, retry=policy)
            async with AsyncErmClient(
                f"{server.base_url}/graphql", "d@example.com", PASSWORD, config=config
            ) as erm:
                started = time.monotonic()
                # The last attempt may be cut short by the deadline: a timeout, then.
                with pytest.raises((ServerError, ErmTimeoutError)) as info:
                    await erm.api.get_all_client_items(
                        queryorder=QueryOrder.DESC, assetaccount=False
                    )
                if isinstance(info.value, ErmTimeoutError):
                    assert "before the call's time ran out" in info.value.message
                return time.monotonic() - started

        took = asyncio.run(run())
    attempts = counts["GetAllClientItems"]
    if call_timeout is None:
        # About 1 s of 0.3 s answers: at most 4 attempts begun, where 11 were allowed.
        assert 1 <= attempts <= most_attempts, attempts
        assert took < 5.0  # generous: a shared machine; without the bound it is 3.3 s+
    else:
        assert attempts == most_attempts  # configured otherwise: every retry is made
