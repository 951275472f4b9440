"""The aiohttp transport under the generated client.

One ``aiohttp.ClientSession`` per transport, opened on first use and reused for the
transport's lifetime (connection pooling). Each call may carry its own headers and
timeout. Typed calls validate the raw response bytes straight into the result model in
one pass (``model_validate_json`` on an envelope model), instead of decoding JSON into
dicts and then validating the dicts; the slow path below only runs for error responses.

Redirects are never followed: a 3xx is a ``RedirectError`` naming the new location, so
that no body (least of all a password) reaches any origin but the configured one.
Proxies are taken from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` as in requests and
httpx (with aiohttp's own ``get_env_proxy_for_url``); an explicit ``proxy=`` overrides
them. The transport posts to one URL only, so its proxy is resolved once per session.

Nothing here retries: every call goes through the ``Pipeline`` (``_pipeline``), which
knows the operation's type and owns the one retry loop.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import datetime
import email.utils
import json
import logging
import math
import re
import ssl as ssl_module
import time
import zlib
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar, cast

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from pydantic import BaseModel, ValidationError, create_model
from yarl import URL

from ._constants import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    USER_AGENT,
)
from ._logging import get_logger, register_secret
from ._operations import token_role
from ._pipeline import MUTATION, QUERY, Pipeline, deadline_var
from ._recording import Recorder
from .errors import (
    ClientClosedError,
    ErmError,
    ErmTimeoutError,
    HttpStatusError,
    InvalidResponseError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedShapeError,
    error_from_graphql,
)

log = get_logger("omnivoltaic_erm.transport")

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

# The transport decodes bodies itself (see ``_Decoder``), so it asks only for what it can.
_JSON_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
}
_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class RawResponse:
    """An HTTP answer as received: status, headers and the undecoded body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def _is_unset(value: object) -> bool:
    # The generated package marks omitted optional arguments with its own UNSET
    # sentinel; importing that class here would import the generated package from
    # inside its own base class, so it is recognised by name.
    return type(value).__name__ == "UnsetType"


def encode_request(
    query: str, operation_name: str | None, variables: Mapping[str, Any] | None
) -> bytes:
    """Serialise a GraphQL request body; values travel only as variables."""
    clean = {k: v for k, v in (variables or {}).items() if not _is_unset(v)}
    payload = {"query": query, "operationName": operation_name, "variables": clean}
    return json.dumps(payload, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


_envelopes: dict[type[BaseModel], type[BaseModel]] = {}


def envelope_for(result_type: type[T]) -> type[BaseModel]:
    """The ``{data, errors}`` model around ``result_type``, built once per type."""
    env = _envelopes.get(result_type)
    if env is None:
        env = create_model(
            f"{result_type.__name__}Envelope",
            data=(cast(Any, result_type | None), None),
            errors=(list[Any] | None, None),
        )
        _envelopes[result_type] = env
    return env


_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _excerpt(body: bytes) -> str:
    """A short, one-line hint of a body: an HTML page's title, else its first bytes."""
    title = _TITLE.search(body[:4096])
    text = (title.group(1) if title else body[:_EXCERPT]).decode("utf-8", errors="replace")
    return " ".join(text.split())[:_EXCERPT]


def retry_after_of(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: a number, or an HTTP date (pure but
    for ``now``). Infinite stays infinite (the retry policy refuses it); unreadable is
    None."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - now()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


# Headers in which servers and gateways commonly return their own id of a request. The
# real API's are not documented: the first of these present is kept.
_REQUEST_ID_HEADERS = (
    "X-Request-Id",
    "X-Amzn-RequestId",
    "X-Amzn-Trace-Id",
    "X-Correlation-Id",
    "CF-Ray",
)


def server_request_id(headers: Mapping[str, str]) -> str | None:
    """The server's or gateway's id of the request, from the first such header present."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value.strip()[:200]
    return None


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ErmError:
    """Classify a response that did not validate as a successful result (pure); the
    error carries the HTTP status and the server's request id."""
    error = _classify(status, headers, body)
    error.http_status = status
    error.server_request_id = server_request_id(headers)
    return error


def _classify(status: int, headers: Mapping[str, str], body: bytes) -> ErmError:
    if 300 <= status < 400:
        return RedirectError(status, headers.get("Location"))
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("errors"), list) and decoded["errors"]:
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in decoded["errors"]]
        return error_from_graphql(errors, decoded.get("data"), status)
    if status == 429:
        return RateLimitError(
            "HTTP 429: too many requests", retry_after=retry_after_of(headers.get("Retry-After"))
        )
    if status >= 500:
        return ServerError(status, _excerpt(body))
    if not 200 <= status < 300:
        return HttpStatusError(status, _excerpt(body))
    if decoded is None:
        what = "an empty body" if not body else f"a body that is not JSON ({_excerpt(body)!r})"
        return InvalidResponseError(f"the ERM API returned {what}")
    if not isinstance(decoded, dict) or ("data" not in decoded and "errors" not in decoded):
        return InvalidResponseError("the ERM API returned JSON with neither 'data' nor 'errors'")
    if decoded.get("data") is None:
        return InvalidResponseError("the ERM API returned no data and no errors")
    return UnexpectedShapeError("the ERM API returned data of an unexpected shape")


