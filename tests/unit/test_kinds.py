"""The code-kind table: each row names what exists, and a row that names what does not is
refused at registration with what to do."""

from __future__ import annotations

import typing

import pytest
from omnivoltaic_erm_gql import (
    Client,
    CodeTypes,
    DistributorLimits,
    FleetLimits,
)

from omnivoltaic_erm import ConfigurationError, InvalidInputError, kinds
from omnivoltaic_erm._issuing import kind_name, what_code
from omnivoltaic_erm._ratelimit import ItemLedger
from omnivoltaic_erm.config import Limits
from omnivoltaic_erm.kinds import KINDS, CodeKind, issuable, kind_named, kind_of, register


def test_the_table_holds_the_three_kinds_the_handbook_issues() -> None:
    assert [(k.member, k.word, k.label) for k in KINDS.values()] == [
        (CodeTypes.DAYSCODE, "days", "days code"),
        (CodeTypes.FREECODE, "free", "free code"),
        (CodeTypes.RESETCODE, "reset", "reset code"),
    ]
    assert [k.word for k in KINDS.values() if k.takes_days] == ["days"]
    assert [k.word for k in KINDS.values() if k.clears_credit] == ["reset"]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda k: k.word)
def test_each_row_names_a_generated_operation_whose_answer_carries_the_code(
    kind: CodeKind,
) -> None:
    method = getattr(Client, kind.operation)
    answer = typing.get_type_hints(method)["return"]
    assert kind.operation in answer.model_fields
    takes = set(typing.get_type_hints(method)) - {"return", "kwargs"}
    assert ("code_days" in takes) is kind.takes_days


@pytest.mark.parametrize("kind", [k for k in KINDS.values() if k.allowance], ids=lambda k: k.word)
def test_each_allowance_names_a_limits_field_and_the_fragments_fields(kind: CodeKind) -> None:
    allowance = kind.allowance
    assert allowance is not None
    assert allowance.limit in Limits.__dataclass_fields__
    assert {allowance.count_field, allowance.switch_field} <= set(FleetLimits.model_fields)
    assert allowance.count_field in DistributorLimits.model_fields


def test_a_row_whose_operation_was_not_generated_is_refused_with_what_to_do() -> None:
    row = CodeKind(CodeTypes.JUMPCODE, "jump", "jump code", "generate_jump_code", "jumps")
    with pytest.raises(ConfigurationError) as refused:
        register(row)
    assert refused.value.message == (
        "the generated client has no operation 'generate_jump_code': add its .graphql "
        "file under queries/ and run `make generate`"
    )
    assert kind_of(CodeTypes.JUMPCODE) is None


def test_a_row_clashing_with_another_is_refused() -> None:
    same_word = CodeKind(CodeTypes.SYNCCODE, "free", "sync code", "generate_free_code", "syncs")
    with pytest.raises(ConfigurationError, match="clashes with free code"):
        register(same_word)
    with pytest.raises(ConfigurationError, match="has no field 'bonus_limit'"):
        register(
            CodeKind(
                CodeTypes.SYNCCODE,
                "sync",
                "sync code",
                "generate_free_code",
                "syncs",
                allowance=kinds.Allowance("bonus_limit", "a", "b", "c"),
            )
        )
    assert kind_of(CodeTypes.SYNCCODE) is None and kind_named("free") is KINDS["FREECODE"]


def test_registering_a_row_again_changes_nothing() -> None:
    before = dict(KINDS)
    register(KINDS["FREECODE"])
    assert before == KINDS


def test_a_kind_without_a_row_is_refused_by_name_and_named_as_it_came() -> None:
    with pytest.raises(
        InvalidInputError, match="issues days, free and reset codes, not SYNC"
    ) as no:
        issuable(CodeTypes.SYNCCODE)
    assert no.value.field == "kind"
    with pytest.raises(InvalidInputError, match="not a code type: 'BONUS'") as bad:
        issuable("BONUS")
    assert bad.value.field == "kind"
    assert issuable("FREECODE") is KINDS["FREECODE"]
    assert kind_name(CodeTypes.SYNCCODE) == "SYNCCODE"
    assert what_code(CodeTypes.DAYSCODE, 7, "X") == "7-day days code for X"
    assert what_code("RESETCODE", 0, "X") == "reset code for X"
    assert KINDS["FREECODE"].title == "Free code"


def test_names_are_listed_as_a_sentence() -> None:
    assert kinds.listing(("days", "free", "reset")) == "days, free and reset"
    assert kinds.listing(("days", "free"), "or") == "days or free"
    assert kinds.listing(("days",)) == "days"


def test_credit_stacks_only_the_days_of_kinds_that_take_days() -> None:
    ledger = ItemLedger()
    ledger.record(CodeTypes.DAYSCODE, 1.0, 30)
    ledger.record(CodeTypes.FREECODE, 2.0, 7)  # days on a free code's event are no credit
    ledger.record(CodeTypes.JUMPCODE, 3.0, 5)  # a kind this client does not issue
    ledger.record(CodeTypes.DAYSCODE, 4.0, 10)
    assert ledger.stacked_days(4) == 40
    assert ledger.count(CodeTypes.JUMPCODE) == 1 and ledger.total == 4
