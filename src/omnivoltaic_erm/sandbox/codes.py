"""The sandbox's one-time codes: a per-item hash chain.

This is a stand-in for the proprietary device protocol ("ACP-1"), which is not public.
It only has to look and behave like the real thing from the API's side: a code is 64
bits, shown as 16 uppercase hex digits and as a 21-digit keypad string
``*ddd ddd ddd ddd ddd ddd ddd#``, and every event of an item gets a fresh code. No
device can check these codes.

The chain: link 0 is ``SHA-256("erm-sandbox:" + item _id)``; each code event takes
the next link, ``SHA-256(previous link + code type + days)``, and its code is the
first 8 bytes of that link. The link is stored with the event, so the chain continues
across restarts; ``hashIndex`` is the link's position (1 for the first event).

``hashRoot`` and ``hashTop`` (on the code generator and on each code event) are 16
uppercase hex digits taken from the links: the root from link 0, an event's top from
its own link, the generator's top from its latest link. They are only well-formed and
consistent: no device reads them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_DEC_DIGITS = 21  # 2**64 has 20 decimal digits; the keypad string has 7 groups of 3.


@dataclass(frozen=True, slots=True)
class Code:
    """One generated code and the chain link it came from."""

    value: int
    link: str
    hash_index: int

    @property
    def hex(self) -> str:
        """16 uppercase hex digits."""
        return format_hex(self.value)

    @property
    def dec(self) -> str:
        """The keypad form, ``*ddd ddd ddd ddd ddd ddd ddd#``."""
        return format_dec(self.value)


def chain_start(item_id: str) -> str:
    """Link 0 of an item's chain (hex)."""
    return hashlib.sha256(b"erm-sandbox:" + item_id.encode()).hexdigest()


def hash_of(link: str) -> str:
    """The ``hashTop`` / ``hashRoot`` shown for a chain link: 16 uppercase hex digits
    (bytes 8 to 15 of the link, which the code itself does not use)."""
    return link[16:32].upper()


def hash_root(item_id: str) -> str:
    """An item's ``hashRoot``: the shown hash of link 0."""
    return hash_of(chain_start(item_id))


def next_code(previous_link: str, hash_index: int, code_type: str, days: int) -> Code:
    """The code after ``previous_link``, which sits at position ``hash_index``."""
    digest = hashlib.sha256(bytes.fromhex(previous_link) + f"|{code_type}|{days}".encode()).digest()
    return Code(int.from_bytes(digest[:8], "big"), digest.hex(), hash_index + 1)


def format_hex(value: int) -> str:
    """``value`` (0 to 2**64-1) as 16 uppercase hex digits."""
    return f"{value:016X}"


def format_dec(value: int) -> str:
    """``value`` zero-padded to 21 decimal digits in groups of three, between * and #."""
    digits = f"{value:0{_DEC_DIGITS}d}"
    return "*" + " ".join(digits[i : i + 3] for i in range(0, _DEC_DIGITS, 3)) + "#"
