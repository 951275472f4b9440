"""``erm contract verify`` and ``erm contract lint``: recorded traffic as evidence.

A service records the real server's answers, redacted (``ERM_RECORD=DIR``, ``record=``
on the clients, or ``erm --record DIR``); these commands check the recordings against
the generated models and ``schema.graphql``, and refuse recordings that hold a secret.
Exit 0 when clean, 1 on any finding.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from ._app import erm
from .schema_cmd import _as_json, _default_base, _json_option, _reported


@erm.group("contract")
def contract() -> None:
    """Check recorded answers of the real server against our models and schema."""


@contract.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, dir_okay=False),
    help="The schema to check against (default: ./schema.graphql, else the packaged copy).",
)
@click.option(
    "--max-age",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Fail on a recording older than DAYS instead of trusting it.",
)
@_json_option
@click.pass_context
@_reported
def verify(
    ctx: click.Context,
    directory: str,
    schema_file: str | None,
    max_age: int | None,
    json_flag: bool,
) -> int:
    """Check every recording in DIRECTORY through the generated models (as the client
    parses an answer) and against the schema with its operation's document (nulls in
    non-null fields, unknown enum values, scalar types, missing or extra fields)."""
    from .. import contracts
    from . import _output

    label, sdl = (
        (schema_file, Path(schema_file).read_text(encoding="utf-8"))
        if schema_file
        else _default_base()
    )
    age = timedelta(days=max_age) if max_age is not None else None
    results = contracts.verify(Path(directory), sdl, max_age=age)
    findings = [f for r in results for f in r.findings]
    if _as_json(ctx, json_flag):
        _output.emit_json(
            {
                "schema": label,
                "operations": [
                    {
                        "operation": r.operation,
                        "recordings": r.recordings,
                        "findings": [_finding_json(f) for f in r.findings],
                    }
                    for r in results
                ],
                "clean": not findings,
            }
        )
    else:
        total = sum(r.recordings for r in results)
        click.echo(f"checked {total} recordings of {len(results)} operations against {label}")
        for result in results:
            state = "clean" if result.clean else f"{len(result.findings)} findings"
            click.echo(f"  {result.operation}: {result.recordings} recordings, {state}")
            for finding in result.findings:
                click.echo(f"    {finding.line()}")
        if not results:
            click.echo("no recordings found", err=True)
    return 1 if findings or not results else 0


def _finding_json(finding: Any) -> dict[str, str]:
    return {
        "recording": finding.recording,
        "check": finding.check,
        "path": finding.path,
        "message": finding.message,
    }


@contract.command("lint")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--secret-env",
    "secret_envs",
    multiple=True,
    metavar="NAME",
    help="Also refuse the value of this environment variable (repeatable); ERM_PASSWORD "
    "is always checked when set.",
)
@_json_option
@click.pass_context
@_reported
def lint(ctx: click.Context, directory: str, secret_envs: tuple[str, ...], json_flag: bool) -> int:
    """Refuse recordings that hold anything like a secret: a JWT, a keypad code, a
    16-hex code, or a given secret. For a pre-commit hook or a CI step."""
    from .. import contracts
    from . import _output

    names = ("ERM_PASSWORD", *secret_envs)
    values = [os.environ.get(n, "") for n in names]
    findings = contracts.lint(Path(directory), values)
    if _as_json(ctx, json_flag):
        _output.emit_json({"findings": [_finding_json(f) for f in findings]})
    else:
        for finding in findings:
            click.echo(finding.line())
        count = len(contracts.recordings(Path(directory)))
        verdict = "no secret found" if not findings else f"{len(findings)} findings"
        click.echo(f"{count} recordings: {verdict}", err=bool(findings))
    return 1 if findings else 0
