"""Serving a recording set: a user's own recorded traffic as a test fixture.

``erm sandbox --replay DIR`` (``replay=`` on ``Sandbox``) answers each request from the
recordings in DIR (see ``omnivoltaic_erm._recording``) instead of from its own rules:
the recording whose operation name and canonical variables match. Incoming variables are
redacted with the set's own key first, so a password or a token matches the placeholder
it was recorded as. Several recordings of one request are answered in the order they
were recorded, the last one again after that; a request no recording matches gets a
GraphQL error ``NOT_RECORDED`` naming the operation.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiohttp import web

from .._recording import KEY_FILE, Redactor, read_key
from .._request_ids import untag_description
from ..contracts import load, recordings

log = logging.getLogger("omnivoltaic_erm.sandbox")
NOT_RECORDED = "NOT_RECORDED"


def canonical(operation: str, variables: Any) -> str:
    """The key two requests share when they are the same request (pure): the operation
    and its variables, keys sorted, a description without the client's request tag
    (a new one on every code request)."""
    values = dict(variables or {}) if isinstance(variables, dict) else variables or {}
    if isinstance(values, dict) and isinstance(values.get("description"), str):
        values["description"] = untag_description(values["description"]) or None
    return json.dumps([operation, values], sort_keys=True, separators=(",", ":"))


class ReplaySet:
    """The recordings of one directory, by request."""

    def __init__(self, directory: Path) -> None:
        try:
            self.redactor = Redactor(read_key(directory))
        except FileNotFoundError:
            raise ValueError(f"{directory} is not a recording set: it has no {KEY_FILE}") from None
        self.answers: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        self._served: dict[str, int] = defaultdict(int)
        for path in recordings(directory):
            try:
                entry = load(path)
            except ValueError:
                log.warning("replay: %s is not a recording; skipped", path.name)
                continue
            key = canonical(str(entry["operation"]), entry.get("variables"))
            self.answers[key].append((int(entry.get("status") or 200), entry.get("answer")))

    def __len__(self) -> int:
        return sum(len(v) for v in self.answers.values())

    def answer(self, operation: str, variables: Any) -> tuple[int, Any] | None:
        """The next recorded answer to this request, or None."""
        key = canonical(operation, self.redactor.redact(variables or {}))
        found = self.answers.get(key)
        if not found:
            return None
        index = min(self._served[key], len(found) - 1)
        self._served[key] += 1
        return found[index]


REPLAY = web.AppKey("erm_sandbox_replay", ReplaySet)


async def handle_replay(request: web.Request) -> web.Response:
    """Answer one GraphQL request from the recording set."""
    replay = request.app[REPLAY]
    try:
        body = json.loads(await request.read())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return web.json_response({"errors": [{"message": "not a GraphQL request"}]}, status=400)
    operation = str(body.get("operationName") or "")
    found = replay.answer(operation, body.get("variables"))
    if found is None:
        error = {
            "message": f"no recording of {operation or 'this request'} with these variables",
            "extensions": {"code": NOT_RECORDED},
        }
        return web.json_response({"data": None, "errors": [error]})
    status, answer = found
    if answer is None:
        return web.Response(status=status, text="recorded without a JSON body")
    return web.json_response(answer, status=status)
