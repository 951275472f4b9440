"""Sandbox settings: the rules it enforces and the faults it injects.

Every default comes from ``omnivoltaic_erm._constants``, so the sandbox and the client
agree on the handbook's limits. Durations are in seconds and may be fractions, so tests
can run with ``code_interval=0.2`` or ``token_ttl=2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._constants import (
    CODE_INTERVAL,
    DAILY_CODE_LIMIT,
    DAILY_WINDOW,
    FREE_CODE_LIMIT,
    MAX_CODE_DAYS,
    REFRESH_TOKEN_TTL,
    RESET_CODE_LIMIT,
    SANDBOX_EMAIL,
    SANDBOX_HOST,
    SANDBOX_ITEMS,
    SANDBOX_OTHER_EMAIL,
    SANDBOX_OTHER_PASSWORD,
    SANDBOX_PASSWORD,
    TOKEN_TTL,
    TOTAL_CODE_LIMIT,
)
from .fleets import Fleet, demo_fleets, standard_fleet

# Names accepted in a fault SPEC, mapped to FaultSpec attributes.
_FAULT_KEYS = {
    "502": "error_502",
    "error_502": "error_502",
    "drop": "drop",
    "delay": "delay",
    "seed": "seed",
}


@dataclass(frozen=True)
class FaultSpec:
    """Per-request fault probabilities; all zero (off) by default.

    Faults apply only to requests that carry an ``Authorization`` header, so signing in
    is never faulted. One draw per request picks at most one fault:

    - ``error_502``: answer an HTML ``502 Bad Gateway`` page before doing anything;
    - ``drop``: execute the request (a code event is committed), then close the
      connection without writing any response;
    - ``delay``: execute the request, then hold the response for ``delay_seconds``.

    The probabilities must add up to at most 1. ``seed``, when given, makes the draws
    reproducible from the moment the spec is installed (it overrides the sandbox's
    ``seed``).
    """

    error_502: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_502", "drop", "delay"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ValueError(f"fault probability {name} must be between 0 and 1")
        if self.error_502 + self.drop + self.delay > 1.0 + 1e-9:
            raise ValueError("fault probabilities must add up to at most 1")
        if not (math.isfinite(self.delay_seconds) and self.delay_seconds >= 0):
            raise ValueError("delay_seconds must be a non-negative number")

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Parse ``"502=0.1,drop=0.1,delay=0.05:3.5"`` (``delay=P:SECONDS``).

        Keys: ``502`` (or ``error_502``), ``drop``, ``delay``, and ``seed=N``; an empty
        string or ``none`` means no faults. Raises ``ValueError`` with a readable message.
        """
        spec = spec.strip()
        if spec.lower() in ("", "none", "off"):
            return cls()
        values: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, raw = part.strip().partition("=")
            attr = _FAULT_KEYS.get(key.strip().lower())
            if not sep or attr is None:
                raise ValueError(
                    f"bad fault {part.strip()[:40]!r}:"
                    " expected 502=P, drop=P, delay=P:SECONDS or seed=N"
                )
            if attr == "seed":
                try:
                    values["seed"] = int(raw)
                except ValueError:
                    raise ValueError(f"bad seed {raw.strip()[:40]!r}") from None
                continue
            if attr == "delay" and ":" in raw:
                raw, seconds = raw.split(":", 1)
                values["delay_seconds"] = _number(seconds, "delay seconds")
            values[attr] = _number(raw, key.strip())
        return cls(**values)

    @property
    def active(self) -> bool:
        """Whether any fault can fire."""
        return self.error_502 > 0 or self.drop > 0 or self.delay > 0

    def __str__(self) -> str:
        if not self.active:
            return "none"
        parts = []
        if self.error_502:
            parts.append(f"502={self.error_502:g}")
        if self.drop:
            parts.append(f"drop={self.drop:g}")
        if self.delay:
            parts.append(f"delay={self.delay:g}:{self.delay_seconds:g}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)


def _number(raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"bad number for {what}: {raw.strip()[:40]!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"bad number for {what}: {raw.strip()[:40]!r}")
    return value


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a sandbox needs; every field has a default.

    ``port`` 0 picks a free port. ``db_path`` None means a temporary database that is
    deleted when the sandbox stops; with a path, state survives a restart. ``secret``
    None means a random per-database HS256 secret, stored in the database so tokens
    survive a restart too. ``schema_path`` None means the project's ``schema.graphql``.
    ``seed`` makes fault injection reproducible.
    """

    host: str = SANDBOX_HOST
    port: int = 0
    db_path: Path | None = None
    items: int = SANDBOX_ITEMS
    code_interval: float = CODE_INTERVAL
    daily_limit: int = DAILY_CODE_LIMIT
    daily_window: float = DAILY_WINDOW
    total_limit: int = TOTAL_CODE_LIMIT
    max_days: int = MAX_CODE_DAYS
    free_limit: int = FREE_CODE_LIMIT
    reset_limit: int = RESET_CODE_LIMIT
    token_ttl: float = TOKEN_TTL
    refresh_ttl: float = REFRESH_TOKEN_TTL
    # None: the demo fleets (the limits above, and a pilot fleet); else items take the
    # given fleets in turn.
    fleets: tuple[Fleet, ...] | None = None
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int | None = None
    secret: str | None = field(default=None, repr=False)
    schema_path: Path | None = None
    email: str = SANDBOX_EMAIL
    password: str = field(default=SANDBOX_PASSWORD, repr=False)
    other_email: str = SANDBOX_OTHER_EMAIL
    other_password: str = field(default=SANDBOX_OTHER_PASSWORD, repr=False)

    def __post_init__(self) -> None:
        if self.db_path is not None and not isinstance(self.db_path, Path):
            object.__setattr__(self, "db_path", Path(self.db_path))
        if self.schema_path is not None and not isinstance(self.schema_path, Path):
            object.__setattr__(self, "schema_path", Path(self.schema_path))
        if isinstance(self.faults, str):
            object.__setattr__(self, "faults", FaultSpec.parse(self.faults))
        for name in ("items", "daily_limit", "total_limit", "free_limit", "reset_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_days < 1:
            raise ValueError("max_days must be at least 1")
        for name in ("code_interval", "daily_window", "token_ttl", "refresh_ttl"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number of seconds")
        if self.token_ttl <= 0 or self.refresh_ttl <= 0:
            raise ValueError("token_ttl and refresh_ttl must be positive")
        if self.fleets is not None:
            if not self.fleets:
                raise ValueError("fleets, when given, must hold at least one fleet")
            object.__setattr__(self, "fleets", tuple(self.fleets))
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.email == self.other_email:
            raise ValueError("the two demo distributors need different e-mails")

    def all_fleets(self) -> tuple[Fleet, ...]:
        """The fleets items belong to: the configured ones, or the demo fleets."""
        if self.fleets is not None:
            return self.fleets
        return demo_fleets(
            standard_fleet(
                code_interval=self.code_interval,
                daily_limit=self.daily_limit,
                total_limit=self.total_limit,
                free_limit=self.free_limit,
                reset_limit=self.reset_limit,
            )
        )

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The names ``SandboxConfig`` accepts, for checking keyword overrides."""
        return frozenset(f.name for f in fields(cls))
