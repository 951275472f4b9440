"""The batch runner through the real client against the sandbox, in process: what the
results say is checked against the journal and the sandbox's own code history."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from omnivoltaic_erm import AsyncErmClient, Limits, RetryPolicy, _request_ids
from omnivoltaic_erm.batch import ISSUED, RECOVERED, BatchRunner, RowResult, parse_batch, plan
from omnivoltaic_erm.client import request_id_of
from omnivoltaic_erm.journal import Entry, Identity, Journal
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox

INTERVAL = 0.2


def run_batch(
    sb: Sandbox, data: bytes, journal_path: Path, description: str | None = None
) -> tuple[list[RowResult], list[Entry]]:
    """Run ``data`` as a batch once; the results and the journal's entries afterwards."""
    parsed = parse_batch(data)
    identity = Identity("codes.csv", parsed.sha256, sb.url, sb.email)
    policy = RetryPolicy(max_retries=8, initial_delay=0.01, max_delay=0.05)

    async def run(journal: Journal) -> list[RowResult]:
        todo = plan(parsed, journal)
        async with AsyncErmClient(
            sb.url, sb.email, sb.password, limits=Limits(code_interval=INTERVAL), retry=policy
        ) as erm:
            runner = BatchRunner(erm, journal, description=description)
            return todo.settled + await runner.run(todo.pending)

    with Journal.open(journal_path, identity) as journal:
        results = asyncio.run(run(journal))
        entries = journal.entries()
    return sorted(results, key=lambda r: r.line), entries


def created(event: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(event["createdAt"]).replace("Z", "+00:00"))


def test_rows_of_one_item_are_issued_in_file_order(tmp_path: Path) -> None:
    with Sandbox(items=3, code_interval=INTERVAL) as sb:
        a, b, c = (str(i["oemItemID"]) for i in sb.items())
        # Three items interleaved; each row's days are its rank within its item.
        lines = [f"{item},days,{n // 3 + 1}" for n, item in enumerate([a, b, c] * 5)]
        results, entries = run_batch(sb, "\n".join(lines).encode(), tmp_path / "j.db")
        histories = {item: sb.history(item) for item in (a, b, c)}
    assert [r.status for r in results] == [ISSUED] * 15
    line_of = {e.request_id: e.line for e in entries}
    for item, events in histories.items():
        assert len(events) == 5
        # The server's own clock orders the events; the file order must match it.
        by_time = sorted(events, key=created)
        assert len({created(e) for e in events}) == 5
        assert [e["codeDays"] for e in by_time] == [1, 2, 3, 4, 5], item
        lines_in_time_order = [line_of[str(request_id_of(str(e["description"])))] for e in by_time]
        assert lines_in_time_order == sorted(lines_in_time_order), item


def test_result_statuses_match_the_journal(tmp_path: Path) -> None:
    with Sandbox(items=4, code_interval=INTERVAL) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()]
        lines = [f"{keys[n % 4]},days,{n + 1}" for n in range(16)]
        # Answers dropped after the commit: the client finds those codes in the item's
        # history within the run, and the row is recovered, not issued.
        sb.faults = FaultSpec(drop=0.35, seed=4)
        results, entries = run_batch(sb, "\n".join(lines).encode(), tmp_path / "j.db")
        sb.faults = FaultSpec()
        events = {request_id_of(str(e["description"])): e for key in keys for e in sb.history(key)}
    assert sb.fault_counts["drop"] > 0
    by_line = {e.line: e for e in entries}
    assert sorted(by_line) == [r.line for r in results] == list(range(1, 17))
    for result in results:
        entry = by_line[result.line]
        assert entry.state == "done"
        assert result.status == (RECOVERED if entry.recovered else ISSUED), result
        assert (result.code_hex, result.code_dec) == (entry.code_hex, entry.code_dec)
        event = events[entry.request_id]
        assert (event["codeHexString"], event["codeDecString"]) == (entry.code_hex, entry.code_dec)
    assert len(events) == 16, "one code per row"
    recovered = [r for r in results if r.status == RECOVERED]
    assert recovered, "the drops should have forced a recovery within the run"


def test_each_row_is_issued_as_its_type_with_the_batch_description(tmp_path: Path) -> None:
    with Sandbox(items=3, code_interval=INTERVAL) as sb:
        a, b, c = (str(i["oemItemID"]) for i in sb.items())
        data = f"{a},days,3\n{b},free,\n{c},reset,0\n".encode()
        results, entries = run_batch(sb, data, tmp_path / "j.db", description="May batch")
        events = [sb.history(key) for key in (a, b, c)]
    assert [r.status for r in results] == [ISSUED] * 3
    assert [(e[0]["codeType"], e[0]["codeDays"]) for e in events] == [
        ("DAYSCODE", 3),
        ("FREECODE", 0),
        ("RESETCODE", 0),
    ]
    for [event], entry in zip(events, entries, strict=True):
        assert event["description"] == f"May batch [req:{entry.request_id}]"


def test_a_row_in_doubt_is_sent_again_only_once_it_can_no_longer_land(tmp_path: Path) -> None:
    # An earlier run recorded the row's intent and died: its request may be held on the
    # way. The next run settles it from the history and, not finding it, sends it again
    # only once max_hold has passed since that attempt.
    from omnivoltaic_erm.batch import UNKNOWN

    with Sandbox(items=1, code_interval=INTERVAL) as sb:
        key = str(sb.items()[0]["oemItemID"])
        data = f"{key},days,7\n".encode()
        parsed = parse_batch(data)
        identity = Identity("codes.csv", parsed.sha256, sb.url, sb.email)
        path = tmp_path / "j.db"
        row = parsed.rows[0]
        rid = "00000000000000d1"
        with Journal.open(path, identity) as journal:
            journal.record_intent(row.key, row.line, row.item, row.type, row.days, rid)

        async def resume(journal: Journal) -> list[RowResult]:
            async with AsyncErmClient(
                sb.url, sb.email, sb.password, limits=Limits(code_interval=INTERVAL), max_hold=30
            ) as erm:
                return await BatchRunner(erm, journal).run(plan(parsed, journal).pending)

        with Journal.open(path, identity) as journal:
            [first] = asyncio.run(resume(journal))
        assert first.status == UNKNOWN and "may still arrive" in first.error
        assert sb.history(key) == []  # nothing sent while the attempt may still land
        # 30 s later (the journal says the attempt was sent then): it can no longer land.
        import sqlite3

        db = sqlite3.connect(path)
        db.execute("UPDATE rows SET updated_at = updated_at - 31")
        db.commit()
        db.close()
        _request_ids.clear_pending(rid)  # a new process, as `erm batch` run again is
        with Journal.open(path, identity) as journal:
            [second] = asyncio.run(resume(journal))
        history = sb.history(key)
    assert second.status == ISSUED
    assert [request_id_of(str(e["description"])) for e in history] == [rid]
