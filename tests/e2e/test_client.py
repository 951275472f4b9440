"""AsyncErmClient and ErmClient against the sandbox on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from omnivoltaic_erm import (
    AsyncErmClient,
    AuthenticationError,
    ClientConfig,
    CodeLimitError,
    CodeTypes,
    ErmClient,
    InvalidInputError,
    IssuedCode,
    Limits,
    NotFoundError,
    OutcomeUnknownError,
    RetryPolicy,
    TransportError,
)
from omnivoltaic_erm.client import new_request_id, request_id_of
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.hostile import Hostile
from tests.support.real_api import real_item
from tests.support.sandbox_http import served

FAST = Limits(code_interval=0.2)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(items=30, code_interval=0.2) as sb:
        yield sb


def client_for(sb: Sandbox, **kwargs: object) -> AsyncErmClient:
    kwargs.setdefault("limits", FAST)
    # The sandbox runs each request as it arrives (no test here holds one on the way):
    # nothing can land after the client's second look, so it may send again at once.
    kwargs.setdefault("config", ClientConfig(settle_grace=0.05, max_hold=0.05))
    return AsyncErmClient(sb.url, sb.email, sb.password, **kwargs)  # type: ignore[arg-type]


def item_ids(sb: Sandbox) -> list[str]:
    return [str(i["oemItemID"]) for i in sb.items()]


def test_find_item_by_each_id_kind(sandbox: Sandbox) -> None:
    first, second = sandbox.items()[:2]
    # The second demo item's sellerItemID is the seller's own label: a look-up by it
    # must match that field, not only the oemItemID.
    assert second["sellerItemID"] != second["oemItemID"]
    assert second["oemItemID"] not in second["sellerItemID"]

    async def run() -> None:
        async with client_for(sandbox) as erm:
            for target in (first, second):
                for key in (target["_id"], target["oemItemID"], target["sellerItemID"]):
                    item = await erm.find_item(key)
                    assert item.id == target["_id"]
                    assert item.oem_item_id == target["oemItemID"]
                    assert item.seller_item_id == target["sellerItemID"]
            with pytest.raises(NotFoundError):
                await erm.find_item("NOPE0000000000")
            other = sandbox.items(email=sandbox.other_email)[0]
            with pytest.raises(NotFoundError):
                await erm.find_item(other["oemItemID"])

    asyncio.run(run())


def test_days_free_reset_codes_and_history(sandbox: Sandbox) -> None:
    key = item_ids(sandbox)[1]

    async def run() -> tuple[list[IssuedCode], list[object]]:
        async with client_for(sandbox) as erm:
            codes = [
                await erm.generate_days_code(key, days=4, description="four days"),
                await erm.generate_free_code(key),
                await erm.generate_reset_code(key, description="reset it"),
            ]
            return codes, list(await erm.code_history(key))

    codes, history = asyncio.run(run())
    assert [c.code_type for c in codes] == [
        CodeTypes.DAYSCODE,
        CodeTypes.FREECODE,
        CodeTypes.RESETCODE,
    ]
    assert all(len(c.code_hex) == 16 and c.code_dec.startswith("*") for c in codes)
    assert [c.recovered for c in codes] == [False, False, False]
    assert len(history) == 3
    events = history
    assert [e.code_type for e in events] == [c.code_type for c in codes]  # type: ignore[attr-defined]
    assert [e.code_hex_string for e in events] == [c.code_hex for c in codes]  # type: ignore[attr-defined]
    assert events[0].code_days == 4  # type: ignore[attr-defined]
    assert events[0].description.startswith("four days [req:")  # type: ignore[attr-defined]
    assert [request_id_of(e.description) for e in events] == [c.request_id for c in codes]  # type: ignore[attr-defined]


def test_two_codes_for_one_item_are_spaced_without_refusal() -> None:
    with Sandbox(items=3, code_interval=1.0) as sb:
        key = item_ids(sb)[0]

        async def run() -> int:
            async with client_for(sb, limits=Limits(code_interval=1.0)) as erm:
                await asyncio.gather(
                    erm.generate_days_code(key, days=1), erm.generate_days_code(key, days=2)
                )
                return erm.server_refusals

        assert asyncio.run(run()) == 0
        times = [
            datetime.fromisoformat(e["createdAt"].replace("Z", "+00:00")) for e in sb.history(key)
        ]
        assert len(times) == 2
        assert (times[1] - times[0]).total_seconds() >= 1.0


def test_interval_is_learned_from_history_across_clients() -> None:
    with Sandbox(items=2, code_interval=1.0) as sb:
        key = item_ids(sb)[0]

        async def issue() -> int:
            async with client_for(sb, limits=Limits(code_interval=1.0)) as erm:
                await erm.generate_days_code(key, days=1)
                return erm.server_refusals

        # A second client knows nothing of the first one's code but its history.
        assert asyncio.run(issue()) == 0
        assert asyncio.run(issue()) == 0
        assert len(sb.history(key)) == 2


def test_limit_errors_are_raised_before_sending() -> None:
    with Sandbox(items=2, code_interval=0.05, daily_limit=2) as sb:
        key = item_ids(sb)[0]
        limits = Limits(code_interval=0.05, daily_limit=2)

        async def run() -> None:
            async with client_for(sb, limits=limits) as erm:
                await erm.generate_days_code(key, days=1)
                await erm.generate_days_code(key, days=1)
                with pytest.raises(CodeLimitError) as info:
                    await erm.generate_days_code(key, days=1)
                assert info.value.errors == [], "refused by the client, not by the server"
                for bad in (0, 1097, 7.5, "7"):
                    with pytest.raises(InvalidInputError):
                        await erm.generate_days_code(key, days=bad)  # type: ignore[arg-type]

        asyncio.run(run())
        assert len(sb.history(key)) == 2


def test_wrong_password_fails_at_once() -> None:
    with Sandbox(items=1) as sb:

        async def run() -> int:
            erm = AsyncErmClient(sb.url, sb.email, "wrong-password")
            async with erm:
                with pytest.raises(AuthenticationError):
                    await erm.find_item(item_ids(sb)[0])
            return erm.sign_ins

        started = time.monotonic()
        assert asyncio.run(run()) == 0
        assert time.monotonic() - started < 5


def test_fifty_concurrent_calls_sign_in_once(sandbox: Sandbox) -> None:
    keys = item_ids(sandbox)

    async def run() -> int:
        async with client_for(sandbox) as erm:
            await asyncio.gather(*(erm.find_item(keys[i % len(keys)]) for i in range(50)))
            return erm.sign_ins

    assert asyncio.run(run()) == 1


@pytest.mark.slow
def test_token_expiring_mid_run_fails_no_call() -> None:
    with Sandbox(items=5, token_ttl=2, code_interval=0.2) as sb:
        keys = item_ids(sb)

        async def run() -> tuple[int, int, int, float]:
            async with client_for(sb) as erm:
                started = time.monotonic()
                deadline = started + 5.0
                calls = 0
                while time.monotonic() < deadline:
                    await erm.find_item(keys[calls % len(keys)])
                    calls += 1
                    await asyncio.sleep(0.05)
                await erm.generate_days_code(keys[0], days=1)
                return calls, erm.sign_ins, erm.refreshes, time.monotonic() - started

        calls, sign_ins, refreshes, seconds = asyncio.run(run())
        assert calls > 20
        # One sign-in; the 2 s token is renewed with the refresh token, a quarter of its
        # life ahead of expiry.
        assert sign_ins == 1
        assert refreshes >= 2, "tokens of 2 s must have expired mid-run"
        # From above too: a token is reused until the last quarter of its 2 s, so one
        # renewal serves at least 1.5 s of calls. A client that forgot the token's
        # lifetime would renew on every call.
        assert sign_ins + refreshes <= seconds / 1.5 + 2, (sign_ins, refreshes, calls, seconds)


def test_token_rejected_is_refreshed_once(sandbox: Sandbox) -> None:
    key = item_ids(sandbox)[2]

    async def run() -> tuple[int, int]:
        async with client_for(sandbox) as erm:
            await erm.find_item(key)
            # Tamper with the cached token: the server refuses it, the client renews it once
            # (with its refresh token) and repeats the call.
            erm._tokens._token = type(erm._tokens._token)("not.a.token", time.time() + 3600)  # type: ignore[arg-type, misc]
            await erm.find_item(key)
            return erm.sign_ins, erm.refreshes

    assert asyncio.run(run()) == (1, 1)


def test_each_renewal_spends_the_refresh_token_the_last_one_returned(sandbox: Sandbox) -> None:
    # The fast twin of tests/e2e/test_token_refresh.py: the sandbox rotates the refresh
    # token on every use, so a second renewal works only with the token the first one
    # returned; with the spent one it is refused and the client signs in again.
    key = item_ids(sandbox)[3]

    async def run() -> tuple[int, int]:
        async with client_for(sandbox) as erm:
            await erm.find_item(key)
            for _ in range(3):
                erm._tokens._token = type(erm._tokens._token)("not.a.token", time.time() + 3600)  # type: ignore[arg-type, misc]
                await erm.find_item(key)
            return erm.sign_ins, erm.refreshes

    assert asyncio.run(run()) == (1, 3)


def test_iter_items_streams_every_item_once() -> None:
    with Sandbox(items=2000) as sb:
        expected = {i["_id"] for i in sb.items()}

        async def run() -> list[str]:
            async with client_for(sb) as erm:
                return [item.id async for item in erm.iter_items(page_size=100)]

        seen = asyncio.run(run())
        assert len(seen) == 2000
        assert set(seen) == expected


def test_iter_items_search_and_order(sandbox: Sandbox) -> None:
    first = sandbox.items()[0]

    async def run() -> tuple[list[str], list[str], list[str]]:
        async with client_for(sandbox) as erm:
            found = [i.id async for i in erm.iter_items(search=first["oemItemID"])]
            asc = [i.id async for i in erm.iter_items(order="ASC", page_size=7)]
            desc = [i.id async for i in erm.iter_items(order="DESC", page_size=7)]
            return found, asc, desc

    found, asc, desc = asyncio.run(run())
    assert found == [first["_id"]]
    assert asc == list(reversed(desc))
    assert len(asc) == 30


@pytest.mark.slow
def test_faults_on_100_code_requests_issue_each_code_exactly_once() -> None:
    faults = FaultSpec(error_502=0.15, drop=0.15, seed=7)
    with Sandbox(items=20, code_interval=0.1) as sb:
        keys = item_ids(sb)
        sb.faults = faults
        policy = RetryPolicy(max_retries=8, initial_delay=0.05, max_delay=0.5)

        async def per_item(erm: AsyncErmClient, key: str) -> list[IssuedCode]:
            return [await erm.generate_days_code(key, days=d + 1) for d in range(5)]

        async def run() -> list[IssuedCode]:
            async with client_for(sb, limits=Limits(code_interval=0.1), retry=policy) as erm:
                batches = await asyncio.gather(*(per_item(erm, k) for k in keys))
                assert erm.server_refusals == 0
                return [c for batch in batches for c in batch]

        results = asyncio.run(run())
        sb.faults = FaultSpec()
        assert len(results) == 100
        recovered = [r for r in results if r.recovered]
        assert recovered, "the drop fault should have forced at least one recovery"
        assert sb.fault_counts.get("drop", 0) > 0 and sb.fault_counts.get("error_502", 0) > 0
        by_request: dict[str, dict[str, object]] = {}
        total_events = 0
        for key in keys:
            events = sb.history(key)
            total_events += len(events)
            for event in events:
                rid = request_id_of(str(event["description"]))
                assert rid is not None and rid not in by_request, "a request issued twice"
                by_request[rid] = event
        assert total_events == 100, "history and results must agree one to one"
        for result in results:
            event = by_request[result.request_id]
            assert event["codeHexString"] == result.code_hex
            assert event["codeDecString"] == result.code_dec
            assert event["codeDays"] == result.code_days


def test_sync_client_runs_the_same_flows(sandbox: Sandbox) -> None:
    key = item_ids(sandbox)[3]
    with ErmClient(sandbox.url, sandbox.email, sandbox.password, limits=FAST) as erm:
        item = erm.find_item(key)
        assert item.oem_item_id == key
        assert len(list(erm.iter_items(page_size=8))) == 30
        code = erm.generate_days_code(item, days=3, description="sync")
        free = erm.generate_free_code(key)
        history = erm.code_history(key)
        assert [e.code_hex_string for e in history] == [code.code_hex, free.code_hex]
        assert erm.recover(key, code.request_id) == code.model_copy(update={"recovered": True})


def test_planted_secrets_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    planted_password = "PLANTED-pw-9f8e7d6c"
    caplog.set_level(logging.DEBUG)
    with Sandbox(items=2) as sb:

        async def wrong() -> AuthenticationError:
            async with AsyncErmClient(sb.url, sb.email, planted_password) as erm:
                assert planted_password not in repr(erm)
                with pytest.raises(AuthenticationError) as info:
                    await erm.find_item(item_ids(sb)[0])
                return info.value

        err = asyncio.run(wrong())
        for text in (str(err), repr(err), str(err.errors), str(err.extensions)):
            assert planted_password not in text

        async def right() -> str:
            async with client_for(sb) as erm:
                await erm.generate_days_code(item_ids(sb)[0], days=1)
                token = erm._tokens._token
                assert token is not None
                assert token.value not in repr(erm._tokens)
                return token.value

        token = asyncio.run(right())
    records = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert caplog.records, "debug logging should have produced records"
    assert planted_password not in records
    assert token not in records
    assert sb.password not in records


def test_prefetch_learns_every_id_so_issuing_reads_no_history(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=9, code_interval=0.2) as sb:
        items = sb.items()
        # Each item named by another kind of id; four of them by a sellerItemID that
        # differs from the oemItemID.
        keys = [
            str(item[("oemItemID", "sellerItemID", "_id")[n % 3]]) for n, item in enumerate(items)
        ]
        keys += [
            str(item["sellerItemID"]) for item in items if item["sellerItemID"] != item["oemItemID"]
        ]

        async def run() -> list[IssuedCode]:
            async with client_for(sb) as erm:
                await erm.prefetch(list(keys))
                return [await erm.generate_days_code(key, days=1) for key in keys]

        codes = asyncio.run(run())
    assert len(codes) == len(keys) == 12
    assert served(caplog, "GenerateDaysCode") == 12
    # One history request for all of them: after a prefetch, an item named by any of its
    # ids costs no request of its own.
    assert served(caplog, "GetItemsForDownloadById") == 1


def test_a_code_sent_again_keeps_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    rids = [f"{n:016x}" for n in range(0xA0, 0xA8)]
    with Sandbox(items=len(rids), code_interval=0.2) as sb:
        keys = item_ids(sb)
        # 502s before anything runs: a code request that meets one was not issued, so
        # after reading the history the client sends it again, under the same id.
        sb.faults = FaultSpec(error_502=0.4, seed=11)
        policy = RetryPolicy(max_retries=8, initial_delay=0.01, max_delay=0.05)

        async def run() -> list[IssuedCode]:
            async with client_for(sb, retry=policy) as erm:
                return [
                    await erm.generate_days_code(key, days=2, request_id=rid)
                    for key, rid in zip(keys, rids, strict=True)
                ]

        codes = asyncio.run(run())
        sb.faults = FaultSpec()
        histories = [sb.history(key) for key in keys]
    assert sb.fault_counts["error_502"] > 0
    # Every history read past each item's first one settled a code request that a 502
    # had refused: at least one code was sent again.
    resent = served(caplog, "GetItemsForDownloadById") - len(keys)
    assert resent >= 1, "the faults should have forced a code to be sent again"
    assert [c.request_id for c in codes] == rids
    for code, events, rid in zip(codes, histories, rids, strict=True):
        assert [request_id_of(e["description"]) for e in events] == [rid]
        assert events[0]["codeHexString"] == code.code_hex
        assert not code.recovered


def test_free_and_reset_codes_carry_description_and_request_id(sandbox: Sandbox) -> None:
    key = item_ids(sandbox)[4]

    async def run() -> list[IssuedCode]:
        async with client_for(sandbox) as erm:
            return [
                await erm.generate_free_code(key, "unlock", request_id="00000000000000f1"),
                await erm.generate_reset_code(key, "wipe", request_id="00000000000000f2"),
            ]

    free, reset = asyncio.run(run())
    assert (free.code_type, free.code_days, free.description, free.request_id) == (
        CodeTypes.FREECODE,
        0,
        "unlock",
        "00000000000000f1",
    )
    assert (reset.code_type, reset.code_days, reset.description, reset.request_id) == (
        CodeTypes.RESETCODE,
        0,
        "wipe",
        "00000000000000f2",
    )
    assert [e["description"] for e in sandbox.history(key)] == [
        "unlock [req:00000000000000f1]",
        "wipe [req:00000000000000f2]",
    ]


def test_free_and_reset_allowances_are_enforced_before_sending() -> None:
    # The item's fleet allows one of each; the client learns that and refuses the second.
    with Sandbox(items=2, code_interval=0.05, free_limit=1, reset_limit=1) as sb:
        key = item_ids(sb)[0]
        limits = Limits(code_interval=0.05, free_limit=1, reset_limit=1)

        async def run() -> None:
            async with client_for(sb, limits=limits) as erm:
                await erm.generate_free_code(key)
                await erm.generate_reset_code(key)
                for issue in (erm.generate_free_code, erm.generate_reset_code):
                    with pytest.raises(CodeLimitError) as info:
                        await issue(key)
                    assert info.value.errors == [], "refused by the client, not by the server"
                # Either allowance used up leaves days codes alone.
                await erm.generate_days_code(key, days=1)

        asyncio.run(run())
        assert [e["codeType"] for e in sb.history(key)] == ["FREECODE", "RESETCODE", "DAYSCODE"]


def test_a_recovered_code_keeps_the_callers_description() -> None:
    with Sandbox(items=1, code_interval=0.05) as sb:
        key = item_ids(sb)[0]

        async def run() -> IssuedCode:
            async with client_for(sb, limits=Limits(code_interval=0.05)) as erm:
                await erm.prefetch([key])
                # Every answer from now on is dropped after the server has run the request;
                # only the first one is needed.
                sb.faults = FaultSpec(drop=1.0)
                task = asyncio.ensure_future(
                    erm.generate_days_code(key, days=2, description=" keep  my spaces ")
                )
                while not sb.fault_counts["drop"]:
                    await asyncio.sleep(0.01)
                sb.faults = FaultSpec()
                return await task

        code = asyncio.run(run())
    assert code.recovered
    assert code.description == " keep  my spaces "


@pytest.mark.parametrize("kind", ["GenerateDaysCode", "GenerateFreeCode", "GenerateResetCode"])
def test_an_unknown_outcome_with_an_unreadable_history_is_never_sent_again(kind: str) -> None:
    with Sandbox(items=1, code_interval=0.05) as sb:
        key = item_ids(sb)[0]
        rid = new_request_id()  # fresh: sent at once, with no history read first
        item_id = sb.items()[0]["_id"]
        policy = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)

        async def run() -> None:
            async with client_for(sb, limits=Limits(code_interval=0.05), retry=policy) as erm:
                await erm.prefetch([key])
                sb.faults = FaultSpec(drop=1.0)
                if kind == "GenerateDaysCode":
                    await erm.generate_days_code(key, days=2, request_id=rid)
                elif kind == "GenerateFreeCode":
                    await erm.generate_free_code(key, request_id=rid)
                else:
                    await erm.generate_reset_code(key, request_id=rid)

        with pytest.raises(TransportError) as info:
            asyncio.run(run())
        sb.faults = FaultSpec()
        history = sb.history(key)
    message = info.value.message
    code_type = {"GenerateDaysCode": "DAYSCODE", "GenerateFreeCode": "FREECODE"}.get(
        kind, "RESETCODE"
    )
    assert message.startswith(
        f"{code_type}: request {rid} for {item_id} may have been issued and the item's code "
        "history could not be read ("
    )
    assert message.endswith(
        f"); call recover({item_id!r}, {rid!r}), or issue again with the same request_id"
    )
    assert isinstance(info.value, OutcomeUnknownError)
    assert info.value.request_id == rid and info.value.item_id == item_id
    # The request ran once; the client gave up rather than send it blind a second time.
    assert [request_id_of(e["description"]) for e in history] == [rid]


def test_look_ups_send_the_documented_variables() -> None:
    # A server that records what it is sent: the variables are the contract.
    hostile = Hostile(mode="items")
    with BackgroundServer(hostile.app()) as server:

        async def run() -> str:
            url = f"{server.base_url}/graphql"
            async with AsyncErmClient(url, "ops@example.test", "pw") as erm:
                item = await erm.find_item("DVAV2501000001")
                await erm.prefetch([f"K{n:03d}" for n in range(150)])
                return item.id

        assert asyncio.run(run()) == real_item(1)["_id"]
    looks = ("GetAllClientItems", "GetItemsForDownloadById")
    sent = [
        (r["operationName"], r["variables"]) for r in hostile.seen if r["operationName"] in looks
    ]
    assert hostile.seen[0]["operationName"] == "SignInUser"
    # The limits of the items a prefetch learned are read for each item once a request.
    limit_reads = [
        r["variables"]["ids"] for r in hostile.seen if r["operationName"] == "GetItemsLimits"
    ]
    assert limit_reads and all(len(ids) == len(set(ids)) for ids in limit_reads)
    assert sent == [
        (
            "GetAllClientItems",
            {
                "queryorder": "DESC",
                "first": 25,
                "search": "DVAV2501000001",
                "assetaccount": False,
            },
        ),
        # 100 ids a request, in order.
        ("GetItemsForDownloadById", {"ids": [f"K{n:03d}" for n in range(100)]}),
        ("GetItemsForDownloadById", {"ids": [f"K{n:03d}" for n in range(100, 150)]}),
    ]


def test_a_code_request_that_never_reached_the_server_is_sent_again(tmp_path: Path) -> None:
    # The server goes away between the history read and the code request: the
    # connection is refused, so nothing was issued and the request goes again, under
    # the same id, once a server answers on that port again (with the same database).
    db = tmp_path / "erm.sqlite3"
    first = Sandbox(items=2, code_interval=0.05, db_path=db).start()
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    key = item_ids(first)[0]
    rid = "00000000000000d4"
    policy = RetryPolicy(max_retries=8, initial_delay=0.1, max_delay=0.3)
    second: list[Sandbox] = []

    async def run() -> IssuedCode:
        async with client_for(first, limits=Limits(code_interval=0.05), retry=policy) as erm:
            await erm.prefetch([key])
            session = erm.api.session
            assert session is not None
            await session.close()  # no pooled connection outlives the server
            first.stop()

            async def restart() -> None:
                await asyncio.sleep(0.3)
                second.append(
                    await asyncio.to_thread(
                        Sandbox(items=2, code_interval=0.05, db_path=db, port=port).start
                    )
                )

            restarting = asyncio.ensure_future(restart())
            code = await erm.generate_days_code(key, days=3, request_id=rid)
            await restarting
            return code

    try:
        code = asyncio.run(run())
        history = second[0].history(key)
    finally:
        for sb in second:
            sb.stop()
    assert not code.recovered and code.request_id == rid
    assert [(request_id_of(e["description"]), e["codeHexString"]) for e in history] == [
        (rid, code.code_hex)
    ]


def test_a_limit_the_server_enforces_is_raised_as_the_servers_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The client is told of a looser daily limit than the server's: the server refuses
    # the second code, and that refusal (nothing issued) is raised, not retried.
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=1, code_interval=0.05, daily_limit=1) as sb:
        key = item_ids(sb)[0]
        limits = Limits(code_interval=0.05, daily_limit=5)

        async def run() -> None:
            # Told, and not reading the item's fleet: only the server knows its limit.
            unlearned = ClientConfig(learn_limits=False)
            async with client_for(sb, limits=limits, config=unlearned) as erm:
                await erm.generate_days_code(key, days=1)
                with pytest.raises(CodeLimitError) as info:
                    await erm.generate_days_code(key, days=2)
                assert info.value.errors, "refused by the server"

        asyncio.run(run())
        assert [e["codeDays"] for e in sb.history(key)] == [1]
    assert served(caplog, "GenerateDaysCode") == 2, "the refused request was sent once"


def test_prefetch_goes_past_a_chunk_with_an_unknown_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=1, code_interval=0.05) as sb:
        key = item_ids(sb)[0]
        keys = [f"NOPE{n:04d}" for n in range(100)] + [key]

        async def run() -> int:
            async with client_for(sb, limits=Limits(code_interval=0.05)) as erm:
                await erm.prefetch(list(keys))
                before = served(caplog, "GetItemsForDownloadById")
                await erm.generate_days_code(key, days=1)
                return served(caplog, "GetItemsForDownloadById") - before

        # The second chunk was learned although the first one was refused: issuing for
        # its item reads no history.
        assert asyncio.run(run()) == 0
        assert len(sb.history(key)) == 1


def test_reading_the_history_teaches_the_client_another_clients_codes() -> None:
    with Sandbox(items=1, code_interval=1.0) as sb:
        key = item_ids(sb)[0]
        limits = Limits(code_interval=1.0)

        async def run() -> int:
            async with client_for(sb, limits=limits) as a, client_for(sb, limits=limits) as b:
                await a.generate_days_code(key, days=1)
                await b.generate_days_code(key, days=2)
                # A learns of B's code from the history, so its next code waits for the
                # interval after B's, and the server has nothing to refuse.
                assert len(await a.code_history(key)) == 2
                await a.generate_days_code(key, days=3)
                return a.server_refusals + b.server_refusals

        assert asyncio.run(run()) == 0
        assert [e["codeDays"] for e in sb.history(key)] == [1, 2, 3]


def test_a_recovered_code_counts_for_the_items_interval() -> None:
    with Sandbox(items=1, code_interval=1.0) as sb:
        key = item_ids(sb)[0]

        async def run() -> tuple[list[bool], int]:
            async with client_for(sb, limits=Limits(code_interval=1.0)) as erm:
                await erm.prefetch([key])
                sb.faults = FaultSpec(drop=1.0)
                first = asyncio.ensure_future(erm.generate_days_code(key, days=1))
                while not sb.fault_counts["drop"]:
                    await asyncio.sleep(0.01)
                sb.faults = FaultSpec()
                codes = [await first, await erm.generate_days_code(key, days=2)]
                return [c.recovered for c in codes], erm.server_refusals

        recovered, refusals = asyncio.run(run())
        assert recovered == [True, False]
        assert refusals == 0, "the second code waited for the interval after the first"
        assert [e["codeDays"] for e in sb.history(key)] == [1, 2]


def test_find_item_matches_whole_ids_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=3) as sb:
        key = item_ids(sb)[0]

        async def run() -> None:
            async with client_for(sb) as erm:
                # A part of an id finds items in the search, but none is that item.
                for partial in (key[:-1], key[1:]):
                    with pytest.raises(NotFoundError) as info:
                        await erm.find_item(partial)
                    assert info.value.message == (
                        f"no item {partial!r} among this distributor's items"
                    )
                with pytest.raises(NotFoundError):
                    await erm.code_history("NOPE0000000000")

        asyncio.run(run())
    # One search each, and no look-up by id when the search had no further page.
    assert served(caplog, "GetAllClientItems") == 2
    assert served(caplog, "GetItemsForDownloadById") == 1


def test_find_item_looks_up_by_id_when_the_search_has_more_pages() -> None:
    hostile = Hostile(mode="items", more_pages=True)
    with BackgroundServer(hostile.app()) as server:
        url = f"{server.base_url}/graphql"

        async def find() -> str:
            async with AsyncErmClient(url, "ops@example.test", "pw") as erm:
                return (await erm.find_item("DVAV2501000099")).id

        assert asyncio.run(find()) == real_item(1)["_id"]
        sent = [(r["operationName"], r["variables"].get("ids")) for r in hostile.seen[1:]]
        assert sent == [
            ("GetAllClientItems", None),
            ("GetItemsForDownloadById", ["DVAV2501000099"]),
        ]

        async def gone() -> None:
            async with AsyncErmClient(url, "ops@example.test", "pw") as erm:
                await erm.code_history("GONE")

        # An empty answer to a look-up by id is "no such item" too.
        with pytest.raises(NotFoundError) as info:
            asyncio.run(gone())
        assert info.value.message == "no item 'GONE' among this distributor's items"


def test_a_request_id_must_be_16_lowercase_hex_digits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=1) as sb:
        key = item_ids(sb)[0]

        async def run() -> None:
            async with client_for(sb) as erm:
                for bad in ("ABCDEF0123456789", "0123456789abcde", "0123456789abcdefa", "xyz"):
                    with pytest.raises(InvalidInputError) as info:
                        await erm.generate_days_code(key, days=1, request_id=bad)
                    assert info.value.message == "request_id must be 16 lowercase hex digits"

        asyncio.run(run())
        assert sb.history(key) == []
    assert served(caplog, "GenerateDaysCode") == 0


def test_a_server_refusal_for_the_interval_is_waited_out(caplog: pytest.LogCaptureFixture) -> None:
    # The client is told of no interval at all; the server keeps 0.5 s between codes and
    # refuses each code after the first with a hint, which the client waits out and sends
    # again, once.
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=1, code_interval=0.5) as sb:
        key = item_ids(sb)[0]
        policy = RetryPolicy(max_retries=1, initial_delay=0.05, max_delay=0.1)
        limits = Limits(code_interval=0.0, interval_margin=0.0)

        async def run() -> int:
            unlearned = ClientConfig(learn_limits=False)  # the fleet's interval is not read
            async with client_for(sb, limits=limits, retry=policy, config=unlearned) as erm:
                for days in (1, 2, 3):
                    await erm.generate_days_code(key, days=days)
                return erm.server_refusals

        assert asyncio.run(run()) == 2
        assert [e["codeDays"] for e in sb.history(key)] == [1, 2, 3]
    assert served(caplog, "GenerateDaysCode") == 5


def test_an_item_named_again_by_the_same_id_costs_no_history_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=2, code_interval=0.05) as sb:
        item = sb.items()[1]
        keys = [item["sellerItemID"], item["sellerItemID"], item["_id"], item["oemItemID"]]

        async def run() -> None:
            async with client_for(sb, limits=Limits(code_interval=0.05)) as erm:
                for key in keys:
                    await erm.generate_days_code(str(key), days=1)

        asyncio.run(run())
        assert len(sb.history(str(item["_id"]))) == 4
    # The first code reads the history; the same id, the item's _id and its other ids
    # (read with it) are known after.
    assert served(caplog, "GetItemsForDownloadById") == 1


def test_a_bounded_item_book_reads_a_forgotten_history_again_and_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=3, code_interval=0.05) as sb:
        ids = [str(i["_id"]) for i in sb.items()]
        limits = Limits(code_interval=0.05, total_limit=2)
        config = ClientConfig(max_items=2, limits=limits, learn_limits=False)

        async def run() -> None:
            async with AsyncErmClient(sb.url, sb.email, sb.password, config=config) as erm:
                for item in ids:  # the third forgets the first
                    await erm.generate_days_code(item, days=1)
                await erm.generate_days_code(ids[0], days=2)  # read again: one code known
                with pytest.raises(CodeLimitError):
                    await erm.generate_days_code(ids[0], days=3)  # its total of two
                assert erm.server_refusals == 0

        asyncio.run(run())
        assert [e["codeDays"] for e in sb.history(ids[0])] == [1, 2]
    assert served(caplog, "GetItemsForDownloadById") == 4
