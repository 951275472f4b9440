"""The item book: bounded, least recently used forgotten first, never an item in use,
its aliases with it; a read that may be older never replaces what is known."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from omnivoltaic_erm._items import ItemBook

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_past_its_bound_the_least_recently_used_item_is_forgotten_with_its_aliases() -> None:
    book = ItemBook(max_items=2)
    book.learn("a", [])
    book.alias("OEM-A", "a")
    book.learn("b", [])
    assert book.get("OEM-A") is not None  # a use: "b" is now the least recent
    book.learn("c", [])
    assert [s.item_id for s in book.states()] == ["a", "c"]
    assert not book.known("b") and book.forgotten == 1
    book.learn("d", [])
    assert not book.known("a") and not book.known("OEM-A")  # the alias went with it
    assert len(book) == 2


def test_an_item_in_use_is_never_forgotten() -> None:
    async def run() -> None:
        book = ItemBook(max_items=1)
        held = book.learn("a", [])
        async with held.lock:
            book.learn("b", [])
            assert book.known("a") and book.known("b")  # over the bound while "a" is in use
        book.learn("c", [])
        assert book.known("c") and len(book) == 1

    asyncio.run(run())


def test_fill_never_replaces_what_is_known_and_learn_does() -> None:
    book = ItemBook(max_items=0)  # unbounded
    state = book.learn("a", [("DAYSCODE", T, 3)])
    state.ledger.record("DAYSCODE", T.timestamp() + 60, 5)  # a code issued since
    assert book.fill("a", [("DAYSCODE", T, 3)]).ledger.total == 2  # the older read: ignored
    assert book.learn("a", [("DAYSCODE", T, 3)]).ledger.total == 1  # the authority, locked
    with pytest.raises(ValueError):
        ItemBook(max_items=-1)


def test_new_locks_after_a_fork_keep_what_is_known() -> None:
    book = ItemBook(max_items=10)
    state = book.learn("a", [("FREECODE", T, 0)])
    old = state.lock
    book.reset_locks()
    assert state.lock is not old and state.ledger.count("FREECODE") == 1
