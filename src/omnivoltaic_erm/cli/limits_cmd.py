"""``erm limits``: the code-generation limits the client applies to one item, and where
each comes from (the item's fleet, the distributor's settings, the configured defaults,
or off by the fleet's switch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._app import Settings, erm, item_id_argument

if TYPE_CHECKING:
    from .._limits import LimitReport
    from ..client import AsyncErmClient
    from ..config import Limits

# Where a rule's value comes from, as the table says it.
_FROM = {
    "fleet": "the item's fleet",
    "distributor": "the distributor's settings",
    "configured": "the client's defaults",
    "off": "off: the fleet's switch",
}


def _count(value: int, one: str, many: str) -> str:
    return f"{value:,} {one if value == 1 else many}"


def rule_values(limits: Limits, sources: dict[str, str]) -> dict[str, str]:
    """Each rule's value as a person reads it; "none" where it is off (pure)."""
    from ..kinds import allowances

    off = {name for name, source in sources.items() if source == "off"}
    values = {
        "interval": f"{limits.code_interval:g} s between two codes",
        "daily": _count(limits.daily_limit, "code", "codes") + " in 24 hours",
        "total": _count(limits.total_limit, "code", "codes") + " in all",
        **{
            kind.word: _count(getattr(limits, a.limit), kind.label, f"{kind.label}s")
            for kind, a in allowances()
        },
        "credit": (
            f"{_count(limits.credit_days, 'day', 'days')} over the last "
            f"{_count(limits.credit_events, 'code', 'codes')}"
            if limits.credit_days is not None
            else "none"
        ),
    }
    return {name: ("none" if name in off else value) for name, value in values.items()}


def report_json(report: LimitReport) -> dict[str, Any]:
    """The report for ``--json``: numbers as numbers, None where a rule is off."""
    from ..kinds import allowances

    limits, sources = report.limits, dict(report.sources)
    numbers: dict[str, Any] = {
        "interval": limits.code_interval,
        "daily": limits.daily_limit,
        "total": limits.total_limit,
        **{kind.word: getattr(limits, a.limit) for kind, a in allowances()},
        "credit": (
            {"days": limits.credit_days, "events": limits.credit_events}
            if limits.credit_days is not None
            else None
        ),
    }
    return {
        "item": report.item_id,
        "fleet": report.fleet_name,
        "limits": {k: (None if sources[k] == "off" else v) for k, v in numbers.items()},
        "sources": sources,
        "notEnforced": dict(report.not_enforced),
    }


@erm.command("limits")
@click.argument("item_id", metavar="ID", callback=item_id_argument)
@click.pass_obj
def limits(settings: Settings, item_id: str) -> None:
    """Show the limits applied to one item and where each comes from.

    ID is its _id, oemItemID or sellerItemID. The item's fleet sets limits over the
    distributor's settings, and those over the client's defaults; a fleet can switch a
    rule off. Two fleet settings are shown but not enforced: what the server does with
    them is not public.
    """
    from rich.table import Table

    from . import _output
    from ._run import run_client

    async def fetch(client: AsyncErmClient) -> LimitReport:
        return await client.limit_report(item_id)

    report = run_client(settings, fetch)
    if settings.as_json:
        _output.emit_json(report_json(report))
        return
    fleet = f"fleet {report.fleet_name!r}" if report.fleet_name else "no fleet"
    console = _output.stdout()
    console.print(f"Limits of {report.item_id} ({fleet})")
    table = Table(box=None, padding=(0, 2))
    for column in ("rule", "limit", "from"):
        table.add_column(column, no_wrap=column != "limit")
    values = rule_values(report.limits, dict(report.sources))
    for name, value in values.items():
        table.add_row(name, value, _FROM[report.sources[name]])
    console.print(table)
    shown = ", ".join(
        f"{name} {'unset' if value is None else value}"
        for name, value in report.not_enforced.items()
    )
    console.print(f"Not enforced (what the server does with them is not public): {shown}")
