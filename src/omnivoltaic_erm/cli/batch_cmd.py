"""``erm batch``: issue the codes of a CSV file, resumably, each exactly once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._app import Settings, erm

if TYPE_CHECKING:
    from ..batch import ParsedBatch, Row, RowResult
    from ..journal import Journal
    from ._progress import Progress

# How many problem rows the human summary lists before pointing at the results file.
_SHOWN_PROBLEMS = 20


@erm.command("batch")
@click.argument(
    "csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--journal",
    "journal_path",
    required=True,
    metavar="FILE.db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite journal of this batch: created on the first run, resumed on later runs.",
)
@click.option(
    "--out",
    "out_path",
    metavar="RESULTS.csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results CSV to write (default: FILE.results.csv beside the input).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Resume a journal written for another input file or account (rows it already "
    "holds are still never issued twice).",
)
@click.option(
    "--description",
    "-d",
    metavar="TEXT",
    help="Text stored with every code in its history (default: 'erm batch FILE.csv').",
)
@click.option(
    "--unique",
    is_flag=True,
    help="Issue rows that ask for the same code (item, type and days) once: the repeats "
    "are skipped. Without it each such row is a code of its own, with a warning.",
)
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "bar", "plain", "none"]),
    default="auto",
    show_default=True,
    help="Progress on stderr: a bar, a line every few seconds, or nothing; "
    "auto is a bar on a terminal and lines otherwise.",
)
@click.pass_obj
def batch(
    settings: Settings,
    csv_file: Path,
    journal_path: Path,
    out_path: Path | None,
    force: bool,
    description: str | None,
    unique: bool,
    progress_mode: str,
) -> int:
    """Issue one code per row of FILE.csv: rows of `item,type,days`.

    type is days, free or reset; days (1 to 1096) only for days codes. A header row
    `item,type,days` is optional. Rows of different items are issued concurrently,
    rows of one item in file order. Every row's intent and code go into the journal,
    so the same command run again after any interruption (even kill -9) resumes: rows
    done are skipped, rows in doubt are settled from the item's code history, and no
    row is issued twice. Bad rows are reported by line and skipped. Two rows asking for
    the same code are two codes, with a warning; --unique issues such rows once.

    Exit code 0 when every row has its code, 1 when any row failed or was invalid.
    """
    return _batch(
        settings, csv_file, journal_path, out_path, force, description, unique, progress_mode
    )


def _batch(
    settings: Settings,
    csv_file: Path,
    journal_path: Path,
    out_path: Path | None,
    force: bool,
    description: str | None,
    unique: bool,
    progress_mode: str,
) -> int:
    """The command ``batch``, apart from its options: run, write results, summarize;
    the exit code."""
    from ..batch import FAILED, INTERRUPTED, INVALID, UNKNOWN, counts, parse_batch, write_results
    from . import _output
    from ._run import reporting

    out = out_path or csv_file.with_name(f"{csv_file.stem}.results.csv")
    _check_out(settings, out, csv_file)
    started = time.monotonic()
    with reporting(settings):
        parsed = parse_batch(csv_file.read_bytes())
        if not parsed.rows and not parsed.bad:
            raise _usage(
                settings, f"{csv_file} has no rows (lines of item,type,days): nothing to do"
            )
        try:
            results = _run(
                settings,
                csv_file,
                journal_path,
                force,
                description,
                unique,
                progress_mode,
                parsed,
            )
            interrupted = False
        except _Interrupted as stop:
            # Ctrl-C once rows were under way: every row is accounted for below, and the
            # journal holds the intent of each row in doubt, so a re-run settles it.
            results, interrupted = stop.results, True
        write_results(out, results)
    elapsed = time.monotonic() - started
    totals = counts(results)
    problems = [r for r in results if r.status in (INVALID, FAILED, UNKNOWN, INTERRUPTED)]
    if settings.as_json:
        summary: dict[str, object] = {
            "input": str(csv_file),
            "journal": str(journal_path),
            "results": str(out),
            "rows": len(results),
            "counts": totals,
            "problems": [
                {
                    "line": r.line,
                    "item": r.cells[0] if r.cells else "",
                    "status": r.status,
                    "error": r.error,
                }
                for r in problems
            ],
            "elapsed_seconds": round(elapsed, 3),
        }
        if interrupted:
            summary["interrupted"] = True
        _output.emit_json(summary)
    else:
        lines = [(f"line {r.line}", f"{r.status}: {r.error}") for r in problems[:_SHOWN_PROBLEMS]]
        if len(problems) > _SHOWN_PROBLEMS:
            lines.append(("...", f"{len(problems) - _SHOWN_PROBLEMS} more in {out}"))
        lines += [
            ("results", str(out)),
            ("journal", str(journal_path)),
            ("time", f"{elapsed:.1f} s"),
        ]
        _output.show_counts(f"Batch {csv_file.name}", totals, lines)
    if interrupted:
        raise _interrupted(settings, totals.get(INTERRUPTED, 0), summary_printed=True)
    return 1 if problems else 0


def _usage(settings: Settings, message: str) -> Exception:
    from ._failure import EXIT_USAGE, Failure

    return Failure(message, EXIT_USAGE, kind="UsageError", as_json=settings.as_json)


def _check_out(settings: Settings, out: Path, csv_file: Path) -> None:
    """Refuse a results file that could not be written, before any code is issued."""
    import os

    folder = out.parent
    if out.resolve() == csv_file.resolve():
        raise _usage(settings, f"--out {out} is the input file; name another results file")
    if not folder.is_dir():
        raise _usage(
            settings,
            f"no directory {folder} for the results file {out}: create it, or pass "
            "another --out; nothing was issued",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _usage(
            settings,
            f"cannot write the results file {out} (directory {folder} is not "
            "writable): pass another --out; nothing was issued",
        )


class _Interrupted(Exception):
    """Ctrl-C during a run whose rows were under way: the results so far, every row in."""

    def __init__(self, results: list[RowResult]) -> None:
        super().__init__("interrupted")
        self.results = results


def _run(
    settings: Settings,
    csv_file: Path,
    journal_path: Path,
    force: bool,
    description: str | None,
    unique: bool,
    progress_mode: str,
    parsed: ParsedBatch,
) -> list[RowResult]:
    import asyncio

    from ..batch import BatchRunner, drop_duplicates, duplicates, plan, unfinished
    from ..journal import Identity, Journal
    from ._progress import make_progress, rows
    from ._run import open_client

    progress = make_progress(progress_mode)
    # Filled when the run is cancelled by Ctrl-C, while the journal is still open.
    partial: list[RowResult] | None = None

    async def main() -> list[RowResult]:
        async with open_client(settings) as client:
            identity = Identity(str(csv_file.resolve()), parsed.sha256, client.url, client.email)
            with Journal.open(journal_path, identity, force=force) as journal:
                for notice in journal.notices:
                    progress.note(notice)
                _note_bad(progress, settings, parsed)
                todo = plan(parsed, journal)
                done_before = len(todo.settled) - len(parsed.bad)
                repeated = duplicates(parsed.rows)
                _note_duplicates(progress, repeated, unique)
                if unique:
                    todo = drop_duplicates(todo, repeated, journal)
                _note_strays(progress, journal, {row.key for row in parsed.rows})
                if done_before:
                    progress.note(f"{rows(done_before)} already done in the journal; skipped")
                runner = BatchRunner(
                    client,
                    journal,
                    description=description or f"erm batch {csv_file.name}",
                    on_start=progress.start,
                    on_result=lambda r: _on_result(progress, settings, r),
                )
                try:
                    issued = await runner.run(todo.pending)
                except asyncio.CancelledError:
                    nonlocal partial
                    settled = todo.settled + runner.results
                    partial = settled + unfinished(todo.pending, runner.results, journal)
                    raise
                finally:
                    progress.stop()
                return sorted(todo.settled + issued, key=lambda r: r.line)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        if partial is not None:
            raise _Interrupted(sorted(partial, key=lambda r: r.line)) from None
        raise _interrupted(settings, None, summary_printed=False) from None


def _interrupted(settings: Settings, left: int | None, *, summary_printed: bool) -> Exception:
    from ._failure import EXIT_INTERRUPTED, Failure

    rows = "" if left is None else f"{left} row{'' if left == 1 else 's'} unfinished; "
    return Failure(
        f"interrupted: {rows}run the same command again to resume (rows in flight are "
        "settled from the item histories, never issued twice)",
        EXIT_INTERRUPTED,
        kind="Interrupted",
        # Under --json the summary, marked "interrupted", is the one document on stdout.
        as_json=settings.as_json and not summary_printed,
    )


def _on_result(progress: Progress, settings: Settings, result: RowResult) -> None:
    from ..batch import FAILED, INVALID, UNKNOWN

    # The human summary lists every problem row at the end; under --json, where the
    # summary is JSON on stdout, each is also said on stderr as it happens.
    if settings.as_json and result.status in (INVALID, FAILED, UNKNOWN):
        progress.note(f"line {result.line}: {result.status}: {result.error}")
    progress.advance()


def _note_bad(progress: Progress, settings: Settings, parsed: ParsedBatch) -> None:
    """Say which rows are skipped as invalid: each under --json, their number otherwise
    (the human summary lists them)."""
    from ._progress import rows

    if settings.as_json:
        for bad in parsed.bad:
            progress.note(f"line {bad.line}: {bad.error}; skipped")
    elif parsed.bad:
        progress.note(f"{rows(len(parsed.bad))} invalid, skipped (listed at the end)")


# How many groups of repeated rows a warning names before it counts the rest.
_SHOWN_DUPLICATES = 5


def _note_duplicates(progress: Progress, groups: list[list[Row]], unique: bool) -> None:
    """Warn about rows that ask for the same code: each is a code of its own, unless
    --unique."""
    if not groups:
        return
    named = []
    for group in groups[:_SHOWN_DUPLICATES]:
        first = group[0]
        what = f"{first.type} {first.days}" if first.type == "days" else first.type
        lines = ", ".join(str(row.line) for row in group)
        named.append(f"lines {lines} ({first.item} {what})")
    more = len(groups) - _SHOWN_DUPLICATES
    listed = "; ".join(named) + (f"; and {more} more" if more > 0 else "")
    repeats = sum(len(group) - 1 for group in groups)
    some = f"{repeats} row repeats" if repeats == 1 else f"{repeats} rows repeat"
    if unique:
        progress.note(f"{some} an earlier row ({listed}): each code is issued once (--unique)")
    else:
        progress.note(
            f"warning: {some} an earlier row ({listed}): each row is issued as a code of "
            "its own; pass --unique to issue each code once"
        )


def _note_strays(progress: Progress, journal: Journal, keys: set[str]) -> None:
    """Warn about journal rows in doubt that this input no longer has (after --force)."""
    strays = [e for e in journal.entries() if not e.done and e.key not in keys]
    if strays:
        lines = ", ".join(str(e.line) for e in strays[:10])
        progress.note(
            f"the journal holds {len(strays)} unsettled rows that are not in this file "
            f"(journal lines {lines}); check those items' histories with `erm history`"
        )
