"""Fault rules the dashboard sets: a fault for one operation (or all), that fires a
given number of times, or with a probability drawn from its own seed.

They come on top of the sandbox's ``FaultSpec`` (one draw per authorised request) and
are checked first. Besides the ``FaultSpec`` kinds, a rule can answer an HTML gateway
page with status 200 (``html``) or an ``UNAUTHENTICATED`` GraphQL error as if the token
had just been revoked (``unauthenticated``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .config import FAULT_KINDS

HTML, UNAUTHENTICATED = "html", "unauthenticated"
RULE_KINDS = (*FAULT_KINDS, HTML, UNAUTHENTICATED)
ANY = "*"


@dataclass
class FaultRule:
    """One rule; ``times`` None: no cap; ``probability`` None: every matching request."""

    id: int
    kind: str
    operation: str = ANY
    times: int | None = None
    probability: float | None = None
    seed: int | None = None
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(RULE_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if not self.operation:
            raise ValueError("operation must name an operation, or be *")
        self._rng = random.Random(self.seed)

    def fires(self, operation: str) -> bool:
        """Whether the rule fires for this request (counts it when it does)."""
        if self.operation not in (ANY, operation):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "operation": self.operation,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
        }


def rule_from_json(rule_id: int, data: Any) -> FaultRule:
    """A rule from the admin API's JSON; raises ``ValueError`` with a readable message."""
    if not isinstance(data, dict):
        raise ValueError("a fault rule is a JSON object")
    unknown = set(data) - {"kind", "operation", "times", "probability", "seed"}
    if unknown:
        raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))[:80]}")

    def number(name: str, kind: type) -> Any:
        value = data.get(name)
        if value is None or value == "":
            return None
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number") from None

    return FaultRule(
        id=rule_id,
        kind=str(data.get("kind", "")),
        operation=str(data.get("operation") or ANY),
        times=number("times", int),
        probability=number("probability", float),
        seed=number("seed", int),
    )
