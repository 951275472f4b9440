"""AsyncErmClient's side of issuing, against the scripted server on 127.0.0.1: which id a
code request names, what an interruption says, what an in-flight code leaves in the
item's ledger, how limits are learned (and said to be missing), and a refresh that
brings no token."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from omnivoltaic_erm_gql import FleetLimits

from omnivoltaic_erm import (
    AsyncErmClient,
    AuthenticationError,
    ClientConfig,
    CodeLimitError,
    CodeTypes,
    Limits,
    RetryPolicy,
)
from omnivoltaic_erm._issuing import Interruption, interruption_of
from omnivoltaic_erm._limits import limits_from_fleet
from omnivoltaic_erm.client import new_request_id
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.stub_erm import (
    ITEM_ID,
    PASSWORD,
    StubErm,
    graphql_error,
    ok_sign_in,
    status,
)
from tests.support.tokens import jwt

OEM_ID = "DVAV0111000999"  # the stub item's oemItemID
# No interval, so that nothing here waits.
NO_WAIT = Limits(code_interval=0.0, interval_margin=0.0)
FLEET: dict[str, Any] = {
    "_id": "fleet-1",
    "fleetName": "Lagos",
    "codeGenInterval": 500,
    "disableCodeGenInterval": False,
    "dayCodeCountLimit": None,
    "disableDayCodeCountLimit": False,
    "totalCodeCountLimit": 40,
    "disableTotalCodeCountLimit": False,
    "freeCodeCount": None,
    "disableFreeCode": True,
    "resetCodeCount": None,
    "disableResetCodeCount": False,
    "maxCreditStackDays": None,
    "disableMaxCreditStackDays": False,
    "maxCreditStackCodeEvents": None,
    "disableMaxCreditStackCodeEvents": False,
}


@pytest.fixture
def stub() -> Iterator[tuple[StubErm, BackgroundServer]]:
    hold = threading.Event()
    erm = StubErm(hold=hold)
    with erm.serve() as srv:
        try:
            yield erm, srv
        finally:
            hold.set()  # a held answer must not keep the server from stopping


def client(srv: BackgroundServer, **kwargs: Any) -> AsyncErmClient:
    kwargs.setdefault("limits", NO_WAIT)
    clock = kwargs.pop("clock", None)
    erm = AsyncErmClient(f"{srv.base_url}/graphql", "d@example.com", PASSWORD, **kwargs)
    if clock is not None:
        erm._clock = clock  # read by the token manager and the issuing machine
    return erm


UNLEARNED = ClientConfig(learn_limits=False)


async def committed(stub: StubErm, count: int, task: asyncio.Task[Any]) -> None:
    """Until the stub has committed ``count`` codes; fails at once if ``task`` ends first."""
    while len(stub.history) < count:
        if task.done():
            task.result()  # raises whatever ended it
            raise AssertionError("the code request ended before its code was committed")
        await asyncio.sleep(0.01)


def answer(data: dict[str, Any]) -> Any:
    return lambda: web.json_response({"data": data})


def test_a_code_cancelled_while_its_answer_is_held_is_noted_as_maybe_sent(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    # New to the process on every run: a request id sent before is remembered as sent.
    rid = new_request_id()

    async def run() -> asyncio.CancelledError:
        async with client(srv, config=UNLEARNED) as erm:
            await erm.item_limits(OEM_ID)  # signed in, item known: next is the code
            task = asyncio.create_task(erm.generate_days_code(OEM_ID, 7, request_id=rid))
            await committed(erm_stub, 1, task)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            return info.value

    error = asyncio.run(run())
    # The item as the caller named it, and the request it can be recovered by.
    found = interruption_of(error)
    assert found == Interruption(CodeTypes.DAYSCODE, OEM_ID, rid, maybe_sent=True)
    assert error.__notes__ == [found.note]
    # The item named by its oemItemID, the code request names it by its _id.
    (sent,) = [
        b["variables"] for _, b in erm_stub.requests if b["operationName"] == "GenerateDaysCode"
    ]
    assert (sent["itemId"], sent["codeDays"]) == (ITEM_ID, 7)


def test_a_new_id_read_while_a_code_is_in_flight_does_not_count_it_twice(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    assert erm_stub.hold is not None
    hold = erm_stub.hold

    async def run() -> list[int]:
        # Two codes allowed in all.
        limits = Limits(code_interval=0.0, interval_margin=0.0, total_limit=2)
        async with client(srv, limits=limits, config=UNLEARNED) as erm:
            await erm.item_limits(ITEM_ID)
            first = asyncio.create_task(erm.generate_days_code(ITEM_ID, 1))
            await committed(erm_stub, 1, first)
            # The item named by another id: its history, read now, already holds the
            # first code, which the client records when its answer comes.
            await erm.item_limits(OEM_ID)
            hold.set()
            await first
            await erm.generate_days_code(ITEM_ID, 2)  # the second of two
            return [e["codeDays"] for e in erm_stub.history]

    assert asyncio.run(run()) == [1, 2]


def test_a_history_read_while_a_code_is_in_flight_keeps_every_event_once(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    assert erm_stub.hold is not None
    hold = erm_stub.hold

    async def run() -> tuple[list[int], list[int]]:
        limits = Limits(code_interval=0.0, interval_margin=0.0, total_limit=2)
        async with client(srv, limits=limits, config=UNLEARNED) as erm:
            await erm.item_limits(ITEM_ID)
            first = asyncio.create_task(erm.generate_days_code(ITEM_ID, 1))
            await committed(erm_stub, 1, first)
            # The history is asked for while the code's answer is held: the read waits for
            # the item's code request, so the ledger it leaves holds that code once (not
            # missing, which would allow a third; not twice, which would refuse the second).
            reading = asyncio.create_task(erm.code_history(ITEM_ID))
            await asyncio.sleep(0.05)
            assert not reading.done()
            hold.set()
            await first
            history = [e.code_days for e in await reading]
            await erm.generate_days_code(ITEM_ID, 2)  # the second of two
            with pytest.raises(CodeLimitError):
                await erm.generate_days_code(ITEM_ID, 3)  # refused before sending
            return history, [e["codeDays"] for e in erm_stub.history]

    history, issued = asyncio.run(run())
    assert history == [1]
    assert issued == [1, 2]


def test_a_history_read_of_an_unknown_item_is_one_request_and_teaches_the_item(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    assert erm_stub.hold is not None
    erm_stub.hold.set()

    async def run() -> tuple[list[int], list[int]]:
        async with client(srv, config=UNLEARNED) as erm:
            before = [e.code_days for e in await erm.code_history(OEM_ID)]  # unknown: 1 read
            reads = [erm_stub.calls["GetItemsForDownloadById"]]
            await erm.generate_days_code(OEM_ID, 4)  # known by its OEM id: no read
            reads.append(erm_stub.calls["GetItemsForDownloadById"])
            after = [e.code_days for e in await erm.code_history(ITEM_ID)]  # known: 1 read
            reads.append(erm_stub.calls["GetItemsForDownloadById"])
            return before + after, reads

    days, reads = asyncio.run(run())
    assert days == [4]
    assert reads == [1, 1, 2]


def test_a_history_read_that_lands_after_a_code_of_the_item_is_read_again(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    assert erm_stub.hold is not None
    erm_stub.hold.set()
    # The first read is made before the code is issued and lands after it.
    erm_stub.late["GetItemsForDownloadById"] = 0.5

    async def run() -> list[int]:
        async with client(srv, config=UNLEARNED) as erm:
            reading = asyncio.create_task(erm.code_history(ITEM_ID))
            while not erm_stub.calls["GetItemsForDownloadById"]:
                await asyncio.sleep(0.01)
            await erm.generate_days_code(ITEM_ID, 6)
            assert not reading.done()
            return [e.code_days for e in await reading]

    # The item became known while the read was out: the stale answer is not the history.
    assert asyncio.run(run()) == [6]
    assert erm_stub.calls["GetItemsForDownloadById"] == 3


def test_a_repeated_request_id_in_a_known_items_history_is_reported_for_that_item(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    from omnivoltaic_erm import DuplicateCodeWarning

    erm_stub, srv = stub
    assert erm_stub.hold is not None
    erm_stub.hold.set()

    async def run() -> None:
        async with client(srv, config=UNLEARNED) as erm:
            await erm.generate_days_code(ITEM_ID, 2)  # a request id of its own
            erm_stub.history.append(dict(erm_stub.history[0], _id="ev-again"))
            with pytest.warns(DuplicateCodeWarning, match=f"item {ITEM_ID}: 2 code events"):
                await erm.code_history(ITEM_ID)

    asyncio.run(run())


def test_call_timeout_bounds_a_code_request_and_says_whether_it_was_sent(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    from omnivoltaic_erm import ErmTimeoutError, OutcomeUnknownError

    erm_stub, srv = stub
    bounded = ClientConfig(learn_limits=False, call_timeout=0.5, settle_grace=0.0, max_hold=60)
    # Ids of the caller's own, new to this process (a request id is remembered per process).
    BOUNDED, GRACE = secrets.token_hex(8), secrets.token_hex(8)

    async def held() -> None:
        # The answer is held past the bound: the code may have been issued.
        async with client(srv, config=bounded) as erm:
            await asyncio.wait_for(erm.generate_days_code(ITEM_ID, 3, request_id=BOUNDED), 10)

    with pytest.raises(OutcomeUnknownError) as unknown:
        asyncio.run(held())
    assert unknown.value.request_id == BOUNDED and "may have been issued" in unknown.value.message
    assert erm_stub.history  # it was committed: hence "unknown", never "not sent"

    assert erm_stub.hold is not None
    erm_stub.hold.set()
    erm_stub.late["SignInUser"] = 3.0  # the bound runs out before anything is sent

    async def signing_in() -> None:
        async with client(srv, config=bounded) as erm:
            await asyncio.wait_for(erm.generate_days_code(ITEM_ID, 3), 10)

    with pytest.raises(ErmTimeoutError, match="before the request was sent") as early:
        asyncio.run(signing_in())
    assert early.value.sent is False

    async def in_time() -> int:
        async with client(srv, config=replace(bounded, call_timeout=5.0)) as erm:
            return (await erm.generate_days_code(ITEM_ID, 9)).code_days

    assert asyncio.run(in_time()) == 9

    # A 502 (outcome unknown), a history without the code, then the grace: the bound runs
    # out while the client waits to settle it.
    erm_stub.answers["GenerateDaysCode"] = status(502)
    settling = replace(bounded, settle_grace=5.0, retry=RetryPolicy(max_retries=0))

    async def waiting_to_settle() -> None:
        async with client(srv, config=settling) as erm:
            await asyncio.wait_for(erm.generate_days_code(ITEM_ID, 3, request_id=GRACE), 10)

    with pytest.raises(OutcomeUnknownError) as late:
        asyncio.run(waiting_to_settle())
    assert (late.value.request_id, late.value.item_id) == (GRACE, ITEM_ID)
    assert late.value.message == (
        f"DAYSCODE: the call's 0.5 s ran out with request {GRACE} possibly sent; call "
        f"recover({ITEM_ID!r}, {GRACE!r}) later, or issue again with the same request_id"
    )


def test_fleet_limits_unavailable_are_logged_with_the_error(
    stub: tuple[StubErm, BackgroundServer], caplog: pytest.LogCaptureFixture
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GetItemLimits"] = graphql_error("FORBIDDEN", "not your fleet")
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.client")

    async def run() -> Limits:
        async with client(srv) as erm:
            return await erm.item_limits(ITEM_ID)

    assert asyncio.run(run()) == NO_WAIT
    assert erm_stub.calls["GetItemLimits"] == 1
    assert [r.getMessage() for r in caplog.records if r.name == "omnivoltaic_erm.client"] == [
        # The stub's tokens carry no distributorId: no distributor level either.
        "the access token names no distributor; its settings are not read",
        f"item {ITEM_ID}: fleet limits unavailable (PermissionDeniedError); "
        "the distributor's or the configured limits apply",
    ]


def test_fleet_limits_unavailable_leave_the_distributors_settings_in_force(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["SignInUser"] = lambda: ok_sign_in(
        jwt(time.time() + 3600, distributorId="distributor-1")
    )
    setting = {
        "_id": "setting-1",
        "codeGenInterval": 0,
        "dayCodeCountLimit": 7,
        "totalCodeCountLimit": 90,
        "freeCodeCount": 1,
        "resetCodeCount": 2,
        "maxCreditStackDays": 60,  # non-null in the printed schema
        "maxCreditStackCodeEvents": 5,
    }
    erm_stub.answers["GetDistributorSetting"] = lambda: web.json_response(
        {"data": {"getSpecificDistributorSetting": setting}}
    )
    erm_stub.answers["GetItemLimits"] = graphql_error("FORBIDDEN", "not your fleet")

    async def run() -> Limits:
        async with client(srv) as erm:
            return await erm.item_limits(ITEM_ID)

    limits = asyncio.run(run())
    assert (limits.daily_limit, limits.total_limit, limits.free_limit) == (7, 90, 1)
    assert erm_stub.calls["GetItemLimits"] == erm_stub.calls["GetDistributorSetting"] == 1


def test_a_client_without_a_password_says_so_where_it_would_sign_in(
    stub: tuple[StubErm, BackgroundServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnivoltaic_erm import SignInRequiredError

    monkeypatch.delenv("ERM_PASSWORD", raising=False)
    erm_stub, srv = stub

    async def run() -> None:
        url = f"{srv.base_url}/graphql"
        async with AsyncErmClient(url, "d@example.com", token_cache=tmp_path / "t.json") as erm:
            await erm.code_history(ITEM_ID)

    with pytest.raises(SignInRequiredError) as refused:
        asyncio.run(run())
    assert refused.value.message == (
        "the cached token was refused or has expired, and this client has no password to "
        "sign in again: pass password= or set ERM_PASSWORD"
    )
    assert erm_stub.calls["SignInUser"] == 0


def test_limits_a_fleet_leaves_out_are_logged_by_name(
    stub: tuple[StubErm, BackgroundServer], caplog: pytest.LogCaptureFixture
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GetItemLimits"] = answer(
        {"getSpecificItem": {"_id": ITEM_ID, "itemFleet": FLEET}}
    )
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.client")

    async def run() -> Limits:
        async with client(srv) as erm:
            return await erm.item_limits(ITEM_ID)

    assert asyncio.run(run()) == limits_from_fleet(FleetLimits.model_validate(FLEET), NO_WAIT)
    assert [r.getMessage() for r in caplog.records if r.name == "omnivoltaic_erm.client"] == [
        "the access token names no distributor; its settings are not read",
        f"item {ITEM_ID}: fleet 'Lagos' gives no daily, reset; "
        "the distributor's or the configured limits apply for those",
    ]


def test_prefetched_limits_skip_an_item_that_was_not_asked_for(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    stranger = {"_id": "5f0000000000000000000000", "itemFleet": FLEET}
    erm_stub.answers["GetItemsLimits"] = answer(
        {
            "getItemsForDownloadById": [
                {"item": stranger},
                {"item": {"_id": ITEM_ID, "itemFleet": FLEET}},
            ]
        }
    )

    async def run() -> Limits:
        async with client(srv) as erm:
            await erm.prefetch([OEM_ID])
            return await erm.item_limits(OEM_ID)

    assert asyncio.run(run()) == limits_from_fleet(FleetLimits.model_validate(FLEET), NO_WAIT)
    assert erm_stub.calls["GetItemsLimits"] == 1
    assert erm_stub.calls["GetItemLimits"] == 0  # learned in the prefetch


def test_a_refresh_that_brings_no_access_token_is_an_authentication_error(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["RefreshAccessToken"] = answer(
        {"refreshAccessToken": {"accessToken": None, "refreshToken": None}}
    )
    now = [time.time()]

    async def run() -> None:
        async with client(srv, clock=lambda: now[0]) as erm:
            await erm.item_limits(ITEM_ID)  # signs in
            now[0] += 2 * erm_stub.token_lifetime  # the token has expired: refresh it
            with pytest.raises(AuthenticationError) as info:
                await erm.code_history(ITEM_ID)
            assert info.value.message == "sign-in returned no access token"
            assert (erm.sign_ins, erm.refreshes) == (1, 1)

    asyncio.run(run())
    assert erm_stub.calls["RefreshAccessToken"] == 1


def test_a_sign_in_that_brings_no_access_token_is_an_authentication_error(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["SignInUser"] = answer(
        {"signInUser": {"_id": "u1", "accessToken": None, "refreshToken": None}}
    )

    async def run() -> None:
        async with client(srv) as erm:
            with pytest.raises(AuthenticationError) as info:
                await erm.code_history(ITEM_ID)
            assert info.value.message == "sign-in returned no access token"

    asyncio.run(run())
    assert erm_stub.calls["SignInUser"] == 1
    assert erm_stub.calls["GetItemsForDownloadById"] == 0  # nothing sent without a token


def test_an_item_can_be_named_by_the_item_found(stub: tuple[StubErm, BackgroundServer]) -> None:
    erm_stub, srv = stub
    erm_stub.hold = None

    async def run() -> tuple[str, str]:
        async with client(srv, config=UNLEARNED) as erm:
            item = await erm.find_item(OEM_ID)
            code = await erm.generate_days_code(item, 3)
            return item.id, code.item_id

    assert asyncio.run(run()) == (ITEM_ID, ITEM_ID)
    (sent,) = [
        b["variables"]
        for _, b in erm_stub.requests
        if b["operationName"] == "GetItemsForDownloadById"
    ]
    assert sent["ids"] == [ITEM_ID]


def test_a_prefetched_history_counts_before_the_first_code(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.hold = None

    async def run() -> int:
        async with client(srv, config=UNLEARNED) as erm:
            await erm.generate_days_code(ITEM_ID, 1)  # the item's first code
        # Another client, allowed one code for the item, learns of that one in its prefetch.
        limits = Limits(code_interval=0.0, interval_margin=0.0, total_limit=1)
        async with client(srv, limits=limits, config=UNLEARNED) as erm:
            await erm.prefetch([OEM_ID])
            with pytest.raises(CodeLimitError):
                await erm.generate_days_code(OEM_ID, 2)
        return erm_stub.calls["GetItemsForDownloadById"]

    assert asyncio.run(run()) == 2  # the first client's look-up and the prefetch
    assert erm_stub.calls["GenerateDaysCode"] == 1


def test_reading_an_items_history_keeps_what_was_learned_of_it(
    stub: tuple[StubErm, BackgroundServer],
) -> None:
    erm_stub, srv = stub
    erm_stub.answers["GetItemLimits"] = answer(
        {"getSpecificItem": {"_id": ITEM_ID, "itemFleet": FLEET}}
    )

    async def run() -> tuple[Limits, Limits]:
        async with client(srv) as erm:
            learned = await erm.item_limits(ITEM_ID)
            await erm.code_history(ITEM_ID)  # the ledger is renewed, the item stays known
            return learned, await erm.item_limits(ITEM_ID)

    learned, again = asyncio.run(run())
    assert learned == again == limits_from_fleet(FleetLimits.model_validate(FLEET), NO_WAIT)
    assert erm_stub.calls["GetItemLimits"] == 1  # the fleet is read once
