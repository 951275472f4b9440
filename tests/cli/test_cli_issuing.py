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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omnivoltaic_erm import AsyncErmClient, CodeTypes, Limits, OutcomeUnknownError
from omnivoltaic_erm.cli._app import Settings
from omnivoltaic_erm.cli._failure import Failure
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
    with Sandbox(items=24, fleets=(fleet,)) as sb:
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
