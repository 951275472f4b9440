"""Fetch, normalise and compare the ERM schema; find which of our operations a change breaks.

One module per step, each importable on its own:

- ``pull``: introspect an endpoint (``pull_schema``) and normalise SDL (``sorted_sdl``),
  the form ``schema.graphql`` is committed in, so that a pull from an unchanged server
  gives no diff. gql is needed only for pulling: install ``omnivoltaic-erm[schema]``.
- ``changes``: classify every difference between two schemas (``classify_changes``).
  graphql-core's ``find_breaking_changes`` and ``find_dangerous_changes`` classify the
  breaking and dangerous changes; every other difference (added types and fields,
  loosened argument types, new descriptions) is safe.
- ``usage``: our operations under ``queries/`` (``load_operations``), and the schema
  coordinates (``Type.field``, ``Type.field(arg:)``, ``Enum.VALUE``) each one uses.
- ``report``: validate each operation against the new schema and trace each validation
  error back, through the coordinates its AST nodes stand for, to the changes that cause
  it (``diff_schemas``, ``SchemaDiff``).

Everything here is pure except ``pull_schema`` and the file readers.
"""

from __future__ import annotations

from .changes import SEVERITIES, SchemaChange, Severity, classify_changes, coordinate_of
from .pull import load_schema, normalise_sdl, pull_schema, sdl_body, sorted_sdl
from .report import (
    OperationProblem,
    OperationReport,
    SchemaDiff,
    check_operation,
    diff_schemas,
    diff_sdl,
)
from .usage import Operation, load_operations, operation_files

__all__ = [
    "SEVERITIES",
    "Operation",
    "OperationProblem",
    "OperationReport",
    "SchemaChange",
    "SchemaDiff",
    "Severity",
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
    "sdl_body",
    "sorted_sdl",
]
