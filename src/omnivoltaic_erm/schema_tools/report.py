"""Check our operations against a new schema and report what a change breaks.

``diff_schemas`` classifies the changes (``changes``), validates each operation
(``usage``) against the new schema, and traces each validation error back, through the
coordinates its AST nodes stand for, to the changes that cause it. ``SchemaDiff`` is the
report: changes by severity, the operations each change breaks or affects, the exit code
and the JSON form that ``erm schema diff --json`` prints. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    validate,
)
from graphql.language import get_location

from .changes import SEVERITIES, SchemaChange, Severity, classify_changes
from .pull import load_schema
from .usage import Operation, Usage, UsageCollector


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


def _touches(change: SchemaChange, usage: Usage) -> bool:
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
    usage = UsageCollector(old, fragments).operation(op)
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


__all__ = [
    "OperationProblem",
    "OperationReport",
    "SchemaDiff",
    "check_operation",
    "diff_schemas",
    "diff_sdl",
]
