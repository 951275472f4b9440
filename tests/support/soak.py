"""Fault-injection soak against the sandbox, through the Python API and ``erm batch``.

``python -m tests.support.soak [--requests 1000] [--items 100] [--fault-rate 0.2] [--seed 1]``
issues days codes through ``AsyncErmClient``, then as many again through the ``erm batch``
command, each on two fleets: one whose interval rule is on, one with it switched off
(``disableCodeGenInterval``). The sandbox injects, in equal parts, every fault a network
makes: a 502 before anything happens, a 504 after the code is committed, connections
dropped after the commit, answers held beyond the client's timeout, requests held on
the way and executed after the client gave up (``late``), requests executed twice (a
gateway that re-sends a POST) and connections reset before the request is executed.
Tokens live 3 s, so they expire mid-run.

A call that ends in ``OutcomeUnknownError`` is called again with the same request id
once every held request has reached the server (as the Reliability page tells a caller
to); a batch that did not finish is run again then. Each part then reconciles every
request with the sandbox's code history and prints the counts. A request id with two
events counts as a duplicate unless the sandbox executed that request twice on purpose
(``network_duplicates``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import re
import sqlite3
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omnivoltaic_erm import (
    AsyncErmClient,
    ClientConfig,
    DuplicateCodeWarning,
    ErmError,
    IssuedCode,
    Limits,
    OutcomeUnknownError,
    RetryPolicy,
)
from omnivoltaic_erm.client import new_request_id, request_id_of
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox
from omnivoltaic_erm.sandbox.fleets import CREDIT, DAILY, INTERVAL, Fleet
from tests.support.cli_helpers import Cli

CLIENT_TIMEOUT = 1.0
# How long a ``late`` request is held on the way: past the client's timeout and its grace.
LATE = CLIENT_TIMEOUT * 2 + 0.5
# What the client is told of the network (ClientConfig.max_hold): no hold is longer.
MAX_HOLD = LATE + 0.5
# The bound of one whole request, its retries included (each attempt: CLIENT_TIMEOUT).
CALL_TIMEOUT = 20.0
# The interval of the fleet whose rule is on: longer than any hold, so that a request
# whose outcome is unknown may be sent again there (a late original is refused).
INTERVAL_ON = MAX_HOLD + 1.0
FLEETS = ("interval-on", "interval-off")


def fleet(name: str) -> Fleet:
    """The soak's fleet ``name``: the interval rule on (2 s) or off."""
    off = {DAILY, CREDIT} | ({INTERVAL} if name == "interval-off" else set())
    return Fleet(
        name,
        code_interval=INTERVAL_ON,
        daily_limit=1000,
        total_limit=1096,
        free_limit=100,
        reset_limit=100,
        disabled=frozenset(off),
    )


@dataclass
class SoakReport:
    """Counts from one soak; ``ok`` when nothing was duplicated, lost or unhandled."""

    fleet: str = ""
    requests: int = 0
    issued: int = 0
    recovered: int = 0
    # Calls that ended in OutcomeUnknownError and were settled by calling again.
    unknown_then_settled: int = 0
    final_errors: int = 0
    unhandled: int = 0
    history_events: int = 0
    duplicates: int = 0
    network_duplicates: int = 0
    # Request ids the client warned of as executed twice (``DuplicateCodeWarning``), and
    # those of them the sandbox did not execute twice (a false report).
    reported_twice: int = 0
    misreported: int = 0
    lost: int = 0
    mismatched: int = 0
    missing: int = 0
    sign_ins: int = 0
    refreshes: int = 0
    server_refusals: int = 0
    seconds: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.duplicates == self.lost == self.mismatched == self.missing == self.unhandled == 0
            and self.issued + self.final_errors == self.requests
        )


def _faults(rate: float, seed: int) -> FaultSpec:
    part = rate / 7
    return FaultSpec(
        error_502=part,
        error_504=part,
        drop=part,
        delay=part,
        late=part,
        twice=part,
        reset=part,
        delay_seconds=CLIENT_TIMEOUT + 0.5,
        late_seconds=LATE,
        seed=seed,
    )


def _config(per_item: int) -> ClientConfig:
    return ClientConfig(
        timeout=CLIENT_TIMEOUT,
        limits=Limits(code_interval=0.0, daily_limit=max(10, per_item)),
        retry=RetryPolicy(max_retries=8, initial_delay=0.05, max_delay=0.5),
        max_hold=MAX_HOLD,
        call_timeout=CALL_TIMEOUT,
    )


