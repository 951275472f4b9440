"""The dashboard's request log: every GraphQL request in a bounded ring buffer.

Recording is cheap: the middleware keeps references to the bytes aiohttp already holds
(the request and answer bodies) and a few numbers; the summary (operation, item, request
id, ...) is parsed only when someone reads the entry. Watchers (the dashboard's event
stream) get each new entry's summary on a queue of their own; with nobody watching,
nothing is parsed at all.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .app import STATE
from .auth import bearer_token
from .config import DASHBOARD_LOG_SIZE
from .operations import operation_of
from .sessions import token_fingerprint
from .trace import TRACE_SINK

_WATCH_QUEUE = 1000
# The bytes of a body the log keeps: a long listing's answer is cut here, so the memory
# the log holds is bounded by its size times this.
MAX_KEPT_BODY = 64 * 1024
REDACTED = "[redacted]"
SECRET_KEYS = frozenset({"password", "accessToken", "refreshToken"})
CODE_KEYS = frozenset({"codeHex", "codeDec", "codeHexString", "codeDecString"})
_TAG = re.compile(r"\[req:([0-9a-f]{16})\]\s*\Z")
_CODE_MUTATIONS = {
    "generateDaysCode": "DAYSCODE",
    "generateFreeCode": "FREECODE",
    "generateResetCode": "RESETCODE",
}


@dataclass
class Entry:
    """One request as it was received and answered (raw; see ``summary``)."""

    id: int
    at: float
    request_headers: dict[str, str]
    request_body: bytes
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    latency_ms: float = 0.0
    fault: str | None = None
    trace: list[dict[str, Any]] | None = None
    event_id: str | None = None
    _summary: dict[str, Any] | None = None

    def parsed_request(self) -> dict[str, Any]:
        """The request body as JSON (an empty dict when it is not an object)."""
        try:
            body = json.loads(self.request_body)
        except (ValueError, UnicodeDecodeError):
            return {}
        return body if isinstance(body, dict) else {}

    def parsed_response(self) -> Any:
        """The answer's body as JSON, or its text when it is not JSON."""
        try:
            return json.loads(self.response_body)
        except (ValueError, UnicodeDecodeError):
            return self.response_body.decode("utf-8", "replace")

    def summary(self) -> dict[str, Any]:
        """The fields the list shows and filters on (parsed once, on first read)."""
        if self._summary is None:
            self._summary = summarize(self)
        return self._summary


def _item_and_description(variables: Any) -> tuple[str | None, str | None]:
    if not isinstance(variables, dict):
        return None, None
    values: list[dict[str, Any]] = [variables]
    values += [v for v in variables.values() if isinstance(v, dict)]
    item = next((v["itemId"] for v in values if isinstance(v.get("itemId"), str)), None)
    text = next((v["description"] for v in values if isinstance(v.get("description"), str)), None)
    return item, text


def session_of(authorization: str | None) -> str | None:
    """The session (access-token fingerprint) of a request, never the token."""
    token = bearer_token(authorization)
    return None if token is None else token_fingerprint(token)


def error_codes(answer: Any) -> list[str]:
    """Each GraphQL error's code in an answer: the sandbox's rule where it names one
    (``extensions.rule``, e.g. ``CODE_INTERVAL``), else ``extensions.code``."""
    if not isinstance(answer, dict) or not isinstance(answer.get("errors"), list):
        return []
    codes = []
    for error in answer["errors"]:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        extensions = extensions if isinstance(extensions, dict) else {}
        codes.append(str(extensions.get("rule") or extensions.get("code") or "ERROR"))
    return codes


def summarize(entry: Entry) -> dict[str, Any]:
    """An entry's list row: operation, type, item, code type, status, latency, fault,
    token session, request id and error codes."""
    body = entry.parsed_request()
    operation, kind = operation_of(body)
    item, description = _item_and_description(body.get("variables"))
    tag = _TAG.search(description) if description else None
    return {
        "id": entry.id,
        "at": entry.at,
        "operation": operation,
        "type": kind,
        "item": item,
        "codeType": _CODE_MUTATIONS.get(operation),
        "status": entry.status,
        "latencyMs": round(entry.latency_ms, 2),
        "fault": entry.fault,
        "session": session_of(entry.request_headers.get("Authorization")),
        "requestId": tag.group(1) if tag else None,
        "errors": error_codes(entry.parsed_response()),
        "refused": entry.trace is not None and entry.event_id is None,
    }


