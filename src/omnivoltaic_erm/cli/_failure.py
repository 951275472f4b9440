"""The one error type ``main`` prints: one line, and an exit code.

Kept apart from ``_run`` (which imports asyncio) so that ``main`` can catch it without
slowing down ``erm --help``.
"""

from __future__ import annotations

import json
import re

import click

from .._logging import redact

EXIT_FAILED = 1
EXIT_USAGE = 2
# Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130

_LINE_BREAKS = re.compile(r"[ \t]*[\r\n\v\f\x85\u2028\u2029]+[ \t]*")


class Failure(Exception):
    """An error already described for the user: ``error: <message>``, and an exit code.

    ``main`` prints it with ``show`` and returns ``exit_code``.
    """

    def __init__(
        self, message: str, exit_code: int, *, kind: str = "Error", as_json: bool = False
    ) -> None:
        # One line: line breaks (and the blanks around them) become one space; other
        # runs of blanks stay, so that an id holding two spaces is shown as it is.
        self.message = redact(_LINE_BREAKS.sub(" ", message).strip())
        super().__init__(self.message)
        self.exit_code = exit_code
        self.kind = kind
        self.as_json = as_json

    def show(self) -> None:
        """Print the one-line error on stderr, and as JSON on stdout under ``--json``."""
        if self.as_json:
            error = {"type": self.kind, "message": self.message, "exit_code": self.exit_code}
            click.echo(json.dumps({"error": error}))
        click.echo(f"error: {self.message}", err=True)
