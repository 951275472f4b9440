"""``erm batch`` with the inputs a newcomer gets wrong: a results file that cannot be
written, an empty file, repeated rows, invalid rows; each said once, before any code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.cli.test_cli_batch import oem_ids, read_results, write_rows
from tests.support.cli_helpers import Cli


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(items=6, code_interval=0.2) as sb:
        yield sb


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    return Cli(sandbox, tmp_path / "cache")


def codes_of(sandbox: Sandbox, items: list[str]) -> int:
    return sum(len(sandbox.history(item)) for item in items)


def test_out_in_a_missing_directory_is_refused_before_any_code(cli: Cli, tmp_path: Path) -> None:
    items = oem_ids(cli.sandbox)[:2]
    before = codes_of(cli.sandbox, items)
    src = write_rows(tmp_path / "codes.csv", [f"{items[0]},days,7", f"{items[1]},free,"])
    out = tmp_path / "no-such-dir" / "results.csv"
    journal = tmp_path / "codes.db"
    r = cli.run("batch", str(src), "--journal", str(journal), "--out", str(out))
    line = r.assert_one_line_error(2, f"no directory {out.parent}", "nothing was issued")
    assert ".tmp" not in line
    assert codes_of(cli.sandbox, items) == before
    assert not journal.exists()

    r = cli.run("batch", str(src), "--journal", str(journal), "--out", str(src))
    r.assert_one_line_error(2, "is the input file")
    assert src.read_text().startswith("item,type,days")


@pytest.mark.parametrize("text", ["", "\n\n", "item,type,days\n"])
def test_a_file_without_rows_is_a_usage_error(cli: Cli, tmp_path: Path, text: str) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(text)
    journal = tmp_path / "empty.db"
    r = cli.run("batch", str(src), "--journal", str(journal))
    r.assert_one_line_error(2, f"{src} has no rows", "nothing to do")
    assert not journal.exists() and not (tmp_path / "empty.results.csv").exists()
    r = cli.run("--json", "batch", str(src), "--journal", str(journal))
    assert r.code == 2 and r.json()["error"]["type"] == "UsageError"


@pytest.mark.slow
def test_repeated_rows_are_warned_about_and_unique_issues_them_once(
    cli: Cli, tmp_path: Path
) -> None:
    a, b = oem_ids(cli.sandbox)[2:4]
    rows = [f"{a},days,7", f"{b},free,", f"{a},days,7", f"{a},days,8", f"{a},DAYS, 7"]
    src = write_rows(tmp_path / "repeats.csv", rows)

    r = cli.run("batch", str(src), "--journal", str(tmp_path / "one.db"), "--unique")
    assert r.code == 0, r.err
    assert f"2 rows repeat an earlier row (lines 2, 4, 6 ({a} days 7))" in r.err
    assert "each code is issued once (--unique)" in r.err
    assert [e["codeDays"] for e in cli.sandbox.history(a)] == [7, 8]
    results = {int(x["line"]): x for x in read_results(tmp_path / "repeats.results.csv")}
    assert [results[n]["status"] for n in (2, 3, 4, 5, 6)] == [
        "issued",
        "issued",
        "skipped-duplicate",
        "issued",
        "skipped-duplicate",
    ]
    assert results[4]["error"] == "the same code as line 2; not issued (--unique)"
    assert "skipped-duplicate" in r.out, "the summary counts them"

    # Without --unique each row is a code of its own, with a warning that says so.
    r = cli.run("batch", str(src), "--journal", str(tmp_path / "two.db"))
    assert r.code == 0, r.err
    warning = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert warning == [
        f"warning: 2 rows repeat an earlier row (lines 2, 4, 6 ({a} days 7)): each row is "
        "issued as a code of its own; pass --unique to issue each code once"
    ]
    assert [e["codeDays"] for e in cli.sandbox.history(a)] == [7, 8, 7, 7, 8, 7]


@pytest.mark.slow
def test_unique_still_settles_a_repeat_an_earlier_run_issued(cli: Cli, tmp_path: Path) -> None:
    # A run without --unique issued both rows; run again with --unique, the second row's
    # code is still shown (from the journal), never dropped from the results.
    item = oem_ids(cli.sandbox)[4]
    src = write_rows(tmp_path / "again.csv", [f"{item},days,3", f"{item},days,3"])
    journal = tmp_path / "again.db"
    assert cli.run("batch", str(src), "--journal", str(journal)).code == 0
    r = cli.run("batch", str(src), "--journal", str(journal), "--unique")
    assert r.code == 0, r.err
    results = read_results(tmp_path / "again.results.csv")
    assert [x["status"] for x in results] == ["skipped-done", "skipped-done"]
    assert all(x["code_dec"] for x in results)
    assert len(cli.sandbox.history(item)) == 2


@pytest.mark.slow
def test_invalid_rows_are_listed_once(cli: Cli, tmp_path: Path) -> None:
    item = oem_ids(cli.sandbox)[5]
    src = write_rows(
        tmp_path / "bad.csv", [f"{item},days,7", f"{item},weekly,3", "NOPE0000000000,free,"]
    )
    r = cli.run("batch", str(src), "--journal", str(tmp_path / "bad.db"))
    assert r.code == 1
    both = r.out + r.err
    assert both.count("unknown type 'weekly'") == 1, both
    assert both.count("no item 'NOPE0000000000' among this distributor's items") == 1, both
    assert "NotFoundError" not in both
    assert "1 row invalid, skipped (listed at the end)" in r.err
    assert "line 3: invalid: unknown type 'weekly'" in r.out
