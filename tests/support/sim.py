"""Deterministic simulation of the money path: a server and a network in one process, on
a virtual clock, driven by seeded schedules.

No sockets and no sleeps. ``VirtualLoop`` is an asyncio loop whose clock jumps to the next
timer whenever nothing is ready, so a schedule that waits minutes of timeouts, intervals
and graces runs in a millisecond. The real ``AsyncErmClient`` runs on it unchanged, but
for one seam: its transport's ``_post_body`` (the single place a request meets the wire)
is replaced by ``SimNetwork.post_body``, which raises exactly what the real transport
raises. Everything above the wire is the shipped code: token manager, pipeline, parsing,
error mapping, the issuing machine, settlement, request ids.

``SimServer`` keeps items, code events and tokens, and enforces what the money path
depends on: a per-fleet minimum interval between an item's codes (on, or switched off
as ``disableCodeGenInterval`` allows), expiring access tokens, rotating refresh tokens.
Its answers have the shapes of the real API's (``tests.support.real_api``) and go through
the generated models.

``SimNetwork`` draws one fault per request from the schedule's seeded generator; every
fault is something a network, a proxy or a gateway does (see ``FAULTS``). A request that
is executed late runs in its own task, so it commits whether or not the client is still
waiting for it.

``run_schedule(seed)`` builds a random scenario from the seed: a fleet with the interval
rule on or off, one to three concurrent calls (fresh ids, the caller's own ids, one id
reused with the same or other parameters, descriptions that quote tags), faults, token
lifetimes short enough to expire mid-call, and a cancellation at a random moment. After
the calls it lets the network drain, then checks the invariants (``check``): a broken
one is a ``Violation`` naming the seed, so ``python -m tests.support.sim --seed N``
replays it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import builtins
import json
import logging
import random
import re
import selectors
import sys
import time
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from omnivoltaic_erm import (
    AsyncErmClient,
    ClientConfig,
    CodeTypes,
    DuplicateCodeWarning,
    ErmError,
    IssuedCode,
    OutcomeUnknownError,
    RequestIdConflictError,
    RetryPolicy,
)
from omnivoltaic_erm._issuing import interruption_of
from omnivoltaic_erm._request_ids import new_request_id
from omnivoltaic_erm._transport import RawResponse
from omnivoltaic_erm.errors import ErmTimeoutError, TransportError
from tests.support.real_api import REAL_TOKEN, real_item
from tests.support.tokens import jwt

EPOCH = 1_780_000_000.0  # virtual time 0, as epoch seconds
PASSWORD = "sim-password"
EMAIL = "sim@distributor.test"
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head></html>"
HTML_504 = b"<html><head><title>504 Gateway Timeout</title></head></html>"

# Faults, each a thing the network does to one request:
REFUSED = "refused"  # connection refused: never sent
CONNECT_TIMEOUT = "connect_timeout"  # no connection within the connect timeout: never sent
E502 = "502"  # a gateway page before the request reached the server: not executed
RESET = "reset"  # the connection drops mid-body: not executed, the client cannot tell
E504 = "504"  # executed, then a gateway timeout page
DROP = "drop"  # executed, then the connection drops before the answer
DELAY = "delay"  # executed, the answer comes after the client's timeout
LATE = "late"  # held on the way past the client's timeout, then executed anyway
TWICE = "twice"  # executed twice (a gateway that re-sends a POST); the second answer
FAULTS = (REFUSED, CONNECT_TIMEOUT, E502, RESET, E504, DROP, DELAY, LATE, TWICE)
UNKNOWN_OUTCOME = (RESET, E504, DROP, DELAY, LATE)


# The oracle's own reading of a stored description: the tag the client appends last. It
# does not use the client's parser, so a broken parser cannot hide its own faults.
_OWN_TAG = re.compile(r"\[req:([0-9a-f]{16})\]\Z")


def request_id_of(description: str | None) -> str | None:
    """The request id of the client's trailing tag, as the simulation reads it."""
    match = _OWN_TAG.search(description or "")
    return match.group(1) if match else None


