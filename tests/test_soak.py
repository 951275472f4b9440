"""The short soak: 200 code requests across 20 items under about 20% faults of every
kind, reconciled with the sandbox's history (`make soak` runs 1,000 across 100)."""

from __future__ import annotations

from tests.soak import run_soak


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
    assert report.sign_ins >= 2, "tokens of 3 s must have expired mid-run"
    assert report.ok