def kept(body: bytes) -> bytes:
    """What the log keeps of a body: all of it, or its first ``MAX_KEPT_BODY`` bytes."""
    return body if len(body) <= MAX_KEPT_BODY else body[:MAX_KEPT_BODY]


def redact(value: Any, reveal_codes: bool = False) -> Any:
    """``value`` with passwords, tokens and (unless ``reveal_codes``) codes replaced."""
    if isinstance(value, dict):
        hidden = SECRET_KEYS if reveal_codes else SECRET_KEYS | CODE_KEYS
        return {
            k: REDACTED if k in hidden and v is not None else redact(v, reveal_codes)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, reveal_codes) for v in value]
    return value


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers with the bearer token and cookies hidden."""
    hidden = {"authorization", "cookie", "set-cookie"}
    return {k: REDACTED if k.lower() in hidden else v for k, v in headers.items()}


def matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    """Whether a summary row passes the list's filters (operation, item, status, fault,
    requestId, since, until; all optional, exact except ``since``/``until``)."""
    for key in ("operation", "item", "fault", "requestId"):
        wanted = filters.get(key)
        if wanted and str(row.get(key)) != wanted:
            return False
    status = filters.get("status")
    if status and str(row.get("status")) != status:
        return False
    since, until = filters.get("since"), filters.get("until")
    if since and row["at"] < float(since):
        return False
    return not (until and row["at"] > float(until))


class RequestLog:
    """The latest ``size`` requests, and the queues of whoever watches them live."""

    def __init__(self, size: int = DASHBOARD_LOG_SIZE) -> None:
        if size < 1:
            raise ValueError("the request log holds at least one request")
        self.entries: deque[Entry] = deque(maxlen=size)
        self.watchers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._next = 1

    def new_id(self) -> int:
        """The next entry's id (ids only grow, also across a ``clear``)."""
        self._next += 1
        return self._next - 1

    def add(self, entry: Entry) -> None:
        """Keep ``entry`` (the oldest one falls out) and tell the watchers."""
        self.entries.append(entry)
        if self.watchers:
            row = entry.summary()
            for queue in self.watchers:
                if not queue.full():
                    queue.put_nowait(row)

    def get(self, entry_id: int) -> Entry | None:
        """The entry with this id, if still kept."""
        return next((e for e in self.entries if e.id == entry_id), None)

    def rows(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        """The kept entries' summaries that pass ``filters``, oldest first."""
        return [row for row in (e.summary() for e in self.entries) if matches(row, filters)]

    def watch(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving each new entry's summary; ``unwatch`` it when done."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_WATCH_QUEUE)
        self.watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop feeding a queue from ``watch``."""
        self.watchers.discard(queue)

    def clear(self) -> None:
        """Forget every entry."""
        self.entries.clear()


REQUEST_LOG = web.AppKey("erm_sandbox_request_log", RequestLog)


def errors_summary(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Failed requests grouped by (error code or HTTP status, operation), most first."""
    counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        row = entry.summary()
        codes = row["errors"] or ([f"HTTP {row['status']}"] if row["status"] != 200 else [])
        for code in dict.fromkeys(codes):
            key = (code, row["operation"])
            counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"code": c, "operation": op, "count": n} for (c, op), n in ordered]


@web.middleware
async def request_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record each ``POST /graphql`` with its answer, latency, fault and decision trace."""
    if request.method != "POST" or request.path != "/graphql":
        return await handler(request)
    log = request.app[REQUEST_LOG]
    entry = Entry(
        id=log.new_id(),
        at=request.app[STATE].store.clock.now(),
        request_headers=dict(request.headers),
        request_body=kept(await request.read()),
    )
    sink: dict[str, Any] = {}
    token = TRACE_SINK.set(sink)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except BaseException:
        _finish(entry, sink, started, None)
        log.add(entry)
        raise
    finally:
        TRACE_SINK.reset(token)
    _finish(entry, sink, started, response)
    log.add(entry)
    return response


def _finish(
    entry: Entry,
    sink: dict[str, Any],
    started: float,
    response: web.StreamResponse | None,
) -> None:
    entry.latency_ms = (time.perf_counter() - started) * 1000
    entry.fault = sink.get("fault")
    entry.trace = sink.get("trace")
    entry.event_id = sink.get("event_id")
    if response is None or entry.fault in ("drop", "reset"):
        entry.status = 0  # no answer: the connection was closed
        return
    entry.status = response.status
    entry.response_headers = dict(response.headers)
    body = getattr(response, "body", None)
    entry.response_body = kept(body) if isinstance(body, bytes) else b""
