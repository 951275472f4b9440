"""Settings objects of the client: one place to override any default.

Every field's default comes from ``_constants``. A distributor whose limits differ sets
them once, in ``Limits``, and passes it to the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import _constants as c


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-item code-generation limits, enforced before a code request is sent.

    These are the limits applied when the server does not give an item's own: before an
    item's first code the client reads the limits of the item's fleet and applies those
    (``learn_limits=False`` on the client turns that off).
    """

    code_interval: float = c.CODE_INTERVAL
    daily_limit: int = c.DAILY_CODE_LIMIT
    daily_window: float = c.DAILY_WINDOW
    total_limit: int = c.TOTAL_CODE_LIMIT
    min_days: int = c.MIN_CODE_DAYS
    max_days: int = c.MAX_CODE_DAYS
    free_limit: int = c.FREE_CODE_LIMIT
    reset_limit: int = c.RESET_CODE_LIMIT
    # Added to every interval wait (see _constants.INTERVAL_MARGIN).
    interval_margin: float = c.INTERVAL_MARGIN
    # Credit stacking: at most this many days in the item's last ``credit_events`` code
    # events since its latest reset code; None turns the rule off (the default fleet's).
    credit_days: int | None = None
    credit_events: int = c.CREDIT_STACK_EVENTS
    # The interval the *server* is known to enforce for the item (seconds), from its
    # fleet: set by the client when it reads a fleet whose interval rule is on, None when
    # unknown or off. It is evidence, not pacing: only with it does the client send again a
    # code request whose outcome is unknown (see the Reliability page). Set it yourself
    # only if you know the server enforces that interval for every item.
    server_interval: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently failed calls are tried again."""

    max_retries: int = c.DEFAULT_MAX_RETRIES
    initial_delay: float = c.INITIAL_RETRY_DELAY
    max_delay: float = c.MAX_RETRY_DELAY
    jitter: float = c.RETRY_JITTER
    # The longest server wait hint the client sleeps for; past it (or infinite), the call
    # raises the ``RateLimitError`` carrying the hint and the caller decides.
    max_retry_after: float = c.MAX_RETRY_AFTER


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything a client can be tuned with; pass ``config=`` or keyword overrides."""

    # One operation, its retries and their waits included (each attempt ends by then).
    timeout: float = c.DEFAULT_TIMEOUT
    # Otherwise: the bound of the whole operation, when it should differ from ``timeout``
    # (which then bounds each attempt); ``math.inf`` for none. Set, it also bounds a whole
    # code request, settling included (an unsettled one then raises OutcomeUnknownError);
    # unset, a code request is bounded by its attempts, reads and grace.
    call_timeout: float | None = None
    connect_timeout: float = c.DEFAULT_CONNECT_TIMEOUT
    max_response_bytes: int = c.DEFAULT_MAX_RESPONSE_BYTES
    token_refresh_margin: float = c.TOKEN_REFRESH_MARGIN
    max_concurrency: int = c.MAX_CONCURRENCY
    page_size: int = c.PAGE_SIZE
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # False: no cache; True: the default file under the user's cache directory; a path.
    token_cache: bool | str | Path = False
    allow_insecure: bool = False
    # Read each item's fleet limits before its first code (see ``_limits``).
    learn_limits: bool = True
    # A proxy URL for every request; it overrides HTTPS_PROXY / HTTP_PROXY / NO_PROXY,
    # which are honoured otherwise. ERM_PROXY sets it from the environment.
    proxy: str | None = None
    # After a code request's outcome is unknown and the history does not show it: how
    # long to wait before reading the history a second time (a request held by a proxy
    # may still arrive). None: the request timeout.
    settle_grace: float | None = None
    # The longest a code request can be on its way before the server executes it (a
    # proxy's or gateway's queue): one whose outcome is unknown is sent again only after
    # this long, or where the item's fleet enforces a longer interval between codes.
    max_hold: float = c.MAX_HOLD
    # A directory to record every answer into, redacted, for `erm contract verify` (see
    # the Contracts page); None: ERM_RECORD, else off. ``record_sample`` is the chance
    # that one operation is recorded (None: ERM_RECORD_SAMPLE, else 1).
    record: str | Path | None = None
    record_sample: float | None = None
    # How many items the client remembers (ledger, limits, aliases); past it the least
    # recently used is forgotten and its history read again when needed. 0: no bound.
    max_items: int = c.MAX_ITEMS
