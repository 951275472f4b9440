"""Running a command: building the client, and turning errors into one line and an exit code.

Exit codes: 0 success, 1 an operation failed, 2 a usage error (bad arguments, missing
or unsafe settings). An error is printed as one line, ``error: <what happened>; <what to
do>``, with a traceback only under ``--debug``. Every line that leaves here is passed
through the package's redaction of registered secrets (the password and tokens), as a
second layer behind messages that never hold them in the first place.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import _constants as c
from .._logging import redact
from ..errors import (
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
    PermissionDeniedError,
    RateLimitError,
    SignInRequiredError,
    TransportError,
)
from ..journal import JournalMismatchError
from ._app import Settings
from ._failure import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Failure

if TYPE_CHECKING:
    from pathlib import Path

    from .._auth import TokenCache
    from ..client import AsyncErmClient

T = TypeVar("T")

# A cached token is used without a password only if it stays valid this much longer
# than the client's own refresh margin, so that a command does not outlive it.
_CACHED_TOKEN_HEADROOM = 120.0


# An HTTP status that says the URL names no GraphQL endpoint: the request was not run.
_NOT_AN_ENDPOINT = (404, 405)


def describe(
    exc: BaseException, *, issuing: bool = False, item: str | None = None
) -> tuple[int, str]:
    """The exit code and one-line message for ``exc`` (pure).

    ``issuing`` is True for a code request, whose outcome may be unknown after a
    transport failure: the message then says to check the history before trying again.
    ``item`` is the item id the command was given: an unknown item is named as given.
    """
    from ..batch import not_found

    msg = exc.message if isinstance(exc, ErmError) else str(exc)
    if isinstance(exc, ConfigurationError | JournalMismatchError):
        return EXIT_USAGE, msg
    if isinstance(exc, InvalidInputError):
        if not issuing or "nothing was sent" in msg:
            return EXIT_USAGE, msg
        return EXIT_USAGE, f"{msg}; nothing was issued"
    if isinstance(exc, SignInRequiredError):
        # The command ran on the token cached by `erm login`, with no password.
        return EXIT_FAILED, (
            "the token cached by `erm login` was refused or has expired: run `erm login` "
            f"again, or set {c.ENV_PASSWORD}"
        )
    if isinstance(exc, AuthenticationError):
        return EXIT_FAILED, (
            f"sign-in refused ({msg}): check --email / {c.ENV_EMAIL} and {c.ENV_PASSWORD}"
        )
    if isinstance(exc, NotFoundError):
        # The server's wording and the client's differ: one wording, the id as given.
        what = not_found(item) if item is not None else msg
        return EXIT_FAILED, f"{what}; list the items you can use with `erm items --search ...`"
    if isinstance(exc, PermissionDeniedError):
        return EXIT_FAILED, f"permission denied ({msg}): this account may not do that"
    if isinstance(exc, CodeLimitError):
        return EXIT_FAILED, msg
    if isinstance(exc, RateLimitError):
        wait = f"; try again in {exc.retry_after:.0f} s" if exc.retry_after else "; try again later"
        return EXIT_FAILED, f"the server refused: {msg}{wait}"
    if isinstance(exc, HttpStatusError) and exc.status in _NOT_AN_ENDPOINT:
        return EXIT_FAILED, (
            f"{msg}: no ERM API at that address; check --url / {c.ENV_URL} (the GraphQL "
            "endpoint, as http(s)://HOST:PORT/graphql); nothing was run"
        )
    if isinstance(exc, TransportError) and not exc.sent:
        return EXIT_FAILED, (
            f"{msg}: check --url / {c.ENV_URL} and that the server is running; nothing was sent"
        )
    if isinstance(exc, TransportError | HttpStatusError | InvalidResponseError):
        kind = "timed out" if isinstance(exc, ErmTimeoutError) else "failed"
        if issuing:
            return EXIT_FAILED, (
                f"the request {kind} ({msg}) and its outcome is unknown: run `erm history "
                "ID` to see whether a code was issued before trying again"
            )
        return EXIT_FAILED, f"the request {kind} ({msg}); try again later"
    if isinstance(exc, GraphQLError):
        code = f" [{exc.code}]" if exc.code else ""
        return EXIT_FAILED, f"the ERM API refused the request{code}: {msg}"
    if isinstance(exc, ErmError):
        return EXIT_FAILED, msg
    if isinstance(exc, OSError):
        return EXIT_FAILED, f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}"
    return EXIT_FAILED, (
        f"unexpected {type(exc).__name__}: {msg} (run with --debug for a traceback, and "
        "please report it)"
    )


def print_traceback(exc: BaseException) -> None:
    """The traceback of ``exc`` on stderr, with registered secrets redacted."""
    text = "".join(traceback.format_exception(exc))
    sys.stderr.write(redact(text))


@contextmanager
def reporting(
    settings: Settings,
    *,
    issuing: bool = False,
    on_interrupt: Callable[[KeyboardInterrupt], str] | None = None,
    item: str | None = None,
) -> Iterator[None]:
    """Turn any error raised inside into a ``Failure`` (one line, exit code).

    Ctrl-C exits 130 with ``on_interrupt(exc)`` as its message (default "interrupted");
    ``issuing`` and ``item`` as for ``describe``.
    """
    try:
        yield
    except (Failure, click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt as exc:
        message = on_interrupt(exc) if on_interrupt is not None else "interrupted"
        raise Failure(
            message, EXIT_INTERRUPTED, kind="Interrupted", as_json=settings.as_json
        ) from None
    except Exception as exc:
        if settings.debug:
            print_traceback(exc)
        code, message = describe(exc, issuing=issuing, item=item)
        raise Failure(message, code, kind=type(exc).__name__, as_json=settings.as_json) from None


def enable_debug_logging() -> None:
    """Send the package's log records, DEBUG and up, to stderr (secrets redacted)."""
    import logging

    from .._logging import RedactingFilter

    logger = logging.getLogger("omnivoltaic_erm")
    if any(getattr(h, "name", "") == "erm-debug" for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("erm-debug")
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _cached_token_usable(url: str, email: str) -> bool:
    from .._auth import TokenCache, jwt_expiry

    token = TokenCache.for_account(url, email).load()
    if token is None:
        return False
    margin = c.TOKEN_REFRESH_MARGIN + _CACHED_TOKEN_HEADROOM
    if token.expires_at - time.time() > margin:
        return True
    # An expired access token is still usable through its refresh token, while that lasts.
    if token.refresh is None:
        return False
    refresh_exp = jwt_expiry(token.refresh)
    return refresh_exp is None or refresh_exp - time.time() > _CACHED_TOKEN_HEADROOM


def open_client(settings: Settings, *, fresh_sign_in: bool = False) -> AsyncErmClient:
    """A client for the command: URL, account and password from options or environment.

    The token cache is always on, so a run reuses the token of an earlier one. When no
    password is given (no ERM_PASSWORD, no terminal to prompt on) but ``erm login``
    cached a token that is still good, the command runs on that token alone; if the
    server then refuses it, the command says to log in again. ``fresh_sign_in`` (for
    ``erm login``) requires the password and signs in without the cached token, so that
    the password is checked; the new token goes to ``login_staging``, which ``erm login``
    moves over the cached one only once it works, so that a failed login leaves a
    still-valid token in place.
    """
    from .._auth import TokenCache
    from ..client import AsyncErmClient, validate_url
    from ..config import ClientConfig, Limits

    if settings.debug:
        enable_debug_logging()
    if settings.url is not None and not settings.url.strip():
        raise ConfigurationError(
            f"--url is empty: pass the endpoint's URL, or leave --url out to use {c.ENV_URL}"
        )
    if settings.email is not None and not settings.email.strip():
        raise ConfigurationError(
            f"--email is empty: pass the account, or leave --email out to use {c.ENV_EMAIL}"
        )
    url = settings.url or os.environ.get(c.ENV_URL)
    email = settings.email or os.environ.get(c.ENV_EMAIL)
    if not url:
        raise ConfigurationError(f"no ERM URL: pass --url or set {c.ENV_URL}")
    if not email:
        raise ConfigurationError(f"no account: pass --email or set {c.ENV_EMAIL}")
    kwargs: dict[str, Any] = {"token_cache": True, "allow_insecure": settings.insecure}
    if settings.code_interval is not None:
        kwargs["limits"] = Limits(code_interval=settings.code_interval)
    if settings.timeout is not None:
        kwargs["timeout"] = settings.timeout
    if settings.max_hold is not None:
        kwargs["max_hold"] = settings.max_hold
    if settings.call_timeout is not None:
        kwargs["config"] = ClientConfig(call_timeout=settings.call_timeout)
    if settings.proxy:
        kwargs["proxy"] = settings.proxy
    if settings.record:
        kwargs["record"] = settings.record
    password = os.environ.get(c.ENV_PASSWORD)
    if not password and not fresh_sign_in and _cached_token_usable(url, email):
        return AsyncErmClient(url, email, None, **kwargs)
    password = password or settings.password()
    if not password:
        raise ConfigurationError(
            f"no password: set {c.ENV_PASSWORD}, run in a terminal to be prompted, or run "
            "`erm login` first"
        )
    if fresh_sign_in:
        staging = login_staging(TokenCache.for_account(validate_url(url, settings.insecure), email))
        staging.unlink(missing_ok=True)
        kwargs["token_cache"] = staging
    return AsyncErmClient(url, email, password, **kwargs)


def login_staging(cache: TokenCache) -> Path:
    """Where ``erm login`` keeps the token of its fresh sign-in until the token works."""
    return cache.path.with_name(f".{cache.path.name}.login")


def run_client(
    settings: Settings,
    action: Callable[[AsyncErmClient], Awaitable[T]],
    *,
    issuing: bool = False,
    fresh_sign_in: bool = False,
    on_interrupt: Callable[[KeyboardInterrupt], str] | None = None,
    item: str | None = None,
) -> T:
    """Open a client, run ``action`` with it on a fresh event loop, close it; map errors.

    ``fresh_sign_in`` signs in with the password even if a token is cached;
    ``on_interrupt`` words the message of Ctrl-C, ``item`` names the command's item in
    errors (see ``reporting``).
    """

    async def main() -> T:
        async with open_client(settings, fresh_sign_in=fresh_sign_in) as erm:
            return await action(erm)

    with reporting(settings, issuing=issuing, on_interrupt=on_interrupt, item=item):
        return asyncio.run(main())
