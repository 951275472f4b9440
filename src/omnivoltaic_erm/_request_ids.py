"""Request ids: how a code request is recognised in an item's code history.

The API has no idempotency keys, so every code request carries a client request id (16
hex digits) at the end of its description, as ``[req:<id>]``; the id is chosen once,
before any attempt, and every attempt carries the same one. Reading the id back from a
stored description is how an unknown outcome is settled.

Only the *trailing* tag counts: that is the one the client wrote. Tag-like text in a
user's description (``[req:``, in any case or spacing, as in a description copied from a
history) is neutralised before sending: stored as ``(req:``, so that no reader, of this
version or an older one that read the first tag, can take it for a request id.

Within one process, one code request at a time holds a request id (``hold``, the
journal of requests in flight): a second call with the same id, from any client or
thread, waits for the first to end and then settles the id from the history. Ids minted
here (``new_request_id``) are remembered as never used: the first request that holds one
knows that no server can have it yet and skips the history read that any other id needs
before it is sent.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import TypeVar

_TRAILING_TAG = re.compile(r"\[req:([0-9a-f]{16})\]\s*\Z")
_TAG_TEXT = re.compile(r"\[\s*req\s*:", re.IGNORECASE)
REQUEST_ID = re.compile(r"[0-9a-f]{16}")

# The process's tables of request ids below each keep at most this many, the oldest
# forgotten first (what forgetting costs is said beside each); one lock guards them all.
_REMEMBERED = 65536
_lock = threading.Lock()

K = TypeVar("K")
V = TypeVar("V")


def _remember(table: OrderedDict[K, V], key: K, value: V) -> None:
    """Set ``key`` as the newest entry of ``table``, forgetting the oldest past the bound
    (call with ``_lock`` held)."""
    table[key] = value
    table.move_to_end(key)
    if len(table) > _REMEMBERED:
        del table[next(iter(table))]  # the oldest


# Minted ids not yet claimed by a code request (a forgotten id only costs its request
# one history read).
_minted: OrderedDict[str, None] = OrderedDict()


def new_request_id() -> str:
    """A fresh client request id: 16 hex digits, remembered as never used."""
    rid = secrets.token_hex(8)
    with _lock:
        _remember(_minted, rid, None)
    return rid


# Request ids held by a code request in flight, each with the future its end sets
# (a concurrent future: waiters may run on other threads' loops).
_in_flight: dict[str, Future[None]] = {}


@asynccontextmanager
async def hold(request_id: str) -> AsyncIterator[bool]:
    """Hold ``request_id`` for one code request at a time in this process.

    Waits while another request holds it. Yields whether the id is fresh: minted here
    and never held before, so that nothing can have been sent with it.
    """
    while True:
        with _lock:
            held = _in_flight.get(request_id)
            if held is None:
                mine: Future[None] = Future()
                _in_flight[request_id] = mine
                fresh = _minted.pop(request_id, 0) is None
                break
        # Shielded: a waiter that is cancelled must not cancel the holder's future.
        await asyncio.shield(asyncio.wrap_future(held))
    try:
        yield fresh
    finally:
        with _lock:
            # Ours, unless a fork in between handed the id to the table of doubts.
            if _in_flight.get(request_id) is mine:
                del _in_flight[request_id]
        mine.set_result(None)


def neutralise(description: str | None) -> str | None:
    """``description`` with each tag-like ``[req:`` written ``(req:``, so that only the
    client's own tag is ever read back from a stored description."""
    if not description or "[" not in description:
        return description
    return _TAG_TEXT.sub("(req:", description)


def tag_description(description: str | None, request_id: str) -> str:
    """The description sent with a code: the user's text (neutralised), then
    ``[req:<id>]``."""
    tag = f"[req:{request_id}]"
    text = neutralise(description)
    return f"{text} {tag}" if text else tag


def untag_description(stored: str | None) -> str | None:
    """The user's description from a stored one, without the client's trailing tag."""
    text = _TRAILING_TAG.sub("", stored or "").strip()
    return text or None


def request_id_of(description: str | None) -> str | None:
    """The request id of the client's own tag, at the end of a stored description."""
    match = _TRAILING_TAG.search(description or "")
    return match.group(1) if match else None


# What each request id used in this process was used for (``CodeRequest.what``), per
# endpoint and account, so that the same id for another item, kind or days is refused
# before anything is sent (a forgotten id is still checked against the item's history).
_uses: OrderedDict[tuple[str, str], str] = OrderedDict()


def record_use(scope: str, request_id: str, what: str) -> str | None:
    """Record that ``request_id`` is used for ``what`` within ``scope`` (an endpoint and
    account); return what it was used for before, when that differs, else None."""
    key = (scope, request_id)
    with _lock:
        earlier = _uses.get(key)
        if earlier is not None and earlier != what:
            return earlier
        _remember(_uses, key, what)
    return None


# Request ids whose outcome a call of this process left unknown, with when the latest
# attempt that may still land was sent: a later call with the same id must not send it
# again while an attempt may still be executed (see ``_issuing.may_resend``). A
# forgotten id (65,536 newer ones in doubt) is treated as another process's would be:
# settled from the history, then sent.
_pending: OrderedDict[str, float] = OrderedDict()


def pending_at(request_id: str) -> float | None:
    """When the latest attempt of ``request_id`` that may still land was sent, if any."""
    with _lock:
        return _pending.get(request_id)


def note_pending(request_id: str, sent_at: float) -> None:
    """Record that an attempt of ``request_id`` sent at ``sent_at`` may still land (the
    latest such time is kept)."""
    with _lock:
        earlier = _pending.get(request_id)
        _remember(_pending, request_id, sent_at if earlier is None else max(earlier, sent_at))


def clear_pending(request_id: str) -> None:
    """``request_id`` is settled: its code is known."""
    with _lock:
        _pending.pop(request_id, None)


def _after_fork_in_child() -> None:
    """In a child made by ``os.fork()``: the parent's requests in flight never end here,
    so their ids are no longer held but in doubt (sent just now, as far as the child can
    tell); the lock may have been held by a parent's thread, so it is made anew."""
    global _lock
    _lock = threading.Lock()
    now = time.time()
    for request_id in list(_in_flight):
        _remember(_pending, request_id, now)
    _in_flight.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
