"""``erm schema pull`` and ``erm schema diff``: follow the ERM schema as it changes.

``pull`` writes the live schema as sorted SDL (the form ``schema.graphql`` is committed
in). ``diff`` compares the committed schema with a live or given one, classifies every
change as breaking, dangerous or safe, and names which of our operations would break;
it exits 1 when any would. The comparison itself lives in ``omnivoltaic_erm.schema_tools``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import ConfigurationError
from ._app import Settings, erm

if TYPE_CHECKING:
    from ..schema_tools import SchemaDiff

F = TypeVar("F", bound=Callable[..., Any])

PACKAGED_SCHEMA = ("omnivoltaic_erm.sandbox", "schema.graphql")
# The wheel carries the operations the client is generated from, as the schema.
PACKAGED_QUERIES = ("omnivoltaic_erm", "queries")


def _packaged(package: str, name: str) -> Path | None:
    """The copy of ``name`` shipped in ``package`` (a wheel), else the repository's (an
    editable install); None if neither is there."""
    from importlib import resources

    try:
        shipped = Path(str(resources.files(package) / name))
    except ModuleNotFoundError:
        shipped = None
    if shipped is not None and shipped.exists():
        return shipped
    repository = Path(__file__).resolve().parents[3] / name
    return repository if repository.exists() else None


def _settings(ctx: click.Context, json_flag: bool = False) -> Settings:
    """The global options; a command's own ``--json`` counts as the global one."""
    settings = ctx.find_object(Settings) or Settings(
        url=None, email=None, as_json=False, debug=False, insecure=False
    )
    return dataclasses.replace(settings, as_json=True) if json_flag else settings


def _reported(func: F) -> F:
    """Run the command under the CLI's error reporting: one ``error:`` line, exit 1 (2 for
    a usage error such as a missing --url), a traceback only with --debug."""

    @wraps(func)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        from ._run import reporting  # imports asyncio: only when a command runs

        with reporting(_settings(ctx, bool(kwargs.get("json_flag")))):
            return func(ctx, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _schema_tools() -> Any:
    try:
        from .. import schema_tools
    except ImportError as exc:
        raise ConfigurationError(
            "schema commands need graphql-core and gql: pip install 'omnivoltaic-erm[schema]'"
        ) from exc
    return schema_tools


def _parse_headers(values: Sequence[str]) -> dict[str, str]:
    """``Name: value`` pairs; every value is registered as a secret before anything logs."""
    from .._logging import register_secret

    headers: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        name, value = name.strip(), value.strip()
        register_secret(value)
        if value.lower().startswith("bearer "):
            register_secret(value[7:].strip())
        if not sep or not name or not value or any(c.isspace() for c in name):
            # The value is never echoed: it is usually a token.
            raise click.BadParameter("expected 'Name: value'", param_hint="'--header'")
        headers[name] = value
    return headers


def _resolve_url(ctx: click.Context, url: str | None) -> str:
    from .._inputs import validate_url

    settings = _settings(ctx)
    url = url or settings.url
    if not url:
        raise ConfigurationError("give --url (or set ERM_URL)")
    return validate_url(url, settings.insecure)


def _pull(url: str, headers: dict[str, str], timeout: float) -> str:
    import asyncio  # here, not at the top: `erm --help` stays light

    sdl: str = asyncio.run(_schema_tools().pull_schema(url, headers, timeout=timeout))
    return sdl


def _as_json(ctx: click.Context, flag: bool) -> bool:
    return _settings(ctx, flag).as_json


def _project_setting(key: str, fallback: str) -> Path:
    """``[tool.ariadne-codegen] key`` from ./pyproject.toml, the generator's own config."""
    pyproject = Path("pyproject.toml")
    if pyproject.is_file():
        try:
            with pyproject.open("rb") as fh:
                tool = tomllib.load(fh).get("tool", {}).get("ariadne-codegen", {})
        except (OSError, tomllib.TOMLDecodeError):
            tool = {}
        value = tool.get(key)
        if isinstance(value, str) and value:
            return Path(value)
    return Path(fallback)


def _default_base() -> tuple[str, str]:
    """(label, SDL) of the committed schema: the project's here, else the packaged copy."""
    path = _project_setting("schema_path", "schema.graphql")
    if path.is_file():
        return str(path), path.read_text(encoding="utf-8")
    packaged = _packaged(*PACKAGED_SCHEMA)
    if packaged is not None and packaged.is_file():
        return f"the packaged copy ({packaged})", packaged.read_text(encoding="utf-8")
    raise ConfigurationError(f"no {path} here and no packaged copy: give --base FILE")


def _default_queries() -> Path:
    """Our operations: the project's here, else the packaged copy."""
    path = _project_setting("queries_path", "queries")
    if path.is_dir():
        return path
    packaged = _packaged(*PACKAGED_QUERIES)
    if packaged is not None and packaged.is_dir():
        return packaged
    raise ConfigurationError(f"no {path} directory here and no packaged copy: give --queries DIR")


_header_option = click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Extra request header, e.g. 'Authorization: Bearer …'; repeatable. Never printed.",
)
_timeout_option = click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait."
)
_json_option = click.option(
    "--json", "json_flag", is_flag=True, help="Machine-readable JSON (as the global --json)."
)