def parse_result(result_type: type[T], status: int, headers: Mapping[str, str], body: bytes) -> T:
    """Validate a response body into ``result_type``, or raise the typed error for it."""
    if 200 <= status < 300:
        try:
            envelope = envelope_for(result_type).model_validate_json(body)
        except ValidationError as exc:
            err = error_from_response(status, headers, body)
            if isinstance(err, UnexpectedShapeError):
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                err = UnexpectedShapeError(
                    f"the ERM API returned data of an unexpected shape at {where}: {first['msg']}"
                )
            raise err from None
        data = getattr(envelope, "data", None)
        if not getattr(envelope, "errors", None) and data is not None:
            return cast(T, data)
    raise error_from_response(status, headers, body)


def basic_credentials(user: str, password: str) -> str:
    """A ``Basic`` credentials value (RFC 7617, UTF-8) for ``Proxy-Authorization``
    (pure): what ``aiohttp.BasicAuth`` encoded, which aiohttp now deprecates."""
    if ":" in user:
        raise ValueError('a proxy user name cannot hold ":" (RFC 7617, section 2)')
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def proxy_refusal(status: int, reason: str) -> str:
    """What to say when the proxy answers a tunnel request with ``status`` (pure)."""
    said = f"the proxy refused the connection: HTTP {status} {reason}".rstrip()
    if status == 407:
        return f"{said}; check the proxy's user name and password (in the proxy URL)"
    return said


def split_proxy_credentials(
    proxy: URL, auth: aiohttp.BasicAuth | None
) -> tuple[str, str | None, str | None]:
    """The proxy URL without credentials, the ``Proxy-Authorization`` value for them and
    their password (to redact), from a proxy URL and the credentials aiohttp found for it
    (pure). Credentials in the URL (``http://user:pw@proxy:3128``) win; left in the URL,
    some aiohttp versions do not send them."""
    if proxy.user is not None:
        password = proxy.password or ""
        return str(proxy.with_user(None)), basic_credentials(proxy.user, password), password
    if auth is not None:
        return str(proxy), auth.encode(), auth.password
    return str(proxy), None, None


# In a forked child: the parent's sessions, kept unclosed and unused (``forget_session``).
_ABANDONED: list[object] = []


