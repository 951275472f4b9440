"""The request pipeline under every generated operation, against a scripted server on
loopback: sign-in faults (error type, attempt counts, refusals), the retry table by
operation type, and redirects that are never followed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from omnivoltaic_erm_gql import QueryOrder, RefreshClientAccessToken, SignInUser

from omnivoltaic_erm import (
    AsyncErmClient,
    AuthenticationError,
    ErmClient,
    ErmError,
    HttpStatusError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from omnivoltaic_erm.errors import OutcomeUnknownError, RedirectError, ResponseTooLargeError
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.stub_erm import (
    ITEM_ID,
    PASSWORD,
    StubErm,
    graphql_error,
    ok_sign_in,
    redirect,
    status,
)
from tests.support.tokens import Clock

POLICY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)


@pytest.fixture
def stub() -> Iterator[tuple[StubErm, BackgroundServer]]:
    erm = StubErm()
    with erm.serve() as srv:
        yield erm, srv


def client(
    srv: BackgroundServer, clock: Callable[[], float] = time.time, **kw: Any
) -> AsyncErmClient:
    erm = AsyncErmClient(f"{srv.base_url}/graphql", "d@example.com", PASSWORD, retry=POLICY, **kw)
    erm._clock = clock  # read by the token manager and the issuing machine
    return erm


# -- sign-in faults ------------------------------------------------------------------------

SIGN_IN_FAULTS = [
    # (sign-in answer after the first token expires, error raised, sign-in attempts)
    (status(502), ServerError, 3),
    (status(429), RateLimitError, 3),
    (graphql_error("UNAUTHENTICATED", "Invalid Credentials"), AuthenticationError, 1),
    (status(400), HttpStatusError, 1),
]


@pytest.mark.parametrize(("answer", "error", "attempts"), SIGN_IN_FAULTS)
def test_sign_in_fault_on_a_code_request_is_the_sign_ins_own_error(
    stub: tuple[StubErm, BackgroundServer],
    answer: Callable[[], web.Response],
    error: type[ErmError],
    attempts: int,
) -> None:
    erm_stub, srv = stub
    erm_stub.sign_in_script = [answer]
    clock = Clock()

    async def run() -> tuple[BaseException, int]:
        async with client(srv, clock) as erm:
            await erm.generate_days_code(ITEM_ID, 7)
            clock.now += 7200  # the first token has expired
            with pytest.raises(ErmError) as info:
                await erm.generate_days_code(ITEM_ID, 7)
            return info.value, erm.server_refusals

    raised, refusals = asyncio.run(run())
    assert type(raised) is error, repr(raised)
    assert not isinstance(raised, OutcomeUnknownError)
    assert erm_stub.calls["SignInUser"] == 1 + attempts
    assert erm_stub.calls["GenerateDaysCode"] == 1  # the second was never sent
    assert refusals == 0


@pytest.mark.parametrize(("answer", "error", "attempts"), SIGN_IN_FAULTS)
def test_sign_in_fault_on_a_query_is_not_retried_around_the_sign_in(
    stub: tuple[StubErm, BackgroundServer],
    answer: Callable[[], web.Response],
    error: type[ErmError],
    attempts: int,
) -> None:
    erm_stub, srv = stub
    erm_stub.sign_in_script = [answer]
    clock = Clock()

    async def run() -> BaseException:
        async with client(srv, clock) as erm:
            await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
            clock.now += 7200
            with pytest.raises(ErmError) as info:
                await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
            return info.value

    raised = asyncio.run(run())
    assert type(raised) is error
    assert erm_stub.calls["SignInUser"] == 1 + attempts
    assert erm_stub.calls["GetAllClientItems"] == 1


def test_sign_in_that_cannot_connect_is_not_an_unknown_outcome() -> None:
    erm_stub = StubErm()
    clock = Clock()

    async def run() -> BaseException:
        with erm_stub.serve() as srv:
            erm = client(srv, clock)
            await erm.generate_days_code(ITEM_ID, 7)
        clock.now += 7200  # the server is gone: the next sign-in cannot connect
        try:
            with pytest.raises(ErmError) as info:
                await erm.generate_days_code(ITEM_ID, 7)
            return info.value
        finally:
            await erm.aclose()

    raised = asyncio.run(run())
    assert type(raised) is TransportError
    assert isinstance(raised, TransportError) and raised.sent is False
    assert erm_stub.calls["GenerateDaysCode"] == 1


# -- the retry table -----------------------------------------------------------------------

RETRY_TABLE = [
    # (operation called through erm.api, its answer, error, requests of that operation)
    ("query", status(502), ServerError, 3),
    ("query", status(503), ServerError, 3),
    ("query", status(429), RateLimitError, 3),
    ("query", status(400), HttpStatusError, 1),
    ("query", status(404), HttpStatusError, 1),
    ("query", graphql_error("NOT_FOUND", "no item"), ErmError, 1),
    ("mutation", status(502), ServerError, 1),
    ("mutation", status(429), RateLimitError, 1),
    ("mutation", graphql_error("INTERNAL_SERVER_ERROR", "boom"), ErmError, 1),
]


@pytest.mark.parametrize(("kind", "answer", "error", "requests"), RETRY_TABLE)
def test_retry_table(
    stub: tuple[StubErm, BackgroundServer],
    kind: str,
    answer: Callable[[], web.Response],
    error: type[ErmError],
    requests: int,
) -> None:
    erm_stub, srv = stub
    name = "GetAllClientItems" if kind == "query" else "GenerateDaysCode"
    erm_stub.answers[name] = answer

    async def run() -> None:
        async with client(srv) as erm:
            with pytest.raises(error):
                if kind == "query":
                    await erm.api.get_all_client_items(
                        queryorder=QueryOrder.DESC, assetaccount=False
                    )
                else:
                    await erm.api.generate_days_code(item_id=ITEM_ID, code_days=1)

    asyncio.run(run())
    assert erm_stub.calls[name] == requests
    assert erm_stub.calls["SignInUser"] == 1


def test_a_body_over_the_cap_is_not_retried(stub: tuple[StubErm, BackgroundServer]) -> None:
    erm_stub, srv = stub

    async def run() -> None:
        async with client(srv) as erm:
            await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
            erm.api.max_response_bytes = 64
            with pytest.raises(ResponseTooLargeError):
                await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)

    asyncio.run(run())
    assert erm_stub.calls["GetAllClientItems"] == 2  # one success, one over the cap


def test_refused_token_on_a_query_signs_in_again_once(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GetAllClientItems"] = graphql_error("UNAUTHENTICATED", "Unauthorized")

    async def run() -> None:
        async with client(srv) as erm:
            with pytest.raises(AuthenticationError):
                await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)

    asyncio.run(run())
    assert erm_stub.calls["SignInUser"] == 2
    assert erm_stub.calls["GetAllClientItems"] == 2


def test_refused_token_on_a_mutation_is_not_resent_by_the_pipeline(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GenerateDaysCode"] = graphql_error("UNAUTHENTICATED", "Unauthorized")

    async def run() -> None:
        async with client(srv) as erm:
            with pytest.raises(AuthenticationError):
                await erm.api.generate_days_code(item_id=ITEM_ID, code_days=1)

    asyncio.run(run())
    assert erm_stub.calls["GenerateDaysCode"] == 1


def test_sync_api_runs_through_the_same_pipeline(stub: tuple[StubErm, BackgroundServer]) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GetAllClientItems"] = status(502)
    with ErmClient(f"{srv.base_url}/graphql", "d@example.com", PASSWORD, retry=POLICY) as erm:
        with pytest.raises(ServerError):
            erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
        code = erm.api.generate_days_code(item_id=ITEM_ID, code_days=3)
    assert code.generate_days_code.code_hex == "5F9378720CBB25A8"
    assert erm_stub.calls["GetAllClientItems"] == 3
    assert erm_stub.calls["SignInUser"] == 1


# -- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [307, 308])
@pytest.mark.parametrize("operation", ["SignInUser", "GenerateDaysCode"])
def test_redirect_to_another_origin_is_never_followed(
    stub: tuple[StubErm, BackgroundServer], code: int, operation: str
) -> None:
    erm_stub, srv = stub
    elsewhere = StubErm()
    with elsewhere.serve() as other:
        # Another origin (another host name and port), reachable: were the redirect
        # followed, the body would arrive there and be counted.
        location = f"http://localhost:{other.port}/graphql"
        erm_stub.answers[operation] = redirect(code, location)

        async def run() -> RedirectError:
            async with client(srv) as erm:
                with pytest.raises(RedirectError) as info:
                    await erm.generate_days_code(ITEM_ID, 1)
                return info.value

        raised = asyncio.run(run())
    assert raised.status == code
    assert raised.location == location
    assert "ERM_URL" in str(raised) and location in str(raised)
    assert sum(elsewhere.calls.values()) == 0
    assert not any(PASSWORD in text for text in elsewhere.seen)
    assert erm_stub.calls[operation] == 1


def test_hand_written_document_is_authenticated_and_never_resent(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GetAllClientItems"] = status(502)

    async def run() -> int:
        async with client(srv) as erm:
            raw = await erm.api.execute("query GetAllClientItems { x }", "GetAllClientItems")
            return raw.status

    assert asyncio.run(run()) == 502
    assert erm_stub.calls["GetAllClientItems"] == 1  # its type is unknown: sent once
    assert erm_stub.tokens and erm_stub.tokens[0] in erm_stub.seen[-1]  # with the token


# -- token operations known by their root field --------------------------------------------

SIGN_IN_LOGIN_USER = """
mutation SignInLoginUser($email: String!, $password: String!) {
  signInUser(signInCredentials: {email: $email, password: $password}) {
    accessToken
  }
}"""
RENAMED_REFRESH = """
mutation RenewSession($token: String!) {
  refreshClientAccessToken(refreshToken: $token) { accessToken }
}"""


def test_a_sign_in_under_another_name_carries_no_token_and_is_retried(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm, srv = stub
    answers = [status(502), status(502), lambda: ok_sign_in("fresh")]
    erm.answers["SignInLoginUser"] = lambda: answers.pop(0)()
    erm.answers["RenewSession"] = status(502)

    async def run() -> None:
        async with client(srv) as c:
            await c.find_item(ITEM_ID)  # signed in: the managed token is in use
            # As a generated method would call it, for a document of that name in queries/.
            grant = await c.api.execute_typed(
                SIGN_IN_LOGIN_USER,
                "SignInLoginUser",
                {"email": "d@example.com", "password": PASSWORD},
                SignInUser,
                "mutation",
            )
            assert grant.sign_in_user is not None
            assert grant.sign_in_user.access_token == "fresh"
            with pytest.raises(ServerError):
                await c.api.execute_typed(
                    RENAMED_REFRESH,
                    "RenewSession",
                    {"token": "r"},
                    RefreshClientAccessToken,
                    "mutation",
                )

    asyncio.run(run())
    sent = [headers for headers, body in erm.requests if body["operationName"] == "SignInLoginUser"]
    assert len(sent) == 3  # retried like a sign-in
    assert all("Authorization" not in h for h in sent)  # and never with the managed token
    renewals = [h for h, body in erm.requests if body["operationName"] == "RenewSession"]
    assert len(renewals) == 1 and "Authorization" not in renewals[0]  # a refresh: once
    # An ordinary operation still carries the token.
    assert all(
        "Authorization" in h
        for h, b in erm.requests
        if b["operationName"] == "GetItemsForDownloadById"
    )
