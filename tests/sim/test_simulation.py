"""The money path under simulation: 10,000 seeded schedules of faults, expiring tokens,
shared and reused request ids and cancellations, on a virtual clock (tests/support/sim.py).

Each schedule checks the invariants: no request id with two events unless the network
executed it twice (and then a history read reports it); no returned code that the server
does not hold; every unknown outcome names its request id and item; no code that was
issued without its caller getting it or being told; ``recover`` finds a code exactly when
the server holds it. ``make simulate SCHEDULES=N`` runs more.
"""

from __future__ import annotations

import pytest

from omnivoltaic_erm import _issuing, _request_ids
from omnivoltaic_erm.config import Limits
from tests.support import sim

SCHEDULES = 10_000


@pytest.mark.slow
def test_every_invariant_holds_over_ten_thousand_schedules() -> None:
    totals = sim.run_schedules(0, SCHEDULES)
    assert totals.schedules == SCHEDULES
    # The schedules walk every road: each fault fired, and calls were issued, recovered,
    # resent under the interval rule, raised as unknown, refused as conflicts, cancelled.
    assert set(totals.faults) == set(sim.FAULTS)
    assert min(totals.faults.values()) > 1000
    for name in ("issued", "recovered", "raised_unknown", "conflicts", "cancelled"):
        assert getattr(totals, name) > 100, name
    assert totals.schedules_resent > 100
    assert totals.network_duplicates > 0  # and each was reported (else a Violation)


def test_every_invariant_holds_over_a_thousand_schedules() -> None:
    # The edit-test loop's share (make test-fast); other seeds than the long run's.
    totals = sim.run_schedules(1_000_000, 1000)
    assert set(totals.faults) == set(sim.FAULTS)
    assert totals.recovered > 0 and totals.raised_unknown > 0 and totals.schedules_resent > 0


def test_a_schedule_replays_exactly_from_its_seed() -> None:
    first = sim.run_schedule(77)[0]
    second = sim.run_schedule(77)[0]
    assert first == second


@pytest.mark.parametrize(
    ("name", "patch"),
    [
        # Sending again whenever the history does not show the request, as the client
        # once did: a late original then lands as a second code.
        (
            "resend without the interval guard",
            lambda mp: mp.setattr(_issuing, "may_resend", lambda *_: True),
        ),
        # Reading the first tag of a description, with quoted tags kept as they are.
        (
            "first tag read",
            lambda mp: (
                mp.setattr(_request_ids, "neutralise", lambda d: d),
                mp.setattr(
                    _request_ids,
                    "_TRAILING_TAG",
                    _request_ids.re.compile(r"\[req:([0-9a-f]{16})\]"),
                ),
            ),
        ),
    ],
)
def test_the_simulation_catches_a_broken_client(
    name: str, patch: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert callable(patch)
    patch(monkeypatch)
    with pytest.raises(sim.Violation):
        sim.run_schedules(0, 2000)


@pytest.mark.parametrize(
    ("server_interval", "held_for", "max_hold", "allowed"),
    [
        (None, 1.0, 60.0, False),  # no evidence: the configured pacing is not the server's
        (0.0, 1.0, 60.0, False),
        (6.0, 1.0, 60.0, False),  # a late original could land more than 6 s later
        (61.0, 1.0, 60.0, True),  # any two attempts land less than one interval apart
        (60.0, 1.0, 60.0, False),
        (None, 60.0, 60.0, True),  # the original can no longer be executed
        (None, 59.9, 60.0, False),
    ],
)
def test_a_resend_needs_evidence(
    server_interval: float | None, held_for: float, max_hold: float, allowed: bool
) -> None:
    limits = Limits(server_interval=server_interval)
    assert _issuing.may_resend(limits, held_for, max_hold) is allowed