async def _issue_all(
    sb: Sandbox, keys: list[str], per_item: int, report: SoakReport
) -> dict[str, IssuedCode | BaseException]:
    outcomes: dict[str, IssuedCode | BaseException] = {}
    asked: dict[str, tuple[str, int]] = {}

    async def one_item(erm: AsyncErmClient, key: str) -> None:
        for n in range(per_item):
            rid = new_request_id()
            asked[rid] = (key, 1 + n % 30)
            try:
                outcomes[rid] = await erm.generate_days_code(
                    key, days=1 + n % 30, description=f"soak {n}", request_id=rid
                )
            except ErmError as exc:
                outcomes[rid] = exc
            except Exception as exc:  # anything else is a defect the soak must count
                report.unhandled += 1
                outcomes[rid] = exc

    async with AsyncErmClient(sb.url, sb.email, sb.password, config=_config(per_item)) as erm:
        await asyncio.gather(*(one_item(erm, k) for k in keys))
        unknown = [r for r, o in outcomes.items() if isinstance(o, OutcomeUnknownError)]
        if unknown:
            # As a caller does: once no held request can still arrive, call again with
            # the same request id; the client settles it and never issues twice.
            await asyncio.sleep(MAX_HOLD)
            sb.faults = FaultSpec()
            for rid in unknown:
                key, days = asked[rid]
                try:
                    outcomes[rid] = await erm.generate_days_code(
                        key, days=days, description=f"soak again {rid}", request_id=rid
                    )
                    report.unknown_then_settled += 1
                except ErmError as exc:
                    outcomes[rid] = exc
        report.sign_ins = erm.sign_ins
        report.refreshes = erm.refreshes
        report.server_refusals = erm.server_refusals
    return outcomes


def _sandbox(items: int, fleet_name: str) -> Sandbox:
    """The soak's sandbox, the same for both faces: every item in ``fleet_name``, and
    tokens that expire mid-run."""
    return Sandbox(items=items, token_ttl=3.0, fleets=(fleet(fleet_name),))


def _twice(sb: Sandbox) -> set[str]:
    """The request ids the sandbox executed twice on purpose."""
    return {rid for kind, rid in sb.fault_log if kind == "twice" and rid is not None}


def _reported_twice(warned: list[warnings.WarningMessage]) -> set[str]:
    """The request ids in the client's ``DuplicateCodeWarning``s."""
    return {
        match.group(1)
        for w in warned
        if issubclass(w.category, DuplicateCodeWarning)
        and (match := re.search(r"request id (\S+);", str(w.message)))
    }


def run_soak(
    requests: int, items: int, fault_rate: float = 0.2, seed: int = 1, fleet_name: str = FLEETS[0]
) -> SoakReport:
    """Issue ``requests`` codes across ``items`` items of one fleet under faults;
    reconcile; report."""
    per_item = max(1, requests // items)
    report = SoakReport(fleet=fleet_name, requests=per_item * items)
    started = time.monotonic()
    with _sandbox(items, fleet_name) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()][:items]
        sb.faults = _faults(fault_rate, seed)
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always", DuplicateCodeWarning)
            outcomes = asyncio.run(_issue_all(sb, keys, per_item, report))
        report.faults = {k: v for k, v in sb.fault_counts.items() if v}
        twice = _twice(sb)
        reported = _reported_twice(warned)
        report.reported_twice, report.misreported = len(reported), len(reported - twice)
        sb.faults = FaultSpec()
        history = _history_by_request(sb, keys)
        report.history_events = sum(len(v) for v in history.values())
    report.seconds = time.monotonic() - started
    settled = {
        rid: (o.code_hex, o.recovered, "")
        if isinstance(o, IssuedCode)
        else (None, False, type(o).__name__)
        for rid, o in outcomes.items()
    }
    _reconcile(report, history, settled, twice)
    return report


# Each request's end: the code issued (None if none), whether it was recovered, and the
# name of the final error otherwise.
Settled = tuple[str | None, bool, str]


