"""The sandbox's defaults: the limits it enforces and serves where nothing else is set.

They come from two sources, never from the client's ``omnivoltaic_erm._constants``, so
that a wrong default on one side shows against the other (the tests compare the two):

1. The limits the printed schema documents are read from the field descriptions of
   ``DistributorSetting`` and ``ItemFleet`` in the schema the sandbox ships and serves by
   default (``schema.graphql``), e.g. ``freeCodeCount``: "Default number of FREECODES is
   5". Each description is read by a small pure function below; one that no longer reads
   as a default stops the sandbox with ``PrintedDefaultError``, naming the field and its
   text, rather than falling back to a number of its own. They are read once per process,
   when the first sandbox is configured.
2. What the printed schema does not document is written below, each value with its
   source: the ERM API handbook ("Global variables in Code Generation", and its note on
   access tokens), or the sandbox's own choice (its demo accounts, host and port, and the
   refresh-token lifetime, which is not public).

Durations are in seconds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from graphql import GraphQLError, ObjectTypeDefinitionNode, parse

SCHEMA_FILE = "schema.graphql"

# -- from the handbook -------------------------------------------------------------------
# "Global variables in Code Generation", 1: "The time lapse between two successful code
# generation request should be at least 6 seconds." The default fleet's interval.
CODE_INTERVAL = 6.0
# Ibid., 3: "not more than 10 codes can be generated per day." The printed
# ``dayCodeCountLimit`` documents no default, so this number stands in for it at both
# levels (the default fleet's and a distributor setting's).
DAILY_CODE_LIMIT = 10
# Ibid., 2: "The product cannot go beyond 1096 days": the most days one days code adds.
MAX_CODE_DAYS = 1096
# The handbook's note on authentication: "The access-token expires after 24 hours."
TOKEN_TTL = 24 * 3600.0

# -- the sandbox's own -------------------------------------------------------------------
# The real refresh-token lifetime is not public; the sandbox's outlives its access tokens.
REFRESH_TOKEN_TTL = 7 * 24 * 3600.0
# Where ``erm sandbox`` listens, and the demo data it starts with.
HOST = "127.0.0.1"
PORT = 8765
ITEMS = 50
EMAIL = "distributor@sandbox.test"
PASSWORD = "sandbox-password"
OTHER_EMAIL = "other@sandbox.test"
OTHER_PASSWORD = "other-password"


# -- from the printed schema -------------------------------------------------------------


class PrintedDefaultError(Exception):
    """A field description of the served schema no longer documents a default in a form
    the sandbox reads; the message names the field, its text and the form expected."""


@dataclass(frozen=True, slots=True)
class PrintedDefaults:
    """The defaults one printed type (``DistributorSetting`` or ``ItemFleet``) documents."""

    # codeGenInterval: "... Default is 1 minute." (the API serves milliseconds)
    code_interval: float
    # dayCodeCountLimit: "Number of code events allowed for an item within 24 hours."
    daily_window: float
    # totalCodeCountLimit: "... Default is approximately 3 years (1096 events)."
    total_limit: int
    # freeCodeCount: "Default number of FREECODES is 5"
    free_limit: int
    # resetCodeCount: "Default number of RESETCODES is 5"
    reset_limit: int
    # maxCreditStackDays: "... Default is 60"
    credit_days: int
    # maxCreditStackCodeEvents: "... Default is 5"
    credit_events: int


_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_DURATION = re.compile(r"\bDefault is (\d+) (second|minute|hour|day)s?\.?\s*$")
_WINDOW = re.compile(r"\bwithin (\d+) (second|minute|hour|day)s?\b")
_EVENTS = re.compile(r"\bDefault is [^()]*\((\d+) events\)\.?\s*$")
_COUNT = re.compile(r"\bDefault is (\d+)\.?\s*$")


def _match(pattern: re.Pattern[str], text: str, form: str) -> re.Match[str]:
    found = pattern.search(text)
    if found is None:
        raise ValueError(f"expected {form}")
    return found


def default_duration(text: str) -> float:
    """Seconds from a description ending "Default is N minute(s)" (or seconds, hours,
    days)."""
    found = _match(_DURATION, text, "'Default is N minutes' (or seconds, hours, days) at its end")
    return int(found[1]) * _UNITS[found[2]]


def window_duration(text: str) -> float:
    """Seconds from a description of a count "within N hours" (or seconds, minutes,
    days)."""
    found = _match(_WINDOW, text, "'within N hours' (or seconds, minutes, days)")
    return int(found[1]) * _UNITS[found[2]]


def default_events(text: str) -> int:
    """N from a description ending "Default is ... (N events)"."""
    return int(_match(_EVENTS, text, "'Default is ... (N events)' at its end")[1])


def default_count(text: str) -> int:
    """N from a description ending "Default is N"."""
    return int(_match(_COUNT, text, "'Default is N' at its end")[1])


def default_codes(kind: str) -> Callable[[str], int]:
    """A reader of N in "Default number of ``kind`` is N" (``FREECODES``, ``RESETCODES``)."""
    pattern = re.compile(rf"\bDefault number of {re.escape(kind)} is (\d+)\.?\s*$")

    def read(text: str) -> int:
        return int(_match(pattern, text, f"'Default number of {kind} is N' at its end")[1])

    return read


# Each documented default: the printed field, its reader, the ``PrintedDefaults`` field.
PRINTED_FIELDS: tuple[tuple[str, Callable[[str], float], str], ...] = (
    ("codeGenInterval", default_duration, "code_interval"),
    ("dayCodeCountLimit", window_duration, "daily_window"),
    ("totalCodeCountLimit", default_events, "total_limit"),
    ("freeCodeCount", default_codes("FREECODES"), "free_limit"),
    ("resetCodeCount", default_codes("RESETCODES"), "reset_limit"),
    ("maxCreditStackDays", default_count, "credit_days"),
    ("maxCreditStackCodeEvents", default_count, "credit_events"),
)


def field_descriptions(sdl: str, type_name: str) -> dict[str, str | None]:
    """The description of each field of the object type ``type_name`` in ``sdl`` (None:
    the field has none); raises ``PrintedDefaultError`` when the type is not there."""
    try:
        document = parse(sdl, no_location=True)
    except GraphQLError as exc:
        where = f" at line {exc.locations[0].line}" if exc.locations else ""
        raise PrintedDefaultError(
            f"the sandbox's schema does not parse{where}: {exc.message}"
        ) from None
    for node in document.definitions:
        if isinstance(node, ObjectTypeDefinitionNode) and node.name.value == type_name:
            return {
                field.name.value: field.description.value if field.description else None
                for field in node.fields or ()
            }
    raise PrintedDefaultError(f"the sandbox's schema has no type {type_name}")


def read_printed_defaults(sdl: str, type_name: str) -> PrintedDefaults:
    """The defaults the descriptions of ``type_name``'s fields document in ``sdl``.

    Raises ``PrintedDefaultError`` naming the first field whose description is missing
    or no longer reads as a default.
    """
    descriptions = field_descriptions(sdl, type_name)
    values: dict[str, float] = {}
    for printed, read, name in PRINTED_FIELDS:
        text = descriptions.get(printed)
        where = f"{type_name}.{printed}"
        if text is None:
            raise PrintedDefaultError(
                f"the sandbox reads its default for {where} from the field's description "
                "in its schema, and the schema has "
                + ("no description for it" if printed in descriptions else "no such field")
            )
        try:
            values[name] = read(text)
        except ValueError as exc:
            raise PrintedDefaultError(
                f"the sandbox cannot read its default for {where} from the field's "
                f"description in its schema: {exc}, found {' '.join(text.split())[:200]!r}"
            ) from None
    return PrintedDefaults(
        code_interval=float(values["code_interval"]),
        daily_window=float(values["daily_window"]),
        total_limit=int(values["total_limit"]),
        free_limit=int(values["free_limit"]),
        reset_limit=int(values["reset_limit"]),
        credit_days=int(values["credit_days"]),
        credit_events=int(values["credit_events"]),
    )


def default_schema_text() -> str:
    """The project's ``schema.graphql``: the copy shipped in the package, else the
    repository's (an editable install or a source checkout)."""
    packaged = resources.files(__package__).joinpath(SCHEMA_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[3] / SCHEMA_FILE).read_text(encoding="utf-8")


@functools.cache
def printed_defaults(type_name: str) -> PrintedDefaults:
    """The defaults ``type_name`` documents in the schema the sandbox serves by default,
    read once per process; raises ``PrintedDefaultError`` (see ``read_printed_defaults``)."""
    return read_printed_defaults(default_schema_text(), type_name)


def distributor_defaults() -> PrintedDefaults:
    """What the printed ``DistributorSetting`` documents: the last level of an item's
    limits, where neither its fleet nor its distributor sets a value."""
    return printed_defaults("DistributorSetting")


def fleet_defaults() -> PrintedDefaults:
    """What the printed ``ItemFleet`` documents."""
    return printed_defaults("ItemFleet")
