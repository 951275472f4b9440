"""Our operations: load them from ``queries/``, and record what each one uses.

``load_operations`` parses the ``.graphql`` files into one ``Operation`` per named
operation, with every fragment it needs. ``UsageCollector`` walks an operation against the
base schema and records the schema coordinates it uses, per AST node, so that a validation
error on a node can be traced to the changes that touch what the node stands for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    ValueNode,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    parse,
)
from graphql.error import GraphQLSyntaxError
from graphql.utilities import type_from_ast

from ..errors import (
    ConfigurationError,
)


@dataclass
class Usage:
    """What one operation uses: schema coordinates, and the coordinates per AST node."""

    coordinates: set[str] = field(default_factory=set)
    by_node: dict[int, set[str]] = field(default_factory=dict)
    # Output fields selected, with their types: a type change under them breaks our models.
    selected: set[str] = field(default_factory=set)

    def mark(self, node: Node, *coordinates: str) -> None:
        """Record that ``node`` stands for ``coordinates``."""
        self.coordinates.update(coordinates)
        self.by_node.setdefault(id(node), set()).update(coordinates)


class UsageCollector:
    """Walks an operation (and the fragments it spreads) against the base schema."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.usage = Usage()
        self._seen_fragments: set[str] = set()

    def operation(self, op: OperationDefinitionNode) -> Usage:
        """Everything ``op`` uses: its variables' input types and every selection."""
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


def operation_files(directory: Path) -> list[Path]:
    """The ``.graphql`` files under ``directory``, or ConfigurationError."""
    if not directory.is_dir():
        raise ConfigurationError(f"no operations directory at {directory}")
    files = sorted(directory.rglob("*.graphql"))
    if not files:
        raise ConfigurationError(f"no .graphql files under {directory}")
    return files


__all__ = ["Operation", "Usage", "UsageCollector", "load_operations", "operation_files"]
