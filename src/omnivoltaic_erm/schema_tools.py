"""Fetch, normalise and compare the ERM schema; find which of our operations a change breaks.

``pull_schema`` introspects an endpoint with gql and returns lexicographically sorted
SDL, the form ``schema.graphql`` is committed in, so that a pull from an unchanged server
gives no diff. gql is needed only for pulling: install ``omnivoltaic-erm[schema]``.

``diff_schemas`` compares two schemas. graphql-core's ``find_breaking_changes`` and
``find_dangerous_changes`` classify the breaking and dangerous changes; every other
difference (added types and fields, loosened argument types, new descriptions) is safe.
Each operation under ``queries/`` is then validated against the new schema, and each
validation error is traced back, through the schema coordinates (``Type.field``,
``Type.field(arg:)``, ``Enum.VALUE``) its AST nodes stand for, to the changes that cause it.
Everything here is pure except ``pull_schema`` and the file readers.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from graphql import (
    ArgumentNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    ValueNode,
    build_schema,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    lexicographic_sort_schema,
    parse,
    print_schema,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.language import get_location
from graphql.utilities import find_breaking_changes, find_dangerous_changes, type_from_ast

from ._logging import redact
from .errors import (
    ConfigurationError,
    HttpStatusError,
    InvalidResponseError,
    ServerError,
    TimeoutError,
    TransportError,
)
from .errors import GraphQLError as ErmGraphQLError

Severity = Literal["breaking", "dangerous", "safe"]
SEVERITIES: tuple[Severity, ...] = ("breaking", "dangerous", "safe")


# --------------------------------------------------------------------------- SDL


def sorted_sdl(schema: GraphQLSchema) -> str:
    """The schema as SDL with types and fields in lexicographic order."""
    return print_schema(lexicographic_sort_schema(schema)) + "\n"


def normalise_sdl(sdl: str) -> str:
    """Parse SDL and print it back sorted."""
    return sorted_sdl(build_schema(sdl))


def load_schema(sdl: str, name: str = "schema") -> GraphQLSchema:
    """Build a schema from SDL, or raise ConfigurationError naming ``name``."""
    try:
        return build_schema(sdl)
    except (GraphQLError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(f"{name} is not a valid GraphQL schema: {first}") from exc


async def pull_schema(
    url: str, headers: Mapping[str, str] | None = None, *, timeout: float = 30.0
) -> str:
    """Introspect ``url`` and return its schema as sorted SDL.

    ``headers`` (e.g. ``Authorization``) go with the request and into no message: the
    errors raised name the URL and the failure only.
    """
    try:
        from gql import Client
        from gql.transport.aiohttp import AIOHTTPTransport
        from gql.transport.exceptions import TransportError as GqlTransportError
        from gql.transport.exceptions import (
            TransportProtocolError,
            TransportQueryError,
            TransportServerError,
        )
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "pulling a schema needs gql: pip install 'omnivoltaic-erm[schema]'"
        ) from exc
    transport = AIOHTTPTransport(url=url, headers=dict(headers or {}), ssl=True)
    client = Client(transport=transport, fetch_schema_from_transport=True)
    try:
        async with asyncio.timeout(timeout), client:
            schema = client.schema
    except builtins.TimeoutError as exc:
        raise TimeoutError(f"introspecting {url}: no answer within {timeout:g} s") from exc
    except TransportServerError as exc:
        status = exc.code if isinstance(exc.code, int) else 0
        raise (ServerError if status >= 500 else HttpStatusError)(status) from exc
    except TransportQueryError as exc:
        errors = [e for e in (exc.errors or []) if isinstance(e, dict)]
        said = errors[0].get("message") if errors else None
        raise ErmGraphQLError(
            redact(
                f"introspecting {url}: {said or 'the server answered with errors'} "
                "(is introspection disabled, or is a token needed?)"
            ),
            errors=errors,
        ) from exc
    except TransportProtocolError as exc:
        raise InvalidResponseError(f"introspecting {url}: not a GraphQL answer") from exc
    except GqlTransportError as exc:  # gql wraps the aiohttp failure
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectorError):
            raise TransportError(f"cannot connect to {url} ({cause.os_error})", sent=False) from exc
        raise TransportError(f"introspecting {url}: {type(cause or exc).__name__}") from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"introspecting {url}: {type(exc).__name__}") from exc
    if schema is None:
        raise InvalidResponseError(f"{url} returned no schema")
    return sorted_sdl(schema)


# --------------------------------------------------------------------------- changes


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


# --------------------------------------------------------------------------- operations


@dataclass
class _Usage:
    """What one operation uses: schema coordinates, and the coordinates per AST node."""

    coordinates: set[str] = field(default_factory=set)
    by_node: dict[int, set[str]] = field(default_factory=dict)
    # Output fields selected, with their types: a type change under them breaks our models.
    selected: set[str] = field(default_factory=set)

    def mark(self, node: Node, *coordinates: str) -> None:
        self.coordinates.update(coordinates)
        self.by_node.setdefault(id(node), set()).update(coordinates)


class _UsageCollector:
    """Walks an operation (and the fragments it spreads) against the base schema."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.usage = _Usage()
        self._seen_fragments: set[str] = set()

    def operation(self, op: OperationDefinitionNode) -> _Usage:
        for var in op.variable_definitions:
            var_type = type_from_ast(self.schema, var.type)
            if var_type is None:
                continue
            named = get_named_type(var_type)
            self.usage.mark(var, named.name)
            self.usage.mark(var.type, named.name)
            self._input_type(named, set())
        root = self.schema.get_root_type(op.operation)
        if root is not None:
            self.usage.coordinates.add(root.name)
            self._selection_set(op.selection_set, root)
        return self.usage

    def _input_type(self, named: GraphQLNamedType, seen: set[str]) -> None:
        """A variable of an input type may send any of its fields."""
        self.usage.coordinates.add(named.name)
        if not isinstance(named, GraphQLInputObjectType) or named.name in seen:
            return
        seen.add(named.name)
        for fname, input_field in named.fields.items():
            self.usage.coordinates.add(f"{named.name}.{fname}")
            self._input_type(get_named_type(input_field.type), seen)

    def _selection_set(self, selection_set: SelectionSetNode | None, parent: Any) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value)
                    if target is not None:
                        self.usage.mark(selection.type_condition, target.name)
                self._selection_set(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                self._spread(selection)

    def _spread(self, spread: FragmentSpreadNode) -> None:
        name = spread.name.value
        fragment = self.fragments.get(name)
        if fragment is None or name in self._seen_fragments:
            return
        self._seen_fragments.add(name)
        target = self.schema.get_type(fragment.type_condition.name.value)
        if target is not None:
            self.usage.mark(fragment.type_condition, target.name)
            self._selection_set(fragment.selection_set, target)

    def _field(self, node: FieldNode, parent: Any) -> None:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not isinstance(fields, dict) or name not in fields:
            return
        definition = fields[name]
        coordinate = f"{parent.name}.{name}"
        named = get_named_type(definition.type)
        self.usage.mark(node, coordinate, parent.name, named.name)
        self.usage.selected.add(coordinate)
        for arg in node.arguments:
            self._argument(arg, coordinate, definition.args)
        self._selection_set(node.selection_set, named)

    def _argument(self, node: ArgumentNode, owner: str, args: Mapping[str, Any]) -> None:
        name = node.name.value
        coordinate = f"{owner}({name}:)"
        self.usage.mark(node, coordinate, owner)
        if name in args:
            self._value(node.value, args[name].type, (coordinate, owner))

    def _value(self, node: ValueNode, input_type: Any, context: tuple[str, ...]) -> None:
        named = get_named_type(input_type)
        self.usage.mark(node, *context, named.name)
        if isinstance(node, ObjectValueNode) and is_input_object_type(named):
            assert isinstance(named, GraphQLInputObjectType)
            for object_field in node.fields:
                fname = object_field.name.value
                coordinate = f"{named.name}.{fname}"
                self.usage.mark(object_field, coordinate, *context)
                if fname in named.fields:
                    self._value(
                        object_field.value, named.fields[fname].type, (coordinate, *context)
                    )
        elif isinstance(node, ListValueNode):
            nullable = get_nullable_type(input_type)
            item_type = nullable.of_type if isinstance(nullable, GraphQLList) else nullable
            for item in node.values:
                self._value(item, item_type, context)
        elif isinstance(node, EnumValueNode) and isinstance(named, GraphQLEnumType):
            self.usage.mark(node, f"{named.name}.{node.value}")


@dataclass(frozen=True)
class Operation:
    """One named operation from ``queries/``, with the fragments it needs."""

    name: str
    source: str
    document: DocumentNode


def load_operations(paths: Iterable[Path], root: Path | None = None) -> list[Operation]:
    """Parse every ``.graphql`` file; one ``Operation`` per named operation.

    Each operation's document holds the operation and every fragment it spreads,
    directly or through other fragments, wherever in ``paths`` they are defined.
    """
    operations: list[OperationDefinitionNode] = []
    fragments: dict[str, FragmentDefinitionNode] = {}
    for path in sorted(paths):
        label = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
        try:
            document = parse(Source(path.read_text(encoding="utf-8"), label))
        except GraphQLSyntaxError as exc:
            raise ConfigurationError(f"{label}: {exc.message} at {_where(exc)}") from exc
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations.append(definition)
            elif isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
    result = []
    for op in operations:
        if op.name is None:
            raise ConfigurationError(f"{_source_name(op)}: every operation needs a name")
        needed = _fragments_needed(op, fragments)
        result.append(
            Operation(
                op.name.value,
                _source_name(op),
                DocumentNode(definitions=(op, *(fragments[n] for n in needed))),
            )
        )
    return result


def _source_name(node: Node) -> str:
    return node.loc.source.name if node.loc is not None else "<unknown>"


def _where(exc: GraphQLError) -> str:
    if exc.locations:
        loc = exc.locations[0]
        return f"line {loc.line}, column {loc.column}"
    return "an unknown place"


def _spreads(node: Any) -> Iterator[str]:
    selection_set = getattr(node, "selection_set", None)
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        else:
            yield from _spreads(selection)


def _fragments_needed(
    op: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[str]:
    needed: list[str] = []
    pending = list(_spreads(op))
    while pending:
        name = pending.pop(0)
        if name in needed or name not in fragments:
            continue
        needed.append(name)
        pending.extend(_spreads(fragments[name]))
    return needed


@dataclass(frozen=True)
class OperationProblem:
    """Why an operation breaks: a validation message, where, and the changes behind it."""

    message: str
    locations: tuple[str, ...]
    changes: tuple[SchemaChange, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (changes by description)."""
        return {
            "message": self.message,
            "locations": list(self.locations),
            "changes": [c.description for c in self.changes],
        }


@dataclass(frozen=True)
class OperationReport:
    """One of our operations checked against the new schema."""

    name: str
    source: str
    problems: tuple[OperationProblem, ...]
    # Breaking or dangerous changes to something the operation uses.
    affected_by: tuple[SchemaChange, ...]

    @property
    def broken(self) -> bool:
        """True when the operation would fail against the new schema."""
        return bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "source": self.source,
            "broken": self.broken,
            "problems": [p.to_dict() for p in self.problems],
            "affected_by": [c.description for c in self.affected_by],
        }


@dataclass(frozen=True)
class SchemaDiff:
    """The changes between two schemas and what they do to our operations."""

    changes: tuple[SchemaChange, ...]
    operations: tuple[OperationReport, ...]

    def of(self, severity: Severity) -> tuple[SchemaChange, ...]:
        """The changes of one severity."""
        return tuple(c for c in self.changes if c.severity == severity)

    @property
    def broken_operations(self) -> tuple[OperationReport, ...]:
        """Our operations that would fail against the new schema."""
        return tuple(op for op in self.operations if op.broken)

    def breaks(self, change: SchemaChange) -> tuple[str, ...]:
        """Names of our operations that ``change`` breaks."""
        return tuple(
            op.name
            for op in self.operations
            if any(change in problem.changes for problem in op.problems)
        )

    def affects(self, change: SchemaChange) -> tuple[str, ...]:
        """Names of our operations that use what ``change`` changes."""
        return tuple(op.name for op in self.operations if change in op.affected_by)

    @property
    def exit_code(self) -> int:
        """1 when any of our operations would break, else 0."""
        return 1 if self.broken_operations else 0

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report."""
        return {
            "summary": {
                **{s: len(self.of(s)) for s in SEVERITIES},
                "operations": len(self.operations),
                "broken_operations": [op.name for op in self.broken_operations],
            },
            "changes": [
                {**c.to_dict(), "breaks": list(self.breaks(c)), "affects": list(self.affects(c))}
                for c in self.changes
            ],
            "operations": [op.to_dict() for op in self.operations],
        }


def _touches(change: SchemaChange, usage: _Usage) -> bool:
    return bool(change.scope) and (
        change.scope in usage.coordinates or change.coordinate in usage.coordinates
    )


def _locations(error: GraphQLError) -> tuple[str, ...]:
    out = []
    for node in error.nodes or ():
        if node.loc is not None:
            loc = get_location(node.loc.source, node.loc.start)
            out.append(f"{node.loc.source.name}:{loc.line}:{loc.column}")
    return tuple(dict.fromkeys(out))


def check_operation(
    operation: Operation,
    old: GraphQLSchema,
    new: GraphQLSchema,
    changes: Sequence[SchemaChange],
) -> OperationReport:
    """Validate ``operation`` against ``new`` and trace each error to its changes."""
    (op, *fragment_defs) = operation.document.definitions
    assert isinstance(op, OperationDefinitionNode)
    fragments = {f.name.value: f for f in fragment_defs if isinstance(f, FragmentDefinitionNode)}
    usage = _UsageCollector(old, fragments).operation(op)
    touching = tuple(c for c in changes if c.severity != "safe" and _touches(c, usage))
    breaking_touching = tuple(c for c in touching if c.severity == "breaking")
    problems: list[OperationProblem] = []
    explained: set[SchemaChange] = set()
    for error in validate(new, operation.document):
        at: set[str] = set()
        for node in error.nodes or ():
            at |= usage.by_node.get(id(node), set())
        related = tuple(c for c in changes if c.coordinate in at or c.scope in at)
        related = related or breaking_touching
        explained.update(related)
        problems.append(OperationProblem(error.message, _locations(error), related))
    # A selected field whose output type changed still validates, but the generated
    # model expects the old type: that breaks the operation as surely as a removal.
    for change in breaking_touching:
        if (
            change not in explained
            and change.kind == "FIELD_CHANGED_KIND"
            and change.coordinate in usage.selected
        ):
            problems.append(
                OperationProblem(
                    f"{change.description[:-1]}, but the generated model expects the old type.",
                    (),
                    (change,),
                )
            )
    return OperationReport(operation.name, operation.source, tuple(problems), touching)


def diff_schemas(
    old: GraphQLSchema, new: GraphQLSchema, operations: Sequence[Operation] = ()
) -> SchemaDiff:
    """Classify every change from ``old`` to ``new`` and check ``operations`` against ``new``."""
    changes = classify_changes(old, new)
    reports = tuple(check_operation(op, old, new, changes) for op in operations)
    return SchemaDiff(tuple(changes), reports)


def diff_sdl(old_sdl: str, new_sdl: str, operations: Sequence[Operation] = ()) -> SchemaDiff:
    """``diff_schemas`` on two SDL strings."""
    return diff_schemas(
        load_schema(old_sdl, "the base schema"), load_schema(new_sdl, "the new schema"), operations
    )


def operation_files(directory: Path) -> list[Path]:
    """The ``.graphql`` files under ``directory``, or ConfigurationError."""
    if not directory.is_dir():
        raise ConfigurationError(f"no operations directory at {directory}")
    files = sorted(directory.rglob("*.graphql"))
    if not files:
        raise ConfigurationError(f"no .graphql files under {directory}")
    return files


__all__ = [
    "Operation",
    "OperationProblem",
    "OperationReport",
    "SchemaChange",
    "SchemaDiff",
    "check_operation",
    "classify_changes",
    "coordinate_of",
    "diff_schemas",
    "diff_sdl",
    "load_operations",
    "load_schema",
    "normalise_sdl",
    "operation_files",
    "pull_schema",
    "sorted_sdl",
]
