"""The item book: what a client knows of each item, bounded, each item under its lock.

For every item it has met, a client keeps an ``ItemState``: the item's ledger of code
events (learned from its history, then kept up to date by the codes the client issues),
the limits learned from its fleet and distributor, the fleet they came from, and an
``asyncio.Lock`` that serialises the item's code requests. ``ItemBook`` owns these and the
aliases that lead to them (an ``oemItemID`` or ``sellerItemID`` to the ``_id``).

Two rules keep it right:

- **Every update of an item happens under its lock**, or before anyone else can hold the
  item: a history read that could race a code request of the same item is sent while
  holding the lock (``AsyncErmClient.code_history``), so the event the code request just
  recorded is never replaced by an older history; a bulk read (``prefetch``) only fills
  items the book does not know yet.
- **The book is bounded**: past ``max_items`` items, the least recently used one is
  forgotten (with its aliases) unless a call holds its lock; a forgotten item's history
  is read again when it is next needed, which costs a request and loses nothing, since
  the history is the authority.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ._limits import FleetLimitFields
from ._ratelimit import ItemLedger
from .config import Limits


@dataclass
class ItemState:
    """What the client knows of one item: its ledger, its limits once learned (and the
    fleet they came from), and a lock for its code requests and history reads."""

    item_id: str
    ledger: ItemLedger
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    limits: Limits | None = None
    fleet: FleetLimitFields | None = None


# (code type, created at, days) of one event of an item's history.
HistoryRow = tuple[str, datetime | None, int]


class ItemBook:
    """The states of the items a client has met, by ``_id`` and alias, least recently
    used first; at most ``max_items`` of them (0: unbounded)."""

    def __init__(self, max_items: int) -> None:
        if max_items < 0:
            raise ValueError("max_items must not be negative")
        self.max_items = max_items
        self._states: OrderedDict[str, ItemState] = OrderedDict()
        self._aliases: dict[str, str] = {}
        self._aliases_of: dict[str, set[str]] = {}
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._states)

    def __repr__(self) -> str:
        return f"ItemBook(items={len(self)}, max_items={self.max_items})"

    def get(self, key: str) -> ItemState | None:
        """The state of the item ``key`` names (its ``_id`` or a known alias), or None;
        a hit counts as a use."""
        item_id = self._aliases.get(key, key)
        state = self._states.get(item_id)
        if state is not None:
            self._states.move_to_end(item_id)
        return state

    def known(self, key: str) -> bool:
        """Whether ``key`` names an item the book holds (no use is counted)."""
        return self._aliases.get(key, key) in self._states

    def alias(self, alias: str | None, item_id: str) -> None:
        """Let ``alias`` lead to the item ``item_id`` (which the book holds)."""
        if not alias or alias == item_id or item_id not in self._states:
            return
        self._aliases[alias] = item_id
        self._aliases_of.setdefault(item_id, set()).add(alias)

    def learn(self, item_id: str, history: Iterable[HistoryRow]) -> ItemState:
        """Record the item's history as the authority on its code events.

        The caller holds the item's lock, or the item is new to the book: no code request
        of it can be under way, so no event it recorded can be lost.
        """
        ledger = ItemLedger.from_history(history)
        state = self._states.get(item_id)
        if state is None:
            state = self._states[item_id] = ItemState(item_id, ledger)
            self._evict(keep=item_id)
        else:
            state.ledger = ledger
            self._states.move_to_end(item_id)
        return state

    def fill(self, item_id: str, history: Iterable[HistoryRow]) -> ItemState:
        """The item's state, learned from ``history`` only if the book does not hold it
        yet (a read that may be older than what a code request recorded meanwhile)."""
        state = self._states.get(item_id)
        return state if state is not None else self.learn(item_id, history)

    def states(self) -> list[ItemState]:
        """Every state, least recently used first."""
        return list(self._states.values())

    def reset_locks(self) -> None:
        """New locks for every item (in a forked child: the parent's belong to its loop)."""
        for state in self._states.values():
            state.lock = asyncio.Lock()

    def _evict(self, keep: str) -> None:
        if not self.max_items:
            return
        while len(self._states) > self.max_items:
            victim = next(
                (i for i, s in self._states.items() if i != keep and not s.lock.locked()),
                None,
            )
            if victim is None:
                return  # every item is in use: over the bound until one is free
            del self._states[victim]
            for alias in self._aliases_of.pop(victim, ()):
                if self._aliases.get(alias) == victim:
                    del self._aliases[alias]
            self.forgotten += 1
