"""Pure policy functions, tested from tables: retry decision and delay, rate-limit
arithmetic, token refresh, URL and id validation, request tags."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from omnivoltaic_erm._auth import Grant, Token, TokenManager, jwt_expiry, refresh_due
from omnivoltaic_erm._ratelimit import (
    ItemLedger,
    check_code_request,
    validate_days,
)
from omnivoltaic_erm._retry import outcome_unknown, retry_delay, should_retry
from omnivoltaic_erm.client import (
    request_id_of,
    tag_description,
    untag_description,
    validate_item_id,
    validate_url,
)
from omnivoltaic_erm.config import Limits, RetryPolicy
from omnivoltaic_erm.errors import (
    CODE_DAILY_LIMIT,
    CODE_FREE_LIMIT,
    CODE_RESET_LIMIT,
    CODE_TOTAL_LIMIT,
    AuthenticationError,
    CodeLimitError,
    ConfigurationError,
    ErmError,
    ErmTimeoutError,
    GraphQLError,
    HttpStatusError,
    InvalidInputError,
    InvalidResponseError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedShapeError,
    error_from_graphql,
)
from omnivoltaic_erm.models import CodeTypes

DAYS, FREE, RESET = CodeTypes.DAYSCODE, CodeTypes.FREECODE, CodeTypes.RESETCODE

POLICY = RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=4.0, jitter=0.25)


@pytest.mark.parametrize(
    ("error", "attempt", "expected"),
    [
        (TransportError("reset"), 1, True),
        (TransportError("refused", sent=False), 1, True),
        (TransportError("bad certificate", sent=False, retryable=False), 1, False),
        (ErmTimeoutError("slow"), 2, True),
        (ServerError(502), 1, True),
        (ServerError(503), 3, True),
        (ServerError(502), 4, False),  # attempts used up
        (RateLimitError("slow down", retry_after=1), 1, True),
        (HttpStatusError(429), 1, True),
        (HttpStatusError(404), 1, False),
        (HttpStatusError(400), 1, False),
        (InvalidResponseError("truncated"), 1, True),
        (ResponseTooLargeError("the response body exceeds the 10-byte cap"), 1, False),
        # Decided on types, never words: a server page quoting "cap" changes nothing.
        (InvalidResponseError("a page about capacity planning"), 1, True),
        (ServerError(503, "over capacity"), 1, True),
        (UnexpectedShapeError("data of an unexpected shape"), 1, False),
        (RedirectError(307, "https://elsewhere.example/graphql"), 1, False),
        (RedirectError(308, None), 1, False),
        (AuthenticationError("Unauthorized"), 1, False),
        (NotFoundError("no item"), 1, False),
        (InvalidInputError("bad days"), 1, False),
        (CodeLimitError("used up"), 1, False),
        (GraphQLError("boom"), 1, False),
    ],
)
def test_should_retry(error: ErmError, attempt: int, expected: bool) -> None:
    assert should_retry(error, attempt, POLICY) is expected


# Every status of every class that can reach the retry decision: 1xx to 4xx arrive as
# HttpStatusError (retried only for 408 and 429), 5xx as ServerError (always retried).
_RETRIED_STATUSES = (408, 429)


@pytest.mark.parametrize(
    "status", [s.value for s in HTTPStatus if s.value < 500], ids=lambda s: str(s)
)
def test_should_retry_every_client_status(status: int) -> None:
    error = HttpStatusError(status)
    assert should_retry(error, 1, POLICY) is (status in _RETRIED_STATUSES)
    assert outcome_unknown(error) is False, "a 1xx-4xx answer means nothing was issued"


@pytest.mark.parametrize(
    "status", [s.value for s in HTTPStatus if s.value >= 500], ids=lambda s: str(s)
)
def test_should_retry_every_server_status(status: int) -> None:
    error = ServerError(status)
    assert should_retry(error, 1, POLICY) is True
    assert should_retry(error, POLICY.max_retries + 1, POLICY) is False
    assert outcome_unknown(error) is True


@pytest.mark.parametrize(
    ("error", "unknown"),
    [
        (TransportError("dropped"), True),
        (TransportError("refused", sent=False), False),
        (ErmTimeoutError("slow"), True),
        (ServerError(502), True),
        (ServerError(504), True),
        (InvalidResponseError("garbage"), True),
        (HttpStatusError(400), False),
        (RedirectError(307, "https://elsewhere.example/graphql"), False),
        (OutcomeUnknownError("lost", request_id="0" * 16, item_id="i"), True),
        (RateLimitError("too fast"), False),
        (AuthenticationError("Unauthorized"), False),
        (CodeLimitError("used up"), False),
        (GraphQLError("x", errors=[{"extensions": {"code": "INTERNAL_SERVER_ERROR"}}]), True),
        (GraphQLError("x", errors=[{"extensions": {"code": "BAD_USER_INPUT"}}]), False),
    ],
)
def test_outcome_unknown(error: ErmError, unknown: bool) -> None:
    assert outcome_unknown(error) is unknown


def _internal(status: int | None) -> GraphQLError:
    """An error an older deployment labels INTERNAL_SERVER_ERROR, with the status it
    reports inside the error."""
    extensions: dict[str, object] = {"code": "INTERNAL_SERVER_ERROR"}
    if status is not None:
        extensions["exception"] = {"status": status}
    return GraphQLError("x", errors=[{"message": "x", "extensions": extensions}])


@pytest.mark.parametrize(
    ("status", "unknown"),
    [(None, True), (399, True), (400, False), (404, False), (499, False), (500, True)],
)
def test_a_4xx_reported_inside_an_internal_error_is_a_refusal(
    status: int | None, unknown: bool
) -> None:
    error = _internal(status)
    assert error.reported_status == status
    assert outcome_unknown(error) is unknown


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 0.5),
        (2, 0.0, 1.0),
        (3, 0.0, 2.0),
        (4, 0.0, 4.0),
        (9, 0.0, 4.0),  # capped
        (1, 1.0, 0.375),  # full jitter takes off a quarter
        (4, 1.0, 3.0),
    ],
)
def test_retry_delay_backoff(attempt: int, rand: float, expected: float) -> None:
    assert retry_delay(attempt, POLICY, rand=lambda: rand) == pytest.approx(expected)


def test_retry_delay_honours_server_hint() -> None:
    assert retry_delay(1, POLICY, retry_after=3.0, rand=lambda: 0.0) == pytest.approx(3.0)
    assert retry_delay(5, POLICY, retry_after=0.2, rand=lambda: 1.0) == pytest.approx(0.325)


LIMITS = Limits(
    code_interval=6.0,
    daily_limit=3,
    total_limit=5,
    free_limit=1,
    reset_limit=1,
    interval_margin=0.05,
)


def _ledger(*events: tuple[str, float]) -> ItemLedger:
    ledger = ItemLedger()
    for kind, at in events:
        ledger.record(kind, at)
    return ledger


@pytest.mark.parametrize(
    ("ledger", "kind", "now", "wait"),
    [
        (_ledger(), DAYS, 1000.0, 0.0),
        (_ledger((DAYS, 1000.0)), DAYS, 1001.0, 5.05),
        (_ledger((DAYS, 1000.0)), DAYS, 1006.05, 0.0),
        (_ledger((DAYS, 1000.0)), DAYS, 1100.0, 0.0),
        (_ledger((DAYS, 0.0), (DAYS, 10.0)), RESET, 12.0, 4.05),
        # events older than the daily window do not count towards the daily limit
        (_ledger((DAYS, 0.0), (DAYS, 10.0), (DAYS, 20.0)), DAYS, 86400.0 + 1, 0.0),
    ],
)
def test_check_code_request_waits_for_the_interval(
    ledger: ItemLedger, kind: str, now: float, wait: float
) -> None:
    assert check_code_request(kind, ledger, LIMITS, now) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("ledger", "kind", "limit"),
    [
        (_ledger((DAYS, 0.0), (DAYS, 10.0), (DAYS, 20.0)), DAYS, CODE_DAILY_LIMIT),
        (_ledger(*[(DAYS, float(i * 86400 * 2)) for i in range(5)]), DAYS, CODE_TOTAL_LIMIT),
        (_ledger((FREE, 0.0)), FREE, CODE_FREE_LIMIT),
        (_ledger((RESET, 0.0)), RESET, CODE_RESET_LIMIT),
    ],
)
def test_check_code_request_refuses_past_a_limit(ledger: ItemLedger, kind: str, limit: str) -> None:
    with pytest.raises(CodeLimitError) as info:
        check_code_request(kind, ledger, LIMITS, 30.0 if limit == CODE_DAILY_LIMIT else 1e7)
    assert info.value.limit == limit


def test_free_code_allowance_does_not_block_days_codes() -> None:
    assert check_code_request(DAYS, _ledger((FREE, 0.0)), LIMITS, 100.0) == 0.0


def test_ledger_from_history() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ledger = ItemLedger.from_history([("FREECODE", t0), ("DAYSCODE", t0), ("RESETCODE", None)])
    assert (ledger.total, ledger.count("FREECODE"), ledger.count("RESETCODE")) == (3, 1, 1)
    assert ledger.last == t0.timestamp()


@pytest.mark.parametrize("days", [1, 7, 1096])
def test_validate_days_accepts(days: int) -> None:
    assert validate_days(days, Limits()) == days


@pytest.mark.parametrize("days", [0, -1, 1097, 10**12, "7", 7.5, True, None])
def test_validate_days_rejects(days: object) -> None:
    with pytest.raises(InvalidInputError):
        validate_days(days, Limits())


def _jwt(claims: dict[str, object]) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([b64(b'{"alg":"HS256"}'), b64(json.dumps(claims).encode()), "sig"])


def test_jwt_expiry() -> None:
    assert jwt_expiry(_jwt({"exp": 1700000000, "iat": 1699913600})) == 1700000000.0
    assert jwt_expiry(_jwt({"iat": 1})) is None
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


@pytest.mark.parametrize(
    ("now", "lifetime", "due"),
    [
        (0.0, 86400.0, False),
        (1000.0 - 301, 86400.0, False),
        (1000.0 - 299, 86400.0, True),  # inside the 300 s margin
        (1000.0 - 0.6, 2.0, False),  # short-lived: margin shrinks to lifetime/4 = 0.5 s
        (1000.0 - 0.4, 2.0, True),
        (1001.0, None, True),
    ],
)
def test_refresh_due(now: float, lifetime: float | None, due: bool) -> None:
    assert refresh_due(Token("t", 1000.0), now, 300.0, lifetime) is due


def test_token_repr_hides_the_value() -> None:
    assert "s3cret" not in repr(Token("s3cret-token", 1.0))


@pytest.mark.parametrize(
    "url",
    [
        "https://erm.example.com/graphql",
        "http://127.0.0.1:8765/graphql",
        "http://localhost/graphql",
        "http://[::1]:80/graphql",
    ],
)
def test_validate_url_accepts(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize(
    "url", ["http://erm.example.com/graphql", "http://10.0.0.1/graphql", "ftp://x/y", "nope"]
)
def test_validate_url_refuses(url: str) -> None:
    with pytest.raises(ConfigurationError):
        validate_url(url)


def test_validate_url_insecure_opt_in() -> None:
    assert validate_url("http://erm.example.com/graphql", allow_insecure=True)


@pytest.mark.parametrize("item_id", ["", "x" * 129, "a\nb", "a\x00b", 5, None])
def test_validate_item_id_rejects(item_id: object) -> None:
    with pytest.raises(InvalidInputError):
        validate_item_id(item_id)


@pytest.mark.parametrize("item_id", ["DVAV2501000001", "677f9698818e7a7fe66a939e", 'a"}{ü'])
def test_validate_item_id_accepts(item_id: str) -> None:
    assert validate_item_id(item_id) == item_id


def test_request_tag_round_trip() -> None:
    rid = "0123456789abcdef"
    assert tag_description(None, rid) == "[req:0123456789abcdef]"
    assert tag_description("week", rid) == "week [req:0123456789abcdef]"
    assert request_id_of(tag_description("a [b]", rid)) == rid
    assert request_id_of("no tag") is None
    assert request_id_of(None) is None
    assert untag_description("week [req:0123456789abcdef]") == "week"
    assert untag_description("[req:0123456789abcdef]") is None
    assert untag_description(None) is None


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("UNAUTHENTICATED", AuthenticationError),
        ("FORBIDDEN", PermissionDeniedError),
        ("NOT_FOUND", NotFoundError),
        ("BAD_USER_INPUT", InvalidInputError),
        ("CODE_INTERVAL", RateLimitError),
        ("DAILY_CODE_LIMIT", CodeLimitError),
        ("TOTAL_CODE_LIMIT", CodeLimitError),
        ("FREE_CODE_LIMIT", CodeLimitError),
        ("RESET_CODE_LIMIT", CodeLimitError),
        ("SOMETHING_ELSE", GraphQLError),
    ],
)
def test_error_from_graphql(code: str, cls: type[ErmError]) -> None:
    err = error_from_graphql([{"message": "m", "extensions": {"code": code, "retryAfter": 2}}])
    assert type(err) is cls
    if isinstance(err, RateLimitError):
        assert err.retry_after == 2.0


def test_redaction_keeps_passwords_and_only_the_latest_tokens() -> None:
    from omnivoltaic_erm import _logging

    _logging.register_secret("password-kept-for-good")
    tokens = [f"token-number-{n:04d}" for n in range(_logging.MAX_TOKENS * 3)]
    for token in tokens:
        _logging.register_secret(token, token=True)
    text = " ".join(["password-kept-for-good", *tokens])
    redacted = _logging.redact(text).split()
    assert redacted[0] == _logging.REDACTED
    assert redacted[-_logging.MAX_TOKENS :] == [_logging.REDACTED] * _logging.MAX_TOKENS
    assert redacted[1] == tokens[0]  # long replaced: no longer held
    assert len(_logging._tokens) == _logging.MAX_TOKENS


def test_token_manager_signs_in_once_refreshes_ahead_and_ignores_stale_invalidations() -> None:
    now = [1000.0]
    issued: list[str] = []

    async def sign_in() -> Grant:
        token = _jwt({"exp": now[0] + 100, "n": len(issued)})
        issued.append(token)
        return Grant(token)

    async def run() -> None:
        tokens = TokenManager(sign_in, refresh_margin=300.0, clock=lambda: now[0])
        first = await tokens.token()
        assert await tokens.token() == first and tokens.sign_ins == 1
        # Another token than the current one was refused: the current one stays.
        tokens.invalidate("some.older.token")
        assert await tokens.token() == first and tokens.sign_ins == 1
        # A 100 s token is refreshed in its last quarter (the 300 s margin shrinks to 25 s).
        now[0] += 74.0
        assert await tokens.token() == first
        now[0] += 2.0
        second = await tokens.token()
        assert second != first and tokens.sign_ins == 2
        tokens.invalidate(second)
        third = await tokens.token()
        assert third not in (first, second) and tokens.sign_ins == 3
        assert "value=<redacted>" in repr(tokens) and third not in repr(tokens)

    asyncio.run(run())
    assert len(issued) == 3


def test_token_manager_without_exp_assumes_an_hour_and_refuses_an_empty_token() -> None:
    now = [5000.0]
    answers = ["opaque-token", ""]

    async def sign_in() -> Grant:
        return Grant(answers.pop(0))

    async def run() -> None:
        tokens = TokenManager(sign_in, refresh_margin=60.0, clock=lambda: now[0])
        assert await tokens.token() == "opaque-token"
        now[0] += 3600 - 61
        assert await tokens.token() == "opaque-token" and tokens.sign_ins == 1
        now[0] += 2
        with pytest.raises(AuthenticationError) as info:
            await tokens.token()
        assert info.value.message == "sign-in returned no access token"
        assert tokens.sign_ins == 2

    asyncio.run(run())


@pytest.mark.parametrize(
    ("ledger", "kind", "now", "message"),
    [
        (
            _ledger((DAYS, 0.0), (DAYS, 10.0), (DAYS, 20.0)),
            DAYS,
            60.0,
            "this item had 3 code events in the last 24 h (limit 3); try again in 23 h 59 min",
        ),
        (
            _ledger(*[(DAYS, float(i * 86400 * 2)) for i in range(5)]),
            DAYS,
            1e7,
            "this item has used all 5 code events; nothing was issued",
        ),
        (
            _ledger((FREE, 0.0)),
            FREE,
            1e7,
            "this item has used its 1 free code; nothing was issued",
        ),
        (
            _ledger((RESET, 0.0)),
            RESET,
            1e7,
            "this item has used its 1 reset code; nothing was issued",
        ),
    ],
)
def test_limit_messages_are_exact(ledger: ItemLedger, kind: str, now: float, message: str) -> None:
    with pytest.raises(CodeLimitError) as info:
        check_code_request(kind, ledger, LIMITS, now)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.2, "1 s"), (59.0, "59 s"), (60.0, "1 min"), (61.0, "2 min"), (3600.0, "1 h"),
     (3601.0, "1 h 1 min"), (86400.0, "24 h")],
)  # fmt: skip
def test_waits_are_said_in_the_unit_that_reads(seconds: float, shown: str) -> None:
    from omnivoltaic_erm._ratelimit import _duration

    assert _duration(seconds) == shown


def test_the_daily_window_excludes_its_first_instant() -> None:
    ledger = _ledger((DAYS, 0.0), (DAYS, 10.0), (DAYS, 20.0))
    assert check_code_request(DAYS, ledger, LIMITS, 86400.0) == 0.0


def test_a_used_up_allowance_blocks_only_its_own_kind() -> None:
    assert check_code_request(DAYS, _ledger((RESET, 0.0)), LIMITS, 100.0) == 0.0
    assert check_code_request(FREE, _ledger((RESET, 0.0)), LIMITS, 100.0) == 0.0
    assert check_code_request(RESET, _ledger((FREE, 0.0)), LIMITS, 100.0) == 0.0
    below = _ledger(*[(DAYS, float(i * 86400 * 2)) for i in range(4)])
    assert check_code_request(DAYS, below, LIMITS, 1e7) == 0.0


def test_ledger_counts_each_kind_and_reads_enum_kinds() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ledger = ItemLedger.from_history(
        [(CodeTypes.RESETCODE, t0), (CodeTypes.FREECODE, None), (CodeTypes.DAYSCODE, t0)]
    )
    assert (ledger.total, ledger.count("FREECODE"), ledger.count("RESETCODE")) == (3, 1, 1)
    assert ledger.times == [0.0, t0.timestamp(), t0.timestamp()]
    ledger.record(FREE, 5.0)
    ledger.record(RESET, 5.5)
    ledger.record(DAYS, 6.0)
    assert (ledger.total, ledger.count("FREECODE"), ledger.count("RESETCODE"), ledger.last) == (
        6,
        2,
        2,
        6.0,
    )
    assert ItemLedger().last is None


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (7.5, "days must be a whole number from 1 to 1096, not float 7.5"),
        ("7", "days must be a whole number from 1 to 1096, not str '7'"),
        (True, "days must be a whole number from 1 to 1096, not bool True"),
        (0, "days must be from 1 to 1096; got 0"),
        (1097, "days must be from 1 to 1096; got 1097"),
    ],
)
def test_validate_days_messages(days: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_days(days, Limits())
    assert (info.value.message, info.value.field) == (message, "days")


@pytest.mark.parametrize(
    ("retry_after", "rand", "expected"),
    [
        (0.0, 0.0, 0.0),  # "now" is a hint too
        (0.5, 0.0, 0.5),
        (0.5, 1.0, 0.625),  # plus up to a quarter of the initial delay
        (-1.0, 0.0, 0.5),  # a negative hint is ignored: backoff from attempt 1
        (None, 0.0, 0.5),
    ],
)
def test_retry_delay_hint_edges(retry_after: float | None, rand: float, expected: float) -> None:
    assert retry_delay(1, POLICY, retry_after=retry_after, rand=lambda: rand) == pytest.approx(
        expected
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("inf", float("inf")),
        ("nan", None),
        ("soon", None),
        # An HTTP date: seconds from now (the clock is fixed at 2026-01-01T00:00:00Z).
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    from omnivoltaic_erm._transport import retry_after_of

    now = 1767225600.0  # 2026-01-01T00:00:00Z
    assert retry_after_of(value, now=lambda: now) == seconds


@pytest.mark.parametrize(
    ("hint", "within"),
    [
        (None, True),
        (0.0, True),
        (60.0, True),
        (60.5, False),
        (86400.0, False),
        (float("inf"), False),
    ],
)
def test_a_wait_hint_is_honoured_only_up_to_the_cap(hint: float | None, within: bool) -> None:
    from omnivoltaic_erm._retry import hint_within_cap

    policy = RetryPolicy(max_retry_after=60.0, jitter=0.0)
    assert hint_within_cap(hint, policy) is within
    assert should_retry(RateLimitError("slow", retry_after=hint), 1, policy) is within
    if within and hint is not None:
        assert retry_delay(1, policy, hint) == hint
