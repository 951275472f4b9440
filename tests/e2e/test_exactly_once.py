"""Exactly once against the sandbox on loopback, under the faults that broke it before:
a proxy that executes requests after the client gave up, a description that quotes a
request tag, and the caller's own request id used again (from two clients, with the same
and with other parameters, in Python and on the command line)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from omnivoltaic_erm import (
    AsyncErmClient,
    ClientConfig,
    IssuedCode,
    Limits,
    OutcomeUnknownError,
    RequestIdConflictError,
    RetryPolicy,
)
from omnivoltaic_erm._request_ids import request_id_of
from omnivoltaic_erm.sandbox import FaultSpec, Sandbox
from omnivoltaic_erm.sandbox.fleets import CREDIT, DAILY, INTERVAL, Fleet
from tests.support.cli_helpers import Cli

HOLD = 3.0  # how long the proxy holds a code request before forwarding it
TIMEOUT = 1.0  # the client's timeout of each attempt
CALL_TIMEOUT = 20.0  # and of each whole request, retries and a sign-in included
MAX_HOLD = HOLD + 0.5  # what the client is told of the network: no hold is longer
FOREIGN = "aaaaaaaaaaaaaaaa"


def _fleet(interval_on: bool) -> Fleet:
    off = {DAILY, CREDIT} | (set() if interval_on else {INTERVAL})
    return Fleet(
        "interval-on" if interval_on else "interval-off",
        code_interval=MAX_HOLD + 1.5,  # with the rule on, longer than any hold
        daily_limit=1000,
        total_limit=1096,
        free_limit=100,
        reset_limit=100,
        disabled=frozenset(off),
    )


def _client(sb: Sandbox, **overrides: object) -> AsyncErmClient:
    config = ClientConfig(
        timeout=TIMEOUT,
        limits=Limits(code_interval=0.0),
        retry=RetryPolicy(max_retries=3, initial_delay=0.05, max_delay=0.2),
        max_hold=MAX_HOLD,
        call_timeout=CALL_TIMEOUT,
    )
    return AsyncErmClient(sb.url, sb.email, sb.password, config=config, **overrides)  # type: ignore[arg-type]


def _ids_by_request(sb: Sandbox, keys: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for key in keys:
        for event in sb.history(key):
            rid = request_id_of(event["description"])
            if rid is not None:
                found[rid] += 1
    return found


@pytest.mark.parametrize("interval_on", [False, True], ids=["interval off", "interval on"])
def test_a_proxy_that_executes_requests_late_never_doubles_a_code(interval_on: bool) -> None:
    # Half the code requests are held 3 s on the way; the client gives up on each after
    # 1 s. 12 calls on 12 items.
    with Sandbox(items=12, fleets=(_fleet(interval_on),)) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()]
        results: dict[str, IssuedCode | OutcomeUnknownError] = {}

        async def run() -> None:
            async with _client(sb) as erm:
                await erm.prefetch(keys)
                sb.faults = FaultSpec(late=0.5, late_seconds=HOLD, ops="codes", seed=11)

                async def one(key: str) -> None:
                    try:
                        results[key] = await erm.generate_days_code(key, 7)
                    except OutcomeUnknownError as exc:
                        results[key] = exc

                await asyncio.gather(*(one(k) for k in keys))
                sb.faults = FaultSpec()
                held = sb.fault_counts.get("late", 0)
                assert 3 <= held <= 9, held  # about half were held
                # Every late original has reached the server by now.
                await asyncio.sleep(HOLD + 0.5)
                for key, outcome in results.items():
                    if isinstance(outcome, OutcomeUnknownError):
                        # The raised call names its request and item; recover finds it.
                        assert outcome.request_id and outcome.item_id
                        found = await erm.recover(key, outcome.request_id)
                        assert found is not None and found.recovered, key
                        results[key] = found

        asyncio.run(run())
        per_request = _ids_by_request(sb, keys)
        codes = [r for r in results.values() if isinstance(r, IssuedCode)]
    assert len(codes) == 12  # 0 lost: every call ends with its code
    assert sorted(per_request.values()) == [1] * 12  # 0 request ids with two events
    assert {c.request_id for c in codes} == set(per_request)


def test_a_description_quoting_a_tag_is_one_code_and_not_the_foreign_one() -> None:
    with Sandbox(items=1) as sb:
        key = str(sb.items()[0]["oemItemID"])

        async def run() -> tuple[IssuedCode, IssuedCode | None]:
            async with _client(sb) as erm:
                await erm.prefetch([key])
                sb.faults = FaultSpec(drop=1.0, ops="codes")  # answer lost after commit
                code = await erm.generate_days_code(key, 7, f"reissue of [req:{FOREIGN}]")
                sb.faults = FaultSpec()
                return code, await erm.recover(key, FOREIGN)

        code, foreign = asyncio.run(run())
        history = sb.history(key)
    assert len(history) == 1  # exactly one event
    assert code.recovered and code.description == f"reissue of [req:{FOREIGN}]"
    assert foreign is None
    # Stored neutralised: only the client's own tag reads as a request id.
    assert history[0]["description"] == f"reissue of (req:{FOREIGN}] [req:{code.request_id}]"


def test_the_same_request_id_three_times_from_two_clients_is_one_code() -> None:
    rid = "1234567890abcdef"
    with Sandbox(items=2, code_interval=0.2) as sb:
        key, other = (str(i["oemItemID"]) for i in sb.items())

        async def run() -> list[IssuedCode]:
            async with _client(sb) as first, _client(sb) as second:
                one = await first.generate_days_code(key, 7, request_id=rid)
                two = await first.generate_days_code(key, 7, request_id=rid)
                three = await second.generate_days_code(key, 7, request_id=rid)
                # Concurrently too: one request at a time holds the id.
                four, five = await asyncio.gather(
                    first.generate_days_code(key, 7, request_id=rid),
                    second.generate_days_code(key, 7, request_id=rid),
                )
                return [one, two, three, four, five]

        codes = asyncio.run(run())
        history = sb.history(key)
    assert len(history) == 1
    assert len({c.code_hex for c in codes}) == 1
    assert [c.recovered for c in codes] == [False, True, True, True, True]
    del other


@pytest.mark.parametrize(
    ("kind", "days", "item", "named"),
    [
        ("days", 30, 0, "30-day days code"),
        ("free", None, 0, "free code"),
        ("reset", None, 0, "reset code"),
        ("days", 7, 1, "7-day days code for"),
    ],
)
def test_the_same_request_id_with_other_parameters_is_refused(
    kind: str, days: int | None, item: int, named: str
) -> None:
    rid = "fedcba0987654321"
    with Sandbox(items=2, code_interval=0.2) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()]

        async def run() -> RequestIdConflictError:
            async with _client(sb) as first, _client(sb) as second:
                await first.generate_days_code(keys[0], 7, request_id=rid)
                # Another client: only the item's history can tell (another item: only
                # this process's journal of request ids can).
                erm = second if item == 0 else first
                with pytest.raises(RequestIdConflictError) as info:
                    if kind == "days":
                        assert days is not None
                        await erm.generate_days_code(keys[item], days, request_id=rid)
                    elif kind == "free":
                        await erm.generate_free_code(keys[item], request_id=rid)
                    else:
                        await erm.generate_reset_code(keys[item], request_id=rid)
                return info.value

        error = asyncio.run(run())
        events = [len(sb.history(k)) for k in keys]
    assert events == [1, 0]  # nothing issued for the second call
    assert "7-day days code" in error.existing and named in error.requested
    assert error.request_id == rid
    assert error.existing in error.message and error.requested in error.message


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("days", "--days", "30"), "30-day days code"),
        (("free",), "free code"),
        (("reset",), "reset code"),
    ],
)
def test_the_command_line_refuses_a_request_id_with_other_parameters(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    rid = "0f0f0f0f0f0f0f0f"
    with Sandbox(items=1, code_interval=0.2) as sb:
        cli = Cli(sb, tmp_path / "cache")
        key = str(sb.items()[0]["oemItemID"])
        first = cli.run("--json", "code", "days", key, "--days", "7", "--request-id", rid)
        assert first.code == 0, first.err
        again = cli.run("--json", "code", "days", key, "--days", "7", "--request-id", rid)
        assert again.code == 0 and again.json()["recovered"] is True
        assert again.json()["code_hex"] == first.json()["code_hex"]
        time.sleep(0.3)
        other = cli.run("code", args[0], key, *args[1:], "--request-id", rid)
        other.assert_one_line_error(2, rid, "7-day days code", named, "nothing was sent")
        assert len(sb.history(key)) == 1


def test_the_command_line_names_the_command_that_settles_an_unknown_outcome(
    tmp_path: Path,
) -> None:
    # The answer is lost, and the request lands only after the client's second look:
    # on a fleet without the interval rule the command must not guess.
    with Sandbox(items=1, fleets=(_fleet(False),)) as sb:
        cli = Cli(sb, tmp_path / "cache")
        key = str(sb.items()[0]["oemItemID"])
        sb.faults = FaultSpec(late=1.0, late_seconds=HOLD, ops="codes")
        env = {
            "ERM_TIMEOUT": str(TIMEOUT),
            "ERM_CALL_TIMEOUT": str(CALL_TIMEOUT),
            "ERM_CODE_INTERVAL": "0",
            "ERM_MAX_HOLD": str(MAX_HOLD),
        }
        failed = cli.run("code", "days", key, "--days", "7", "-d", "week", **env)
        sb.faults = FaultSpec()
        assert failed.code == 1 and "Traceback" not in failed.err
        line = failed.err.strip().splitlines()[-1]  # after the client's warning lines
        assert line.startswith("error: a days code for") and "Do not issue a new code" in line
        assert f"run `erm history {key}` to look" in line and "try again" not in line
        assert "(GenerateDaysCode: no complete answer within 1 s)" in line
        command = line.split("settle it with: ", 1)[1]
        words = command.split()
        assert words[:7] == ["erm", "code", "days", key, "--days", "7", "--description"]
        rid = words[-1]
        assert words[-2] == "--request-id" and rid in line
        time.sleep(HOLD)  # the held request has reached the server
        settled = cli.run("--json", *words[1:], **env)
        assert settled.code == 0, settled.err
        assert settled.json()["recovered"] is True and settled.json()["request_id"] == rid
        assert len(sb.history(key)) == 1


def test_call_timeout_bounds_a_whole_code_request_settling_included() -> None:
    # Held 3 s on the way, on a fleet without the rule: unbounded, the call gives up after
    # its timeout, a history read, the grace and another read; bounded by call_timeout,
    # it raises at the bound, naming its request.
    with Sandbox(items=1, fleets=(_fleet(False),)) as sb:
        key = str(sb.items()[0]["oemItemID"])

        async def run() -> tuple[OutcomeUnknownError, float]:
            config = ClientConfig(
                timeout=TIMEOUT, call_timeout=1.5, max_hold=MAX_HOLD, limits=Limits(code_interval=0)
            )
            async with AsyncErmClient(sb.url, sb.email, sb.password, config=config) as erm:
                await erm.prefetch([key])
                sb.faults = FaultSpec(late=1.0, late_seconds=HOLD, ops="codes")
                started = time.monotonic()
                with pytest.raises(OutcomeUnknownError) as info:
                    await erm.generate_days_code(key, 7)
                took = time.monotonic() - started
                sb.faults = FaultSpec()
                await asyncio.sleep(HOLD)
                assert await erm.recover(key, info.value.request_id) is not None
                return info.value, took

        error, took = asyncio.run(run())
    assert "the call's 1.5 s ran out" in error.message
    assert took < 1.5 + 1.0  # generous: shared machines
