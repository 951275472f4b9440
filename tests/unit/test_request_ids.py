"""Request ids: only the client's own trailing tag counts, tag text in a description is
neutralised, and one code request at a time holds an id in this process."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict

import pytest

from omnivoltaic_erm import _request_ids
from omnivoltaic_erm._request_ids import (
    hold,
    new_request_id,
    record_use,
    request_id_of,
    tag_description,
    untag_description,
)

MINE = "0123456789abcdef"
FOREIGN = "aaaaaaaaaaaaaaaa"


@pytest.mark.parametrize(
    ("stored", "rid"),
    [
        (f"reissue of [req:{FOREIGN}] [req:{MINE}]", MINE),  # a quoted tag, then ours
        (f"[req:{FOREIGN}] note", None),  # a tag that is not at the end is not ours
        (f"note [req:{MINE}]  ", MINE),  # a server may keep trailing blanks
        (f"note [req:{MINE.upper()}]", None),  # ids are lowercase
        (f"note [req:{MINE}0]", None),  # 17 digits
        ("", None),
    ],
)
def test_only_the_trailing_tag_is_read(stored: str, rid: str | None) -> None:
    assert request_id_of(stored) == rid


def test_untag_removes_only_the_trailing_tag() -> None:
    assert untag_description(f"reissue of [req:{FOREIGN}] [req:{MINE}]") == (
        f"reissue of [req:{FOREIGN}]"
    )
    assert untag_description(tag_description("week", MINE)) == "week"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        (f"reissue of [req:{FOREIGN}]", f"reissue of (req:{FOREIGN}] [req:{MINE}]"),
        ("[REQ:x", f"(req:x [req:{MINE}]"),
        ("see [ req : 1]", f"see (req: 1] [req:{MINE}]"),
        (f"[req:{MINE}]", f"(req:{MINE}] [req:{MINE}]"),
        ("paid [cash]", f"paid [cash] [req:{MINE}]"),
        ("requested: 7 days", f"requested: 7 days [req:{MINE}]"),
        (None, f"[req:{MINE}]"),
    ],
)
def test_tag_text_in_a_description_is_neutralised(text: str | None, stored: str) -> None:
    tagged = tag_description(text, MINE)
    assert tagged == stored
    assert request_id_of(tagged) == MINE
    # No reader of the first tag either can find another id in it.
    assert re.findall(r"\[req:([0-9a-f]{16})\]", tagged) == [MINE]


def test_a_minted_id_is_fresh_once() -> None:
    rid = new_request_id()

    async def twice() -> list[bool]:
        seen = []
        for _ in range(2):
            async with hold(rid) as fresh:
                seen.append(fresh)
        return seen

    assert asyncio.run(twice()) == [True, False]


def test_an_id_of_the_callers_own_is_never_fresh() -> None:
    async def once() -> bool:
        async with hold("00000000000000fe") as fresh:
            return fresh

    assert asyncio.run(once()) is False


def test_one_request_at_a_time_holds_an_id_across_threads() -> None:
    rid = new_request_id()
    inside = 0
    most = 0
    order: list[bool] = []
    lock = threading.Lock()

    async def one() -> None:
        nonlocal inside, most
        async with hold(rid) as fresh:
            with lock:
                inside += 1
                most = max(most, inside)
                order.append(fresh)
            await asyncio.sleep(0.02)
            with lock:
                inside -= 1

    async def several() -> None:
        await asyncio.gather(*(one() for _ in range(3)))

    threads = [threading.Thread(target=asyncio.run, args=(several(),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most == 1
    assert order.count(True) == 1 and len(order) == 6


def test_a_cancelled_waiter_does_not_release_the_holder() -> None:
    rid = new_request_id()

    async def scenario() -> bool:
        entered = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with hold(rid):
                entered.set()
                await release.wait()

        first = asyncio.create_task(holder())
        await entered.wait()
        waiter = asyncio.create_task(hold(rid).__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.sleep(0.01)
        third_in = asyncio.Event()

        async def third() -> None:
            async with hold(rid):
                third_in.set()

        t = asyncio.create_task(third())
        await asyncio.sleep(0.01)
        still_waiting = not third_in.is_set()
        release.set()
        await first
        await t
        return still_waiting and third_in.is_set()

    assert asyncio.run(scenario())


def test_a_request_id_used_for_other_parameters_is_named() -> None:
    rid = new_request_id()
    assert record_use("erm a@x", rid, "7-day days code for A") is None
    assert record_use("erm a@x", rid, "7-day days code for A") is None
    assert record_use("erm a@x", rid, "free code for A") == "7-day days code for A"
    assert record_use("erm a@x", rid, "7-day days code for B") == "7-day days code for A"
    # Another endpoint or account is another scope.
    assert record_use("sandbox a@x", rid, "free code for A") is None


def test_a_forked_child_treats_its_parents_requests_in_flight_as_in_doubt() -> None:
    rid = new_request_id()

    async def in_child_after_fork() -> tuple[bool, float | None]:
        async with hold(rid):
            # What os.fork() runs in the child while this request is on its way.
            _request_ids._after_fork_in_child()
        async with hold(rid) as fresh:  # not held any more: no wait for the parent
            return fresh, _request_ids.pending_at(rid)

    fresh, pending = asyncio.run(in_child_after_fork())
    assert fresh is False
    assert pending is not None  # in doubt: a call with this id settles it first
    _request_ids.clear_pending(rid)


def test_the_latest_attempt_that_may_land_is_kept() -> None:
    rid = new_request_id()
    _request_ids.note_pending(rid, 10.0)
    _request_ids.note_pending(rid, 5.0)  # an older attempt noted late: 10 s stays
    assert _request_ids.pending_at(rid) == 10.0
    _request_ids.note_pending(rid, 12.5)
    assert _request_ids.pending_at(rid) == 12.5
    other = new_request_id()
    assert _request_ids.pending_at(other) is None
    _request_ids.clear_pending(rid)
    assert _request_ids.pending_at(rid) is None


def test_past_its_bound_the_oldest_id_is_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_request_ids, "_REMEMBERED", 3)
    monkeypatch.setattr(_request_ids, "_pending", OrderedDict())  # what other tests left
    ids = [new_request_id() for _ in range(4)]
    for n, rid in enumerate(ids[:3]):
        _request_ids.note_pending(rid, float(n))
    assert [_request_ids.pending_at(rid) for rid in ids[:3]] == [0.0, 1.0, 2.0]  # at the bound
    _request_ids.note_pending(ids[0], 5.0)  # noted again: now the newest
    _request_ids.note_pending(ids[3], 3.0)
    assert [_request_ids.pending_at(rid) for rid in ids] == [5.0, None, 2.0, 3.0]
    for rid in ids:
        _request_ids.clear_pending(rid)
