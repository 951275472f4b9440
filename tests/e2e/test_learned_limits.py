"""Per-item limits learned from each item's fleet.

Pure parts from tables: a fleet's fields (and their ``disable…`` flags) turned into
``Limits``, and the credit-stacking rule of ``check_code_request``. Over the wire, against
the sandbox: items of two fleets with different intervals in one run get zero refusals,
and a server that does not give the limits (an error, no fleet, null values) leaves the
configured limits in force with one debug line, never a failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import pytest

from omnivoltaic_erm import AsyncErmClient, CodeLimitError, Limits
from omnivoltaic_erm._limits import UNLIMITED, limits_from_fleet
from omnivoltaic_erm._ratelimit import ItemLedger, check_code_request
from omnivoltaic_erm.models import CodeTypes
from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.fleets import Fleet
from tests.support.real_api import answers
from tests.support.replay import Canned, ReplayServer
from tests.support.sandbox_http import served

DAYS, FREE, RESET = CodeTypes.DAYSCODE, CodeTypes.FREECODE, CodeTypes.RESETCODE


@dataclass
class FleetFields:
    """The FleetLimits fields, all unset unless given."""

    code_gen_interval: int | None = None
    disable_code_gen_interval: bool | None = None
    day_code_count_limit: int | None = None
    disable_day_code_count_limit: bool | None = None
    total_code_count_limit: int | None = None
    disable_total_code_count_limit: bool | None = None
    free_code_count: int | None = None
    disable_free_code: bool | None = None
    reset_code_count: int | None = None
    disable_reset_code_count: bool | None = None
    max_credit_stack_days: int | None = None
    disable_max_credit_stack_days: bool | None = None
    max_credit_stack_code_events: int | None = None
    disable_max_credit_stack_code_events: bool | None = None
    days_to_check_duration: int | None = None
    disable_days_to_check_duration: bool | None = None
    minimum_day_codes_generated: int | None = None
    disable_minimum_day_codes_generated: bool | None = None


BASE = Limits()


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        (None, {}),
        (FleetFields(), {}),
        # Only a fleet with the rule on and a value is evidence of the server's interval.
        (FleetFields(code_gen_interval=1500), {"code_interval": 1.5, "server_interval": 1.5}),
        (FleetFields(code_gen_interval=0), {"code_interval": 0.0}),
        (FleetFields(code_gen_interval=9000, disable_code_gen_interval=True), {"code_interval": 0}),
        (FleetFields(code_gen_interval=-1), {}),
        (FleetFields(day_code_count_limit=20), {"daily_limit": 20}),
        (
            FleetFields(day_code_count_limit=20, disable_day_code_count_limit=True),
            {"daily_limit": UNLIMITED},
        ),
        (FleetFields(disable_day_code_count_limit=False), {}),
        (FleetFields(total_code_count_limit=2000), {"total_limit": 2000}),
        (FleetFields(disable_total_code_count_limit=True), {"total_limit": UNLIMITED}),
        (FleetFields(free_code_count=2, reset_code_count=3), {"free_limit": 2, "reset_limit": 3}),
        (FleetFields(free_code_count=2, disable_free_code=True), {"free_limit": UNLIMITED}),
        (FleetFields(disable_reset_code_count=True), {"reset_limit": UNLIMITED}),
        (
            FleetFields(max_credit_stack_days=60, max_credit_stack_code_events=5),
            {"credit_days": 60, "credit_events": 5},
        ),
        (
            FleetFields(
                max_credit_stack_days=60,
                max_credit_stack_code_events=5,
                disable_max_credit_stack_days=True,
            ),
            {},
        ),
        (
            FleetFields(
                max_credit_stack_days=60,
                max_credit_stack_code_events=5,
                disable_max_credit_stack_code_events=True,
            ),
            {},
        ),
        (FleetFields(max_credit_stack_days=60), {}),
    ],
)
def test_limits_from_fleet(fleet: FleetFields | None, expected: dict[str, Any]) -> None:
    learned = limits_from_fleet(fleet, BASE)
    for f in fields(Limits):
        want = expected.get(f.name, getattr(BASE, f.name))
        assert getattr(learned, f.name) == want, f.name


def _ledger(*events: tuple[str, int]) -> ItemLedger:
    return ItemLedger.from_history((kind, datetime(2025, 1, 1), days) for kind, days in events)


CREDIT = Limits(code_interval=0, credit_days=60, credit_events=5)


@pytest.mark.parametrize(
    ("events", "days", "refused"),
    [
        ((), 60, False),
        ((), 61, True),
        (((DAYS, 30), (DAYS, 30)), 1, True),
        (((DAYS, 30), (DAYS, 29)), 1, False),
        (((DAYS, 50), (DAYS, 10), (DAYS, 10), (DAYS, 10), (DAYS, 10)), 20, False),
        (((DAYS, 50), (DAYS, 10), (DAYS, 10), (DAYS, 10), (DAYS, 10)), 21, True),
        (((DAYS, 55), (FREE, 0)), 6, True),
        (((DAYS, 55), (RESET, 0)), 60, False),
    ],
)
def test_credit_stacking_table(
    events: tuple[tuple[str, int], ...], days: int, refused: bool
) -> None:
    ledger = _ledger(*events)
    if refused:
        with pytest.raises(CodeLimitError) as info:
            check_code_request(DAYS, ledger, CREDIT, 1e10, days)
        assert info.value.limit == "CREDIT_STACK_LIMIT"
    else:
        assert check_code_request(DAYS, ledger, CREDIT, 1e10, days) == 0.0
    # Free and reset codes add no days, and without the rule nothing is refused.
    check_code_request(FREE, ledger, CREDIT, 1e10)
    check_code_request(DAYS, ledger, Limits(code_interval=0), 1e10, days)


def _fleet(name: str, interval: float) -> Fleet:
    return Fleet(name, interval, daily_limit=10, total_limit=1096, free_limit=5, reset_limit=5)


@pytest.mark.slow
def test_two_fleets_in_one_run_get_zero_refusals() -> None:
    # The client is told 0.5 s between codes; the fleets say 1 s and 3 s. Without learning,
    # every second code for a 3 s item would be refused.
    with Sandbox(items=4, fleets=(_fleet("Fast", 1.0), _fleet("Slow", 3.0))) as sb:

        async def run() -> tuple[int, list[Limits]]:
            async with AsyncErmClient(
                sb.url, sb.email, sb.password, limits=Limits(code_interval=0.5)
            ) as erm:
                items = [item["_id"] for item in sb.items()]

                async def two_codes(item: str) -> None:
                    await erm.generate_days_code(item, 1)
                    await erm.generate_days_code(item, 1)

                await asyncio.gather(*(two_codes(item) for item in items))
                learned = [await erm.item_limits(item) for item in items]
                return erm.server_refusals, learned

        refusals, learned = asyncio.run(run())
        assert refusals == 0
        assert [limits.code_interval for limits in learned] == [1.0, 3.0, 1.0, 3.0]
        for index, item in enumerate(sb.items()):
            times = [datetime.fromisoformat(e["createdAt"]) for e in sb.history(item["_id"])]
            assert len(times) == 2
            assert (times[1] - times[0]).total_seconds() >= (1.0, 3.0)[index % 2]


def _fallback_server(limits_answer: Canned) -> ReplayServer:
    canned = {n: Canned(json.dumps({"data": d}).encode()) for n, d in answers().items()}
    canned["GetItemLimits"] = limits_answer
    return ReplayServer(answers=canned)


FORBIDDEN = {
    "data": None,
    "errors": [
        {
            "message": "Forbidden resource",
            "extensions": {"code": "FORBIDDEN", "response": {"statusCode": 403}},
        }
    ],
}


@pytest.mark.parametrize(
    "answer",
    [
        Canned(json.dumps(FORBIDDEN).encode()),
        Canned(json.dumps({"data": {"getSpecificItem": {"_id": "x", "itemFleet": None}}}).encode()),
        Canned(
            json.dumps(
                {
                    "data": {
                        "getSpecificItem": {"_id": "x", "itemFleet": {"_id": "f", "fleetName": "N"}}
                    }
                }
            ).encode()
        ),
        Canned(b'{"errors": [{"message": "Cannot query field"}]}', status=400),
    ],
    ids=["forbidden", "no-fleet", "null-values", "invalid-query"],
)
def test_without_limits_from_the_server_the_configured_ones_apply(
    answer: Canned, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm")
    replay = _fallback_server(answer)
    configured = Limits(code_interval=0.25, daily_limit=7)
    with replay.serve() as server:

        async def run() -> Limits:
            async with AsyncErmClient(
                f"{server.base_url}/graphql", "e@x.test", "pw", limits=configured
            ) as erm:
                code = await erm.generate_days_code("AGZ-00001", 7)
                assert code.code_hex
                return await erm.item_limits("AGZ-00001")

        learned = asyncio.run(run())
    assert learned == configured
    lines = [r for r in caplog.records if "configured limits" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.DEBUG
    sent = [r["operationName"] for r in replay.requests]
    assert sent.count("GetItemLimits") == 1 and sent.count("GenerateDaysCode") == 1


def test_prefetch_learns_the_limits_of_many_items_in_one_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivoltaic_erm.sandbox")
    with Sandbox(items=5, fleets=(_fleet("Fast", 0.2), _fleet("Slow", 0.4))) as sb:

        async def run() -> list[float]:
            async with AsyncErmClient(sb.url, sb.email, sb.password) as erm:
                items = [item["oemItemID"] for item in sb.items()]
                await erm.prefetch(items)
                for item in items:
                    await erm.generate_free_code(item)
                return [(await erm.item_limits(item)).code_interval for item in items]

        assert asyncio.run(run()) == [0.2, 0.4, 0.2, 0.4, 0.2]
    assert served(caplog, "GetItemsLimits") == 1
    assert served(caplog, "GetItemLimits") == 0  # no item needed a request of its own
    assert served(caplog, "GetItemsForDownloadById") == 1