class _Decoder:
    """Decodes a body as it streams, counting the *decoded* bytes against a cap.

    aiohttp's own decompression is off for the transport's session: a size cap checked on
    the compressed length lets a small gzip body (a "bomb") expand past it, and older
    aiohttp versions decompress a whole chunk at once. Here each chunk is inflated at most
    ``cap + 1`` bytes at a time, so memory stays near the cap whatever the ratio.
    """

    def __init__(self, encoding: str, cap: int) -> None:
        self.encoding = encoding
        self.cap = cap
        self.size = 0
        self.parts: list[bytes] = []
        self._inflate: Any = None  # zlib.Decompress, chosen on the first bytes

    def feed(self, chunk: bytes) -> None:
        if self.encoding in ("", "identity"):
            self._add(chunk)
            return
        if self._inflate is None:
            self._inflate = zlib.decompressobj(self._wbits(chunk))
        data = chunk
        while data:
            try:
                piece = self._inflate.decompress(data, self.cap + 1 - self.size)
            except zlib.error as exc:
                raise InvalidResponseError(
                    f"the response body is not valid {self.encoding} ({exc})"
                ) from None
            self._add(piece)
            data = self._inflate.unconsumed_tail

    def _wbits(self, first: bytes) -> int:
        if self.encoding in ("gzip", "x-gzip"):
            return 16 + zlib.MAX_WBITS
        # "deflate" is zlib-wrapped by the standard, raw by some servers.
        wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS

    def _add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.cap:
            raise ResponseTooLargeError(
                f"the response body exceeds the {self.cap}-byte cap"
                + (
                    f" once decoded ({self.encoding})"
                    if self.encoding not in ("", "identity")
                    else ""
                )
            )
        self.parts.append(piece)

    def body(self) -> bytes:
        return b"".join(self.parts)


