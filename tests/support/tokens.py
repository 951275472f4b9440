"""Tokens and time for the tests: unsigned JWTs, and a clock the test moves by hand."""

from __future__ import annotations

import base64
import json
import time
from typing import Any


def b64url(data: bytes) -> str:
    """``data`` in unpadded base64url, as a JWT carries each of its parts."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(exp: float, marker: str = "", **claims: Any) -> str:
    """An unsigned JWT that expires at ``exp``, with ``claims`` besides.

    The client reads only ``exp``, and no server here verifies the signature. ``marker``
    (a claim ``m``) tells apart tokens with the same ``exp``.
    """
    body: dict[str, Any] = {"exp": exp, **claims}
    if marker:
        body["m"] = marker
    header = b'{"alg":"HS256","typ":"JWT"}'
    return ".".join([b64url(header), b64url(json.dumps(body).encode()), "c2lnbmF0dXJl"])


class Clock:
    """An injectable clock, moved by hand: ``clock.now += 60``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now
