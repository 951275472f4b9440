"""The code kinds this client issues: one table row per kind, read everywhere a kind matters.

A row (``CodeKind``) holds everything the client knows of one kind of code: its member of
the generated ``CodeTypes`` enum, the generated operation that issues it, whether it takes
days, its allowance (the ``Limits`` field, the fleet's and distributor's count field, the
fleet's switch, the error code of a refusal), its effect on credit stacking, and its words:
the command line's and the batch file's word, the label messages use, the help line.

Issuing (``client``, ``_issuing``), the rate-limit policy (``_ratelimit``), learned limits
(``_limits``), batch parsing (``batch``) and the command line (``erm code WORD``, its
output, ``erm limits``) read the table, so adding a kind is one row (``register``) plus
its operation: a ``queries/generate_<word>_code.graphql`` file compiled by
``make generate``. CONTRIBUTING.md walks through it.

The sandbox does not read this table: it serves what the printed schema has, so a wrong
row here is seen by the tests, not repeated on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from omnivoltaic_erm_gql import CodeTypes

from .errors import CODE_FREE_LIMIT, CODE_RESET_LIMIT, ConfigurationError, InvalidInputError

__all__ = ["KINDS", "Allowance", "CodeKind", "kind_named", "kind_of", "register"]


@dataclass(frozen=True, slots=True)
class Allowance:
    """How many codes of one kind an item may have, and where the number comes from.

    ``limit`` is the ``Limits`` field holding it (the configured default); the item's
    fleet and the distributor's settings give it in ``count_field`` (the fragments'
    field, as generated), the fleet turns it off with ``switch_field``; a refusal carries
    ``error_code`` (``CodeLimitError.limit``).
    """

    limit: str
    count_field: str
    switch_field: str
    error_code: str


@dataclass(frozen=True, slots=True)
class CodeKind:
    """One kind of code and everything the client does with it.

    ``operation`` is the generated client's method (``generate_free_code``); its answer
    carries the code under a field of the same name. With ``takes_days`` the method is
    called with ``code_days``. ``allowance`` caps how many codes of the kind an item may
    have (None: only the item's total counts). ``clears_credit``: the kind sets the
    device's days to zero, so credit stacking counts back to it. ``word`` is the
    command line's (``erm code WORD``) and the batch file's type word, and names the
    allowance's rule (``erm limits``); ``label`` is how messages name a code of the kind;
    ``help`` completes ``erm code WORD --help``'s line.
    """

    member: CodeTypes
    word: str
    label: str
    operation: str
    help: str
    takes_days: bool = False
    allowance: Allowance | None = None
    clears_credit: bool = False

    @property
    def title(self) -> str:
        """The label as a heading: ``Free code``."""
        return self.label[:1].upper() + self.label[1:]


DAYS = CodeKind(
    CodeTypes.DAYSCODE,
    word="days",
    label="days code",
    operation="generate_days_code",
    help="adds N days of use to item ID",
    takes_days=True,
)
FREE = CodeKind(
    CodeTypes.FREECODE,
    word="free",
    label="free code",
    operation="generate_free_code",
    help="unlocks item ID for good",
    allowance=Allowance("free_limit", "free_code_count", "disable_free_code", CODE_FREE_LIMIT),
)
RESET = CodeKind(
    CodeTypes.RESETCODE,
    word="reset",
    label="reset code",
    operation="generate_reset_code",
    help="sets item ID's remaining days to zero",
    allowance=Allowance(
        "reset_limit", "reset_code_count", "disable_reset_code_count", CODE_RESET_LIMIT
    ),
    clears_credit=True,
)

KINDS: dict[str, CodeKind] = {}
"""The issuable kinds by their ``CodeTypes`` value, in the order they were registered."""


def register(kind: CodeKind) -> CodeKind:
    """Add ``kind`` to the table (before the command line is imported, for ``erm code``).

    Raises ``ConfigurationError`` when the generated client has no ``kind.operation``
    (add its ``.graphql`` file under ``queries/`` and run ``make generate``), when the
    ``Limits`` have no ``kind.allowance`` field, or when the member or word is taken by
    another row.
    """
    from omnivoltaic_erm_gql import Client

    from .config import Limits

    if not callable(getattr(Client, kind.operation, None)):
        raise ConfigurationError(
            f"the generated client has no operation {kind.operation!r}: add its .graphql "
            "file under queries/ and run `make generate`"
        )
    if kind.allowance is not None and kind.allowance.limit not in Limits.__dataclass_fields__:
        raise ConfigurationError(f"Limits has no field {kind.allowance.limit!r} for {kind.label}s")
    for other in KINDS.values():
        same = other.member == kind.member or other.word == kind.word
        if same and other != kind:
            raise ConfigurationError(
                f"{kind.label} ({kind.member.value}, {kind.word!r}) clashes with "
                f"{other.label} ({other.member.value}, {other.word!r})"
            )
    KINDS[kind.member.value] = kind
    return kind


def type_value(kind: object) -> str:
    """A code type as its ``CodeTypes`` value: a member's value, a string as it is (the
    enum is open, so an answer may carry a type this client does not know)."""
    return str(getattr(kind, "value", kind))


def kind_of(member: CodeTypes | str) -> CodeKind | None:
    """The row of a ``CodeTypes`` member or value, or None for a kind not issued here."""
    return KINDS.get(type_value(member))


def kind_named(word: str) -> CodeKind | None:
    """The row whose command-line and batch word is ``word``, or None."""
    return next((kind for kind in KINDS.values() if kind.word == word), None)


def issuable(member: object) -> CodeKind:
    """The row of the kind a caller asked to issue, or ``InvalidInputError``."""
    try:
        value = CodeTypes(member).value
    except ValueError:
        raise InvalidInputError(f"not a code type: {member!r:.30}", field="kind") from None
    kind = KINDS.get(value)
    if kind is None:
        raise InvalidInputError(
            f"this client issues {listing(words())} codes, not {value}", field="kind"
        )
    return kind


def listing(names: tuple[str, ...], conjunction: str = "and") -> str:
    """``days, free and reset``: names as a sentence lists them (at least one)."""
    *rest, last = names
    return f"{', '.join(rest)} {conjunction} {last}" if rest else last


def allowances() -> list[tuple[CodeKind, Allowance]]:
    """Each kind with an allowance of its own (free and reset codes), in table order."""
    return [(kind, kind.allowance) for kind in KINDS.values() if kind.allowance is not None]


def words() -> tuple[str, ...]:
    """Every registered kind's word, in table order."""
    return tuple(kind.word for kind in KINDS.values())


for _row in (DAYS, FREE, RESET):
    register(_row)