@erm.group("schema")
def schema() -> None:
    """Pull the ERM schema, and see what a server change does to our operations."""


@schema.command("pull")
@click.option("--url", help="GraphQL endpoint to introspect (default: the global --url/ERM_URL).")
@_header_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="schema.graphql",
    show_default=True,
    help="Where to write the sorted SDL; '-' for standard output.",
)
@_timeout_option
@_json_option
@click.pass_context
@_reported
def pull(
    ctx: click.Context,
    url: str | None,
    headers: tuple[str, ...],
    out: str,
    timeout: float,
    json_flag: bool,
) -> int:
    """Introspect the endpoint and write its schema as sorted SDL."""
    header_map = _parse_headers(headers)
    endpoint = _resolve_url(ctx, url)
    sdl = _pull(endpoint, header_map, timeout)
    if out == "-":
        click.echo(sdl, nl=False)
        return 0
    path = Path(out)
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    changed = before != sdl
    if changed:
        path.write_text(sdl, encoding="utf-8")
    if _as_json(ctx, json_flag):
        click.echo(json.dumps({"url": endpoint, "out": str(path), "changed": changed}))
    elif changed:
        click.echo(f"wrote {path} from {endpoint}")
    else:
        click.echo(f"{path} is unchanged: {endpoint} serves the same schema")
    return 0


@schema.command("diff")
@click.option("--url", help="Compare with this live endpoint (introspected).")
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Compare with this SDL file.",
)
@click.option(
    "--base",
    type=click.Path(exists=True, dir_okay=False),
    help="The schema we generate from (default: ./schema.graphql, else the packaged copy).",
)
@click.option(
    "--queries",
    type=click.Path(exists=True, file_okay=False),
    help="Our operations (default: ./queries, else the packaged copy).",
)
@_header_option
@_timeout_option
@_json_option
@click.pass_context
@_reported
def diff(
    ctx: click.Context,
    url: str | None,
    schema_file: str | None,
    base: str | None,
    queries: str | None,
    headers: tuple[str, ...],
    timeout: float,
    json_flag: bool,
) -> int:
    """Classify each schema change and name the operations it breaks.

    Exit status: 0 when none of our operations breaks (dangerous changes are printed as
    warnings), 1 when any would, 2 on a usage error.
    """
    tools = _schema_tools()
    if url and schema_file:
        raise ConfigurationError("give --url or --schema, not both")
    base_label, base_sdl = (
        (base, Path(base).read_text(encoding="utf-8")) if base else _default_base()
    )
    queries_dir = Path(queries) if queries else _default_queries()
    operations = tools.load_operations(tools.operation_files(queries_dir), Path.cwd())
    if schema_file:
        new_label, new_sdl = schema_file, Path(schema_file).read_text(encoding="utf-8")
    else:
        new_label = _resolve_url(ctx, url)
        new_sdl = _pull(new_label, _parse_headers(headers), timeout)
    report: SchemaDiff = tools.diff_sdl(base_sdl, new_sdl, operations)
    if _as_json(ctx, json_flag):
        click.echo(
            json.dumps(
                {"base": base_label, "new": new_label, "queries": str(queries_dir)}
                | report.to_dict(),
                indent=2,
            )
        )
    else:
        _render(report, base_label, new_label, str(queries_dir))
    return int(report.exit_code)


def _render(report: SchemaDiff, base: str, new: str, queries: str) -> None:
    echo = click.echo
    total = len(report.operations)
    echo(f"base: {base}\nnew:  {new}\nchecked {total} operations in {queries}")
    if not report.changes:
        echo("\nno changes: both define the same schema")
        return
    width = max(len(c.kind) for c in report.changes) + 2
    for severity in ("breaking", "dangerous", "safe"):
        changes = report.of(severity)
        if not changes:
            continue
        echo(f"\n{severity.upper()} ({len(changes)})")
        for change in changes:
            echo(f"  {change.kind:<{width}}{change.description}")
            breaks, affects = report.breaks(change), report.affects(change)
            if breaks:
                echo(f"  {'':<{width}}breaks: {', '.join(breaks)}")
            elif affects:
                echo(f"  {'':<{width}}used by: {', '.join(affects)}")
    broken = report.broken_operations
    if broken:
        echo(f"\nOPERATIONS THAT WOULD BREAK ({len(broken)} of {total})")
        for op in broken:
            echo(f"  {op.name} ({op.source})")
            for problem in op.problems:
                where = f"{problem.locations[0]}: " if problem.locations else ""
                echo(f"    {where}{problem.message}")
                for change in problem.changes:
                    echo(f"      caused by: {change.description}")
    for change in report.of("dangerous"):
        note = ""
        if change.kind == "VALUE_ADDED_TO_ENUM":
            note = " (the generated models accept it, as a plain string, with a warning)"
        click.echo(f"warning: {change.description}{note}", err=True)
    if broken:
        click.echo(
            f"error: {len(broken)} of {total} operations would break; update {queries}, "
            "then pull, `make generate` and review the snapshot diffs",
            err=True,
        )
    else:
        echo(f"\nnone of the {total} operations breaks")
