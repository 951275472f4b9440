"""``schema_tools.diff_sdl``: every change classified, and each broken operation named with
the validation messages and the changes behind them. Pure: two SDL strings in, a report out."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_client_schema, build_schema, introspection_from_schema

from omnivoltaic_erm.errors import ConfigurationError
from omnivoltaic_erm.schema_tools import (
    Operation,
    SchemaDiff,
    coordinate_of,
    diff_sdl,
    load_operations,
    operation_files,
    sorted_sdl,
)
from tests.conftest import ROOT
from tests.support.schema_changes import COMMITTED_SDL, additive_sdl, edit, modified_sdl
from tests.unit.test_contracts import OPERATIONS

# The operations that select the ItemFields fragment.
ITEM_OPERATIONS = {
    "GetAllClientItems",
    "GetItemsForDownloadById",
    "GetSpecificItem",
    "GetItemByOemItemId",
}


@pytest.fixture(scope="module")
def operations() -> list[Operation]:
    return load_operations(operation_files(ROOT / "queries"), ROOT)


@pytest.fixture(scope="module")
def report(operations: list[Operation]) -> SchemaDiff:
    return diff_sdl(COMMITTED_SDL, modified_sdl(), operations)


def _kinds(report: SchemaDiff) -> set[tuple[str, str, str]]:
    return {(c.severity, c.kind, c.coordinate) for c in report.changes}


def test_each_change_is_classified(report: SchemaDiff) -> None:
    assert _kinds(report) == {
        ("breaking", "FIELD_REMOVED", "AuthToken.subRoleName"),
        ("breaking", "ARG_CHANGED_KIND", "Query.getAllClientItems(search:)"),
        ("dangerous", "VALUE_ADDED_TO_ENUM", "CodeTypes.BONUSCODE"),
        ("safe", "FIELD_ADDED", "CodeEvent.batteryLevel"),
    }
    # Breaking first, then dangerous, then safe.
    assert [c.severity for c in report.changes] == ["breaking", "breaking", "dangerous", "safe"]


def test_the_broken_operations_are_named_with_their_causes(report: SchemaDiff) -> None:
    assert {op.name for op in report.broken_operations} == {"SignInUser", "GetAllClientItems"}
    assert report.exit_code == 1
    by_coordinate = {c.coordinate: c for c in report.changes}
    removed = by_coordinate["AuthToken.subRoleName"]
    required = by_coordinate["Query.getAllClientItems(search:)"]
    assert report.breaks(removed) == ("SignInUser",)
    assert report.breaks(required) == ("GetAllClientItems",)

    ops = {op.name: op for op in report.operations}
    (sign_in_problem,) = ops["SignInUser"].problems
    assert "Cannot query field 'subRoleName' on type 'AuthToken'" in sign_in_problem.message
    assert sign_in_problem.changes == (removed,)
    assert sign_in_problem.locations == ("queries/sign_in.graphql:22:5",)
    (items_problem,) = ops["GetAllClientItems"].problems
    assert "'$search' of type 'String' used in position expecting type 'String!'" in (
        items_problem.message
    )
    assert items_problem.changes == (required,)
    assert "queries/items.graphql:7:3" in items_problem.locations


def test_the_added_enum_value_is_dangerous_and_breaks_nothing(report: SchemaDiff) -> None:
    (added,) = report.of("dangerous")
    assert added.description == "BONUSCODE was added to enum type CodeTypes."
    assert report.breaks(added) == ()
    # Every operation that reads a CodeTypes field is told about it.
    assert set(report.affects(added)) == {
        "GenerateDaysCode",
        "GenerateFreeCode",
        "GenerateResetCode",
        "GetItemCodeEvents",
        "GetItemsForDownloadById",
    }


def test_operations_that_survive_are_not_broken(report: SchemaDiff) -> None:
    ops = {op.name: op for op in report.operations}
    for name in ("SignInClient", "GenerateDaysCode", "GetItemsForDownloadById"):
        assert not ops[name].broken
        assert ops[name].problems == ()


def test_additive_changes_break_nothing(operations: list[Operation]) -> None:
    report = diff_sdl(COMMITTED_SDL, additive_sdl(), operations)
    assert report.exit_code == 0
    assert report.broken_operations == ()
    assert {c.kind for c in report.changes} == {"VALUE_ADDED_TO_ENUM", "FIELD_ADDED"}


def test_an_unchanged_schema_has_no_changes(operations: list[Operation]) -> None:
    report = diff_sdl(COMMITTED_SDL, COMMITTED_SDL, operations)
    assert report.changes == ()
    assert report.exit_code == 0
    assert len(report.operations) == len(OPERATIONS)


def test_a_field_removed_from_a_fragment_breaks_every_operation_spreading_it(
    operations: list[Operation],
) -> None:
    new = edit(COMMITTED_SDL, "  legacyItemId: Float\n", "")
    report = diff_sdl(COMMITTED_SDL, new, operations)
    (removed,) = report.changes
    assert removed.coordinate == "Item.legacyItemId"
    assert set(report.breaks(removed)) == ITEM_OPERATIONS
    for op in report.broken_operations:
        (problem,) = op.problems
        assert problem.locations == ("queries/fragments.graphql:22:3",)


def test_an_output_type_change_breaks_the_model_though_the_query_validates(
    operations: list[Operation],
) -> None:
    new = edit(COMMITTED_SDL, "  codeGenUsed: CodeGenUsed\n", "  codeGenUsed: Int\n")
    report = diff_sdl(COMMITTED_SDL, new, operations)
    (changed,) = report.changes
    assert (changed.severity, changed.kind) == ("breaking", "FIELD_CHANGED_KIND")
    assert set(report.breaks(changed)) == ITEM_OPERATIONS
    problem = report.broken_operations[0].problems[0]
    assert "generated model expects the old type" in problem.message


def test_a_required_input_field_breaks_the_operation_sending_that_input(
    operations: list[Operation],
) -> None:
    new = edit(
        COMMITTED_SDL,
        "input GenerateDaysCodeInput {\n",
        "input GenerateDaysCodeInput {\n  channel: String!\n\n",
    )
    report = diff_sdl(COMMITTED_SDL, new, operations)
    (added,) = report.changes
    assert (added.kind, added.coordinate) == (
        "REQUIRED_INPUT_FIELD_ADDED",
        "GenerateDaysCodeInput.channel",
    )
    assert report.breaks(added) == ("GenerateDaysCode",)
    (problem,) = report.broken_operations[0].problems
    assert "channel" in problem.message and problem.changes == (added,)


def test_a_removed_enum_value_breaks_an_operation_that_sends_it_as_a_literal(
    tmp_path: Path,
) -> None:
    (tmp_path / "q.graphql").write_text(
        "query Newest { getAllClientItems(queryorder: DESC, first: 1, assetaccount: false)"
        " { pageData { count } } }\n"
        "query Any($o: QueryOrder!) { getAllClientItems(queryorder: $o, assetaccount: false)"
        " { pageData { count } } }\n"
    )
    ops = load_operations(operation_files(tmp_path), tmp_path)
    new = edit(COMMITTED_SDL, "enum QueryOrder {\n  ASC\n  DESC\n}", "enum QueryOrder {\n  ASC\n}")
    report = diff_sdl(COMMITTED_SDL, new, ops)
    removed = next(c for c in report.changes if c.kind == "VALUE_REMOVED_FROM_ENUM")
    assert removed.coordinate == "QueryOrder.DESC"
    assert report.breaks(removed) == ("Newest",)
    # The variable form validates; it is only told that the enum it sends changed.
    assert report.affects(removed) == ("Newest", "Any")


@pytest.mark.parametrize(
    ("old", "new", "kind", "coordinate"),
    [
        ("type Query { a: Int }", "type Query { b: Int }", "FIELD_REMOVED", "Query.a"),
        ("type Query { a: Int }", "type Query { a: String }", "FIELD_CHANGED_KIND", "Query.a"),
        ("type Query { a: Int } type T { x: Int }", "type Query { a: Int }", "TYPE_REMOVED", "T"),
        (
            "type Query { a: Int } type T { x: Int }",
            "type Query { a: Int } input T { x: Int }",
            "TYPE_CHANGED_KIND",
            "T",
        ),
        (
            "type Query { a(x: Int): Int }",
            "type Query { a: Int }",
            "ARG_REMOVED",
            "Query.a(x:)",
        ),
        (
            "type Query { a(x: Int): Int }",
            "type Query { a(x: Int!): Int }",
            "ARG_CHANGED_KIND",
            "Query.a(x:)",
        ),
        (
            "type Query { a: Int }",
            "type Query { a(x: Int!): Int }",
            "REQUIRED_ARG_ADDED",
            "Query.a(x:)",
        ),
        (
            "type Query { a: Int }",
            "type Query { a(x: Int): Int }",
            "OPTIONAL_ARG_ADDED",
            "Query.a(x:)",
        ),
        (
            "type Query { a(x: Int = 1): Int }",
            "type Query { a(x: Int = 2): Int }",
            "ARG_DEFAULT_VALUE_CHANGE",
            "Query.a(x:)",
        ),
        (
            "type Query { a: E } enum E { A B }",
            "type Query { a: E } enum E { A }",
            "VALUE_REMOVED_FROM_ENUM",
            "E.B",
        ),
        (
            "type Query { a: E } enum E { A }",
            "type Query { a: E } enum E { A B }",
            "VALUE_ADDED_TO_ENUM",
            "E.B",
        ),
        (
            "type Query { a(i: I): Int } input I { x: Int }",
            "type Query { a(i: I): Int } input I { x: Int y: Int! }",
            "REQUIRED_INPUT_FIELD_ADDED",
            "I.y",
        ),
        (
            "type Query { a(i: I): Int } input I { x: Int }",
            "type Query { a(i: I): Int } input I { x: Int y: Int }",
            "OPTIONAL_INPUT_FIELD_ADDED",
            "I.y",
        ),
        (
            "type Query { u: U } union U = A | B type A { x: Int } type B { x: Int }",
            "type Query { u: U } union U = A type A { x: Int } type B { x: Int }",
            "TYPE_REMOVED_FROM_UNION",
            "U",
        ),
        (
            "type Query { u: U } union U = A type A { x: Int } type B { x: Int }",
            "type Query { u: U } union U = A | B type A { x: Int } type B { x: Int }",
            "TYPE_ADDED_TO_UNION",
            "U",
        ),
        (
            "type Query { a: A } interface N { x: Int } type A implements N { x: Int }",
            "type Query { a: A } interface N { x: Int } type A { x: Int }",
            "IMPLEMENTED_INTERFACE_REMOVED",
            "A",
        ),
        (
            "type Query { a: A } interface N { x: Int } type A { x: Int }",
            "type Query { a: A } interface N { x: Int } type A implements N { x: Int }",
            "IMPLEMENTED_INTERFACE_ADDED",
            "A",
        ),
        (
            "directive @d on FIELD type Query { a: Int }",
            "type Query { a: Int }",
            "DIRECTIVE_REMOVED",
            "@d",
        ),
        (
            "directive @d(x: Int) on FIELD type Query { a: Int }",
            "directive @d on FIELD type Query { a: Int }",
            "DIRECTIVE_ARG_REMOVED",
            "@d",
        ),
        (
            "directive @d on FIELD | QUERY type Query { a: Int }",
            "directive @d on FIELD type Query { a: Int }",
            "DIRECTIVE_LOCATION_REMOVED",
            "@d",
        ),
    ],
)
def test_every_graphql_core_change_is_read_back_to_its_coordinate(
    old: str, new: str, kind: str, coordinate: str
) -> None:
    report = diff_sdl(old, new)
    found = [c for c in report.changes if c.kind == kind]
    assert found, f"graphql-core reported no {kind}: {report.changes}"
    assert found[0].coordinate == coordinate
    assert coordinate_of(kind, found[0].description) == coordinate


def test_safe_changes_are_the_other_differences() -> None:
    old = 'type Query {\n  "old words"\n  a(x: Int!): Int\n  b: Int\n}\nenum E { A }\n'
    new = (
        'type Query {\n  "new words"\n  a(x: Int): Int!\n  b: Int @deprecated\n  c: T\n}\n'
        "enum E { A }\ntype T { x: Int }\n"
    )
    report = diff_sdl(old, new)
    assert all(c.severity == "safe" for c in report.changes)
    assert {(c.kind, c.coordinate) for c in report.changes} == {
        ("TYPE_ADDED", "T"),
        ("FIELD_ADDED", "Query.c"),
        ("FIELD_CHANGED_KIND", "Query.a"),
        ("ARG_CHANGED_KIND", "Query.a(x:)"),
        ("DESCRIPTION_CHANGED", "Query.a"),
        ("DEPRECATION_CHANGED", "Query.b"),
    }


def test_a_change_graphql_core_classifies_is_not_listed_again_as_safe() -> None:
    report = diff_sdl("type Query { a: Int b: Int }", "type Query { a: String b: Int }")
    assert [(c.severity, c.kind) for c in report.changes] == [("breaking", "FIELD_CHANGED_KIND")]


def test_the_json_report_is_complete(report: SchemaDiff) -> None:
    data = report.to_dict()
    assert data["summary"] == {
        "breaking": 2,
        "dangerous": 1,
        "safe": 1,
        "operations": len(OPERATIONS),
        "broken_operations": ["GetAllClientItems", "SignInUser"],
    }
    removed = next(c for c in data["changes"] if c["coordinate"] == "AuthToken.subRoleName")
    assert removed["breaks"] == ["SignInUser"]
    sign_in = next(op for op in data["operations"] if op["name"] == "SignInUser")
    assert sign_in["broken"] is True
    assert sign_in["problems"][0]["changes"] == ["AuthToken.subRoleName was removed."]


def test_an_invalid_schema_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="the new schema is not a valid GraphQL schema"):
        diff_sdl(COMMITTED_SDL, "type Query { a: Nope }")


def test_a_syntax_error_in_an_operation_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.graphql").write_text("query Broken { getAllClientItems( }\n")
    with pytest.raises(ConfigurationError, match=r"bad\.graphql: .*line 1"):
        load_operations(operation_files(tmp_path), tmp_path)


def test_an_empty_operations_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no \.graphql files"):
        operation_files(tmp_path)


def test_introspection_round_trips_the_committed_schema_byte_for_byte() -> None:
    # What `erm schema pull` does with the introspection answer, minus the wire.
    client_schema = build_client_schema(introspection_from_schema(build_schema(COMMITTED_SDL)))
    assert sorted_sdl(client_schema) == COMMITTED_SDL
