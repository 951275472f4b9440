"""The short soak: 200 code requests across 20 items under about 20% faults of every
kind, reconciled with the sandbox's history (`make soak` runs 1,000 across 100)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.soak import run_batch_soak, run_soak


@pytest.mark.slow
def test_short_soak_issues_each_code_exactly_once() -> None:
    report = run_soak(requests=200, items=20, fault_rate=0.2, seed=3)
    print(report)
    assert report.requests == 200
    assert report.unhandled == 0
    assert report.duplicates == 0, "a code was issued twice"
    assert report.lost == 0, "a code was issued but not returned"
    assert report.missing == 0 and report.mismatched == 0
    assert report.issued + report.final_errors == report.requests
    assert report.history_events == report.issued
    assert report.recovered > 0, "drops and delays must have forced recoveries"
    assert all(report.faults.get(k, 0) > 0 for k in ("error_502", "drop", "delay")), report.faults
    # Tokens of 3 s expire mid-run: renewed with the refresh token, not the password.
    assert report.refreshes >= 1, "tokens of 3 s must have expired mid-run"
    assert report.sign_ins == 1
    # And from above: a token is reused until the last quarter of its 3 s, so one renewal
    # serves at least 2.25 s of requests (a few more for tokens refused at the edge of
    # their lifetime). Renewing on every call would break this bound.
    renewals = report.sign_ins + report.refreshes
    assert renewals <= report.seconds / 2.25 + 3, (renewals, report.seconds)
    assert report.ok


@pytest.mark.slow
def test_short_batch_soak_issues_each_row_exactly_once(tmp_path: Path) -> None:
    report = run_batch_soak(requests=100, items=10, workdir=tmp_path, fault_rate=0.2, seed=5)
    print(report)
    assert report.requests == 100
    assert report.unhandled == 0, "a traceback reached the batch's output"
    assert report.duplicates == 0 and report.lost == 0
    assert report.missing == 0 and report.mismatched == 0
    assert report.issued == report.history_events
    assert report.issued + report.final_errors == report.requests
    assert all(report.faults.get(k, 0) > 0 for k in ("error_502", "drop", "delay")), report.faults
    assert report.ok
