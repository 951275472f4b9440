"""Request ids: how a code request is recognised in an item's code history.

The API has no idempotency keys, so every code request carries a client request id (16
hex digits) at the end of its description, as ``[req:<id>]``; the id is chosen once,
before any attempt, and every attempt carries the same one. Reading the id back from a
stored description is how an unknown outcome is settled.
"""

from __future__ import annotations

import re
import secrets

_REQUEST_TAG = re.compile(r"\[req:([0-9a-f]{16})\]")
REQUEST_ID = re.compile(r"[0-9a-f]{16}")


def new_request_id() -> str:
    """A fresh client request id: 16 hex digits."""
    return secrets.token_hex(8)


def tag_description(description: str | None, request_id: str) -> str:
    """The description sent with a code: the user's text, then ``[req:<id>]``."""
    tag = f"[req:{request_id}]"
    return f"{description} {tag}" if description else tag


def untag_description(stored: str | None) -> str | None:
    """The user's description from a stored one, without the request tag."""
    text = _REQUEST_TAG.sub("", stored or "").strip()
    return text or None


def request_id_of(description: str | None) -> str | None:
    """The request id carried in a stored description, if any."""
    match = _REQUEST_TAG.search(description or "")
    return match.group(1) if match else None
