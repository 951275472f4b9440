"""Checks on what a caller passes before anything is sent: the endpoint URL and item ids.

Each function returns the value as it will be used, or raises ``ConfigurationError`` /
``InvalidInputError`` with a message that says what is wrong.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import ConfigurationError, InvalidInputError

MAX_ID_LENGTH = 128


def validate_url(url: str, allow_insecure: bool = False) -> str:
    """The endpoint URL, or ConfigurationError: https, or http to a loopback host only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"not an http(s) URL: {url!r:.80}")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http:// to {parts.hostname}: use https, or allow_insecure=True "
            "(--insecure) if you really mean it"
        )
    return url


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_item_id(item_id: object) -> str:
    """An item id as sent: a non-empty string of printable characters, not too long."""
    if not isinstance(item_id, str):
        raise InvalidInputError(f"an item id is a string, not {type(item_id).__name__}")
    if not item_id or len(item_id) > MAX_ID_LENGTH:
        raise InvalidInputError(
            f"an item id has 1 to {MAX_ID_LENGTH} characters; got {len(item_id)}", field="item"
        )
    if not item_id.isprintable():
        raise InvalidInputError("an item id cannot hold control characters", field="item")
    return item_id