class Deadlock(RuntimeError):
    """Every task waits and no timer is set: the simulated program can never go on."""


class _VirtualSelector(selectors.BaseSelector):
    """A selector with nothing to wait on: ``select(t)`` moves the clock by ``t``."""

    def __init__(self, loop: VirtualLoop) -> None:
        self._loop = loop
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise Deadlock("no task is ready and no timer is set")
        self._loop.now += max(0.0, timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: never sleeps, jumps to the next timer."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self.now


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _error(message: str, code: str, status: int, **extra: Any) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code, "response": {"statusCode": status}, **extra}
    return {"message": message, "extensions": extensions}


@dataclass
class Event:
    """One code event as the server stores it."""

    kind: str
    days: int
    description: str | None
    code_hex: str
    created: float  # epoch seconds

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.description)


@dataclass
class SimServer:
    """The ERM API's money path, in memory, on the loop's virtual clock."""

    loop: VirtualLoop
    interval: float | None  # the fleet's interval rule; None: switched off
    token_ttl: float
    items: dict[str, list[Event]] = field(default_factory=dict)
    oem: dict[str, str] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    executed: Counter[str] = field(default_factory=Counter)
    sign_ins: int = 0
    _codes: int = 0

    def add_item(self, index: int) -> str:
        item = real_item(index)
        self.items[item["_id"]] = []
        self.oem[item["oemItemID"]] = item["_id"]
        return str(item["_id"])

    def now(self) -> float:
        return EPOCH + self.loop.now

    def handle(self, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        request = json.loads(body)
        name = request.get("operationName")
        variables = request.get("variables") or {}
        self.executed[name] += 1
        if name == "SignInUser":
            return self._answer(self._sign_in(variables))
        if name == "RefreshAccessToken":
            return self._answer(self._refresh(variables))
        if not self._authorised(headers):
            return self._answer(
                {"data": None, "errors": [_error("Unauthorized", "UNAUTHENTICATED", 401)]}
            )
        if name == "GetItemsForDownloadById":
            entries = [self._entry(i) for i in variables["ids"] if self._find(i)]
            if not entries:
                return self._not_found(name)
            return self._answer({"data": {"getItemsForDownloadById": entries}})
        if name == "GetItemLimits":
            item_id = self._find(variables["itemId"])
            if item_id is None:
                return self._not_found(name)
            data = {"_id": item_id, "itemFleet": self._fleet()}
            return self._answer({"data": {"getSpecificItem": data}})
        if name in ("GenerateDaysCode", "GenerateFreeCode", "GenerateResetCode"):
            return self._answer(self._generate(name, variables))
        raise AssertionError(f"the simulation does not serve {name}")

    @staticmethod
    def _answer(payload: dict[str, Any]) -> RawResponse:
        return RawResponse(200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def _not_found(self, name: str) -> RawResponse:
        error = _error("Item not found", "NOT_FOUND", 404)
        return self._answer({"data": None, "errors": [{**error, "path": [name]}]})

    def _tokens(self) -> dict[str, Any]:
        self._codes += 1
        refresh = f"refresh-{self._codes}"
        self.refresh_tokens.add(refresh)
        access = jwt(self.now() + self.token_ttl, marker=str(self._codes))
        return {**REAL_TOKEN, "accessToken": access, "refreshToken": refresh}

    def _sign_in(self, variables: dict[str, Any]) -> dict[str, Any]:
        self.sign_ins += 1
        if variables.get("password") != PASSWORD:
            return {"data": None, "errors": [_error("Invalid Credentials", "UNAUTHENTICATED", 401)]}
        return {"data": {"signInUser": self._tokens()}}

    def _refresh(self, variables: dict[str, Any]) -> dict[str, Any]:
        token = variables.get("refreshToken")
        if token not in self.refresh_tokens:
            return {"data": None, "errors": [_error("Unauthorized", "UNAUTHENTICATED", 401)]}
        self.refresh_tokens.discard(token)
        return {"data": {"refreshAccessToken": self._tokens()}}

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("Authorization", "")
        token = value.removeprefix("Bearer ")
        try:
            claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        except (ValueError, IndexError):
            return False
        return bool(claims["exp"] > self.now())

    def _find(self, key: str) -> str | None:
        if key in self.items:
            return key
        return self.oem.get(key)

    def _fleet(self) -> dict[str, Any]:
        return {
            "_id": "fleet-1",
            "fleetName": "simulated",
            "codeGenInterval": round((self.interval or 6.0) * 1000),
            "disableCodeGenInterval": self.interval is None,
            "dayCodeCountLimit": 1000,
            "disableDayCodeCountLimit": True,
            "totalCodeCountLimit": 1096,
            "disableTotalCodeCountLimit": True,
            "freeCodeCount": 5,
            "disableFreeCode": True,
            "resetCodeCount": 5,
            "disableResetCodeCount": True,
            "maxCreditStackDays": 60,
            "disableMaxCreditStackDays": True,
            "maxCreditStackCodeEvents": 5,
            "disableMaxCreditStackCodeEvents": True,
        }

    def _entry(self, key: str) -> dict[str, Any]:
        item_id = self._find(key)
        assert item_id is not None
        index = int(item_id[-4:], 16)
        history = [
            {
                "_id": f"{item_id}-{n}",
                "codeType": e.kind,
                "codeDays": e.days,
                "codeNumber": n + 1,
                "codeHexString": e.code_hex,
                "codeDecString": f"*{int(e.code_hex, 16)}#",
                "description": e.description,
                "hashIndex": n + 1,
                "createdAt": _iso(e.created),
                "deleteStatus": False,
                "deleteAt": None,
            }
            for n, e in enumerate(self.items[item_id])
        ]
        return {"item": real_item(index), "codeHistory": history}

    def _generate(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        field_name = name[0].lower() + name[1:]
        item_id = self._find(variables["itemId"])
        if item_id is None:
            return {"data": None, "errors": [{**_error("Item not found", "NOT_FOUND", 404)}]}
        events = self.items[item_id]
        now = self.now()
        if self.interval is not None and events and now - events[-1].created < self.interval:
            wait = round(events[-1].created + self.interval - now, 3) or 0.001
            error = _error(
                f"Codes for one item must be at least {self.interval:g} seconds apart",
                "CODE_INTERVAL",
                429,
                retryAfter=wait,
            )
            return {"data": None, "errors": [{**error, "path": [field_name]}]}
        kind = {"GenerateDaysCode": "DAYSCODE", "GenerateFreeCode": "FREECODE"}.get(
            name, "RESETCODE"
        )
        self._codes += 1
        code_hex = f"{self._codes:016X}"
        days = int(variables.get("codeDays") or 0)
        events.append(Event(kind, days, variables.get("description"), code_hex, now))
        code = {"codeType": kind, "codeHex": code_hex, "codeDec": f"*{self._codes}#"}
        return {"data": {field_name: code}}


@dataclass
class Delivery:
    """What the network did with one request."""

    operation: str
    fault: str | None
    request_id: str | None  # of a code request


@dataclass
class SimNetwork:
    """The wire between the client and ``SimServer``, with one fault drawn per request."""

    server: SimServer
    rng: random.Random
    fault_rate: float
    faults: tuple[str, ...]
    late_seconds: float
    delay_seconds: float
    connect_timeout: float
    timeout: float  # the client transport's own, for a call that names none
    deliveries: list[Delivery] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def _draw(self, operation: str) -> str | None:
        if operation == "SignInUser" or operation == "RefreshAccessToken":
            # Sign-ins meet only faults before execution: a lost sign-in answer costs a
            # token, never a code, and the token manager's own tests cover it.
            if self.rng.random() < self.fault_rate / 2:
                return self.rng.choice((REFUSED, E502))
            return None
        if self.rng.random() < self.fault_rate:
            return self.rng.choice(self.faults)
        return None

    async def post_body(
        self,
        body: bytes,
        operation_name: str | None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        operation = operation_name or ""
        fault = self._draw(operation)
        rid = None
        if operation.startswith("Generate"):
            rid = request_id_of(json.loads(body)["variables"].get("description"))
        self.deliveries.append(Delivery(operation, fault, rid))
        total = self.timeout if timeout is None else timeout
        latency = self.rng.uniform(0.005, 0.2)
        if fault == REFUSED:
            await asyncio.sleep(0.001)
            raise TransportError(f"{operation}: cannot connect (refused)", sent=False)
        if fault == CONNECT_TIMEOUT:
            await asyncio.sleep(min(self.connect_timeout, total))
            raise ErmTimeoutError(f"{operation}: cannot connect in time", sent=False)
        if fault == E502:
            await asyncio.sleep(latency)
            return RawResponse(502, {"Content-Type": "text/html"}, HTML_502)
        if fault == RESET:
            await asyncio.sleep(latency)
            raise TransportError(f"{operation}: connection failed (ServerDisconnectedError)")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[RawResponse] = loop.create_future()
        hold = self.late_seconds if fault == LATE else latency
        sent_headers = dict(headers or {})

        async def deliver() -> None:
            await asyncio.sleep(hold)
            raw = self.server.handle(body, sent_headers)
            if fault == TWICE:
                raw = self.server.handle(body, sent_headers)
            if fault == E504:
                raw = RawResponse(504, {"Content-Type": "text/html"}, HTML_504)
            if fault == DROP:
                if not answer.done():
                    answer.set_exception(
                        TransportError(f"{operation}: connection failed (ServerDisconnected)")
                    )
                return
            await asyncio.sleep(self.delay_seconds if fault == DELAY else latency)
            if not answer.done():
                answer.set_result(raw)

        task = loop.create_task(deliver())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        try:
            return await asyncio.wait_for(answer, total)
        except builtins.TimeoutError as exc:
            raise ErmTimeoutError(f"{operation}: no complete answer within {total:g} s") from exc

    async def drain(self) -> None:
        """Wait until every request on the wire has been delivered (or dropped)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


@dataclass
class Call:
    """One call of the schedule and how it ended."""

    kind: CodeTypes
    item: str
    days: int | None
    description: str | None
    request_id: str | None  # the caller's own, or None (the client makes one up)
    cancel_at: float | None = None
    result: IssuedCode | None = None
    error: BaseException | None = None
    used_id: str | None = None  # the id the call went out with, as it told
    started: bool = True  # False: cancelled before it called the client


@dataclass
class _Counts:
    """What a schedule, and a run of many, counts of its calls."""

    calls: int = 0
    issued: int = 0
    recovered: int = 0
    raised_unknown: int = 0
    conflicts: int = 0
    cancelled: int = 0
    other_errors: int = 0
    network_duplicates: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Outcome(_Counts):
    """A schedule's counts, for the totals."""

    seed: int = 0
    resent: int = 0


class Violation(AssertionError):
    """An invariant of the money path broke; the message names the seed."""


def _scenario(rng: random.Random, item_ids: list[str]) -> list[Call]:
    """One to three calls on one or two items, with every kind of request id."""
    calls: list[Call] = []
    shared = new_request_id() if rng.random() < 0.5 else f"{rng.getrandbits(64):016x}"
    for n in range(rng.randint(1, 3)):
        kind = rng.choice((CodeTypes.DAYSCODE, CodeTypes.DAYSCODE, CodeTypes.FREECODE))
        if n == 0 or rng.random() < 0.3:
            kind = rng.choice((CodeTypes.DAYSCODE, CodeTypes.FREECODE, CodeTypes.RESETCODE))
        days = rng.choice((7, 30)) if kind is CodeTypes.DAYSCODE else None
        item = rng.choice(item_ids)
        roll = rng.random()
        if roll < 0.35:
            rid: str | None = None
        elif roll < 0.55:
            rid = f"{rng.getrandbits(64):016x}"
        else:
            rid = shared  # shared with other calls: the same, or other, parameters
            if calls and rng.random() < 0.6 and calls[0].request_id == shared:
                first = calls[0]
                kind, item, days = first.kind, first.item, first.days
        description = rng.choice((None, None, "week", "paid in cash"))
        if rng.random() < 0.08:  # copied from a history, tag and all
            description = rng.choice(
                ("reissue of [req:aaaaaaaaaaaaaaaa]", "[req:" + "b" * 16 + "]")
            )
        cancel_at = rng.uniform(0.0, 12.0) if rng.random() < 0.1 else None
        calls.append(Call(kind, item, days, description, rid, cancel_at))
    return calls


async def _run_call(erm: AsyncErmClient, call: Call, start: float) -> None:
    try:
        await asyncio.sleep(start)
    except asyncio.CancelledError:
        call.started = False
        return
    try:
        call.result = await erm.issue(
            call.kind, call.item, call.days, call.description, request_id=call.request_id
        )
        call.used_id = call.result.request_id
    except ErmError as exc:
        call.error = exc
        call.used_id = getattr(exc, "request_id", None)
    except asyncio.CancelledError as exc:
        call.error = exc
        found = interruption_of(exc)
        call.used_id = found.request_id if found is not None else None


def _late(rng: random.Random, timeout: float, max_hold: float) -> float:
    """How long a ``late`` request is held: past the client's timeout, and within the
    client's ``max_hold`` less the way back (the guarantee's one assumption about the
    network)."""
    return rng.uniform(timeout + 0.1, max_hold - 0.5)


async def _schedule(seed: int) -> tuple[Outcome, SimServer, SimNetwork, list[Call], list[str]]:
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualLoop)
    interval = rng.choice((None, None, 6.0, 60.0))
    server = SimServer(loop, interval, token_ttl=rng.choice((3.0, 30.0, 3600.0)))
    items = [server.add_item(rng.randint(1, 0xFFF) * 2 + n) for n in range(2)]
    timeout = rng.choice((1.0, 2.0, 5.0))
    max_hold = timeout + rng.choice((1.0, 4.0, 10.0, 59.0))
    faults = tuple(f for f in FAULTS if rng.random() < 0.7) or FAULTS
    network = SimNetwork(
        server,
        rng,
        fault_rate=rng.choice((0.0, 0.2, 0.5, 0.8)),
        faults=faults,
        late_seconds=_late(rng, timeout, max_hold),
        delay_seconds=timeout + rng.uniform(0.1, 2.0),
        connect_timeout=timeout / 2,
        timeout=timeout,
    )
    random.seed(seed)  # the retry jitter
    erm = AsyncErmClient(
        "https://erm.sim/graphql",
        EMAIL,
        PASSWORD,
        config=ClientConfig(
            timeout=timeout,
            connect_timeout=timeout / 2,
            token_refresh_margin=1.0,
            retry=RetryPolicy(max_retries=rng.choice((1, 2, 4)), initial_delay=0.5, max_delay=4),
            settle_grace=rng.choice((None, 0.5)),
            max_hold=max_hold,
        ),
    )
    erm._clock = lambda: EPOCH + loop.now  # the virtual clock, for tokens and intervals
    erm.api._post_body = network.post_body  # type: ignore[method-assign]
    aliases = rng.random() < 0.3  # name items by oemItemID instead of _id
    keys = [real_item(int(i[-4:], 16))["oemItemID"] if aliases else i for i in items]
    calls = _scenario(rng, keys)
    tasks = []
    for call in calls:
        task = asyncio.ensure_future(_run_call(erm, call, rng.uniform(0.0, 3.0)))
        tasks.append(task)
        if call.cancel_at is not None:
            loop.call_at(loop.now + call.cancel_at, task.cancel)
    await asyncio.gather(*tasks, return_exceptions=True)
    # A token renewal that a cancelled call started goes on, shared: let it end too.
    renewal = erm._tokens._renewal
    if renewal is not None:
        await asyncio.gather(renewal, return_exceptions=True)
    await network.drain()
    network.fault_rate = 0.0  # the checks read through a quiet network
    outcome = Outcome(calls=len(calls), seed=seed)
    outcome.faults.update(d.fault for d in network.deliveries if d.fault)
    try:
        _check(erm, server, network, calls, items, keys, outcome)
        await _check_recovery(erm, server, calls, items, keys)
    finally:
        await erm.aclose()
    return outcome, server, network, calls, items


def _events_by_id(server: SimServer) -> dict[str, list[tuple[str, Event]]]:
    found: dict[str, list[tuple[str, Event]]] = {}
    for item_id, events in server.items.items():
        for event in events:
            if event.request_id is not None:
                found.setdefault(event.request_id, []).append((item_id, event))
    return found


def _check(
    erm: AsyncErmClient,
    server: SimServer,
    network: SimNetwork,
    calls: list[Call],
    items: list[str],
    keys: list[str],
    outcome: Outcome,
) -> None:
    seed = outcome.seed
    by_id = _events_by_id(server)
    twice = {d.request_id for d in network.deliveries if d.fault == TWICE and d.request_id}
    canonical = dict(zip(keys, items, strict=True))

    def fail(what: str) -> Violation:
        return Violation(f"seed {seed}: {what}")

    # 1. No request id with two events unless the network delivered it twice.
    for rid, events in by_id.items():
        if len(events) > 1:
            if rid not in twice:
                raise fail(f"request id {rid} has {len(events)} events and was never re-sent")
            outcome.network_duplicates += 1
        if len({(i, e.kind, e.days) for i, e in events}) > 1:
            raise fail(f"request id {rid} names codes with other parameters: {events}")
    told: set[str] = set()  # request ids whose callers hold a code or know to recover
    for call in calls:
        item = canonical[call.item]
        if not call.started:
            continue
        if isinstance(call.error, asyncio.CancelledError):
            outcome.cancelled += 1
            note = interruption_of(call.error)
            if note is None:
                raise fail("a cancelled call carries no note of its request")
            if not note.maybe_sent and call.used_id in by_id and call.request_id is None:
                raise fail(f"a cancelled call said nothing was sent, but {call.used_id} is held")
            if note.maybe_sent:
                told.add(note.request_id)
            continue
        if call.result is not None:
            code = call.result
            told.add(code.request_id)
            held = [e for i, e in by_id.get(code.request_id, []) if i == item]
            # 2. No returned code that the server does not hold.
            if not any(e.code_hex == code.code_hex and e.kind == code.code_type for e in held):
                raise fail(f"returned code {code.code_hex} for {code.request_id} is not held")
            if code.duplicates > len(held) - 1:
                raise fail(f"{code.request_id}: duplicates {code.duplicates}, held {len(held)}")
            if call.request_id is not None and code.request_id != call.request_id:
                raise fail("the code carries another request id than the caller's")
            outcome.issued += 1
            outcome.recovered += code.recovered
            continue
        error = call.error
        if isinstance(error, OutcomeUnknownError):
            # 3. Every unknown outcome names its request id and item.
            if not error.request_id or error.item_id != item:
                raise fail(f"an unknown outcome without its request id or item: {error!r}")
            told.add(error.request_id)
            outcome.raised_unknown += 1
            continue
        if isinstance(error, RequestIdConflictError):
            outcome.conflicts += 1
            others = [
                (canonical[c.item], c.kind, c.days)
                for c in calls
                if c is not call and c.request_id == call.request_id
            ]
            if all(o == (item, call.kind, call.days) for o in others):
                raise fail(f"a conflict raised with no other use of the id: {error!r}")
            continue
        if isinstance(error, ErmError):
            outcome.other_errors += 1
            outcome.errors[type(error).__name__] += 1
            continue
        raise fail(f"a call ended with {call.error!r}")
    # 4. No code lost: every code the server holds was returned to its caller, or its
    # caller was told that it may have been issued, under which request id.
    for rid in by_id:
        if rid not in told:
            raise fail(f"request id {rid} was issued, but no caller got it or was told")
    sends = Counter(d.request_id for d in network.deliveries if d.request_id)
    outcome.resent += sum(1 for n in sends.values() if n > 1)


async def _check_recovery(
    erm: AsyncErmClient, server: SimServer, calls: list[Call], items: list[str], keys: list[str]
) -> None:
    """After the network has drained: ``recover`` finds a code exactly when the server
    holds one, and a duplicate is reported by any history read."""
    canonical = dict(zip(keys, items, strict=True))
    by_id = _events_by_id(server)
    for call in calls:
        if call.used_id is None or call.result is not None:
            continue
        if isinstance(call.error, RequestIdConflictError):
            continue
        item = canonical[call.item]
        found = await erm.recover(call.item, call.used_id)
        held = [e for i, e in by_id.get(call.used_id, []) if i == item]
        if bool(found) != bool(held):
            raise Violation(f"recover({call.used_id}) gave {found!r}; the server holds {held}")
    duplicated = [rid for rid, events in by_id.items() if len(events) > 1]
    if duplicated:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for item in items:
                erm._reported.clear()
                await erm.code_history(item)
        reported = " ".join(str(w.message) for w in seen if w.category is DuplicateCodeWarning)
        for rid in duplicated:
            if rid not in reported:
                raise Violation(f"request id {rid} is held twice and was not reported")


def _quiet() -> None:
    # Warnings and log lines are the client's voice to a person; the simulation reads
    # the results instead.
    logging.getLogger("omnivoltaic_erm").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore", DuplicateCodeWarning)


@dataclass
class Totals(_Counts):
    """Counts over many schedules, and how many schedules resent, raised or recovered."""

    schedules: int = 0
    schedules_resent: int = 0
    schedules_raised: int = 0
    schedules_recovered: int = 0

    def add(self, o: Outcome) -> None:
        self.schedules += 1
        for f in fields(_Counts):
            setattr(self, f.name, getattr(self, f.name) + getattr(o, f.name))
        self.schedules_resent += o.resent > 0
        self.schedules_raised += o.raised_unknown > 0
        self.schedules_recovered += o.recovered > 0


def run_schedules(first_seed: int, count: int) -> Totals:
    """Run ``count`` schedules from ``first_seed`` on one virtual loop; raise the first
    ``Violation``."""
    _quiet()
    totals = Totals()
    loop = VirtualLoop()
    try:
        for seed in range(first_seed, first_seed + count):
            outcome, *_ = loop.run_until_complete(_schedule(seed))
            totals.add(outcome)
    finally:
        loop.close()
    return totals


def run_schedule(seed: int) -> tuple[Outcome, SimServer, SimNetwork, list[Call], list[str]]:
    """One schedule, for a test that looks at its details."""
    _quiet()
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(_schedule(seed))
    finally:
        loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        totals = run_schedules(args.seed, args.schedules)
    except Violation as exc:
        print(f"VIOLATION: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    report: dict[str, Any] = dict(vars(totals))
    report["faults"] = dict(sorted(totals.faults.items()))
    report["errors"] = dict(sorted(totals.errors.items()))
    report["seconds"] = round(seconds, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
