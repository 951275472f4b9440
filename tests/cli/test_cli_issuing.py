"""``erm code`` and ``erm batch`` run in this process against the sandbox: what they
promise an operator about codes (never a second one, the exit status of a batch with a
failed row, the command to run when an outcome is unknown), fast enough for the
developer's loop and for ``make mutation``. The same commands as processes, with
``kill -9`` and Ctrl-C, are in ``test_cli.py`` and ``test_cli_batch.py``.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from omnivoltaic_erm import AsyncErmClient, CodeTypes, IssuedCode, Limits, OutcomeUnknownError
from omnivoltaic_erm.cli import _run as run_module
from omnivoltaic_erm.cli import batch_cmd
from omnivoltaic_erm.cli._app import Settings
from omnivoltaic_erm.cli._failure import Failure
from omnivoltaic_erm.cli._progress import Progress
from omnivoltaic_erm.cli.batch_cmd import _interrupted
from omnivoltaic_erm.cli.codes_cmd import unknown_message
from omnivoltaic_erm.errors import ErmTimeoutError
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox
from omnivoltaic_erm.sandbox.fleets import Fleet
from tests.e2e.test_exactly_once import _fleet
from tests.support.cli_helpers import INTERVAL, Cli

RID = "0123456789abcdef"
# Request ids are remembered per process: each test that names one names its own.
CTRL_C_RID = "fedcba9876543210"
ISSUED_RID = "0a1b2c3d4e5f6789"
# How long the sandbox holds a code request on the way, where a test needs one out: the
# test acts (Ctrl-C, the client giving up) well within it, however loaded the machine.
HOLD = 3.0


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Sandbox, Iterator[str]]]:
    """One sandbox for the module (started once: cheap under ``make mutation``), and its
    items, each handed to one test only."""
    # One free code per item, so that a batch's second free row finds its limit used up.
    fleet = Fleet(
        "one-free",
        code_interval=float(INTERVAL),
        daily_limit=1000,
        total_limit=1096,
        free_limit=1,
        reset_limit=5,
    )
    with Sandbox(items=32, fleets=(fleet,)) as sb:
        yield sb, iter([str(i["oemItemID"]) for i in sb.items()])


@pytest.fixture
def cli(shared: tuple[Sandbox, Iterator[str]], tmp_path: Path) -> Cli:
    return Cli(shared[0], tmp_path / "cache")


@pytest.fixture
def fresh(shared: tuple[Sandbox, Iterator[str]]) -> Callable[[int], list[str]]:
    """``fresh(n)``: n items that no other test of this module has used."""
    return lambda n: [next(shared[1]) for _ in range(n)]


def keys(cli: Cli) -> list[str]:
    return [str(i["oemItemID"]) for i in cli.sandbox.items()]


def test_code_with_a_request_id_settles_it_before_sending(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = cli.sandbox
    [key] = fresh(1)

    async def issue_elsewhere() -> str:
        # Another program issued a code under this request id; the command never saw it.
        limits = Limits(code_interval=float(INTERVAL))
        async with AsyncErmClient(sb.url, sb.email, sb.password, limits=limits) as erm:
            code = await erm.issue(CodeTypes.DAYSCODE, key, 7, request_id=RID)
            return code.code_hex

    issued = asyncio.run(issue_elsewhere())
    for _ in range(2):
        r = cli.run_here(
            monkeypatch, capsys, "--json", "code", "days", key, "--days", "7", "--request-id", RID
        )
        assert r.code == 0, r.err
        shown = r.json()
        assert shown["recovered"] is True and shown["request_id"] == RID
        assert shown["code_hex"] == issued
    assert len(sb.history(key)) == 1


def test_code_without_a_request_id_issues_a_new_code_each_time(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [key] = fresh(1)
    shown = [
        cli.run_here(
            monkeypatch, capsys, "--json", "code", "days", key, "--days", "3", "-d", "week 12"
        ).json()
        for _ in range(2)
    ]
    assert shown[0]["request_id"] != shown[1]["request_id"]
    human = cli.run_here(monkeypatch, capsys, "code", "days", key, "--days", "3")
    assert human.code == 0, human.err
    [third] = [
        e
        for e in cli.sandbox.history(key)
        if e["codeDecString"] not in {s["code_dec"] for s in shown}
    ]
    assert str(third["codeDecString"]) in human.out and key in human.out, human.out
    assert [s["recovered"] for s in shown] == [False, False]
    events = cli.sandbox.history(key)
    assert len(events) == 3
    assert all(str(e["description"]).startswith("week 12") for e in events[:2]), events
    assert [e["codeDays"] for e in events] == [3, 3, 3]


def test_code_whose_outcome_stays_unknown_names_the_history_and_the_settling_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The code request is held 3 s on the way (long beside the client's steps, however
    # loaded the machine), the client gives up on it after 0.3 s, and
    # the fleet has no interval rule that could prove it did not land: unknown.
    with Sandbox(items=1, fleets=(_fleet(False),)) as sb:
        cli = Cli(sb, tmp_path / "cache")
        key = keys(cli)[0]
        sb.faults = FaultSpec(late=1.0, late_seconds=HOLD, ops="codes")
        env = {"ERM_TIMEOUT": "0.3", "ERM_CODE_INTERVAL": "0", "ERM_MAX_HOLD": str(HOLD + 0.5)}
        r = cli.run_here(
            monkeypatch, capsys, "code", "days", key, "--days", "5", "-d", "spare", **env
        )
        sb.faults = FaultSpec()
    assert r.code == 1, (r.out, r.err)
    line = r.err.strip().splitlines()[-1]
    assert line.startswith(f"error: a days code for {key} may have been issued")
    assert f"run `erm history {key}` to look" in line
    assert f"settle it with: erm code days {key} --days 5 --description spare" in line


def test_batch_exits_1_and_lists_a_row_whose_limit_is_used_up(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = fresh(2)
    src = tmp_path / "codes.csv"
    src.write_text(f"item,type,days\n{a},free,\n{b},days,7\n{a},free,\n")
    out = tmp_path / "out.csv"
    args = ("batch", str(src), "--journal", str(tmp_path / "j.db"), "--out", str(out))
    r = cli.run_here(monkeypatch, capsys, *args, "--progress", "none", COLUMNS="250")
    assert r.code == 1, (r.out, r.err)
    assert "line 4" in r.out and "free" in r.out, r.out
    assert "line 2" not in r.out and "line 3" not in r.out
    assert "batch: " not in r.err  # --progress none: no progress lines
    shown = [line.strip() for line in r.out.splitlines()]
    assert f"results: {out}" in shown and f"journal: {tmp_path / 'j.db'}" in shown, r.out
    with out.open(newline="", encoding="utf-8") as fh:
        statuses = {row["line"]: row["status"] for row in csv.DictReader(fh)}
    assert statuses == {"2": "issued", "3": "issued", "4": "failed"}
    assert len(cli.sandbox.history(a)) == 1

    assert str(tmp_path / "j.db") in r.out and str(out) in r.out
    # Each code carries the batch's default description, naming the input file.
    assert str(cli.sandbox.history(b)[0]["description"]).startswith("erm batch codes.csv")

    as_json = cli.run_here(monkeypatch, capsys, "--json", *args, "--progress", "none")
    assert as_json.code == 1
    summary = as_json.json()
    [problem] = summary.pop("problems")
    assert problem["line"] == 4 and problem["status"] == "failed" and problem["item"] == a
    assert "free" in problem["error"]
    elapsed = summary.pop("elapsed_seconds")
    assert isinstance(elapsed, float) and 0 <= elapsed <= time.monotonic()
    assert summary == {
        "input": str(src),
        "journal": str(tmp_path / "j.db"),
        "results": str(out),
        "rows": 3,
        "counts": {
            "issued": 0,
            "recovered": 0,
            "skipped-done": 2,
            "invalid": 0,
            "failed": 1,
            "unknown": 0,
        },
    }


def test_batch_with_every_row_issued_exits_0(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = fresh(2)
    src = tmp_path / "codes.csv"
    src.write_text(f"{a},days,1\n{b},free,\n")
    journal = tmp_path / "j.db"
    r = cli.run_here(monkeypatch, capsys, "batch", str(src), "--journal", str(journal))
    assert r.code == 0, (r.out, r.err)
    assert "line " not in r.out


def test_batch_with_a_journal_in_memory_fails_in_one_line_and_sends_nothing(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [a] = fresh(1)
    monkeypatch.chdir(tmp_path)
    Path("codes.csv").write_text(f"{a},days,1\n")
    r = cli.run_here(monkeypatch, capsys, "batch", "codes.csv", "--journal", ":memory:")
    r.assert_one_line_error(1, "--journal :memory:", "give --journal a file name")
    assert not (tmp_path / ":memory:").exists()
    as_json = cli.run_here(
        monkeypatch, capsys, "--json", "batch", "codes.csv", "--journal", ":memory:"
    )
    assert as_json.code == 1
    error = as_json.json()["error"]
    assert error["type"] == "JournalError" and "--journal :memory:" in error["message"]
    assert cli.sandbox.history(a) == []


def test_an_unknown_outcome_sends_the_operator_to_the_history_not_to_try_again() -> None:
    exc = OutcomeUnknownError("no answer", request_id=RID, item_id="ITEM-1")
    exc.__cause__ = ErmTimeoutError("GenerateDaysCode: no complete answer within 1 s")
    message = unknown_message(exc, "days", "ITEM-1", 7, "week 12")
    assert message.startswith("a days code for ITEM-1 may have been issued")
    assert f"the outcome of request {RID} is unknown" in message
    assert "(GenerateDaysCode: no complete answer within 1 s)" in message
    assert "Do not issue a new code" in message
    assert "run `erm history ITEM-1` to look" in message
    assert message.endswith(
        f"settle it with: erm code days ITEM-1 --days 7 --description 'week 12' --request-id {RID}"
    )
    assert "try again" not in message


@pytest.mark.slow
def test_code_failing_on_the_way_sends_the_operator_to_the_history(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every authorized request is answered 502 until the client's retries run out (about
    # 8 s of backoff: slow): the command cannot know whether a code left, so it must not
    # say "try again later". (Not bounded by a call timeout, which on a loaded machine
    # could run out before anything is sent, a different and truthful message.)
    [key] = fresh(1)
    cli.sandbox.faults = FaultSpec(error_502=1.0)
    try:
        r = cli.run_here(monkeypatch, capsys, "code", "free", key)
    finally:
        cli.sandbox.faults = FaultSpec()
    line = r.assert_one_line_error(1, "its outcome is unknown", "run `erm history")
    assert "try again later" not in line


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.01)


def press_ctrl_c_now() -> None:
    """A real SIGINT to this process, as a terminal's Ctrl-C: unlike
    ``_thread.interrupt_main``, it wakes the event loop that waits in ``select`` at once,
    instead of when its next answer arrives (after which the command may have finished)."""
    os.kill(os.getpid(), signal.SIGINT)


def press_ctrl_c_here() -> None:
    """A real SIGINT, handled before this returns: ``signal.raise_signal`` runs the
    handler at once in this thread, the one running the command (asyncio's handler while
    a command's event loop runs, which cancels the command's task)."""
    signal.raise_signal(signal.SIGINT)


def test_ctrl_c_while_a_code_request_is_out_names_the_command_that_recovers_it(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = cli.sandbox
    [key] = fresh(1)
    before = sb.fault_counts.get("late", 0)
    sb.faults = FaultSpec(late=1.0, late_seconds=HOLD, ops="codes")

    def press_ctrl_c() -> None:
        wait_for(lambda: sb.fault_counts.get("late", 0) > before, "the code request held")
        press_ctrl_c_now()

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        r = cli.run_here(monkeypatch, capsys, "code", "free", key, "--request-id", CTRL_C_RID)
    finally:
        presser.join()
    sb.faults = FaultSpec()
    r.assert_one_line_error(
        130,
        f"interrupted: a free code for {key} may have been issued (request {CTRL_C_RID}); "
        f"recover it with: erm code free {key} --request-id {CTRL_C_RID}",
    )
    wait_for(lambda: len(sb.history(key)) == 1, "the held request landing")
    again = cli.run_here(
        monkeypatch, capsys, "--json", "code", "free", key, "--request-id", CTRL_C_RID
    ).json()
    assert again["recovered"] is True and again["request_id"] == CTRL_C_RID
    assert len(sb.history(key)) == 1


def test_ctrl_c_during_a_batch_writes_every_row_and_a_rerun_settles_them(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = cli.sandbox
    a, b = fresh(2)
    src = tmp_path / "codes.csv"
    src.write_text(f"{a},days,1\n{b},days,2\n")
    out = tmp_path / "out.csv"
    args = ("batch", str(src), "--journal", str(tmp_path / "j.db"), "--out", str(out))
    before = sb.fault_counts.get("late", 0)
    sb.faults = FaultSpec(late=1.0, late_seconds=HOLD, ops="codes")

    def press_ctrl_c() -> None:
        wait_for(lambda: sb.fault_counts.get("late", 0) >= before + 2, "both requests held")
        press_ctrl_c_now()

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        r = cli.run_here(monkeypatch, capsys, "--json", *args, "--progress", "none")
    finally:
        presser.join()
    sb.faults = FaultSpec()
    assert r.code == 130, (r.out, r.err)
    assert r.err.strip().splitlines()[-1] == (
        "error: interrupted: 2 rows unfinished; run the same command again to resume (rows "
        "in flight are settled from the item histories, never issued twice)"
    )
    summary = r.json()  # under --json, the summary is the one document on stdout
    assert summary["interrupted"] is True and summary["counts"]["interrupted"] == 2
    with out.open(newline="", encoding="utf-8") as fh:
        assert [row["status"] for row in csv.DictReader(fh)] == ["interrupted"] * 2
    wait_for(lambda: len(sb.history(a)) == len(sb.history(b)) == 1, "the held requests landing")
    again = cli.run_here(monkeypatch, capsys, "--json", *args, "--progress", "none")
    assert again.code == 0, again.err
    assert again.json()["counts"]["recovered"] == 2
    assert len(sb.history(a)) == len(sb.history(b)) == 1


def test_an_unknown_outcome_without_a_cause_shows_its_own_message() -> None:
    exc = OutcomeUnknownError("no answer within 30 s", request_id=RID, item_id="ITEM-1")
    message = unknown_message(exc, "free", "ITEM-1", 0, None)
    assert f"the outcome of request {RID} is unknown (no answer within 30 s)" in message
    assert message.endswith(f"settle it with: erm code free ITEM-1 --request-id {RID}")


def test_a_batch_lists_twenty_problem_rows_then_counts_the_rest(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Rows refused before anything is sent: no code is issued.
    out = tmp_path / "out.csv"
    for bad, more in ((20, None), (23, 3)):
        src = tmp_path / f"bad{bad}.csv"
        src.write_text("".join(f"ITEM{n},weekly,1\n" for n in range(bad)))
        journal = tmp_path / f"bad{bad}.db"
        args = ("batch", str(src), "--journal", str(journal), "--out", str(out))
        r = cli.run_here(monkeypatch, capsys, *args, "--progress", "none", COLUMNS="250")
        assert r.code == 1, r.err
        listed = [line for line in r.out.splitlines() if "invalid: unknown type" in line]
        assert len(listed) == 20
        # Stderr says how many were skipped; each is listed once, in the summary.
        assert f"{bad} rows invalid, skipped (listed at the end)" in r.err
        assert "line 1: unknown type" not in r.err
        assert r.out.lstrip().startswith(f"Batch bad{bad}.csv"), r.out
        assert any(line.strip().startswith("time: ") for line in r.out.splitlines())
        tail = [line.strip() for line in r.out.splitlines() if "more in" in line]
        assert tail == ([] if more is None else [f"...: {more} more in {out}"]), r.out


def test_batch_force_resumes_another_files_journal_with_the_given_description(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = fresh(2)
    src = tmp_path / "codes.csv"
    journal = tmp_path / "j.db"
    src.write_text(f"{a},days,1\n")
    args = ("batch", str(src), "--journal", str(journal), "--progress", "none")
    assert cli.run_here(monkeypatch, capsys, *args).code == 0
    src.write_text(f"{a},days,1\n{b},days,2\n")  # another file now
    refused = cli.run_here(monkeypatch, capsys, *args)
    refused.assert_one_line_error(2, "does not match this run", "--force")
    again = cli.run_here(monkeypatch, capsys, "--json", *args, "--force", "-d", "depot 7")
    assert again.code == 0, again.err
    assert again.json()["counts"]["skipped-done"] == 1 and again.json()["counts"]["issued"] == 1
    assert [len(cli.sandbox.history(k)) for k in (a, b)] == [1, 1]
    assert str(cli.sandbox.history(b)[0]["description"]).startswith("depot 7")
    notes = again.err.splitlines()
    assert any(n.startswith(f"--force: resuming journal {journal} although ") for n in notes)
    assert "1 row already done in the journal; skipped" in notes, again.err
    # The journal now names the input by its full path.
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()
    assert meta["input_path"] == str(src.resolve())


@pytest.mark.parametrize("as_json", [False, True])
def test_the_batch_interruption_error_says_how_many_rows_are_left(as_json: bool) -> None:
    settings = Settings(url=None, email=None, as_json=as_json, debug=False, insecure=False)
    resume = "run the same command again to resume (rows in flight are settled"
    one = _interrupted(settings, 1, summary_printed=True)
    assert isinstance(one, Failure)
    assert one.message.startswith(f"interrupted: 1 row unfinished; {resume}")
    assert (one.exit_code, one.kind, one.as_json) == (130, "Interrupted", False)
    many = _interrupted(settings, 3, summary_printed=True)
    assert isinstance(many, Failure) and many.message.startswith("interrupted: 3 rows unfinished")
    # Before any row was under way: no count, and under --json the error is the document.
    early = _interrupted(settings, None, summary_printed=False)
    assert isinstance(early, Failure)
    assert early.message.startswith(f"interrupted: {resume}")
    assert (early.exit_code, early.kind, early.as_json) == (130, "Interrupted", as_json)


RESUME = (
    "run the same command again to resume (rows in flight are settled from the item "
    "histories, never issued twice)"
)


def results_by_line(path: Path) -> dict[int, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {int(row["line"]): row for row in csv.DictReader(fh)}


def test_batch_unique_issues_a_repeated_code_once(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = fresh(2)
    src = tmp_path / "repeats.csv"
    src.write_text(f"{a},days,7\n{b},days,1\n{a},days,7\n{a},days,8\n{a},DAYS, 7\n")
    out = tmp_path / "out.csv"
    # The command's clock, read when it starts and when it ends: the run took 1.23456 s.
    readings = iter([100.0, 101.23456])
    monkeypatch.setattr(batch_cmd, "time", SimpleNamespace(monotonic=lambda: next(readings)))
    args = ("batch", str(src), "--journal", str(tmp_path / "j.db"), "--out", str(out))
    r = cli.run_here(monkeypatch, capsys, "--json", *args, "--unique", "--progress", "none")
    assert r.code == 0, r.err
    assert r.err.splitlines() == [
        f"2 rows repeat an earlier row (lines 1, 3, 5 ({a} days 7)): each code is issued "
        "once (--unique)"
    ]
    summary = r.json()
    assert summary["counts"]["issued"] == 3 and summary["counts"]["skipped-duplicate"] == 2
    assert summary["problems"] == [] and summary["rows"] == 5
    assert summary["elapsed_seconds"] == 1.235
    results = results_by_line(out)
    assert {n: row["status"] for n, row in results.items()} == {
        1: "issued",
        2: "issued",
        3: "skipped-duplicate",
        4: "issued",
        5: "skipped-duplicate",
    }
    same = "the same code as line 1; not issued (--unique)"
    assert (results[3]["error"], results[5]["error"], results[3]["code_dec"]) == (same, same, "")
    assert [e["codeDays"] for e in cli.sandbox.history(a)] == [7, 8]


def test_batch_notes_say_what_is_skipped_and_each_problem_as_it_happens(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = fresh(2)
    src = tmp_path / "codes.csv"
    journal = tmp_path / "j.db"
    # The fleet allows one free code per item: line 2 fails, and stays in the journal.
    src.write_text(f"{a},free,\n{a},free,\n{b},days,2\nSPARE0001,weekly,1\n")
    args = ("--json", "batch", str(src), "--journal", str(journal), "--progress", "plain")
    r = cli.run_here(monkeypatch, capsys, *args)
    assert r.code == 1, r.err
    notes = r.err.splitlines()
    assert notes[:3] == [
        "line 4: unknown type 'weekly': expected days, free or reset; skipped",
        f"warning: 1 row repeats an earlier row (lines 1, 2 ({a} free)): each row is issued "
        "as a code of its own; pass --unique to issue each code once",
        "batch: 3 rows to issue",
    ]
    # Under --json each problem row is said on stderr as it happens, before the end.
    [failed] = [n for n in notes if n.startswith("line 2: ")]
    assert failed.startswith("line 2: failed: CodeLimitError: "), failed
    assert notes.index(failed) < len(notes) - 1
    assert notes[-1].startswith("batch: 3/3 rows ("), notes
    assert not [n for n in notes if "already done" in n or "unsettled" in n], notes
    assert r.json()["counts"]["issued"] == 2

    # The file changes: line 2 is gone, the journal still holds it unsettled.
    src.write_text(f"{a},free,\n{b},days,2\nSPARE0001,weekly,1\n")
    again = cli.run_here(monkeypatch, capsys, *args, "--force")
    assert again.code == 1, again.err
    notes = again.err.splitlines()
    assert "2 rows already done in the journal; skipped" in notes, notes
    assert (
        "the journal holds 1 unsettled rows that are not in this file (journal lines 2); "
        "check those items' histories with `erm history`"
    ) in notes
    assert not [n for n in notes if n.startswith("batch: ")], "nothing left to issue"
    counts = again.json()["counts"]
    assert (counts["skipped-done"], counts["invalid"], counts["issued"]) == (2, 1, 0)
    assert len(cli.sandbox.history(a)) == len(cli.sandbox.history(b)) == 1


def test_ctrl_c_before_any_row_is_under_way_prints_no_summary(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [a] = fresh(1)
    src = tmp_path / "codes.csv"
    src.write_text(f"{a},days,1\n")
    args = ("batch", str(src), "--journal", str(tmp_path / "j.db"), "--progress", "none")
    assert cli.run_here(monkeypatch, capsys, *args).code == 0
    # Run again, its one row done: Ctrl-C as the client is made finds no row under way.
    real = run_module.open_client

    def open_then_ctrl_c(settings: Settings, **kwargs: Any) -> AsyncErmClient:
        client = real(settings, **kwargs)
        press_ctrl_c_here()
        return client

    monkeypatch.setattr(run_module, "open_client", open_then_ctrl_c)
    r = cli.run_here(monkeypatch, capsys, *args)
    assert (r.code, r.out) == (130, ""), (r.code, r.out, r.err)
    assert r.err.splitlines()[-1] == f"error: interrupted: {RESUME}"
    # Under --json no summary was printed: the error is the one document on stdout.
    as_json = cli.run_here(monkeypatch, capsys, "--json", *args)
    assert as_json.code == 130, as_json.err
    assert as_json.json() == {
        "error": {"type": "Interrupted", "message": f"interrupted: {RESUME}", "exit_code": 130}
    }
    assert len(cli.sandbox.history(a)) == 1


def test_ctrl_c_as_the_last_row_settles_leaves_no_row_unfinished(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [a] = fresh(1)
    src = tmp_path / "codes.csv"
    src.write_text(f"{a},days,3\n")
    out = tmp_path / "out.csv"
    real = batch_cmd._on_result

    def settle_then_ctrl_c(progress: Progress, settings: Settings, result: Any) -> None:
        real(progress, settings, result)
        press_ctrl_c_here()

    monkeypatch.setattr(batch_cmd, "_on_result", settle_then_ctrl_c)
    args = ("batch", str(src), "--journal", str(tmp_path / "j.db"), "--out", str(out))
    r = cli.run_here(monkeypatch, capsys, "--json", *args, "--progress", "none")
    assert r.code == 130, (r.out, r.err)
    assert r.err.splitlines()[-1] == f"error: interrupted: 0 rows unfinished; {RESUME}"
    summary = r.json()
    assert summary["interrupted"] is True and summary["counts"]["issued"] == 1
    assert "interrupted" not in summary["counts"]
    [event] = cli.sandbox.history(a)
    assert results_by_line(out)[1]["code_dec"] == str(event["codeDecString"])


def test_batch_refuses_an_empty_file_and_an_out_that_is_the_input(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = tmp_path / "empty.csv"
    src.write_text("item,type,days\n\n")
    journal = tmp_path / "j.db"
    args = ("batch", str(src), "--journal", str(journal))
    message = f"{src} has no rows (lines of item,type,days): nothing to do"
    cli.run_here(monkeypatch, capsys, *args).assert_one_line_error(2, message)
    as_json = cli.run_here(monkeypatch, capsys, "--json", *args)
    assert as_json.code == 2
    assert as_json.json() == {"error": {"type": "UsageError", "message": message, "exit_code": 2}}
    src.write_text("ITEM0001,days,7\n")
    refused = cli.run_here(monkeypatch, capsys, *args, "--out", str(src))
    refused.assert_one_line_error(2, f"--out {src} is the input file; name another results file")
    as_json = cli.run_here(monkeypatch, capsys, "--json", *args, "--out", str(src))
    assert as_json.code == 2 and as_json.json()["error"]["type"] == "UsageError"
    assert src.read_text() == "ITEM0001,days,7\n" and not journal.exists()


def test_ctrl_c_once_the_code_is_issued_names_the_command_that_shows_it(
    cli: Cli,
    fresh: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [key] = fresh(1)
    real = AsyncErmClient.issue

    async def issue_then_ctrl_c(self: AsyncErmClient, *args: Any, **kwargs: Any) -> IssuedCode:
        code = await real(self, *args, **kwargs)
        press_ctrl_c_here()  # the answer is in, the command not done
        return code

    monkeypatch.setattr(AsyncErmClient, "issue", issue_then_ctrl_c)
    r = cli.run_here(
        monkeypatch,
        capsys,
        *("code", "days", key, "--days", "4", "-d", "depot 7", "--request-id", ISSUED_RID),
    )
    r.assert_one_line_error(
        130,
        f"interrupted after a days code for {key} was issued (request {ISSUED_RID}); show it "
        f"with: erm code days {key} --days 4 --description 'depot 7' --request-id {ISSUED_RID}",
    )
    [event] = cli.sandbox.history(key)
    assert event["codeDays"] == 4


def test_code_for_an_unknown_item_names_it_as_given(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = cli.run_here(monkeypatch, capsys, "code", "days", "NOPE0000000000", "--days", "7")
    assert r.assert_one_line_error(1) == (
        "error: no item 'NOPE0000000000' among this distributor's items; list the items "
        "you can use with `erm items --search ...`"
    )


def test_a_second_code_says_on_a_terminal_what_it_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An interval long beside a command's own time, however loaded the machine, so that
    # the second code surely waits.
    with Sandbox(items=1, code_interval=2.0) as sb:
        cli = Cli(sb, tmp_path / "cache")
        [key] = keys(cli)
        assert cli.run_here(monkeypatch, capsys, "code", "free", key).code == 0
        # stderr is a terminal now (capsys stands in for it).
        monkeypatch.setattr(type(sys.stderr), "isatty", lambda _self: True)
        r = cli.run_here(monkeypatch, capsys, "code", "reset", f" {key} ")
        assert r.code == 0, r.err
        assert len(sb.history(key)) == 2
    [wait] = [line for line in r.err.splitlines() if line.startswith("waiting ")]
    assert f"s: {key} had a code " in wait, wait
    assert wait.endswith("s ago, and the server allows one code per item every 2 s"), wait
