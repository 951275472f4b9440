"""``erm items`` and ``erm item``: the distributor's items."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ._app import Settings, erm, item_id_argument

if TYPE_CHECKING:
    from ..client import AsyncErmClient
    from ..models import Item


@erm.command("items")
@click.option(
    "--search",
    "-s",
    metavar="TEXT",
    help="Only items whose _id, oemItemID or sellerItemID matches TEXT.",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Show at most N items (0: all of them).",
)
@click.pass_obj
def items(settings: Settings, search: str | None, limit: int) -> None:
    """List the items assigned to this distributor, newest first.

    When --limit cuts the list, the table says so; under --json, a line on stderr does.
    """
    import contextlib

    from . import _output
    from ._run import run_client

    # One item more than shown: the first page then says whether there are more, without
    # a second request.
    page = min(limit + 1, 100) if limit else None

    async def fetch(client: AsyncErmClient) -> tuple[list[Item], bool]:
        found: list[Item] = []
        async with contextlib.aclosing(client.iter_items(search=search, page_size=page)) as it:
            async for item in it:
                if limit and len(found) == limit:
                    return found, True
                found.append(item)
        return found, False

    found, limited = run_client(settings, fetch)
    if settings.as_json:
        _output.emit_json([_output.item_json(i) for i in found])
        if limited:
            # stdout stays the list itself; the notice goes where notices go.
            click.echo(
                f"limit reached: the first {limit} items only (--limit 0 lists all)", err=True
            )
    else:
        _output.show_items(found, limited=limited)


@erm.command("item")
@click.argument("item_id", metavar="ID", callback=item_id_argument)
@click.pass_obj
def item(settings: Settings, item_id: str) -> None:
    """Show one item; ID is its _id, oemItemID or sellerItemID."""
    from . import _output
    from ._run import run_client

    async def fetch(client: AsyncErmClient) -> Item:
        return await client.find_item(item_id)

    found = run_client(settings, fetch, item=item_id)
    if settings.as_json:
        _output.emit_json(_output.item_json(found))
    else:
        _output.show_item(found)
