"""Contracts from recorded traffic: check recordings against the models and the schema.

A recording (``_recording``) is one redacted answer of the real server to one of our
operations. ``verify`` checks each the two ways that matter:

1. **models**: the answer validated through the generated result model of its
   operation, exactly as the client does (``_transport.parse_result``): a failure here is
   a failed call in production;
2. **schema**: the operation's document validated against ``schema.graphql``, then the
   recorded data walked along the document's selections and the schema's types (each
   field by its response key): a null in a non-null field, an enum value the schema does
   not have, a value of the wrong scalar type (stricter than graphql-core's coercion,
   which would turn a number into a String), a selected field missing from the answer, a
   field the answer has but the document did not select. Every problem is reported, not
   only the first of an object.

``lint`` refuses recordings that hold anything that looks like a secret: a JWT, a
21-digit keypad code, a 16-hex code, or a value given as secret. Both need the
``schema`` extra (graphql-core).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ._recording import JWT, PLACEHOLDER
from .errors import ConfigurationError, ErmError

# A keypad code (21 digits, grouped or not) and a code's 16 hex digits.
KEYPAD_CODE = re.compile(r"\*?\d{3}(?: ?\d{3}){6}#?")
HEX_CODE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-F]{16}(?![0-9A-Fa-f])")


@dataclass(frozen=True)
class Finding:
    """One problem in one recording: where in the answer, and what."""

    recording: str
    check: str  # "models", "schema", "age", "format" or "secret"
    path: str
    message: str

    def line(self) -> str:
        """The finding on one line."""
        where = f" at {self.path}" if self.path else ""
        return f"{self.recording}: {self.check}{where}: {self.message}"


@dataclass
class OperationResult:
    """The recordings of one operation and what they showed."""

    operation: str
    recordings: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No finding for this operation."""
        return not self.findings


def load(path: Path) -> dict[str, Any]:
    """One recording; raises ``ValueError`` when it is not one."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("operation"), str):
        raise ValueError("not a recording (no operation)")
    return data


def recordings(directory: Path) -> list[Path]:
    """The recording files under ``directory``, in name (time) order."""
    if not directory.is_dir():
        raise ConfigurationError(f"no directory {directory}")
    return sorted(p for p in directory.rglob("*.json") if not p.name.startswith("."))


def _graphql() -> Any:
    try:
        import graphql
    except ImportError as exc:  # pragma: no cover - the schema extra is missing
        raise ConfigurationError(
            "contract checks need graphql-core: pip install 'omnivoltaic-erm[schema]'"
        ) from exc
    return graphql


def check_models(recording: Mapping[str, Any], name: str) -> list[Finding]:
    """The answer through the operation's generated model, as the client parses it."""
    import omnivoltaic_erm_gql

    from ._transport import parse_result

    model = getattr(omnivoltaic_erm_gql, str(recording["operation"]), None)
    if model is None or not isinstance(model, type):
        return []  # an operation of the user's own: the schema check still applies
    answer = recording.get("answer")
    if not isinstance(answer, dict) or answer.get("data") is None:
        return []  # an error answer: nothing to parse
    body = json.dumps(answer).encode()
    try:
        parse_result(model, 200, {}, body)
    except ErmError as exc:
        return [Finding(name, "models", "", exc.message)]
    return []


_INT_RANGE = range(-(2**31), 2**31)


