"""The sandbox's aiohttp application: ``POST /graphql`` and a short ``GET /graphql`` page.

HTTP status follows the real Apollo gateway: 200 for every executed operation, GraphQL
errors included; 400 with a JSON ``errors`` body when the request cannot be executed at
all (not JSON, no query, a syntax error, a validation error, bad variables). An
exception nobody expected becomes an ``INTERNAL_SERVER_ERROR`` GraphQL error, and its
traceback goes to the ``omnivoltaic_erm.sandbox`` logger at ERROR; bad input never
produces a 500. Introspection is on.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from ariadne import graphql, make_executable_schema
from graphql import GraphQLEnumType, GraphQLError, GraphQLSchema

from ..errors import CODE_BAD_USER_INPUT, CODE_INTERNAL
from .config import SandboxConfig
from .defaults import default_schema_text
from .errors import CURRENT, ApiError, error_extensions, internal, not_served, shorten
from .faults import FAULTS, FaultInjector, fault_middleware
from .replay import REPLAY, ReplaySet, handle_replay
from .resolvers import BINDABLES, RequestContext
from .store import Store

log = logging.getLogger("omnivoltaic_erm.sandbox")

_MAX_MESSAGE = 300
_MAX_BODY = 8 * 1024 * 1024

_INFO_PAGE = """ERM sandbox: a local stand-in for the Omnivoltaic ERM GraphQL API.

POST GraphQL requests here as JSON: {"query": "...", "variables": {...}}.
Sign in with signInUser or signInClient, then send Authorization: Bearer <accessToken>.
Introspection is on.
"""


def build_schema(config: SandboxConfig) -> GraphQLSchema:
    """The executable schema: ``config.schema_path`` or the project schema."""
    sdl = (
        config.schema_path.read_text(encoding="utf-8")
        if config.schema_path is not None
        else default_schema_text()
    )
    schema = make_executable_schema(sdl, *BINDABLES)
    _fix_enum_parse_value(schema)
    _refuse_unserved_root_fields(schema)
    return schema


def _refuse_unserved_root_fields(schema: GraphQLSchema) -> None:
    # The sandbox serves the whole printed schema of the real API, so that real documents
    # validate; a root field it does not implement answers an error naming the field,
    # never a silent null (or a 500 for a non-null one).
    for root in (schema.query_type, schema.mutation_type):
        if root is None:
            continue
        for name, field in root.fields.items():
            if field.resolve is None:
                field.resolve = _unserved(f"{root.name}.{name}")


def _unserved(coordinate: str) -> Any:
    def resolve(*_: Any, **__: Any) -> Any:
        raise not_served(coordinate)

    return resolve


def _fix_enum_parse_value(schema: GraphQLSchema) -> None:
    # ariadne 1.1 replaces each enum's parse_value with a one-argument function, but
    # graphql-core 3.2.14 calls it with a second argument (hide_suggestions), so every
    # enum variable ($queryorder: QueryOrder!) failed. Accept and drop the extra one.
    for named in schema.type_map.values():
        if isinstance(named, GraphQLEnumType) and "parse_value" in vars(named):
            patched = vars(named)["parse_value"]

            def parse_value(value: Any, *_: Any, _patched: Any = patched, **__: Any) -> Any:
                return _patched(value)

            named.parse_value = parse_value  # type: ignore[method-assign,assignment]


@dataclass
class SandboxState:
    """What the request handlers share."""

    config: SandboxConfig
    store: Store
    schema: GraphQLSchema


STATE = web.AppKey("erm_sandbox_state", SandboxState)


class _ErrorLog(logging.LoggerAdapter[logging.Logger]):
    """Receives every error ariadne reports; only unexpected ones are logged as errors."""

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        original = getattr(error, "original_error", None)
        if original is not None and not isinstance(original, GraphQLError):
            self.logger.error(
                "unhandled %s in a resolver", type(original).__name__, exc_info=original
            )
        else:
            self.logger.debug("GraphQL error: %s", shorten(str(msg), _MAX_MESSAGE))

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


_ERROR_LOG = _ErrorLog(log, {})


def format_error(
    error: GraphQLError, debug: bool = False, *, shape: str = CURRENT
) -> dict[str, Any]:
    """An error as JSON: unexpected exceptions are masked, long messages shortened, and
    the sandbox's own errors shaped as the chosen generation of the real server's."""
    original = error.original_error
    api_error: ApiError | None = None
    if isinstance(original, ApiError):
        api_error = original
    elif original is not None and not isinstance(original, GraphQLError):
        api_error = internal()
    elif isinstance(error, ApiError):
        api_error = error
    formatted = dict(error.formatted)
    if api_error is not None:
        formatted["message"] = api_error.message
        formatted["extensions"] = error_extensions(api_error, shape)
    formatted["message"] = shorten(str(formatted["message"]), _MAX_MESSAGE)
    return formatted


def _request_error_code(error: dict[str, Any], executed: bool) -> str:
    if executed:
        return CODE_BAD_USER_INPUT  # variables that do not fit their types
    if str(error.get("message", "")).startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def _bad_request(message: str) -> web.Response:
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    return web.json_response(body, status=400)


def _parse_body(raw: bytes) -> dict[str, Any] | str:
    """The request as a dict, or a message saying why it is not a GraphQL request."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "The request body is not valid JSON"
    if not isinstance(data, dict):
        return "The request body must be a JSON object (batched requests are not supported)"
    if not isinstance(data.get("query"), str) or not data["query"].strip():
        return "The request has no GraphQL query"
    if data.get("variables") is not None and not isinstance(data["variables"], dict):
        return "variables must be a JSON object"
    if data.get("operationName") is not None and not isinstance(data["operationName"], str):
        return "operationName must be a string"
    return data