class _Wire:
    """Per request: whether its headers were handed to a connection (aiohttp's
    ``on_request_headers_sent``). Until then the server cannot have seen the request, so a
    failure is ``sent=False`` whatever its type (a connect timeout, a total timeout while
    queued for a pooled connection, a refused connection)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


async def _on_headers_sent(
    _session: aiohttp.ClientSession, context: Any, _params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    wire = context.trace_request_ctx
    if isinstance(wire, _Wire):
        wire.sent = True


def _wire_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_headers_sent)
    return trace


class GraphQLTransport:
    """GraphQL over HTTP POST with aiohttp, as the generated client's base class.

    ``url`` is the GraphQL endpoint. ``headers`` go with every request; per-call headers
    (``headers=`` on any generated method) are added on top. ``timeout`` bounds a whole
    request in seconds; ``max_response_bytes`` caps a response body. ``proxy`` overrides
    the proxy environment variables. ``pipeline`` applies the token, retries and tracing
    to every operation; without one, each call is sent once, as given. ``recorder``, when
    given, keeps a redacted recording of every answer (``_recording``).
    """

    def __init__(
        self,
        url: str = "",
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ssl: bool | ssl_module.SSLContext = True,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        session: aiohttp.ClientSession | None = None,
        proxy: str | None = None,
        pipeline: Pipeline | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.url = url
        # Writes a redacted recording of each answered attempt (None: off).
        self.recorder = recorder
        self.proxy = proxy or None
        self.pipeline = pipeline if pipeline is not None else Pipeline()
        self.headers: dict[str, str] = {**_JSON_HEADERS, "User-Agent": USER_AGENT}
        self.headers.update(headers or {})
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_response_bytes = max_response_bytes
        self._ssl = ssl
        self._connection_limit = connection_limit
        self._session = session
        self._owns_session = session is None
        # Sent on the CONNECT of an https request through the proxy.
        self._proxy_headers: dict[str, str] | None = None
        self._route: str | None = None
        self._client_timeout: aiohttp.ClientTimeout | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The open session, if any (for inspection: connection counts in tests)."""
        return self._session

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError(f"{type(self).__name__} is closed; make a new client")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, trace_configs=[_wire_trace()], auto_decompress=False
            )
            self._owns_session = True
            self._route = None
        if self._route is None:
            self._route, authorization, password = self._resolve_proxy()
            self._proxy_headers = None
            if authorization is not None:
                register_secret(password)
                register_secret(authorization)
                if URL(self.url).scheme == "http":
                    # A plain-http request goes to the proxy whole, so its credentials
                    # travel as a header of it (aiohttp 3.11 and 3.12, given
                    # ``proxy_auth``, sent them on a sign-in but not on what followed).
                    self.headers["Proxy-Authorization"] = authorization
                else:
                    self._proxy_headers = {"Proxy-Authorization": authorization}
        return self._session

    def _resolve_proxy(self) -> tuple[str, str | None, str | None]:
        """The proxy for ``url`` ("" for none): explicit, else from the environment.

        Resolved once, not per request: aiohttp's ``trust_env`` reads the environment
        (and ~/.netrc) in a worker thread on every request, which cost more CPU than the
        rest of the call, and a netrc entry for the host would clash with our bearer
        header. The rules are aiohttp's own (``get_env_proxy_for_url``).
        """
        if self.proxy:
            return split_proxy_credentials(URL(self.proxy), None)
        try:
            proxy, auth = get_env_proxy_for_url(URL(self.url))
        except LookupError:
            return "", None, None
        return split_proxy_credentials(proxy, auth)

    async def close(self) -> None:
        """Close the session and its pooled connections; the transport then refuses to
        send (``ClientClosedError``)."""
        self._closed = True
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
        self._session = None

    def forget_session(self) -> None:
        """Drop the session without closing it: in a forked child, its connections are
        the parent's (closing them here would close the parent's), and its loop is gone.
        The next request opens a new one."""
        if self._owns_session:
            # Kept, never closed or collected: closing its connections here would remove
            # the parent's sockets from the polling object both processes share.
            _ABANDONED.append(self._session)
            self._session = None
            self._route = None
        self.pipeline.reset()

    @staticmethod
    def _sent(wire: _Wire, session: aiohttp.ClientSession) -> bool:
        # A session given by the caller may not carry our trace: then assume sent.
        return wire.sent or not any(
            _on_headers_sent in t.on_request_headers_sent for t in session.trace_configs
        )

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        cap = self.max_response_bytes
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if self._session is not None and self._session.auto_decompress:
            encoding = ""  # a session given by the caller has decoded it already
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise InvalidResponseError(
                f"the response body is encoded as {encoding[:40]!r}, which the client did not "
                "ask for"
            )
        length = response.content_length
        if encoding in ("", "identity") and length is not None:
            # Its length is its decoded length: checked at once, then read in one piece.
            if length > cap:
                raise ResponseTooLargeError(
                    f"the response body ({length} bytes) exceeds the {cap}-byte cap"
                )
            return await response.read()
        decoder = _Decoder(encoding, cap)
        async for chunk in response.content.iter_any():
            decoder.feed(chunk)
        return decoder.body()

    async def post(
        self,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        """Send one GraphQL request and return the raw answer; raise on transport failure."""
        body = encode_request(query, operation_name, variables)
        return await self._post_body(body, operation_name, headers=headers, timeout=timeout)

    async def _post_body(
        self,
        body: bytes,
        operation_name: str | None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        all_headers = {**self.headers, **headers} if headers else self.headers
        total = self.timeout if timeout is None else timeout
        deadline = deadline_var.get()
        within = f"within {total:g} s"
        if deadline is not None:
            # Each attempt ends by the operation's deadline.
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise ErmTimeoutError(
                    f"{operation_name or 'request'}: the call's time ran out before this attempt",
                    sent=False,
                )
            if left < total - 0.01:  # cut short (not by the moments since the call began)
                total, within = left, "before the call's time ran out"
        client_timeout = self._client_timeout
        if client_timeout is None or client_timeout.total != total:
            client_timeout = aiohttp.ClientTimeout(
                total=total, sock_connect=min(self.connect_timeout, total)
            )
            if timeout is None:
                self._client_timeout = client_timeout
        session = self._get_session()
        started = time.perf_counter()
        wire = _Wire()
        try:
            async with session.post(
                self.url,
                data=body,
                headers=all_headers,
                timeout=client_timeout,
                allow_redirects=False,
                proxy=self._route or None,
                proxy_headers=self._proxy_headers,
                trace_request_ctx=wire,
            ) as response:
                raw = RawResponse(
                    response.status, response.headers, await self._read_body(response)
                )
        except aiohttp.ConnectionTimeoutError as exc:
            raise ErmTimeoutError(
                f"{operation_name or 'request'}: cannot connect to {self.url} within "
                f"{client_timeout.sock_connect or total:g} s",
                sent=False,
            ) from exc
        except (builtins.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ErmTimeoutError(
                f"{operation_name or 'request'}: no complete answer {within}",
                sent=self._sent(wire, session),
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise TransportError(
                f"{operation_name or 'request'}: TLS with {self.url} failed ({exc}); check the "
                "server certificate",
                sent=False,
                retryable=False,
            ) from exc
        except aiohttp.ClientHttpProxyError as exc:
            # The proxy refused the tunnel: nothing reached the server.
            raise TransportError(
                f"{operation_name or 'request'}: {proxy_refusal(exc.status, exc.message)}",
                sent=False,
                retryable=exc.status >= 500,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                f"{operation_name or 'request'}: cannot connect to {self.url} ({exc.os_error})",
                sent=False,
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{operation_name or 'request'}: connection failed ({type(exc).__name__})",
                sent=self._sent(wire, session),
            ) from exc
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s -> HTTP %s in %.1f ms",
                operation_name,
                raw.status,
                (time.perf_counter() - started) * 1000,
            )
        return raw

    async def _exchange(
        self,
        body: bytes,
        operation_name: str,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> RawResponse:
        """One attempt, recorded (redacted) when a recorder is set and draws it."""
        recorder = self.recorder
        if recorder is None or not recorder.wanted():
            return await self._post_body(body, operation_name, headers=headers, timeout=timeout)
        started, clock = time.time(), time.perf_counter()
        raw = await self._post_body(body, operation_name, headers=headers, timeout=timeout)
        sent = json.loads(body)  # what went on the wire: variables as serialised
        recorder.record(
            operation=operation_name,
            document=sent["query"],
            variables=sent.get("variables"),
            status=raw.status,
            body=raw.body,
            started=started,
            elapsed=time.perf_counter() - clock,
        )
        return raw

    async def execute(
        self,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        """Send a hand-written document through the pipeline; decode with ``get_data``.

        Its type is not known here, so it is treated as a mutation: authenticated and
        traced, never sent twice. Generated operations use ``execute_typed``.
        """
        body = encode_request(query, operation_name, variables)

        async def send(call_headers: Mapping[str, str] | None) -> RawResponse:
            return await self._exchange(body, operation_name or "", call_headers, timeout)

        role = token_role(query, operation_name)
        return await self.pipeline.run(operation_name or "", MUTATION, send, headers, role)

    def get_data(self, response: RawResponse) -> dict[str, Any]:
        """Decode a response's ``data``, or raise the typed error for it."""
        if 200 <= response.status < 300:
            try:
                decoded = json.loads(response.body)
            except ValueError:
                decoded = None
            if (
                isinstance(decoded, dict)
                and not decoded.get("errors")
                and isinstance(decoded.get("data"), dict)
            ):
                return cast(dict[str, Any], decoded["data"])
        raise error_from_response(response.status, response.headers, response.body)

    async def execute_typed(
        self,
        query: str,
        operation_name: str,
        variables: dict[str, Any],
        result_type: type[T],
        operation_type: str = QUERY,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> T:
        """Run one operation through the pipeline; validate the raw body in one pass.

        Every generated method calls this, with the operation's type written in at
        generation time.
        """
        body = encode_request(query, operation_name, variables)

        async def send(call_headers: Mapping[str, str] | None) -> T:
            raw = await self._exchange(body, operation_name, call_headers, timeout)
            return parse_result(result_type, raw.status, raw.headers, raw.body)

        role = token_role(query, operation_name)
        return await self.pipeline.run(operation_name, operation_type, send, headers, role)


class Runner(Protocol):
    """Runs a coroutine to completion from synchronous code (an event loop on a thread)."""

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` and return its result, or raise its exception."""
        ...


class SyncTransport:
    """Base of the generated ``SyncClient``: runs the asynchronous client's operations.

    Each generated synchronous method calls ``_call(Client.<method>, **arguments)``, so
    the one pipeline of the asynchronous client serves both faces.
    """

    def __init__(self, client: GraphQLTransport, runner: Runner) -> None:
        self._client = client
        self._runner = runner

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._client.url!r})"

    def _call(self, method: Callable[..., Coroutine[Any, Any, R]], /, **kwargs: Any) -> R:
        return self._runner.run(method(self._client, **kwargs))
