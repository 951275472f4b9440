"""Open enums: result fields that accept enum values added to the schema after generation.

The generation plugin (``codegen/erm_codegen_plugin.py``) annotates every enum-typed
result field as ``Annotated[Union[CodeTypes, str], OpenEnum(CodeTypes)]``. Type checkers
see ``CodeTypes | str``; pydantic validates left to right: a value the enum knows becomes
its member (validated in pydantic-core, no Python call), and any other string is kept as
the plain string, with one warning per distinct value on the ``omnivoltaic_erm`` logger.

Input types are left closed: a value we send must be one the schema knows.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from ._logging import get_logger

E = TypeVar("E", bound=Enum)

log = get_logger("omnivoltaic_erm")

# A misbehaving server could send endless distinct values; past this many, stop recording
# (and stop warning) rather than grow without bound.
_MAX_REMEMBERED = 1000
_warned: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _note_unknown(enum_name: str, value: str) -> None:
    key = (enum_name, value)
    with _lock:
        if key in _warned or len(_warned) >= _MAX_REMEMBERED:
            return
        _warned.add(key)
    log.warning(
        "unknown %s value %r: kept as a plain string; regenerate the client when the "
        "schema changes (see `erm schema diff`)",
        enum_name,
        value,
    )


def reset_warnings() -> None:
    """Forget which unknown values were reported, so each warns again (for tests)."""
    with _lock:
        _warned.clear()


class OpenEnum(Generic[E]):
    """Annotation metadata for ``Union[SomeEnum, str]``: known values as members, else str.

    Used as ``Annotated[Union[CodeTypes, str], OpenEnum(CodeTypes)]``; works at any
    nesting (inside ``Optional`` or ``list``) and in pydantic's JSON mode.
    """

    __slots__ = ("enum_cls",)

    def __init__(self, enum_cls: type[E]) -> None:
        self.enum_cls = enum_cls

    def __repr__(self) -> str:
        return f"OpenEnum({self.enum_cls.__name__})"

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        name = self.enum_cls.__name__

        def unknown(value: str) -> str:
            _note_unknown(name, value)
            return value

        # left_to_right, not pydantic's default "smart" mode: a JSON string matches str
        # exactly, so smart mode would pick str even for a value the enum knows.
        return core_schema.union_schema(
            [
                handler.generate_schema(self.enum_cls),
                core_schema.no_info_after_validator_function(unknown, core_schema.str_schema()),
            ],
            mode="left_to_right",
        )
