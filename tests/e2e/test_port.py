"""The client's port to the issuing state machine, against a scripted server on loopback:
a code request carries exactly the token the machine gives it (the pipeline neither signs
in nor replaces it), a code type the client does not issue is refused before anything is
sent, and a refused token is forgotten so that the next attempt signs in again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web
from omnivoltaic_erm_gql import CodeTypes

from omnivoltaic_erm import AsyncErmClient, InvalidInputError, RetryPolicy
from omnivoltaic_erm._issuing import CodeRequest
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.stub_erm import ITEM_ID, PASSWORD, StubErm, graphql_error

POLICY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)
REQUEST_ID = "00000000000000ab"

# The operation each code type is requested with, its result field, and its answer.
OPERATIONS = {
    CodeTypes.DAYSCODE: ("GenerateDaysCode", "generateDaysCode", "5F9378720CBB25A8"),
    CodeTypes.FREECODE: ("GenerateFreeCode", "generateFreeCode", "0123456789ABCDEF"),
    CodeTypes.RESETCODE: ("GenerateResetCode", "generateResetCode", "FEDCBA9876543210"),
}


@pytest.fixture
def stub() -> Iterator[tuple[StubErm, BackgroundServer]]:
    erm = StubErm()
    for kind, (operation, field, code_hex) in OPERATIONS.items():
        body = {"data": {field: {"codeType": kind.value, "codeHex": code_hex, "codeDec": "*1#"}}}
        erm.answers[operation] = lambda body=body: web.json_response(body)
    with erm.serve() as srv:
        yield erm, srv


def client(srv: BackgroundServer) -> AsyncErmClient:
    return AsyncErmClient(f"{srv.base_url}/graphql", "d@example.com", PASSWORD, retry=POLICY)


@pytest.mark.parametrize("kind", list(OPERATIONS))
def test_a_code_request_carries_the_token_it_is_given(
    stub: tuple[StubErm, BackgroundServer], kind: CodeTypes
) -> None:
    erm_stub, srv = stub
    operation, _, code_hex = OPERATIONS[kind]
    days = 7 if kind is CodeTypes.DAYSCODE else 0
    request = CodeRequest(kind, ITEM_ID, days, "for a test", REQUEST_ID)

    async def run() -> str:
        async with client(srv) as erm:
            code = await erm._port.send(request, "given-token")
            return code.code_hex

    assert asyncio.run(run()) == code_hex
    assert erm_stub.calls == {operation: 1}  # no sign-in: the token went as given
    ((headers, payload),) = erm_stub.requests
    assert headers["Authorization"] == "Bearer given-token"
    expected = {"itemId": ITEM_ID, "description": request.tagged}
    if days:
        expected["codeDays"] = days
    assert payload["variables"] == expected


@pytest.mark.parametrize("kind", [CodeTypes.JUMPCODE, CodeTypes.SYNCCODE])
def test_a_code_type_the_client_does_not_issue_is_refused_unsent(
    stub: tuple[StubErm, BackgroundServer], kind: CodeTypes
) -> None:
    erm_stub, srv = stub

    async def run() -> None:
        async with client(srv) as erm:
            await erm._port.send(CodeRequest(kind, ITEM_ID, 0, None, REQUEST_ID), "given-token")

    with pytest.raises(InvalidInputError, match=f"does not issue {kind.value}s"):
        asyncio.run(run())
    assert erm_stub.requests == []


def test_a_refused_token_is_forgotten_and_the_code_request_signs_in_again(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    refusal = graphql_error("UNAUTHENTICATED", "Unauthorized")

    def refuse_once() -> web.Response:
        if erm_stub.calls["GenerateDaysCode"] == 1:
            return refusal()
        del erm_stub.answers["GenerateDaysCode"]
        return erm_stub._default("GenerateDaysCode", {"codeDays": 7})

    erm_stub.answers["GenerateDaysCode"] = refuse_once

    async def run() -> str:
        async with client(srv) as erm:
            code = await erm.generate_days_code(ITEM_ID, 7)
            return code.code_hex

    assert asyncio.run(run()) == "5F9378720CBB25A8"
    assert erm_stub.calls["SignInUser"] == 2
    sent = [
        h["Authorization"] for h, p in erm_stub.requests if p["operationName"] == "GenerateDaysCode"
    ]
    assert sent == [f"Bearer {erm_stub.tokens[0]}", f"Bearer {erm_stub.tokens[1]}"]
