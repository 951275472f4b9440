"""What an operation does, read from its document: its root fields, and whether it
obtains a token.

The pipeline must know a sign-in or a refresh whatever the operation is called (real
front ends call theirs ``SignInLoginUser``, ``Login``, ``RefreshToken``…): a sign-in is
sent without the managed bearer token and retried like a query; a refresh is sent once.
``token_role`` decides it from the operation's root fields (``signInUser``…), found by a
small scanner of the GraphQL document (no parser is a run-time dependency). It reads
aliases (``login: signInUser``), arguments holding input objects, directives, fragment
spreads and inline fragments on the root type. A document it cannot read has no root
fields: it is then an ordinary operation.
"""

from __future__ import annotations

import functools
import re

SIGN_IN = "sign_in"
REFRESH = "refresh"
# The root fields that obtain a token, by what the pipeline does with them.
SIGN_IN_FIELDS = frozenset({"signInUser", "signInClient"})
REFRESH_FIELDS = frozenset({"refreshAccessToken", "refreshClientAccessToken"})

_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
    | (?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
    | (?P<string>"(?:\\.|[^"\\\n\r])*")
    | (?P<spread>\.\.\.)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    | (?P<number>-?[0-9][0-9.eE+-]*)
    | (?P<punct>[{}()\[\]:=@$!|&])
    """,
    re.VERBOSE,
)
_OPERATION_KEYWORDS = frozenset({"query", "mutation", "subscription"})


def _tokens(document: str) -> list[str] | None:
    """The significant tokens of ``document`` (strings as one token), or None when it
    holds a character no GraphQL document may."""
    out: list[str] = []
    pos = 0
    while pos < len(document):
        match = _TOKEN.match(document, pos)
        if match is None:
            return None
        pos = match.end()
        if match.lastgroup != "skip":
            out.append(match.group())
    return out


class _Definition:
    """One operation or fragment: its name, root fields and the fragments it spreads."""

    def __init__(self, kind: str, name: str | None) -> None:
        self.kind = kind
        self.name = name
        self.fields: set[str] = set()
        self.spreads: set[str] = set()


def _selection(tokens: list[str], start: int, into: _Definition) -> int:
    """Read the selection set opening at ``tokens[start]`` (a ``{``), recording the
    fields at its top level (and in inline fragments there); return the index after its
    closing brace."""
    i = start + 1
    while i < len(tokens) and tokens[i] != "}":
        token = tokens[i]
        if token == "...":
            i += 1
            if i < len(tokens) and tokens[i] not in ("on", "@", "{"):
                into.spreads.add(tokens[i])  # a named fragment
                i += 1
                i = _skip_directives(tokens, i)
                continue
            if i < len(tokens) and tokens[i] == "on":
                i += 2  # the type condition
            i = _skip_directives(tokens, i)
            if i < len(tokens) and tokens[i] == "{":
                i = _selection(tokens, i, into)
            continue
        if not _is_name(token):
            return len(tokens)  # not a document we can read
        field = token
        i += 1
        if i + 1 < len(tokens) and tokens[i] == ":":
            field = tokens[i + 1]  # ``alias: field``
            i += 2
        into.fields.add(field)
        if i < len(tokens) and tokens[i] == "(":
            i = _skip_group(tokens, i, "(", ")")
        i = _skip_directives(tokens, i)
        if i < len(tokens) and tokens[i] == "{":
            i = _skip_group(tokens, i, "{", "}")
    return i + 1


def _is_name(token: str) -> bool:
    return bool(token) and (token[0].isalpha() or token[0] == "_")


def _skip_group(tokens: list[str], i: int, opening: str, closing: str) -> int:
    """The index after the group opening at ``tokens[i]``; strings are single tokens, so
    a brace inside one is not counted."""
    depth = 0
    while i < len(tokens):
        if tokens[i] == opening:
            depth += 1
        elif tokens[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _skip_directives(tokens: list[str], i: int) -> int:
    while i + 1 < len(tokens) and tokens[i] == "@":
        i += 2
        if i < len(tokens) and tokens[i] == "(":
            i = _skip_group(tokens, i, "(", ")")
    return i


def _definitions(tokens: list[str]) -> list[_Definition]:
    found: list[_Definition] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "{":  # the query shorthand
            definition = _Definition("query", None)
            i = _selection(tokens, i, definition)
        elif token in _OPERATION_KEYWORDS or token == "fragment":
            i += 1
            name = tokens[i] if i < len(tokens) and _is_name(tokens[i]) else None
            definition = _Definition(token, name)
            while i < len(tokens) and tokens[i] != "{":
                i = _skip_group(tokens, i, "(", ")") if tokens[i] == "(" else i + 1
            i = _selection(tokens, i, definition) if i < len(tokens) else i
        else:
            return found  # not an executable document we can read
        found.append(definition)
    return found


@functools.lru_cache(maxsize=256)
def root_fields(document: str, operation_name: str | None = None) -> frozenset[str]:
    """The root fields of the operation ``operation_name`` selects in ``document`` (the
    only operation when None), fragments on the root type included; empty when the
    document cannot be read or names no such operation."""
    tokens = _tokens(document)
    if tokens is None:
        return frozenset()
    definitions = _definitions(tokens)
    operations = [d for d in definitions if d.kind != "fragment"]
    if operation_name is not None:
        operations = [d for d in operations if d.name == operation_name]
    if len(operations) != 1:
        return frozenset()
    fragments = {d.name: d for d in definitions if d.kind == "fragment"}
    fields: set[str] = set()
    todo, seen = [operations[0]], set[str]()
    while todo:
        definition = todo.pop()
        fields |= definition.fields
        for spread in definition.spreads - seen:
            seen.add(spread)
            if spread in fragments:
                todo.append(fragments[spread])
    return frozenset(fields)


def token_role(document: str, operation_name: str | None = None) -> str | None:
    """``SIGN_IN`` when the operation signs in, ``REFRESH`` when it refreshes a token,
    else None; decided by its root fields, whatever the operation is called."""
    fields = root_fields(document, operation_name)
    if fields & SIGN_IN_FIELDS:
        return SIGN_IN
    if fields & REFRESH_FIELDS:
        return REFRESH
    return None
