"""The short soak: code requests under about 20% faults of every kind (502, 504, drops,
held answers, requests executed late or twice, resets), on a fleet with the interval rule
on and one with it off, reconciled with the sandbox's history (`make soak` runs 1,000
across 100 items per fleet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.soak import FLEETS, run_batch_soak, run_soak

EVERY_FAULT = ("error_502", "error_504", "drop", "delay", "late", "twice", "reset")


@pytest.mark.slow
@pytest.mark.parametrize("fleet", FLEETS)
def test_short_soak_issues_each_code_exactly_once(fleet: str) -> None:
    report = run_soak(requests=200, items=20, fault_rate=0.3, seed=3, fleet_name=fleet)
    print(report)
    assert report.requests == 200
    assert report.unhandled == 0
    assert report.duplicates == 0, "a code was issued twice"
    assert report.lost == 0, "a code was issued but not returned"
    assert report.missing == 0 and report.mismatched == 0
    assert report.issued + report.final_errors == report.requests
    # Every event is a returned code, or a second execution that the sandbox made.
    assert report.history_events == report.issued + report.network_duplicates
    assert report.recovered > 0, "drops and delays must have forced recoveries"
    assert set(report.faults) == set(EVERY_FAULT), report.faults
    # The client's own reports of a second execution name only the network's.
    assert report.misreported == 0
    assert report.reported_twice <= report.network_duplicates
    if fleet == "interval-on":
        # The interval rule refuses a gateway's second delivery.
        assert report.network_duplicates == 0
    else:
        # Without the rule, a request still unsettled is raised, never sent blind again.
        assert report.unknown_then_settled > 0
        # A second execution the client came across in a history read was reported.
        assert report.reported_twice > 0
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
@pytest.mark.parametrize("fleet", FLEETS)
def test_short_batch_soak_issues_each_row_exactly_once(tmp_path: Path, fleet: str) -> None:
    report = run_batch_soak(
        requests=100, items=10, workdir=tmp_path, fault_rate=0.3, seed=5, fleet_name=fleet
    )
    print(report)
    assert report.requests == 100
    assert report.unhandled == 0, "a traceback reached the batch's output"
    assert report.duplicates == 0 and report.lost == 0
    assert report.missing == 0 and report.mismatched == 0
    assert report.history_events == report.issued + report.network_duplicates
    assert report.issued + report.final_errors == report.requests
    assert len(report.faults) >= 5, report.faults
    assert report.ok
