"""``erm sandbox`` / ``python -m omnivoltaic_erm.sandbox``: serve the sandbox until
interrupted (SIGINT or SIGTERM).

On start it prints exactly one line ``ERM sandbox listening on http://HOST:PORT/graphql``
(with the real port when ``--port 0``), then the demo credentials and the dashboard's
address with its admin token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from . import defaults
from .app import STATE, create_app
from .config import FaultSpec, SandboxConfig
from .dashboard import ADMIN_TOKEN
from .defaults import PrintedDefaultError
from .errors import ERROR_SHAPES
from .fleets import parse_fleet, parse_limit_values, standard_fleet
from .replay import REPLAY
from .settings import DistributorSetting


def _faults(spec: str) -> FaultSpec:
    try:
        return FaultSpec.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line options; each default is ``SandboxConfig``'s (``sandbox.defaults``).

    Raises ``PrintedDefaultError`` when the schema no longer documents a default the
    sandbox reads."""
    d = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="erm sandbox",
        description="Serve a local stand-in for the Omnivoltaic ERM GraphQL API.",
        epilog="Durations are in seconds and may be fractions (--code-interval 0.2).",
    )
    add = parser.add_argument
    add("--host", default=defaults.HOST, help="address to listen on (default %(default)s)")
    add("--port", type=int, default=defaults.PORT, help="port; 0 picks a free one (%(default)s)")
    add("--db", type=Path, help="SQLite file; state survives restarts (default: temporary)")
    add("--items", type=int, default=d.items, help="demo items per distributor (%(default)s)")
    add("--code-interval", type=float, default=d.code_interval,
        help="minimum seconds between two code events of an item (%(default)s)")  # fmt: skip
    add("--daily-limit", type=int, default=d.daily_limit,
        help="code events per item in any --daily-window (%(default)s)")  # fmt: skip
    add("--daily-window", type=float, default=d.daily_window,
        help="seconds of the rolling daily window (%(default)s)")  # fmt: skip
    add("--total-limit", type=int, default=d.total_limit,
        help="code events per item in all (%(default)s)")  # fmt: skip
    add("--max-days", type=int, default=d.max_days,
        help="largest codeDays of a days code (%(default)s)")  # fmt: skip
    add("--free-limit", type=int, default=d.free_limit,
        help="free codes per item (%(default)s)")  # fmt: skip
    add("--reset-limit", type=int, default=d.reset_limit,
        help="reset codes per item (%(default)s)")  # fmt: skip
    add("--token-ttl", type=float, default=d.token_ttl,
        help="access-token lifetime in seconds (%(default)s)")  # fmt: skip
    add("--refresh-ttl", type=float, default=d.refresh_ttl,
        help="refresh-token lifetime in seconds (%(default)s)")  # fmt: skip
    add("--fleet", action="append", default=[], metavar="NAME:SETTINGS",
        help="a fleet of its own limits, on top of the flags above, e.g. "
             "'Slow:interval=3,daily=5,off=credit' ('daily=none': the distributor's); "
             "repeat for more; items take the "
             "fleets in turn (default: the Standard and Pilot demo fleets)")  # fmt: skip
    add("--distributor-setting", action="append", default=[], metavar="[EMAIL:]SETTINGS",
        help="a demo distributor's DistributorSetting (default: the first distributor), "
             "e.g. 'daily=5,interval=30' or 'other@sandbox.test:free=2'; keys interval, "
             "daily, total, free, reset, credit_days, credit_events, each a number or "
             "'none' (unset); an item's fleet value wins over it (default: the printed "
             "schema's defaults)")  # fmt: skip
    add("--faults", type=_faults, default=FaultSpec(), metavar="SPEC",
        help="fault probabilities per authorised request, e.g. "
             "'502=0.1,drop=0.1,delay=0.05:3.5' (default: none)")  # fmt: skip
    add("--seed", type=int, help="seed for fault injection (default: random)")
    add("--replay", type=Path, metavar="DIR",
        help="answer from this recording set (erm --record DIR, ERM_RECORD) instead of "
             "the rules: each request by its operation and variables")  # fmt: skip
    add("--error-shape", choices=ERROR_SHAPES, default=d.error_shape,
        help="which generation of the real server's error shape to answer in: current "
             "(extensions.originalError), handbook (extensions.response) or legacy "
             "(extensions.exception.response) (%(default)s)")  # fmt: skip
    add("--no-dashboard", dest="dashboard", action="store_false",
        help="serve neither the dashboard (/dashboard) nor its admin API (/admin)")  # fmt: skip
    add("--request-log-size", type=int, default=d.request_log_size, metavar="N",
        help="requests the dashboard's log keeps, the oldest dropped (%(default)s)")  # fmt: skip
    add("--admin-token", metavar="TOKEN",
        help="the token the dashboard and /admin require, at least 8 characters "
             "(default: a random one, printed at start-up)")  # fmt: skip
    add("--log-level", default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log level on stderr; info logs each request (%(default)s)")  # fmt: skip
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """A ``SandboxConfig`` from parsed options; raises ``ValueError`` on bad values."""
    base = standard_fleet(
        code_interval=args.code_interval,
        daily_limit=args.daily_limit,
        total_limit=args.total_limit,
        free_limit=args.free_limit,
        reset_limit=args.reset_limit,
    )
    fleets = tuple(parse_fleet(spec, base) for spec in args.fleet) or None
    return SandboxConfig(
        fleets=fleets,
        distributor_settings=_distributor_settings(args.distributor_setting),
        refresh_ttl=args.refresh_ttl,
        host=args.host,
        port=args.port,
        db_path=args.db,
        items=args.items,
        code_interval=args.code_interval,
        daily_limit=args.daily_limit,
        daily_window=args.daily_window,
        total_limit=args.total_limit,
        max_days=args.max_days,
        free_limit=args.free_limit,
        reset_limit=args.reset_limit,
        token_ttl=args.token_ttl,
        faults=args.faults,
        seed=args.seed,
        error_shape=args.error_shape,
        replay=args.replay,
        dashboard=args.dashboard,
        request_log_size=args.request_log_size,
        admin_token=args.admin_token,
    )


def _distributor_settings(specs: list[str]) -> dict[str, DistributorSetting]:
    """``--distributor-setting`` values by e-mail; later ones add to earlier ones."""
    settings: dict[str, DistributorSetting] = {}
    for spec in specs:
        email, sep, rest = spec.rpartition(":")
        email = email.strip() if sep else defaults.EMAIL
        try:
            values = parse_limit_values(rest)
        except ValueError as exc:
            raise ValueError(str(exc).replace("setting", "distributor setting", 1)) from None
        settings[email] = replace(settings.get(email, DistributorSetting()), **values)
    return settings


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/graphql"


# Addresses that listen on every interface, and the loopback address that reaches each.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def reachable(host: str) -> tuple[str, str | None]:
    """The host to print in the URL, and a warning when ``host`` is not loopback only.

    A wildcard address is printed as the loopback address that reaches it: the client
    sends a password over plain http to loopback only, so that is the URL it accepts.
    """
    from .._inputs import is_loopback

    if host in _WILDCARDS:
        return _WILDCARDS[host], (
            f"warning: listening on every address of this machine ({host or 'all'}): anyone "
            "who can reach it can sign in with the demo accounts below; from another machine "
            "the client needs --insecure for plain http"
        )
    if not is_loopback(host):
        return host, (
            f"warning: listening on {host}, which is not loopback: anyone who can reach it "
            "can sign in with the demo accounts below, and the client refuses plain http to "
            "it unless given --insecure"
        )
    return host, None


async def serve(config: SandboxConfig) -> int:
    """Serve until SIGINT or SIGTERM; return the exit code."""
    app = create_app(config)
    access_log = logging.getLogger("aiohttp.access")
    runner = web.AppRunner(app, handle_signals=False, access_log=access_log)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        print(f"erm sandbox: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        await runner.cleanup()
        return 1
    port = runner.addresses[0][1] if runner.addresses else config.port
    counts = app[STATE].store.counts()
    db = str(config.db_path) if config.db_path else "temporary (deleted on exit)"
    shown, warning = reachable(config.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"ERM sandbox listening on {_url(shown, port)}")
    print(f"  distributor: {config.email} / {config.password}")
    print(f"  other:       {config.other_email} / {config.other_password}")
    print(f"  items:       {counts['items']}, code events: {counts['code_events']}, db: {db}")
    if config.dashboard:
        token = app[ADMIN_TOKEN]
        base = _url(config.host, port).removesuffix("/graphql")
        print(f"  dashboard:   {base}/dashboard?token={token}")
    if config.faults.active:
        print(f"  faults:      {config.faults} (seed {config.seed})")
    if config.replay is not None:
        replaying = len(app[REPLAY])
        print(f"  replay:      {replaying} recordings from {config.replay} (the rules are off)")
    sys.stdout.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows; there Ctrl-C still raises KeyboardInterrupt, handled in main().
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    1 when it cannot listen, or when its schema no longer documents a default the way it
    reads it (one line naming the field and its text); 2 on a usage error.
    """
    try:
        return _main(argv)
    except PrintedDefaultError as exc:
        print(f"erm sandbox: error: {exc}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"erm sandbox: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
