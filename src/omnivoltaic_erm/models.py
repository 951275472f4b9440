"""Result types of the client, for annotations in services.

``Item`` and ``CodeEvent`` are the generated pydantic models themselves; ``IssuedCode``
is a thin wrapper that adds what the client knows of the request behind a code.
"""

from __future__ import annotations

from omnivoltaic_erm_gql import CodeEventFields as CodeEvent
from omnivoltaic_erm_gql import CodeFields, CodeTypes, QueryOrder
from omnivoltaic_erm_gql import ItemFields as Item
from pydantic import BaseModel, ConfigDict

__all__ = ["CodeEvent", "CodeTypes", "IssuedCode", "Item", "QueryOrder"]


class IssuedCode(BaseModel):
    """A code issued for an item.

    ``recovered`` is True when the code was found in the item's code history by its
    ``request_id`` instead of in the answer: the answer was lost (a timeout, a dropped
    connection), or the request id had been used before (by this call's earlier attempt,
    an earlier call, another process). ``duplicates`` counts the *other* code events that
    carry the same request id: 0, unless the network executed the request more than once
    (a gateway that re-sent it), which the client also reports with a
    ``DuplicateCodeWarning``.
    """

    # Built on first use: `erm items` and other reads never need it.
    model_config = ConfigDict(frozen=True, defer_build=True)

    item_id: str
    code_type: CodeTypes | str
    code_hex: str
    code_dec: str
    code_days: int
    description: str | None
    request_id: str
    recovered: bool = False
    duplicates: int = 0

    @classmethod
    def from_response(
        cls, item_id: str, code: CodeFields, days: int, description: str | None, request_id: str
    ) -> IssuedCode:
        """From a ``generate*Code`` answer."""
        return cls(
            item_id=item_id,
            code_type=code.code_type,
            code_hex=code.code_hex,
            code_dec=code.code_dec,
            code_days=days,
            description=description,
            request_id=request_id,
        )

    @classmethod
    def from_event(
        cls,
        item_id: str,
        event: CodeEvent,
        description: str | None,
        request_id: str,
        duplicates: int = 0,
    ) -> IssuedCode:
        """From the code-history event that carries ``request_id``."""
        return cls(
            duplicates=duplicates,
            item_id=item_id,
            code_type=event.code_type,
            code_hex=event.code_hex_string,
            code_dec=event.code_dec_string,
            code_days=event.code_days,
            description=description,
            request_id=request_id,
            recovered=True,
        )
