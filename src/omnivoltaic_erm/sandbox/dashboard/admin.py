"""The admin API under ``/admin``: JSON for the dashboard page, tests and scripts.

Every route requires the admin token (see ``dashboard.auth``). Secrets in recorded
requests are redacted unless ``?reveal=codes`` asks for the codes (never tokens or
passwords).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
from typing import Any

from aiohttp import web

from ..app import STATE
from ..faultrules import rule_from_json
from ..faults import FAULTS
from ..fleets import ENFORCED_RULES
from ..requestlog import (
    REQUEST_LOG,
    Entry,
    error_codes,
    errors_summary,
    redact,
    redact_headers,
)
from ..sessions import EXPIRED, REVOKED
from ..settings import LIMIT_FIELDS, DistributorSetting

_HEARTBEAT = 15.0
_COALESCE = 0.1  # seconds the stream waits to send requests together
_MAX_SNAPSHOTS = 20


class Snapshots(dict[str, dict[str, Any]]):
    """Snapshots of the sandbox's state by name (see ``Store.snapshot``)."""


SNAPSHOTS = web.AppKey("erm_sandbox_snapshots", Snapshots)


def _reveal(request: web.Request) -> bool:
    return request.query.get("reveal") == "codes"


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "the body must be JSON"}') from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "the body must be a JSON object"}')
    return body


def as_curl(url: str, headers: dict[str, str], body: bytes) -> str:
    """The request as a ``curl`` command line; the bearer token is left as
    ``$ERM_TOKEN``, so the command carries no secret."""
    text = json.dumps(redact(json.loads(body))) if body else "{}"
    command = f"curl -sS {shlex.quote(url)} -H 'Content-Type: application/json'"
    if any(k.lower() == "authorization" for k in headers):
        command += ' -H "Authorization: Bearer $ERM_TOKEN"'
    return f"{command} --data {shlex.quote(text)}"