def _scalar_problem(value: Any, name: str) -> str | None:
    """Why ``value`` is not a value of the built-in scalar ``name`` as JSON carries it,
    or None. Custom scalars are opaque but for ``DateTime``, an ISO 8601 string."""
    if name in ("String", "DateTime") and not isinstance(value, str):
        return f"expected {name} (a string), got {json.dumps(value)[:40]}"
    if name == "ID" and not (isinstance(value, str) or _is_int(value)):
        return f"expected ID (a string), got {json.dumps(value)[:40]}"
    if name == "Int" and not (_is_int(value) and value in _INT_RANGE):
        return f"expected Int (a 32-bit whole number), got {json.dumps(value)[:40]}"
    if name == "Float" and not (_is_int(value) or isinstance(value, float)):
        return f"expected Float (a number), got {json.dumps(value)[:40]}"
    if name == "Boolean" and not isinstance(value, bool):
        return f"expected Boolean, got {json.dumps(value)[:40]}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Walker:
    """Walks recorded data along an operation's selections and the schema's types,
    collecting (path, message) for every place the data breaks the contract."""

    def __init__(self, schema: Any, fragments: Mapping[str, Any]) -> None:
        self.graphql = _graphql()
        self.schema = schema
        self.fragments = fragments
        self.found: list[tuple[str, str]] = []

    def value(self, value: Any, type_: Any, selection: Any, path: str, where: str) -> None:
        g = self.graphql
        if isinstance(type_, g.GraphQLNonNull):
            if value is None:
                self.found.append((path, f"null in the non-null field {where}"))
                return
            type_ = type_.of_type
        if value is None:
            return
        if isinstance(type_, g.GraphQLList):
            if not isinstance(value, list):
                self.found.append((path, f"expected a list for {where}"))
                return
            for i, item in enumerate(value):
                self.value(item, type_.of_type, selection, f"{path}.{i}", where)
            return
        if isinstance(type_, g.GraphQLEnumType):
            if not isinstance(value, str) or value not in type_.values:
                self.found.append(
                    (path, f"{json.dumps(value)[:40]} is not a value of the enum {type_.name}")
                )
            return
        if isinstance(type_, g.GraphQLScalarType):
            problem = _scalar_problem(value, type_.name)
            if problem is not None:
                self.found.append((path, problem))
            return
        if not isinstance(value, Mapping):
            self.found.append((path, f"expected an object ({type_.name}) for {where}"))
            return
        self.object(value, type_, selection, path)

    def object(self, data: Mapping[str, Any], type_: Any, selection: Any, path: str) -> None:
        g = self.graphql
        concrete = type_
        if isinstance(type_, g.GraphQLInterfaceType | g.GraphQLUnionType):
            named = self.schema.get_type(str(data.get("__typename", "")))
            concrete = named if isinstance(named, g.GraphQLObjectType) else type_
        fields: dict[str, list[Any]] = {}
        required: set[str] = set()
        self._collect(selection.selections, concrete, fields, required, optional=False)
        for key in sorted(required - set(data)):
            self.found.append((_join(path, key), "selected but missing from the answer"))
        for key, value in data.items():
            nodes = fields.get(key)
            if nodes is None:
                self.found.append((_join(path, key), "in the answer but not selected"))
                continue
            node = nodes[0]
            if node.name.value == "__typename":
                continue
            field_def = getattr(concrete, "fields", {}).get(node.name.value)
            if field_def is None:
                continue  # a field of another type's inline fragment
            where = f"{concrete.name}.{node.name.value}"
            for each in nodes:
                self.value(value, field_def.type, each.selection_set, _join(path, key), where)

    def _collect(
        self,
        selections: Any,
        type_: Any,
        fields: dict[str, list[Any]],
        required: set[str],
        optional: bool,
    ) -> None:
        g = self.graphql
        for node in selections:
            if isinstance(node, g.FieldNode):
                key = (node.alias or node.name).value
                fields.setdefault(key, []).append(node)
                if not optional and node.name.value != "__typename":
                    required.add(key)
            elif isinstance(node, g.InlineFragmentNode):
                condition = node.type_condition
                applies = condition is None or condition.name.value == getattr(type_, "name", "")
                self._collect(
                    node.selection_set.selections, type_, fields, required, optional or not applies
                )
            elif isinstance(node, g.FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    applies = fragment.type_condition.name.value == getattr(type_, "name", "")
                    self._collect(
                        fragment.selection_set.selections,
                        type_,
                        fields,
                        required,
                        optional or (not applies and isinstance(type_, g.GraphQLObjectType)),
                    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_schema(recording: Mapping[str, Any], name: str, schema: Any) -> list[Finding]:
    """The document against the schema, and the recorded data along the document's
    selections and the schema's types."""
    graphql = _graphql()
    try:
        document = graphql.parse(str(recording.get("document") or ""))
    except graphql.GraphQLError as exc:
        return [Finding(name, "schema", "", f"the document does not parse: {exc.message}")]
    invalid = graphql.validate(schema, document)
    if invalid:
        return [
            Finding(name, "schema", "", f"the document is not valid: {e.message}") for e in invalid
        ]
    answer = recording.get("answer")
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        return []
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, graphql.FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    chosen = next(
        (o for o in operations if o.name and o.name.value == recording["operation"]),
        operations[0] if len(operations) == 1 else None,
    )
    if chosen is None:
        return [Finding(name, "schema", "", "the document has no such operation")]
    root = schema.get_root_type(chosen.operation)
    walker = _Walker(schema, fragments)
    walker.object(data, root, chosen.selection_set, "")
    return [Finding(name, "schema", path, message) for path, message in walker.found]


def verify(
    directory: Path,
    schema_sdl: str,
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[OperationResult]:
    """Every recording under ``directory``, checked; results per operation, by name."""
    graphql = _graphql()
    schema = graphql.build_schema(schema_sdl)
    moment = now or datetime.now(UTC)
    results: dict[str, OperationResult] = {}
    for path in recordings(directory):
        name = str(path.relative_to(directory))
        try:
            recording = load(path)
        except ValueError as exc:
            result = results.setdefault("(unreadable)", OperationResult("(unreadable)"))
            result.recordings += 1
            result.findings.append(Finding(name, "format", "", str(exc)))
            continue
        operation = str(recording["operation"])
        result = results.setdefault(operation, OperationResult(operation))
        result.recordings += 1
        if max_age is not None:
            result.findings += _age(recording, name, max_age, moment)
        result.findings += check_models(recording, name)
        result.findings += check_schema(recording, name, schema)
    return [results[k] for k in sorted(results)]


def _age(
    recording: Mapping[str, Any], name: str, max_age: timedelta, now: datetime
) -> list[Finding]:
    raw = recording.get("recorded_at")
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        return [Finding(name, "age", "", "no recording date")]
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    age = now - when
    if age > max_age:
        return [Finding(name, "age", "", f"recorded {age.days} days ago, past --max-age")]
    return []


def _strings(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}.{i}")
    elif isinstance(value, str):
        yield path, value


def lint(directory: Path, secrets: Iterable[str] = ()) -> list[Finding]:
    """Everything under ``directory`` that looks like a secret, one finding each."""
    wanted = tuple(s for s in secrets if s and len(s) >= 4)
    findings: list[Finding] = []
    for path in recordings(directory):
        name = str(path.relative_to(directory))
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        for where, value in _strings(data):
            cleaned = PLACEHOLDER.sub("", value)
            what = (
                "a JWT"
                if JWT.search(cleaned)
                else "a keypad code"
                if KEYPAD_CODE.search(cleaned)
                else "a 16-hex code"
                if HEX_CODE.search(cleaned)
                else "a value given as secret"
                if any(s in cleaned for s in wanted)
                else None
            )
            if what is not None:
                findings.append(Finding(name, "secret", where, f"holds {what}"))
    return findings
