"""What the commands print: rich tables for people, JSON for scripts.

Imported only inside command functions, so that ``erm --help`` never loads rich or the
pydantic models. JSON goes to stdout as one document per command; progress, notices and
errors go to stderr, so ``erm --json ... | jq`` always gets clean JSON.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, JustifyMethod
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .._request_ids import request_id_of
from ..models import CodeEvent, IssuedCode, Item

_REQUEST_TAG_PREFIX = " [req:"


# Width of output that goes to a file or a pipe: wide enough that no table is squeezed.
PIPE_WIDTH = 200


def stdout() -> Console:
    """The console for results (no syntax highlighting, so codes print as they are).

    On a terminal, tables fit its width and fold ids and codes rather than cut them;
    into a pipe or file, lines are up to ``PIPE_WIDTH`` (or $COLUMNS) wide.
    """
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(highlight=False, width=width)


def emit_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def when(value: datetime | None) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SSZ`` (UTC), or empty."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def item_json(item: Item) -> dict[str, Any]:
    """An item as the API names its fields."""
    return item.model_dump(mode="json", by_alias=True)


def code_json(code: IssuedCode) -> dict[str, Any]:
    """An issued code as a JSON object."""
    return code.model_dump(mode="json")


def event_json(event: CodeEvent) -> dict[str, Any]:
    """A code event as the API names its fields, plus the request id it carries."""
    data = event.model_dump(mode="json", by_alias=True)
    data["requestId"] = request_id_of(event.description)
    return data


def _kind(value: object) -> str:
    return str(getattr(value, "value", value))


def user_description(description: str | None) -> str:
    """A stored description without the client's ``[req:...]`` tag."""
    text = description or ""
    cut = text.find(_REQUEST_TAG_PREFIX)
    if cut < 0 and text.startswith("[req:"):
        cut = 0
    return text[:cut] if cut >= 0 else text


def show_code(code: IssuedCode, item: str) -> None:
    """The issued code, large and exact: codeDec as the keypad takes it."""
    from ..kinds import kind_of

    row = kind_of(code.code_type)
    label = row.title if row is not None else _kind(code.code_type)
    days = f"{code.code_days} day{'' if code.code_days == 1 else 's'}"
    title = f"{label}, {days}" if row is not None and row.takes_days else label
    body = Text(code.code_dec, style="bold", justify="center", no_wrap=True, overflow="ignore")
    details = Text(
        f"item {item} · hex {code.code_hex} · request {code.request_id}"
        + (" · recovered from the item's history" if code.recovered else ""),
        style="dim",
        justify="center",
    )
    panel = Panel(
        Group(Text(""), body, Text("")),
        title=f"{title} for {item}",
        subtitle="enter on the keypad",
        expand=False,
        padding=(0, 6),
    )
    out = stdout()
    out.print(panel)
    out.print(details)


# Narrowest a wrapping column is squeezed to before a table gives way to blocks.
_MIN_WRAPPED = 8


def show_rows(
    headers: list[str],
    rows: list[list[str]],
    *,
    exact: Iterable[str] = (),
    right: Iterable[str] = (),
    title: str | None = None,
) -> None:
    """A table whose ``exact`` columns (ids, codes) are never wrapped or cut.

    Where the terminal is too narrow for those at full width, each row is printed as a
    block of ``name  value`` lines instead, so that no id or code is ever truncated.
    """
    out = stdout()
    exact, right = set(exact), set(right)
    widths = [max([len(h), *(len(r[n]) for r in rows)]) for n, h in enumerate(headers)]
    needed = sum(
        w if h in exact else min(w, _MIN_WRAPPED) for h, w in zip(headers, widths, strict=True)
    )
    if needed + 3 * len(headers) + 1 <= out.width:
        table = Table(title=title, header_style="bold")
        for h in headers:
            justify: JustifyMethod = "right" if h in right else "left"
            table.add_column(h, no_wrap=h in exact, overflow="fold", justify=justify)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    if title:
        out.print(Text(title, style="bold"))
    pad = max(map(len, headers))
    for row in rows:
        out.print()
        for h, value in zip(headers, row, strict=True):
            if value:
                out.print(Text(f"{h:<{pad}}  {value}"), soft_wrap=True)


def show_items(items: list[Item], *, limited: bool) -> None:
    """A table of items."""
    headers = ["_id", "oemItemID", "sellerItemID", "description", "lifeCycle", "created (UTC)"]
    rows = [
        [
            it.id,
            it.oem_item_id or "",
            it.seller_item_id or "",
            it.description or "",
            it.life_cycle or "",
            when(it.created_at),
        ]
        for it in items
    ]
    show_rows(headers, rows, exact=headers[:3])
    noun = "item" if len(items) == 1 else "items"
    more = " (limit reached: --limit N shows more)" if limited else ""
    stdout().print(f"{len(items)} {noun}{more}")


def show_item(item: Item) -> None:
    """Every field of one item that has a value."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in item_json(item).items():
        if value is None or value == []:
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(name, text)
    stdout().print(table)


def show_history(item: str, events: list[CodeEvent]) -> None:
    """An item's code events, oldest first."""
    if not events:
        stdout().print(f"No codes have been issued for {item}.")
        return
    headers = ["#", "created (UTC)", "type", "days", "codeDec", "codeHex", "description", "request"]
    rows = [
        [
            str(n),
            when(event.created_at),
            _kind(event.code_type),
            str(event.code_days),
            event.code_dec_string,
            event.code_hex_string,
            user_description(event.description),
            request_id_of(event.description) or "",
        ]
        for n, event in enumerate(events, start=1)
    ]
    show_rows(
        headers,
        rows,
        exact=["#", "codeDec", "codeHex", "request"],
        right=["#", "days"],
        title=f"Code history of {item}",
    )
    stdout().print(f"{len(events)} code event{'s' if len(events) != 1 else ''}")


def show_counts(title: str, counts: Mapping[str, int], rows: Iterable[tuple[str, str]]) -> None:
    """A summary: a count per status, then ``label: value`` lines."""
    table = Table(title=title, header_style="bold")
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status, n in counts.items():
        table.add_row(status, str(n), style="dim" if n == 0 else None)
    table.add_row("total", str(sum(counts.values())), style="bold")
    out = stdout()
    out.print(table)
    for label, value in rows:
        out.print(f"{label}: {value}", soft_wrap=True)