def entry_detail(
    entry: Entry, url: str, reveal: bool, event: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything about one request: headers and bodies, GraphQL errors apart, the
    decision trace and the stored code event."""
    answer = entry.parsed_response()
    errors = answer.get("errors") if isinstance(answer, dict) else None
    try:
        curl = as_curl(url, entry.request_headers, entry.request_body)
    except ValueError:
        curl = None
    return {
        **entry.summary(),
        "request": {
            "headers": redact_headers(entry.request_headers),
            "body": redact(entry.parsed_request(), reveal),
        },
        "response": {
            "status": entry.status,
            "headers": redact_headers(entry.response_headers),
            "body": redact(
                {k: v for k, v in answer.items() if k != "errors"}
                if isinstance(answer, dict)
                else answer,
                reveal,
            ),
        },
        "graphqlErrors": errors or [],
        "errorCodes": error_codes(answer),
        "trace": entry.trace,
        "event": redact(event, reveal) if event is not None else None,
        "curl": curl,
    }


# -- request log ---------------------------------------------------------------------


async def list_requests(request: web.Request) -> web.Response:
    """``GET /admin/requests``: the kept requests, filtered, oldest first."""
    try:
        rows = request.app[REQUEST_LOG].rows(dict(request.query))
    except ValueError:
        return _bad("since and until must be numbers")
    return web.json_response({"requests": rows, "size": request.app[REQUEST_LOG].entries.maxlen})


async def export_requests(request: web.Request) -> web.Response:
    """``GET /admin/requests/export``: the filtered requests in full, as a JSON file."""
    log = request.app[REQUEST_LOG]
    filters = dict(request.query)
    store = request.app[STATE].store
    url = str(request.url.with_path("/graphql").with_query(None))
    try:
        wanted = {row["id"] for row in log.rows(filters)}
    except ValueError:
        return _bad("since and until must be numbers")
    details = [
        entry_detail(e, url, _reveal(request), store.event_any(e.event_id) if e.event_id else None)
        for e in log.entries
        if e.id in wanted
    ]
    return web.json_response(
        details, headers={"Content-Disposition": 'attachment; filename="erm-requests.json"'}
    )


async def get_request(request: web.Request) -> web.Response:
    """``GET /admin/requests/{id}``: one request in full."""
    try:
        entry = request.app[REQUEST_LOG].get(int(request.match_info["id"]))
    except ValueError:
        entry = None
    if entry is None:
        return _bad("no such request (the log keeps only the latest ones)", 404)
    store = request.app[STATE].store
    event = store.event_any(entry.event_id) if entry.event_id else None
    url = str(request.url.with_path("/graphql").with_query(None))
    return web.json_response(entry_detail(entry, url, _reveal(request), event))


async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /admin/stream``: server-sent events, one per new request (its summary)."""
    log = request.app[REQUEST_LOG]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = log.watch()
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                row = await asyncio.wait_for(queue.get(), _HEARTBEAT)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            # Whatever else arrives within a moment goes out in the same write: a busy
            # batch costs the server a few writes a second, not one per request.
            await asyncio.sleep(_COALESCE)
            rows = [row]
            while not queue.empty():
                rows.append(queue.get_nowait())
            await response.write("".join(f"data: {json.dumps(r)}\n\n" for r in rows).encode())
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        log.unwatch(queue)
    return response


async def lookup(request: web.Request) -> web.Response:
    """``GET /admin/lookup/{requestId}``: every request and stored event with the tag;
    ``alarm`` when the tag has more than one stored event."""
    tag = request.match_info["request_id"].lower()
    rows = request.app[REQUEST_LOG].rows({"requestId": tag})
    events = request.app[STATE].store.events_tagged(tag)
    return web.json_response(
        {
            "requestId": tag,
            "requests": rows,
            "events": redact(events, _reveal(request)),
            "alarm": len(events) > 1,
        }
    )


async def errors(request: web.Request) -> web.Response:
    """``GET /admin/errors``: failed requests grouped by error code and operation."""
    return web.json_response({"errors": errors_summary(request.app[REQUEST_LOG].entries)})


# -- items, fleets and limits ----------------------------------------------------------


async def items(request: web.Request) -> web.Response:
    """``GET /admin/items``: per item its counts, limits and next allowed code."""
    store = request.app[STATE].store
    email = request.query.get("email") or store.config.email
    distributor_id = store.distributor_id(email)
    if distributor_id is None:
        return _bad("no such distributor", 404)
    fleets = [{"index": i, **_fleet_json(f)} for i, f in enumerate(store.fleets)]
    return web.json_response(
        {
            "items": store.item_usage(distributor_id),
            "fleets": fleets,
            "setting": dataclasses.asdict(store.setting(distributor_id)),
        }
    )


def _fleet_json(fleet: Any) -> dict[str, Any]:
    data = dataclasses.asdict(fleet)
    data["disabled"] = sorted(fleet.disabled)
    return data


_EDITABLE = LIMIT_FIELDS


def _limit_changes(body: dict[str, Any], allow_disabled: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "disabled" and allow_disabled:
            if not isinstance(value, list) or not set(value) <= ENFORCED_RULES:
                raise ValueError(f"disabled is a list of {', '.join(sorted(ENFORCED_RULES))}")
            changes[key] = frozenset(value)
        elif key in _EDITABLE:
            if value is not None and not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number or null")
            changes[key] = value if key == "code_interval" or value is None else int(value)
        else:
            raise ValueError(f"not an editable limit: {str(key)[:40]}")
    return changes


async def patch_fleet(request: web.Request) -> web.Response:
    """``PATCH /admin/fleets/{index}``: change a fleet's limits and switches, live."""
    store = request.app[STATE].store
    try:
        index = int(request.match_info["index"])
        fleet = store.fleets[index]
        changed = dataclasses.replace(fleet, **_limit_changes(await _json_body(request), True))
    except IndexError:
        return _bad("no such fleet", 404)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    store.set_fleet(index, changed)
    return web.json_response({"index": index, **_fleet_json(changed)})


async def patch_setting(request: web.Request) -> web.Response:
    """``PATCH /admin/settings/{email}``: change a distributor's setting, live."""
    store = request.app[STATE].store
    distributor_id = store.distributor_id(request.match_info["email"])
    if distributor_id is None:
        return _bad("no such distributor", 404)
    try:
        changes = _limit_changes(await _json_body(request), False)
        setting: DistributorSetting = dataclasses.replace(store.setting(distributor_id), **changes)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    store.set_setting(distributor_id, setting)
    return web.json_response(dataclasses.asdict(setting))


# -- token sessions ------------------------------------------------------------------


async def sessions(request: web.Request) -> web.Response:
    """``GET /admin/sessions``: issued tokens, newest first, with their rotation chain."""
    store = request.app[STATE].store
    now = store.clock.now()
    rows = [s.to_json(now) for s in reversed(store.sessions.issued)]
    return web.json_response({"sessions": rows, "now": now})


async def end_session(request: web.Request) -> web.Response:
    """``POST /admin/sessions/{session}/expire`` or ``/revoke``: end it now (its access
    token is refused from the next request; ``revoke`` also uses up its refresh token)."""
    store = request.app[STATE].store
    how = EXPIRED if request.match_info["action"] == "expire" else REVOKED
    found = store.sessions.end(request.match_info["session"], how)
    if found is None:
        return _bad("no such session", 404)
    if how == REVOKED:
        distributor_id = store.distributor_id(found.email)
        if distributor_id is not None:
            store.use_refresh_token(found.jti, distributor_id)
    return web.json_response(found.to_json(store.clock.now()))


# -- faults ----------------------------------------------------------------------------


async def faults(request: web.Request) -> web.Response:
    """``GET /admin/faults``: the rules, the sandbox's fault spec and what fired."""
    injector = request.app[FAULTS]
    return web.json_response(
        {
            "rules": [r.to_json() for r in injector.rules],
            "spec": str(injector.spec),
            "counts": dict(injector.counts),
        }
    )


async def add_fault(request: web.Request) -> web.Response:
    """``POST /admin/faults``: add a rule ``{kind, operation, times, probability, seed}``."""
    injector = request.app[FAULTS]
    try:
        next_id = max((r.id for r in injector.rules), default=0) + 1
        rule = rule_from_json(next_id, await _json_body(request))
    except ValueError as exc:
        return _bad(str(exc))
    injector.rules.append(rule)
    return web.json_response(rule.to_json(), status=201)


async def delete_fault(request: web.Request) -> web.Response:
    """``DELETE /admin/faults/{id}``: remove a rule."""
    injector = request.app[FAULTS]
    before = len(injector.rules)
    injector.rules = [r for r in injector.rules if str(r.id) != request.match_info["id"]]
    if len(injector.rules) == before:
        return _bad("no such fault rule", 404)
    return web.json_response({"removed": request.match_info["id"]})


# -- clock, reset, snapshots ---------------------------------------------------------


async def get_clock(request: web.Request) -> web.Response:
    """``GET /admin/clock``: the sandbox's time and its offset from the wall clock."""
    clock = request.app[STATE].store.clock
    return web.json_response({"now": clock.now(), "offset": clock.offset})


async def set_clock(request: web.Request) -> web.Response:
    """``POST /admin/clock``: ``{"advance": SECONDS}`` or ``{"reset": true}``."""
    clock = request.app[STATE].store.clock
    body = await _json_body(request)
    if body.get("reset") is True:
        clock.reset()
    else:
        seconds = body.get("advance")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            return _bad('expected {"advance": SECONDS} or {"reset": true}')
        try:
            clock.advance(float(seconds))
        except ValueError as exc:
            return _bad(str(exc))
    return web.json_response({"now": clock.now(), "offset": clock.offset})


async def reset(request: web.Request) -> web.Response:
    """``POST /admin/reset``: no code events, tokens, fault rules or logged requests;
    the configured limits; wall-clock time."""
    app = request.app
    app[STATE].store.reset()
    app[REQUEST_LOG].clear()
    injector = app[FAULTS]
    injector.rules.clear()
    injector.counts.clear()
    injector.log.clear()
    return web.json_response({"reset": True, "counts": app[STATE].store.counts()})


async def take_snapshot(request: web.Request) -> web.Response:
    """``POST /admin/snapshots`` ``{"name": ...}``: keep the state under a name."""
    body = await _json_body(request)
    name = str(body.get("name") or "snapshot")[:60]
    snapshots = request.app[SNAPSHOTS]
    if name not in snapshots and len(snapshots) >= _MAX_SNAPSHOTS:
        return _bad(f"at most {_MAX_SNAPSHOTS} snapshots; restore or reset first", 409)
    snapshots[name] = request.app[STATE].store.snapshot()
    return web.json_response({"name": name, "snapshots": sorted(snapshots)}, status=201)


async def list_snapshots(request: web.Request) -> web.Response:
    """``GET /admin/snapshots``: the names kept."""
    names = list(request.app[SNAPSHOTS].keys())
    return web.json_response({"snapshots": sorted(names)})


async def restore_snapshot(request: web.Request) -> web.Response:
    """``POST /admin/snapshots/{name}/restore``: put that state back."""
    snapshot = request.app[SNAPSHOTS].get(request.match_info["name"])
    if snapshot is None:
        return _bad("no such snapshot", 404)
    store = request.app[STATE].store
    store.restore(snapshot)
    return web.json_response({"restored": request.match_info["name"], "counts": store.counts()})


def add_routes(app: web.Application) -> None:
    """Register the admin API on ``app``."""
    app[SNAPSHOTS] = Snapshots()
    r = app.router
    r.add_get("/admin/requests", list_requests)
    r.add_get("/admin/requests/export", export_requests)
    r.add_get("/admin/requests/{id}", get_request)
    r.add_get("/admin/stream", stream)
    r.add_get("/admin/lookup/{request_id}", lookup)
    r.add_get("/admin/errors", errors)
    r.add_get("/admin/items", items)
    r.add_patch("/admin/fleets/{index}", patch_fleet)
    r.add_patch("/admin/settings/{email}", patch_setting)
    r.add_get("/admin/sessions", sessions)
    r.add_post("/admin/sessions/{session}/{action:expire|revoke}", end_session)
    r.add_get("/admin/faults", faults)
    r.add_post("/admin/faults", add_fault)
    r.add_delete("/admin/faults/{id}", delete_fault)
    r.add_get("/admin/clock", get_clock)
    r.add_post("/admin/clock", set_clock)
    r.add_post("/admin/reset", reset)
    r.add_get("/admin/snapshots", list_snapshots)
    r.add_post("/admin/snapshots", take_snapshot)
    r.add_post("/admin/snapshots/{name}/restore", restore_snapshot)