async def handle_graphql(request: web.Request) -> web.Response:
    """Execute one GraphQL request."""
    state = request.app[STATE]
    started = time.monotonic()
    data = _parse_body(await request.read())
    if isinstance(data, str):
        return _bad_request(data)
    context = RequestContext(state.store, request.headers.get("Authorization"))
    try:
        _, result = await graphql(
            state.schema,
            data,
            context_value=context,
            introspection=True,
            logger=_ERROR_LOG,
            error_formatter=functools.partial(format_error, shape=state.config.error_shape),
        )
    except Exception:  # a bug outside any resolver: not the client's fault
        log.exception("unhandled error executing a request")
        failure = format_error(internal(), shape=state.config.error_shape)
        return web.json_response({"data": None, "errors": [failure]}, status=500)
    status = 200
    errors: list[dict[str, Any]] = result.get("errors") or []
    executed = "data" in result
    if not executed or (result["data"] is None and all("path" not in e for e in errors)):
        status = 400
        for error in errors:
            error.setdefault("extensions", {}).setdefault(
                "code", _request_error_code(error, executed)
            )
    else:
        for error in errors:  # e.g. a non-null field that resolved to null
            error.setdefault("extensions", {}).setdefault("code", CODE_INTERNAL)
    log.debug(
        "%s %s -> %d%s in %.1f ms",
        request.method,
        shorten(str(data.get("operationName") or "(anonymous)"), 64),
        status,
        f" ({len(errors)} errors)" if errors else "",
        (time.monotonic() - started) * 1000,
    )
    return web.json_response(result, status=status)


async def handle_info(request: web.Request) -> web.Response:
    """A short plain-text page for a browser that opens the endpoint."""
    return web.Response(text=_INFO_PAGE)


def create_app(config: SandboxConfig | None = None) -> web.Application:
    """The sandbox application for ``config`` (defaults: the handbook's rules).

    Without ``config.db_path`` the state lives in a temporary directory that is removed
    when the application is cleaned up.
    """
    config = config or SandboxConfig()
    schema = build_schema(config)
    tmpdir: str | None = None
    db_path = config.db_path
    if db_path is None:
        tmpdir = tempfile.mkdtemp(prefix="erm-sandbox-")
        db_path = Path(tmpdir) / "sandbox.sqlite3"
    store = Store(db_path, config)

    app = web.Application(middlewares=[fault_middleware], client_max_size=_MAX_BODY)
    app[STATE] = SandboxState(config=config, store=store, schema=schema)
    app[FAULTS] = FaultInjector(config.faults, config.seed)
    app[FAULTS].error_shape = config.error_shape
    if config.dashboard:
        # Imported here: the dashboard reads this module's STATE.
        from .dashboard import setup_dashboard

        setup_dashboard(app, config)
    if config.replay is not None:
        app[REPLAY] = ReplaySet(config.replay)
        app.router.add_post("/graphql", handle_replay)
    else:
        app.router.add_post("/graphql", handle_graphql)
    app.router.add_get("/graphql", handle_info)

    async def cleanup(_: web.Application) -> None:
        store.close()
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)

    app.on_cleanup.append(cleanup)
    return app
