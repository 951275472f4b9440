"""``erm batch`` as a subprocess against the sandbox: bad rows, kill -9 and resume, guards.

After every run the three records must agree: the journal, the results CSV and the
sandbox's code history, with exactly one code per row.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omnivoltaic_erm.client import request_id_of
from omnivoltaic_erm.journal import Identity, Journal
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox
from tests.support.cli_helpers import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    with Sandbox(items=6, code_interval=0.2) as sb:
        yield Cli(sb, tmp_path / "cache")


def oem_ids(sandbox: Sandbox) -> list[str]:
    return [str(i["oemItemID"]) for i in sandbox.items()]


def write_rows(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text(("item,type,days\n" if header else "") + "\n".join(rows) + "\n")
    return path


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def journal_rows(path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM rows ORDER BY line")]
    finally:
        db.close()


def states(path: Path) -> Counter[str]:
    try:
        return Counter(r["state"] for r in journal_rows(path))
    except sqlite3.Error:
        return Counter()


def assert_records_agree(
    sandbox: Sandbox, items: list[str], journal: Path, results: Path, rows: int
) -> None:
    """Journal, results CSV and sandbox history: one code per row, the same codes."""
    entries = journal_rows(journal)
    assert len(entries) == rows
    assert all(e["state"] == "done" for e in entries), Counter(e["state"] for e in entries)
    events = [e for item in items for e in sandbox.history(item)]
    assert len(events) == rows, "one code event per row, none twice"
    by_request = {request_id_of(e["description"]): e for e in events}
    assert len(by_request) == rows
    for entry in entries:
        event = by_request[entry["request_id"]]
        assert (event["codeHexString"], event["codeDecString"]) == (
            entry["code_hex"],
            entry["code_dec"],
        )
    out = read_results(results)
    assert len(out) == rows
    assert {r["status"] for r in out} <= {"issued", "recovered", "skipped-done"}
    # A row settled in this run is recovered exactly when the journal says so.
    by_line = {e["line"]: e for e in entries}
    for r in out:
        if r["status"] != "skipped-done":
            expected = "recovered" if by_line[int(r["line"])]["recovered"] else "issued"
            assert r["status"] == expected, (r, by_line[int(r["line"])])
    assert Counter(r["code_hex"] for r in out) == Counter(e["codeHexString"] for e in events)
    per_item = Counter(r["item"] for r in out)
    for item in items:
        assert per_item[item] == len(sandbox.history(item))


@pytest.mark.slow
def test_batch_issues_each_row_in_order_and_a_rerun_skips_them(cli: Cli, tmp_path: Path) -> None:
    sb = cli.sandbox
    items = oem_ids(sb)[:3]
    rows = [f"{items[n % 3]},days,{n + 1}" for n in range(6)] + [
        f"{items[0]},free,",
        f"{items[1]},reset,0",
    ]
    src = write_rows(tmp_path / "codes.csv", rows)
    journal, out = tmp_path / "codes.db", tmp_path / "out.csv"
    r = cli.run("batch", str(src), "--journal", str(journal), "--out", str(out))
    assert r.code == 0, r.err
    assert "issued" in r.out and "results: " in r.out
    assert_records_agree(sb, items, journal, out, rows=8)
    # Rows of one item were issued in file order.
    first = sb.history(items[0])
    assert [(e["codeType"], e["codeDays"]) for e in first] == [
        ("DAYSCODE", 1),
        ("DAYSCODE", 4),
        ("FREECODE", 0),
    ]
    results = read_results(out)
    assert [r["line"] for r in results] == [str(n) for n in range(2, 10)]
    assert results[0]["code_dec"] == first[0]["codeDecString"]

    again = cli.run("--json", "batch", str(src), "--journal", str(journal), "--out", str(out))
    assert again.code == 0, again.err
    summary = again.json()
    assert summary["counts"]["skipped-done"] == 8 and summary["rows"] == 8
    assert summary["problems"] == []
    assert_records_agree(sb, items, journal, out, rows=8)
    assert [r["code_hex"] for r in read_results(out)] == [r["code_hex"] for r in results]


@pytest.mark.slow
def test_bad_rows_are_reported_by_line_and_the_good_rows_issued(cli: Cli, tmp_path: Path) -> None:
    sb = cli.sandbox
    a, b = oem_ids(sb)[:2]
    lines = [
        f"{a},days,7",  # 2
        "NOPE0000000000,days,7",  # 3: unknown item
        f"{a},days,1097",  # 4: days out of range
        f"{b},weekly,3",  # 5: unknown type
        f'"{b},days,3',  # 6: malformed
        "item,type,days",  # 7: duplicate header
        f"{b},days",  # 8: wrong column count
        f"{b},free,9",  # 9: days on a free code
        f"{b},days,30",  # 10
    ]
    src = write_rows(tmp_path / "mixed.csv", lines)
    journal, out = tmp_path / "mixed.db", tmp_path / "mixed-out.csv"
    r = cli.run("--json", "batch", str(src), "--journal", str(journal), "--out", str(out))
    assert r.code == 1, r.err
    summary = r.json()
    assert summary["counts"] == {
        "issued": 2,
        "recovered": 0,
        "skipped-done": 0,
        "invalid": 7,
        "failed": 0,
        "unknown": 0,
    }
    problems = {p["line"]: p["error"] for p in summary["problems"]}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9]
    assert "NOPE0000000000" in problems[3]
    assert "1 to 1096" in problems[4]
    assert "unknown type 'weekly'" in problems[5]
    assert "malformed line" in problems[6]
    assert "duplicate header" in problems[7]
    assert "wrong column count" in problems[8]
    assert "takes no days" in problems[9]
    for line in problems:
        assert f"line {line}: " in r.err, "each bad row is reported as it is found"
    assert "Traceback" not in r.err

    results = read_results(out)
    assert [x["line"] for x in results] == [str(n) for n in range(2, 11)]
    by_line = {int(x["line"]): x for x in results}
    assert by_line[2]["status"] == by_line[10]["status"] == "issued"
    assert all(by_line[n]["status"] == "invalid" and by_line[n]["error"] for n in problems)
    assert by_line[2]["code_dec"] == sb.history(a)[0]["codeDecString"]
    assert by_line[10]["code_dec"] == sb.history(b)[0]["codeDecString"]
    assert len(sb.history(a)) == len(sb.history(b)) == 1

    r = cli.run("batch", str(src), "--journal", str(journal), "--out", str(out))
    assert r.code == 1
    assert "line 6: invalid: malformed line" in r.out, "the human summary lists bad rows"
    assert len(sb.history(a)) == len(sb.history(b)) == 1


def run_until(cli: Cli, args: list[str], ready: Any, timeout: float = 60) -> None:
    """Start a batch, SIGKILL it as soon as ``ready()`` holds, and reap it."""
    proc = cli.popen(*args)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"the batch finished before the kill: {proc.returncode}\n{err}")
            if ready():
                break
            time.sleep(0.02)
        else:
            pytest.fail("the batch never reached the kill point")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_issues_each_row_exactly_once(cli: Cli, tmp_path: Path) -> None:
    sb = cli.sandbox
    items = oem_ids(sb)[:4]
    rows = [f"{items[n % 4]},days,{n + 1}" for n in range(32)]  # 8 rows per item
    src = write_rows(tmp_path / "big.csv", rows)
    journal, out = tmp_path / "big.db", tmp_path / "big-out.csv"
    args = ["batch", str(src), "--journal", str(journal), "--out", str(out)]

    def mid_run() -> bool:
        now = states(journal)
        return now["done"] >= 8 and now["sent"] >= 1

    run_until(cli, args, mid_run)
    at_kill = states(journal)
    assert 8 <= at_kill["done"] < 32
    issued_at_kill = sum(len(sb.history(i)) for i in items)
    assert issued_at_kill >= at_kill["done"]
    assert not out.exists(), "no results file from a killed run"

    r = cli.run("--json", *args)
    assert r.code == 0, r.err
    counts = r.json()["counts"]
    assert counts["skipped-done"] >= at_kill["done"]
    assert counts["issued"] + counts["recovered"] + counts["skipped-done"] == 32
    assert_records_agree(sb, items, journal, out, rows=32)


@pytest.mark.slow
def test_kill_while_answers_are_in_flight_recovers_them_from_history(
    cli: Cli, tmp_path: Path
) -> None:
    sb = cli.sandbox
    items = oem_ids(sb)[:3]
    rows = [f"{items[n % 3]},days,{n + 1}" for n in range(9)]
    src = write_rows(tmp_path / "held.csv", rows)
    journal, out = tmp_path / "held.db", tmp_path / "held-out.csv"
    args = ["batch", str(src), "--journal", str(journal), "--out", str(out)]

    def in_doubt_but_issued() -> list[dict[str, Any]]:
        history = {request_id_of(e["description"]) for i in items for e in sb.history(i)}
        return [
            e for e in journal_rows(journal) if e["state"] == "sent" and e["request_id"] in history
        ]

    def held() -> bool:
        # Once the first rows are through, every answer is held back 30 s after the
        # server has committed: the kill lands on codes issued but never seen.
        if not sb.faults.active and states(journal)["done"] >= 3:
            sb.faults = FaultSpec(delay=1.0, delay_seconds=30)
        return sb.faults.active and len(in_doubt_but_issued()) >= 2

    run_until(cli, args, held, timeout=90)
    sb.faults = FaultSpec()
    assert len(in_doubt_but_issued()) >= 2

    r = cli.run("--json", *args)
    assert r.code == 0, r.err
    counts = r.json()["counts"]
    assert counts["recovered"] >= 2
    assert counts["recovered"] + counts["issued"] + counts["skipped-done"] == 9
    assert_records_agree(sb, items, journal, out, rows=9)
    recovered = [x for x in read_results(out) if x["status"] == "recovered"]
    assert len(recovered) == counts["recovered"] and all(x["code_dec"] for x in recovered)


@pytest.mark.slow
def test_a_journal_refuses_another_input_file_unless_forced(cli: Cli, tmp_path: Path) -> None:
    sb = cli.sandbox
    a, b = oem_ids(sb)[:2]
    first = write_rows(tmp_path / "first.csv", [f"{a},days,5"])
    journal = tmp_path / "j.db"
    assert cli.run("batch", str(first), "--journal", str(journal)).code == 0
    assert (tmp_path / "first.results.csv").is_file(), "default results file beside the input"

    second = write_rows(tmp_path / "second.csv", [f"{a},days,5", f"{b},days,6"])
    r = cli.run("batch", str(second), "--journal", str(journal))
    r.assert_one_line_error(2, "does not match this run", "--force", "first.csv")
    assert len(sb.history(b)) == 0

    r = cli.run("--json", "batch", str(second), "--journal", str(journal), "--force")
    assert r.code == 0, r.err
    assert r.json()["counts"]["skipped-done"] == 1 and r.json()["counts"]["issued"] == 1
    assert "--force" in r.err
    assert len(sb.history(a)) == len(sb.history(b)) == 1


def test_a_journal_in_use_by_another_run_is_refused(cli: Cli, tmp_path: Path) -> None:
    src = write_rows(tmp_path / "x.csv", [f"{oem_ids(cli.sandbox)[0]},days,5"])
    journal = tmp_path / "busy.db"
    identity = Identity(str(src), "0" * 64, cli.sandbox.url, cli.sandbox.email)
    with Journal.open(journal, identity):
        r = cli.run("batch", str(src), "--journal", str(journal))
    r.assert_one_line_error(1, "in use by another erm batch")
    assert cli.sandbox.history(oem_ids(cli.sandbox)[0]) == []


@pytest.mark.slow
def test_server_down_aborts_before_anything_is_journaled(cli: Cli, tmp_path: Path) -> None:
    from tests.support.cli_helpers import closed_port

    src = write_rows(tmp_path / "x.csv", [f"{oem_ids(cli.sandbox)[0]},days,5"])
    journal = tmp_path / "down.db"
    url = f"http://127.0.0.1:{closed_port()}/graphql"
    r = cli.run("batch", str(src), "--journal", str(journal), ERM_URL=url)
    r.assert_one_line_error(1, "cannot connect")
    assert journal_rows(journal) == []


@pytest.mark.slow
def test_batch_under_faults_ends_with_one_code_per_row(cli: Cli, tmp_path: Path) -> None:
    sb = cli.sandbox
    items = oem_ids(sb)[:6]
    rows = [f"{items[n % 6]},days,{n + 1}" for n in range(24)]
    src = write_rows(tmp_path / "faulty.csv", rows)
    journal, out = tmp_path / "faulty.db", tmp_path / "faulty-out.csv"
    # Each attempt gives up after 0.8 s; the whole of each request has 20 s for retries.
    args = [
        "--timeout",
        "0.8",
        "--call-timeout",
        "20",
        "batch",
        str(src),
        "--journal",
        str(journal),
    ]
    args += ["--out", str(out)]
    # 502s before anything runs, answers dropped after the commit, answers held beyond
    # the client's timeout: about a third of all requests.
    sb.faults = FaultSpec(error_502=0.12, drop=0.12, delay=0.1, delay_seconds=1.5, seed=7)
    for _ in range(4):
        r = cli.run("--json", *args)
        assert r.code in (0, 1), r.err
        assert "Traceback" not in r.err
        events = [e for i in items for e in sb.history(i)]
        request_ids = [request_id_of(e["description"]) for e in events]
        assert len(request_ids) == len(set(request_ids)) <= 24, "no row issued twice"
        summary = r.json()
        assert summary["counts"]["invalid"] == 0
        if r.code == 0:
            break
        assert all(p["status"] in ("failed", "unknown") and p["error"] for p in summary["problems"])
    assert sum(sb.fault_counts.values()) > 0
    sb.faults = FaultSpec()
    r = cli.run("--json", *args)
    assert r.code == 0, r.err
    assert r.json()["counts"]["skipped-done"] == 24
    assert_records_agree(sb, items, journal, out, rows=24)
