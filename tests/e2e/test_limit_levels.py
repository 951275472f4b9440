"""The client learns limits at both levels, against a sandbox that keeps both: the
distributor's settings where the fleet sets nothing, the fleet's over them, a fleet's
switch turning a rule off; and says where each rule comes from (``limit_report``,
``erm limits``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnivoltaic_erm import AsyncErmClient, CodeLimitError, Limits
from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.fleets import Fleet
from omnivoltaic_erm.sandbox.settings import DistributorSetting
from tests.support.cli_helpers import Cli

# A fleet that sets nothing: every limit is the distributor's.
OPEN = Fleet(
    "Open",
    code_interval=None,
    daily_limit=None,
    total_limit=None,
    free_limit=None,
    reset_limit=None,
    credit_days=None,
    credit_events=None,
    disabled=frozenset(),
    days_to_check_duration=30,
    minimum_day_codes=2,
)
# A fleet that sets the free codes itself and switches the daily rule off.
OWN = Fleet(
    "Own",
    code_interval=None,
    daily_limit=None,
    total_limit=None,
    free_limit=2,
    reset_limit=None,
    credit_days=None,
    credit_events=None,
    disabled=frozenset({"daily"}),
)
SETTING = DistributorSetting(
    code_interval=0.1,
    daily_limit=3,
    total_limit=50,
    free_limit=1,
    reset_limit=4,
    credit_days=90,
    credit_events=4,
)
# The client's own defaults, which neither level leaves to it here.
CONFIGURED = Limits(code_interval=9.0, daily_limit=99, free_limit=99, interval_margin=0.0)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(
        items=2,
        fleets=(OPEN, OWN),
        distributor_settings={"distributor@sandbox.test": SETTING},
    ) as sandbox:
        yield sandbox


def test_each_rule_comes_from_the_level_that_sets_it(sb: Sandbox) -> None:
    open_item, own_item = (i["_id"] for i in sb.items())

    async def run() -> None:
        async with AsyncErmClient(sb.url, sb.email, sb.password, limits=CONFIGURED) as erm:
            report = await erm.limit_report(open_item)
            assert report.fleet_name == "Open"
            assert set(report.sources.values()) == {"distributor"}
            limits = report.limits
            # Paced by the distributor's interval, which is no evidence for a resend.
            assert (limits.code_interval, limits.server_interval) == (0.1, None)
            assert (limits.daily_limit, limits.total_limit) == (3, 50)
            assert (limits.free_limit, limits.reset_limit) == (1, 4)
            assert (limits.credit_days, limits.credit_events) == (90, 4)
            assert report.not_enforced == {
                "daysToCheckDuration": 30,
                "minimumDayCodesGenerated": 2,
            }
            own = await erm.limit_report(own_item)
            assert own.sources["free"] == "fleet" and own.limits.free_limit == 2
            assert own.sources["daily"] == "off"
            assert own.sources["interval"] == "distributor"
            # The distributor's one free code: the second is refused before sending.
            await erm.generate_free_code(open_item)
            with pytest.raises(CodeLimitError):
                await erm.generate_free_code(open_item)
            assert erm.server_refusals == 0

    asyncio.run(run())
    assert len(sb.history(open_item)) == 1


def test_the_distributors_settings_are_read_once_per_client(sb: Sandbox, tmp_path: Path) -> None:
    items = [i["_id"] for i in sb.items()]

    async def run() -> None:
        async with AsyncErmClient(sb.url, sb.email, sb.password, record=tmp_path) as erm:
            for item in items:
                await erm.item_limits(item)

    asyncio.run(run())
    reads = [f for f in tmp_path.glob("*.json") if f.name.endswith("-GetDistributorSetting.json")]
    assert len(reads) == 1


def test_prefetched_items_learn_both_levels_and_are_not_read_again(
    sb: Sandbox, tmp_path: Path
) -> None:
    items = [i["_id"] for i in sb.items()]

    async def run() -> list[Limits]:
        async with AsyncErmClient(
            sb.url, sb.email, sb.password, limits=CONFIGURED, record=tmp_path
        ) as erm:
            await erm.prefetch(items)
            await erm.prefetch(items)  # known now: nothing is read again
            return [await erm.item_limits(item) for item in items]

    open_limits, own_limits = asyncio.run(run())
    # The distributor's settings where the fleet sets nothing, the fleet's over them.
    assert (open_limits.free_limit, open_limits.daily_limit, open_limits.total_limit) == (1, 3, 50)
    assert (own_limits.free_limit, own_limits.reset_limit) == (2, 4)
    operations = sorted(f.stem.rsplit("-", 1)[1] for f in tmp_path.glob("*.json"))
    assert operations.count("GetItemsForDownloadById") == 1
    assert operations.count("GetItemsLimits") == 1
    assert "GetItemLimits" not in operations  # each item's limits came with the prefetch


def test_a_prefetch_reads_no_limits_an_item_already_has(sb: Sandbox, tmp_path: Path) -> None:
    item = sb.items()[0]["_id"]

    async def run() -> None:
        async with AsyncErmClient(sb.url, sb.email, sb.password, record=tmp_path) as erm:
            await erm.item_limits(item)
            # What a prefetch does for an item whose limits were learned while it read.
            await erm._prefetch_limits([item])

    asyncio.run(run())
    operations = [f.stem.rsplit("-", 1)[1] for f in tmp_path.glob("*.json")]
    assert operations.count("GetItemLimits") == 1 and "GetItemsLimits" not in operations


@pytest.mark.slow
def test_erm_limits_says_where_each_rule_comes_from(sb: Sandbox, tmp_path: Path) -> None:
    cli = Cli(sb, tmp_path)
    own = sb.items()[1]["oemItemID"]
    r = cli.run("--json", "limits", own)
    assert r.code == 0, r.err
    report = r.json()
    assert report["fleet"] == "Own"
    assert report["limits"]["free"] == 2 and report["limits"]["daily"] is None
    assert report["sources"]["daily"] == "off" and report["sources"]["total"] == "distributor"
    text = cli.run("limits", own)
    assert text.code == 0
    assert "free        2 free codes" in text.out
    assert "the distributor's settings" in text.out and "off: the fleet's switch" in text.out
    assert "Not enforced" in text.out
