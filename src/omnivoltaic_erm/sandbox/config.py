"""Sandbox settings: the rules it enforces and the faults it injects.

Every default is the sandbox's own (``sandbox.defaults``): the printed schema's documented
limits, read from the schema it serves, and the handbook's. Durations are in seconds and
may be fractions, so tests can run with ``code_interval=0.2`` or ``token_ttl=2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import defaults
from .defaults import distributor_defaults
from .errors import ERROR_SHAPES
from .fleets import Fleet, demo_fleets, standard_fleet
from .settings import DistributorSetting

# Names accepted in a fault SPEC, mapped to FaultSpec attributes (probabilities), in the
# order a draw tries them; ``seed`` and ``ops`` are settings, not faults.
_FAULT_KEYS = {
    "502": "error_502",
    "error_502": "error_502",
    "504": "error_504",
    "error_504": "error_504",
    "drop": "drop",
    "delay": "delay",
    "late": "late",
    "twice": "twice",
    "reset": "reset",
    "521": "error_521",
    "error_521": "error_521",
}
FAULT_KINDS = ("error_502", "error_504", "drop", "delay", "late", "twice", "reset", "error_521")
# Faults that take a duration: ``delay=P:SECONDS``, ``late=P:SECONDS``.
_TIMED = {"delay": "delay_seconds", "late": "late_seconds"}
_OPS = ("all", "codes")
# The dashboard's request log keeps this many requests (a ring buffer).
DASHBOARD_LOG_SIZE = 1000


@dataclass(frozen=True)
class FaultSpec:
    """Per-request fault probabilities; all zero (off) by default.

    Faults apply only to requests that carry an ``Authorization`` header, so signing in
    is never faulted (``ops="codes"``: only the ``generate*Code`` mutations). One draw per
    request picks at most one fault, each one a thing real networks do:

    - ``error_502``: answer an HTML ``502 Bad Gateway`` page before doing anything;
    - ``error_504``: execute the request (a code event is committed), then answer an HTML
      ``504 Gateway Timeout`` page, as a gateway that gave up waiting on its upstream;
    - ``drop``: execute the request, then close the connection without any response;
    - ``delay``: execute the request, then hold the response for ``delay_seconds``;
    - ``late``: hold the request ``late_seconds`` *before* executing it, and execute it
      even when the client has given up meanwhile (a proxy that forwards late);
    - ``twice``: execute the request twice and answer with the second execution's
      response, as a gateway that re-sends a POST;
    - ``reset``: close the connection before the request is executed (the body never
      arrives whole);
    - ``error_521``: answer a CDN's HTML ``521 Web server is down`` page before doing
      anything, as the content network in front of the real API does when its origin is
      down.

    The probabilities must add up to at most 1. ``seed``, when given, makes the draws
    reproducible from the moment the spec is installed (it overrides the sandbox's
    ``seed``).
    """

    error_502: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 1.0
    seed: int | None = None
    error_504: float = 0.0
    late: float = 0.0
    late_seconds: float = 3.0
    twice: float = 0.0
    reset: float = 0.0
    ops: str = "all"
    error_521: float = 0.0

    def __post_init__(self) -> None:
        for name in FAULT_KINDS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ValueError(f"fault probability {name} must be between 0 and 1")
        if sum(getattr(self, name) for name in FAULT_KINDS) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must add up to at most 1")
        for name in _TIMED.values():
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number")
        if self.ops not in _OPS:
            raise ValueError(f"fault ops must be one of {', '.join(_OPS)}, not {self.ops!r:.20}")

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Parse ``"502=0.1,drop=0.1,delay=0.05:3.5,late=0.1:3,ops=codes"``.

        Keys: ``502``, ``504``, ``521``, ``drop``, ``delay=P[:SECONDS]``,
        ``late=P[:SECONDS]``, ``twice``, ``reset``, ``seed=N`` and ``ops=all|codes``; an
        empty string or ``none`` means no faults. Raises ``ValueError`` with a readable message.
        """
        spec = spec.strip()
        if spec.lower() in ("", "none", "off"):
            return cls()
        values: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, raw = part.strip().partition("=")
            key = key.strip().lower()
            if sep and key == "seed":
                try:
                    values["seed"] = int(raw)
                except ValueError:
                    raise ValueError(f"bad seed {raw.strip()[:40]!r}") from None
                continue
            if sep and key == "ops":
                values["ops"] = raw.strip().lower()
                continue
            attr = _FAULT_KEYS.get(key)
            if not sep or attr is None:
                raise ValueError(
                    f"bad fault {part.strip()[:40]!r}: expected 502=P, 504=P, 521=P, drop=P, "
                    "delay=P:SECONDS, late=P:SECONDS, twice=P, reset=P, seed=N or ops=codes"
                )
            if attr in _TIMED and ":" in raw:
                raw, seconds = raw.split(":", 1)
                values[_TIMED[attr]] = _number(seconds, f"{attr} seconds")
            values[attr] = _number(raw, key)
        return cls(**values)

    @property
    def active(self) -> bool:
        """Whether any fault can fire."""
        return any(getattr(self, name) > 0 for name in FAULT_KINDS)

    def __str__(self) -> str:
        if not self.active:
            return "none"
        names = {v: k for k, v in _FAULT_KEYS.items() if not k.startswith("error_")}
        parts = []
        for name in FAULT_KINDS:
            value = getattr(self, name)
            if value:
                timed = _TIMED.get(name)
                suffix = f":{getattr(self, timed):g}" if timed else ""
                parts.append(f"{names[name]}={value:g}{suffix}")
        if self.ops != "all":
            parts.append(f"ops={self.ops}")
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
    """Everything a sandbox needs; every field has a default (``sandbox.defaults``).

    The default fleet's rules are the handbook's where it gives one (an interval of 6 s,
    10 codes a day, 1 to 1096 days per days code) and the printed schema's documented
    defaults elsewhere (1096 code events in all, 5 free and 5 reset codes, a 24-hour daily
    window); an access token lives 24 hours, as the handbook says. ``port`` 0 picks a free
    port. ``db_path`` None means a temporary database that is
    deleted when the sandbox stops; with a path, state survives a restart. ``secret``
    None means a random per-database HS256 secret, stored in the database so tokens
    survive a restart too. ``schema_path`` None means the project's ``schema.graphql``.
    ``seed`` makes fault injection reproducible.
    """

    host: str = defaults.HOST
    port: int = 0
    db_path: Path | None = None
    items: int = defaults.ITEMS
    code_interval: float = defaults.CODE_INTERVAL
    daily_limit: int = defaults.DAILY_CODE_LIMIT
    daily_window: float = field(default_factory=lambda: distributor_defaults().daily_window)
    total_limit: int = field(default_factory=lambda: distributor_defaults().total_limit)
    max_days: int = defaults.MAX_CODE_DAYS
    free_limit: int = field(default_factory=lambda: distributor_defaults().free_limit)
    reset_limit: int = field(default_factory=lambda: distributor_defaults().reset_limit)
    token_ttl: float = defaults.TOKEN_TTL
    refresh_ttl: float = defaults.REFRESH_TOKEN_TTL
    # None: the demo fleets (the limits above, and a pilot fleet); else items take the
    # given fleets in turn.
    fleets: tuple[Fleet, ...] | None = None
    # Each demo distributor's DistributorSetting, by e-mail; a distributor not named has
    # the printed defaults. An item's fleet values win over its distributor's.
    distributor_settings: Mapping[str, DistributorSetting] = field(default_factory=dict)
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int | None = None
    secret: str | None = field(default=None, repr=False)
    schema_path: Path | None = None
    email: str = defaults.EMAIL
    password: str = field(default=defaults.PASSWORD, repr=False)
    other_email: str = defaults.OTHER_EMAIL
    other_password: str = field(default=defaults.OTHER_PASSWORD, repr=False)
    # Which generation of the real server's error shape to answer in (see
    # ``sandbox.errors``): "current", "handbook" or "legacy".
    error_shape: str = ERROR_SHAPES[0]
    # A recording set to answer from instead of the rules (see ``sandbox.replay``).
    replay: Path | None = None
    # The dashboard at /dashboard and its admin API at /admin (see ``sandbox.dashboard``),
    # the requests its log keeps, and the token both require (None: a random one).
    dashboard: bool = True
    request_log_size: int = DASHBOARD_LOG_SIZE
    admin_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.db_path is not None and not isinstance(self.db_path, Path):
            object.__setattr__(self, "db_path", Path(self.db_path))
        if self.replay is not None and not isinstance(self.replay, Path):
            object.__setattr__(self, "replay", Path(self.replay))
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
        unknown = set(self.distributor_settings) - {self.email, self.other_email}
        if unknown:
            raise ValueError(
                "distributor_settings names no demo distributor: "
                + ", ".join(sorted(e[:60] for e in unknown))
            )
        object.__setattr__(self, "distributor_settings", dict(self.distributor_settings))
        if self.request_log_size < 1:
            raise ValueError("request_log_size must be at least 1")
        if self.admin_token is not None and len(self.admin_token) < 8:
            raise ValueError("admin_token must be at least 8 characters")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.error_shape not in ERROR_SHAPES:
            raise ValueError(f"error_shape must be one of {', '.join(ERROR_SHAPES)}")
        if self.email == self.other_email:
            raise ValueError("the two demo distributors need different e-mails")

    def setting_of(self, email: str) -> DistributorSetting:
        """The ``DistributorSetting`` of the demo distributor with this e-mail."""
        return self.distributor_settings.get(email) or DistributorSetting()

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
