"""Classify every difference between two schemas as breaking, dangerous or safe.

graphql-core's ``find_breaking_changes`` and ``find_dangerous_changes`` classify the
breaking and dangerous changes; every other difference (added types and fields, loosened
argument types, new descriptions) is safe. Each change carries the schema coordinate it
changes (``Type.field``, ``Type.field(arg:)``, ``Enum.VALUE``), read back out of
graphql-core's description, so that it can be traced to the operations that use it. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
)
from graphql.utilities import find_breaking_changes, find_dangerous_changes

Severity = Literal["breaking", "dangerous", "safe"]
SEVERITIES: tuple[Severity, ...] = ("breaking", "dangerous", "safe")


@dataclass(frozen=True)
class SchemaChange:
    """One difference between two schemas.

    ``kind`` is graphql-core's change type name for breaking and dangerous changes
    (``FIELD_REMOVED``, ``VALUE_ADDED_TO_ENUM``, ...) and ours for safe ones
    (``TYPE_ADDED``, ``FIELD_ADDED``, ...). ``coordinate`` is the schema coordinate it
    changes (``Item.legacyItemId``, ``Query.getAllClientItems(search:)``,
    ``CodeTypes.BONUSCODE``); ``scope`` is the coordinate an operation must use to be
    touched by it: the enum for an enum value, the field for an added argument, else the
    coordinate itself.
    """

    severity: Severity
    kind: str
    description: str
    coordinate: str
    scope: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "coordinate": self.coordinate,
            "description": self.description,
        }


_N = r"[_A-Za-z][_0-9A-Za-z]*"
# graphql-core 3.2 describes each change in a fixed sentence (utilities/find_breaking_changes);
# these read the coordinate back out of it. The first matching pattern wins.
_DESCRIPTION_PATTERNS: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = tuple(
    (frozenset(kinds.split()), re.compile(pattern))
    for kinds, pattern in (
        ("TYPE_REMOVED", rf"^(?:Standard scalar )?(?P<type>{_N}) was removed"),
        ("TYPE_CHANGED_KIND", rf"^(?P<type>{_N}) changed from "),
        (
            "TYPE_REMOVED_FROM_UNION TYPE_ADDED_TO_UNION",
            rf"^{_N} was (?:removed from|added to) union type (?P<type>{_N})\.",
        ),
        (
            "VALUE_REMOVED_FROM_ENUM VALUE_ADDED_TO_ENUM",
            rf"^(?P<member>{_N}) was (?:removed from|added to) enum type (?P<type>{_N})\.",
        ),
        (
            "REQUIRED_INPUT_FIELD_ADDED OPTIONAL_INPUT_FIELD_ADDED",
            rf"field (?P<member>{_N}) on input type (?P<type>{_N}) was added",
        ),
        ("IMPLEMENTED_INTERFACE_REMOVED", rf"^(?P<type>{_N}) no longer implements"),
        ("IMPLEMENTED_INTERFACE_ADDED", rf"added to interfaces implemented by (?P<type>{_N})"),
        (
            "ARG_REMOVED ARG_CHANGED_KIND ARG_DEFAULT_VALUE_CHANGE",
            rf"^(?P<type>{_N})\.(?P<member>{_N}) arg (?P<arg>{_N}) ",
        ),
        (
            "REQUIRED_ARG_ADDED OPTIONAL_ARG_ADDED",
            rf"arg (?P<arg>{_N}) on (?P<type>{_N})\.(?P<member>{_N}) was added",
        ),
        ("FIELD_REMOVED FIELD_CHANGED_KIND", rf"^(?P<type>{_N})\.(?P<member>{_N}) "),
        ("DIRECTIVE_REMOVED", rf"^(?P<directive>{_N}) was removed\."),
        ("DIRECTIVE_REPEATABLE_REMOVED", rf"from (?P<directive>{_N})\.$"),
        (
            "REQUIRED_DIRECTIVE_ARG_ADDED DIRECTIVE_ARG_REMOVED DIRECTIVE_LOCATION_REMOVED",
            rf"(?:directive |from )(?P<directive>{_N})",
        ),
    )
)
# Changes that touch every operation using the enclosing type or field, not only the
# operations that use the changed member itself.
_SCOPE_IS_OWNER = frozenset(
    {
        "VALUE_ADDED_TO_ENUM",
        "VALUE_REMOVED_FROM_ENUM",
        "REQUIRED_INPUT_FIELD_ADDED",
        "OPTIONAL_INPUT_FIELD_ADDED",
        "REQUIRED_ARG_ADDED",
        "OPTIONAL_ARG_ADDED",
    }
)


def _owner(coordinate: str) -> str:
    """``Type.field`` for ``Type.field(arg:)``; ``Type`` for ``Type.member``."""
    if coordinate.endswith(":)"):
        return coordinate[: coordinate.index("(")]
    return coordinate.split(".", 1)[0]


def coordinate_of(kind: str, description: str) -> str:
    """The schema coordinate a graphql-core change description names (best effort)."""
    for kinds, pattern in _DESCRIPTION_PATTERNS:
        if kind not in kinds:
            continue
        match = pattern.search(description)
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("directive"):
            return "@" + groups["directive"]
        coordinate = groups["type"]
        if groups.get("member"):
            coordinate += "." + groups["member"]
        if groups.get("arg"):
            coordinate += f"({groups['arg']}:)"
        return coordinate
    return ""


def _classified(old: GraphQLSchema, new: GraphQLSchema) -> list[SchemaChange]:
    changes: list[SchemaChange] = []
    found: list[tuple[Severity, Any]] = [
        *(("breaking", c) for c in find_breaking_changes(old, new)),
        *(("dangerous", c) for c in find_dangerous_changes(old, new)),
    ]
    for severity, change in found:
        kind = change.type.name
        coordinate = coordinate_of(kind, change.description)
        scope = _owner(coordinate) if kind in _SCOPE_IS_OWNER and coordinate else coordinate
        changes.append(SchemaChange(severity, kind, change.description, coordinate, scope))
    return changes


def _user_types(schema: GraphQLSchema) -> dict[str, GraphQLNamedType]:
    return {n: t for n, t in schema.type_map.items() if not n.startswith("__")}


def _safe(old: GraphQLSchema, new: GraphQLSchema, reported: set[str]) -> list[SchemaChange]:
    """Differences the change finders do not report: additions, loosenings, descriptions."""
    out: list[SchemaChange] = []

    def add(kind: str, coordinate: str, description: str) -> None:
        if coordinate not in reported:
            out.append(SchemaChange("safe", kind, description, coordinate, coordinate))

    def described(coordinate: str, old_desc: str | None, new_desc: str | None) -> None:
        if (old_desc or "") != (new_desc or ""):
            add("DESCRIPTION_CHANGED", coordinate, f"{coordinate} has a new description.")

    old_types, new_types = _user_types(old), _user_types(new)
    for name in sorted(new_types.keys() - old_types.keys()):
        add("TYPE_ADDED", name, f"{name} was added.")
    for name in sorted(new_types.keys() & old_types.keys()):
        before, after = old_types[name], new_types[name]
        if type(before) is not type(after):
            continue  # TYPE_CHANGED_KIND, reported as breaking
        described(name, before.description, after.description)
        if isinstance(before, GraphQLEnumType) and isinstance(after, GraphQLEnumType):
            for value in sorted(before.values.keys() & after.values.keys()):
                was, now = before.values[value], after.values[value]
                coordinate = f"{name}.{value}"
                described(coordinate, was.description, now.description)
                if was.deprecation_reason != now.deprecation_reason:
                    add("DEPRECATION_CHANGED", coordinate, f"{coordinate} deprecation changed.")
        if not isinstance(
            before, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            continue
        assert isinstance(after, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType)
        for fname in sorted(after.fields.keys() - before.fields.keys()):
            if not isinstance(after, GraphQLInputObjectType):  # input fields: dangerous
                add("FIELD_ADDED", f"{name}.{fname}", f"{name}.{fname} was added.")
        for fname in sorted(after.fields.keys() & before.fields.keys()):
            coordinate = f"{name}.{fname}"
            was_f, now_f = before.fields[fname], after.fields[fname]
            if str(was_f.type) != str(now_f.type):
                add(
                    "FIELD_CHANGED_KIND",
                    coordinate,
                    f"{coordinate} changed type from {was_f.type} to {now_f.type}.",
                )
            described(coordinate, was_f.description, now_f.description)
            if was_f.deprecation_reason != now_f.deprecation_reason:
                add("DEPRECATION_CHANGED", coordinate, f"{coordinate} deprecation changed.")
            was_args = getattr(was_f, "args", {})
            now_args = getattr(now_f, "args", {})
            for arg in sorted(was_args.keys() & now_args.keys()):
                arg_coordinate = f"{coordinate}({arg}:)"
                if str(was_args[arg].type) != str(now_args[arg].type):
                    add(
                        "ARG_CHANGED_KIND",
                        arg_coordinate,
                        f"{coordinate} arg {arg} changed type from "
                        f"{was_args[arg].type} to {now_args[arg].type}.",
                    )
                described(arg_coordinate, was_args[arg].description, now_args[arg].description)
    for directive in sorted({d.name for d in new.directives} - {d.name for d in old.directives}):
        add("DIRECTIVE_ADDED", f"@{directive}", f"@{directive} was added.")
    return out


def classify_changes(old: GraphQLSchema, new: GraphQLSchema) -> list[SchemaChange]:
    """Every difference from ``old`` to ``new``: breaking, then dangerous, then safe."""
    changes = _classified(old, new)
    reported = {c.coordinate for c in changes}
    return changes + _safe(old, new, reported)


__all__ = ["SEVERITIES", "SchemaChange", "Severity", "classify_changes", "coordinate_of"]
