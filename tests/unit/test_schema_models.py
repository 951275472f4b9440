"""Forward-compatible generated models: an enum value the schema gains after generation
arrives as its plain string (with one warning), known values stay enum members, and fields
the server adds are ignored. Checked on the models directly, through the transport's
one-pass JSON path, and over loopback through the generated client."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import typing
from collections.abc import Iterator
from enum import Enum
from typing import Any

import omnivoltaic_erm_gql as gql
import pytest
from omnivoltaic_erm_gql import (
    ActorTypes,
    Client,
    CodeEventFields,
    CodeTypes,
    GetItemsForDownloadById,
    ItemFields,
)
from pydantic import BaseModel

from omnivoltaic_erm._open_enum import OpenEnum, reset_warnings
from omnivoltaic_erm._transport import parse_result
from omnivoltaic_erm.errors import InvalidResponseError
from tests.conftest import ROOT
from tests.support.real_api import real_item
from tests.support.replay import Canned, ReplayServer

EVENT = {
    "_id": "6790a1f2c3d4e5f6a7b8c9d0",
    "codeDays": 0,
    "codeNumber": 3,
    "codeHexString": "0123456789ABCDEF",
    "codeDecString": "*001 002 003 004 005 006 007#",
    "description": "promo",
    "hashIndex": 3,
    "createdAt": "2025-01-09T09:27:52.758Z",
}
# Without the fields the server adds and we do not select, which the tests add themselves.
ITEM = {k: v for k, v in real_item(1).items() if k not in ("itemFleet", "__typename")}


def _data(*code_types: str, **extra: Any) -> dict[str, Any]:
    """A GetItemsForDownloadById result; ``extra`` goes into the item and every event."""
    events = [{**EVENT, "codeType": t, **extra} for t in code_types]
    return {"getItemsForDownloadById": [{"item": {**ITEM, **extra}, "codeHistory": events}]}


def _history(*code_types: str, **extra: Any) -> bytes:
    """The same as a response body."""
    return json.dumps({"data": _data(*code_types, **extra)}).encode()


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    reset_warnings()
    yield
    reset_warnings()


def _unknown_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "omnivoltaic_erm" and r.levelno == logging.WARNING
    ]


def test_an_unknown_enum_value_arrives_as_its_string_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="omnivoltaic_erm")
    result = GetItemsForDownloadById.model_validate_json(json.dumps(_data("DAYSCODE", "BONUSCODE")))
    known, new = result.get_items_for_download_by_id[0].code_history
    assert known.code_type is CodeTypes.DAYSCODE
    assert new.code_type == "BONUSCODE"
    assert type(new.code_type) is str
    (message,) = _unknown_warnings(caplog)
    assert message.startswith("unknown CodeTypes value 'BONUSCODE'")


def test_the_transport_fast_path_parses_it_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="omnivoltaic_erm")
    result = parse_result(GetItemsForDownloadById, 200, {}, _history("BONUSCODE", "FREECODE"))
    new, known = result.get_items_for_download_by_id[0].code_history
    assert (new.code_type, known.code_type) == ("BONUSCODE", CodeTypes.FREECODE)
    assert type(new.code_type) is str and isinstance(known.code_type, CodeTypes)
    assert len(_unknown_warnings(caplog)) == 1


def test_each_unknown_value_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="omnivoltaic_erm")
    body = _history("BONUSCODE", "BONUSCODE", "PROMOCODE", "BONUSCODE")
    parse_result(GetItemsForDownloadById, 200, {}, body)
    parse_result(GetItemsForDownloadById, 200, {}, body)
    warnings = _unknown_warnings(caplog)
    assert len(warnings) == 2
    assert any("'BONUSCODE'" in w for w in warnings) and any("'PROMOCODE'" in w for w in warnings)


def test_every_enum_is_open_inside_optional_fields() -> None:
    item = ItemFields.model_validate_json(
        json.dumps({**ITEM, "type": "ROBOT", "actionScope": "CLIENT", "codeGenUsed": None})
    )
    assert item.type_ == "ROBOT" and type(item.type_) is str
    assert item.action_scope.__class__.__name__ == "ActionScope"
    assert item.code_gen_used is None
    newer = ItemFields.model_validate_json(json.dumps({**ITEM, "codeGenUsed": "NEXTGEN"}))
    assert newer.code_gen_used == "NEXTGEN" and type(newer.code_gen_used) is str
    assert ItemFields.model_validate_json(json.dumps(ITEM)).type_ is ActorTypes.DEVICE


def test_an_extra_field_in_a_response_is_ignored() -> None:
    body = _history("DAYSCODE", batteryLevel=87, nested={"any": ["thing"]})
    result = parse_result(GetItemsForDownloadById, 200, {}, body)
    entry = result.get_items_for_download_by_id[0]
    for model in (entry.item, entry.code_history[0]):
        assert not hasattr(model, "batteryLevel")
        assert model.model_extra is None  # extra="ignore": not kept anywhere
        assert "batteryLevel" not in model.model_dump(by_alias=True)
    assert entry.code_history[0].code_type is CodeTypes.DAYSCODE


def test_a_value_that_is_not_a_string_still_fails() -> None:
    body = _history("DAYSCODE").replace(b'"codeType": "DAYSCODE"', b'"codeType": 7')
    assert b'"codeType": 7' in body
    with pytest.raises(InvalidResponseError, match="unexpected shape"):
        parse_result(GetItemsForDownloadById, 200, {}, body)


def test_a_model_with_an_unknown_value_dumps_it_back_unchanged() -> None:
    event = CodeEventFields.model_validate_json(json.dumps({**EVENT, "codeType": "BONUSCODE"}))
    assert event.model_dump(mode="json", by_alias=True)["codeType"] == "BONUSCODE"
    again = CodeEventFields.model_validate(event.model_dump(by_alias=True))
    assert again.code_type == "BONUSCODE"


def _enums_in(annotation: Any) -> Iterator[type[Enum]]:
    if inspect.isclass(annotation) and issubclass(annotation, Enum):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _enums_in(arg)


def _open_enums_in(annotation: Any) -> Iterator[type[Enum]]:
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, OpenEnum):
                yield meta.enum_cls
    for arg in typing.get_args(annotation):
        yield from _open_enums_in(arg)


def _result_models() -> list[type[BaseModel]]:
    # Only the inputs our operations use are generated; ours pass inputs inline.
    names = ("GenerateCodeInput", "GenerateDaysCodeInput")
    inputs = {
        getattr(gql, n, None) for n in (*names, "SignInCredentialsDto", "SignInCredentialsInput")
    }
    inputs.discard(None)
    return [
        obj
        for obj in vars(gql).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseModel)
        and obj is not gql.BaseModel
        and obj not in inputs
    ]


def test_every_enum_typed_result_field_is_generated_open() -> None:
    checked = 0
    for model in _result_models():
        hints = typing.get_type_hints(model, include_extras=True)
        for name, annotation in hints.items():
            enums = set(_enums_in(annotation))
            if enums:
                checked += 1
                assert set(_open_enums_in(annotation)) == enums, f"{model.__name__}.{name}"
                # What a type checker sees: the enum or a plain string.
                assert str in set(_plain_types(annotation)), f"{model.__name__}.{name}"
    assert checked >= 7  # codeType x5 models, Item.type, actionScope, idType, AuthToken enums


def _plain_types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _plain_types(arg)


def test_what_we_send_stays_a_closed_enum() -> None:
    # Arguments and input types are checked against the schema we know.
    source = (ROOT / "generated" / "omnivoltaic_erm_gql" / "client.py").read_text()
    assert "queryorder: QueryOrder," in source
    for name in ("client.py", "input_types.py"):
        path = ROOT / "generated" / "omnivoltaic_erm_gql" / name
        if path.exists():  # no input types are generated while no operation uses one
            assert "OpenEnum" not in path.read_text(), name


def test_the_generated_client_parses_a_new_value_and_a_new_field_over_the_wire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="omnivoltaic_erm")
    replay = ReplayServer(
        answers={"GetItemsForDownloadById": Canned(_history("BONUSCODE", batteryLevel=87))}
    )
    with replay.serve() as server:

        async def run() -> GetItemsForDownloadById:
            async with Client(url=f"{server.base_url}/graphql") as client:
                return await client.get_items_for_download_by_id(ids=[ITEM["_id"]])

        result = asyncio.run(run())
    (event,) = result.get_items_for_download_by_id[0].code_history
    assert event.code_type == "BONUSCODE"
    assert event.code_hex_string == EVENT["codeHexString"]
    assert _unknown_warnings(caplog)[0].startswith("unknown CodeTypes value 'BONUSCODE'")