def _reconcile(
    report: SoakReport,
    history: dict[str, list[dict[str, object]]],
    settled: dict[str, Settled],
    twice: set[str],
) -> None:
    """Count duplicates, lost, missing and mismatched codes between requests and history.

    Extra events under a request id that the sandbox executed twice on purpose are the
    network's duplicates, counted apart; any other is the client's.
    """
    for rid, events in history.items():
        extra = max(0, len(events) - 1)
        if rid in twice:
            report.network_duplicates += extra
        else:
            report.duplicates += extra
        if settled.get(rid, (None, False, ""))[0] is None:
            report.lost += len(events)  # issued, but the client does not know it
    for rid, (code, recovered, error) in settled.items():
        if code is None:
            report.final_errors += 1
            report.errors[error] = report.errors.get(error, 0) + 1
            continue
        report.issued += 1
        report.recovered += recovered
        events = history.get(rid, [])
        if not events:
            report.missing += 1
        elif code not in {e["codeHexString"] for e in events}:
            report.mismatched += 1


def _history_by_request(sb: Sandbox, keys: list[str]) -> dict[str, list[dict[str, object]]]:
    history: dict[str, list[dict[str, object]]] = {}
    for key in keys:
        for event in sb.history(key):
            rid = request_id_of(str(event["description"])) or "?"
            history.setdefault(rid, []).append(event)
    return history


def run_batch_soak(
    requests: int,
    items: int,
    workdir: Path,
    fault_rate: float = 0.2,
    seed: int = 1,
    fleet_name: str = FLEETS[0],
) -> SoakReport:
    """The same soak through ``erm batch`` as a subprocess; a run that did not finish is
    run again once every held request has reached the server."""
    per_item = max(1, requests // items)
    report = SoakReport(fleet=fleet_name, requests=per_item * items)
    started = time.monotonic()
    with _sandbox(items, fleet_name) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()][:items]
        # Row n of the file belongs to item n % items: every item's rows are spread
        # through the file, and its own rows stay in order.
        rows = [f"{keys[n % items]},days,{1 + n // items}" for n in range(report.requests)]
        src = workdir / "soak.csv"
        src.write_text("item,type,days\n" + "\n".join(rows) + "\n")
        journal, out = workdir / "soak.db", workdir / "soak-results.csv"
        cli = Cli(sb, workdir / "cache")
        args = ["--json", "batch", str(src), "--journal", str(journal), "--out", str(out)]
        env = {
            "ERM_CODE_INTERVAL": "0",
            "ERM_TIMEOUT": str(CLIENT_TIMEOUT),
            "ERM_CALL_TIMEOUT": str(CALL_TIMEOUT),
            "ERM_MAX_HOLD": str(MAX_HOLD),
        }
        sb.faults = _faults(fault_rate, seed)
        run = cli.run(*args, timeout=900, **env)
        report.faults = {k: v for k, v in sb.fault_counts.items() if v}
        twice = _twice(sb)
        if run.code != 0:
            # As an operator does: once every held request has reached the server, run
            # the same command again; the rows left in doubt are settled first.
            report.errors["first run exit"] = run.code
            report.unhandled += "Traceback" in run.err
            sb.faults = FaultSpec()
            time.sleep(MAX_HOLD)
            run = cli.run(*args, timeout=900, **env)
        report.unhandled += "Traceback" in run.err
        sb.faults = FaultSpec()
        history = _history_by_request(sb, keys)
        report.history_events = sum(len(v) for v in history.values())
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            entries = db.execute("SELECT request_id, state, code_hex, recovered FROM rows")
            journaled = {rid: (state, code, rec) for rid, state, code, rec in entries}
        finally:
            db.close()
        with out.open(newline="") as fh:
            results = list(csv.DictReader(fh))
    report.seconds = time.monotonic() - started
    settled = {
        rid: (code, bool(recovered), "") if state == "done" else (None, False, state)
        for rid, (state, code, recovered) in journaled.items()
    }
    _reconcile(report, history, settled, twice)
    issued_in_csv = {r["code_hex"] for r in results if r["code_hex"]}
    if issued_in_csv - {str(e["codeHexString"]) for v in history.values() for e in v}:
        report.mismatched += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.soak", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    # Each recovery logs a warning; the soak's own figures are the output that matters.
    logging.getLogger("omnivoltaic_erm").setLevel(logging.ERROR)
    ok = True
    for name in FLEETS:
        report = run_soak(args.requests, args.items, args.fault_rate, args.seed, name)
        print(f"python API, {name}:", json.dumps({**asdict(report), "ok": report.ok}, indent=2))
        with tempfile.TemporaryDirectory() as tmp:
            batch = run_batch_soak(
                args.requests, args.items, Path(tmp), args.fault_rate, args.seed, name
            )
        print(f"erm batch, {name}:", json.dumps({**asdict(batch), "ok": batch.ok}, indent=2))
        ok = ok and report.ok and batch.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
