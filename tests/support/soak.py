"""Fault-injection soak against the sandbox, through the Python API and ``erm batch``.

``python -m tests.support.soak [--requests 1000] [--items 100] [--fault-rate 0.2] [--seed 1]``
issues days codes through ``AsyncErmClient``, then as many again through the ``erm batch``
command, while the sandbox injects, in equal parts, 502s before anything happens,
connections dropped after the code is committed, and responses held beyond the client's
timeout; tokens live 3 s, so they expire mid-run. Each part then reconciles every
request with the sandbox's code history and prints the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omnivoltaic_erm import AsyncErmClient, ClientConfig, ErmError, IssuedCode, Limits, RetryPolicy
from omnivoltaic_erm.client import new_request_id, request_id_of
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox
from tests.support.cli_helpers import Cli

CLIENT_TIMEOUT = 1.0
INTERVAL = 0.05


@dataclass
class SoakReport:
    """Counts from one soak; ``ok`` when nothing was duplicated, lost or unhandled."""

    requests: int = 0
    issued: int = 0
    recovered: int = 0
    final_errors: int = 0
    unhandled: int = 0
    history_events: int = 0
    duplicates: int = 0
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
    third = rate / 3
    return FaultSpec(
        error_502=third, drop=third, delay=third, delay_seconds=CLIENT_TIMEOUT + 0.5, seed=seed
    )


async def _issue_all(
    sb: Sandbox, keys: list[str], per_item: int, report: SoakReport
) -> dict[str, IssuedCode | BaseException]:
    outcomes: dict[str, IssuedCode | BaseException] = {}
    config = ClientConfig(
        timeout=CLIENT_TIMEOUT,
        limits=Limits(code_interval=INTERVAL, daily_limit=max(10, per_item)),
        retry=RetryPolicy(max_retries=8, initial_delay=0.05, max_delay=0.5),
    )

    async def one_item(erm: AsyncErmClient, key: str) -> None:
        for n in range(per_item):
            rid = new_request_id()
            try:
                outcomes[rid] = await erm.generate_days_code(
                    key, days=1 + n % 30, description=f"soak {n}", request_id=rid
                )
            except ErmError as exc:
                outcomes[rid] = exc
            except Exception as exc:  # anything else is a defect the soak must count
                report.unhandled += 1
                outcomes[rid] = exc

    async with AsyncErmClient(sb.url, sb.email, sb.password, config=config) as erm:
        await asyncio.gather(*(one_item(erm, k) for k in keys))
        report.sign_ins = erm.sign_ins
        report.refreshes = erm.refreshes
        report.server_refusals = erm.server_refusals
    return outcomes


def _sandbox(items: int, per_item: int) -> Sandbox:
    """The soak's sandbox, the same for both faces: tokens that expire mid-run, and a
    daily limit that each item's codes stay within."""
    return Sandbox(
        items=items, code_interval=INTERVAL, token_ttl=3.0, daily_limit=max(10, per_item)
    )


def run_soak(requests: int, items: int, fault_rate: float = 0.2, seed: int = 1) -> SoakReport:
    """Issue ``requests`` codes across ``items`` items under faults; reconcile; report."""
    per_item = max(1, requests // items)
    report = SoakReport(requests=per_item * items)
    started = time.monotonic()
    with _sandbox(items, per_item) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()][:items]
        sb.faults = _faults(fault_rate, seed)
        outcomes = asyncio.run(_issue_all(sb, keys, per_item, report))
        report.faults = dict(sb.fault_counts)
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
    _reconcile(report, history, settled)
    return report


# Each request's end: the code issued (None if none), whether it was recovered, and the
# name of the final error otherwise.
Settled = tuple[str | None, bool, str]


def _reconcile(
    report: SoakReport, history: dict[str, list[dict[str, object]]], settled: dict[str, Settled]
) -> None:
    """Count duplicates, lost, missing and mismatched codes between requests and history."""
    for rid, events in history.items():
        report.duplicates += max(0, len(events) - 1)
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
        elif events[0]["codeHexString"] != code:
            report.mismatched += 1


def _history_by_request(sb: Sandbox, keys: list[str]) -> dict[str, list[dict[str, object]]]:
    history: dict[str, list[dict[str, object]]] = {}
    for key in keys:
        for event in sb.history(key):
            rid = request_id_of(str(event["description"])) or "?"
            history.setdefault(rid, []).append(event)
    return history


def run_batch_soak(
    requests: int, items: int, workdir: Path, fault_rate: float = 0.2, seed: int = 1
) -> SoakReport:
    """The same soak through ``erm batch`` as a subprocess; a failed run is resumed once."""
    per_item = max(1, requests // items)
    report = SoakReport(requests=per_item * items)
    started = time.monotonic()
    with _sandbox(items, per_item) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()][:items]
        # Row n of the file belongs to item n % items: every item's rows are spread
        # through the file, and its own rows stay in order.
        rows = [f"{keys[n % items]},days,{1 + n // items}" for n in range(report.requests)]
        src = workdir / "soak.csv"
        src.write_text("item,type,days\n" + "\n".join(rows) + "\n")
        journal, out = workdir / "soak.db", workdir / "soak-results.csv"
        cli = Cli(sb, workdir / "cache")
        args = ["--json", "batch", str(src), "--journal", str(journal), "--out", str(out)]
        env = {"ERM_CODE_INTERVAL": str(INTERVAL), "ERM_TIMEOUT": str(CLIENT_TIMEOUT)}
        sb.faults = _faults(fault_rate, seed)
        first = cli.run(*args, timeout=900, **env)
        if first.code != 0:
            report.errors["first run exit"] = first.code
            report.unhandled += "Traceback" in first.err
            first = cli.run(*args, timeout=900, **env)
        report.unhandled += "Traceback" in first.err
        report.faults = dict(sb.fault_counts)
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
    _reconcile(report, history, settled)
    issued_in_csv = sorted(r["code_hex"] for r in results if r["code_hex"])
    if issued_in_csv != sorted(str(e["codeHexString"]) for v in history.values() for e in v):
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
    report = run_soak(args.requests, args.items, args.fault_rate, args.seed)
    print("python API:", json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    with tempfile.TemporaryDirectory() as tmp:
        batch = run_batch_soak(args.requests, args.items, Path(tmp), args.fault_rate, args.seed)
    print("erm batch:", json.dumps({**asdict(batch), "ok": batch.ok}, indent=2))
    return 0 if report.ok and batch.ok else 1


if __name__ == "__main__":
    sys.exit(main())
