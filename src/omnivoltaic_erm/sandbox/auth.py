"""Sandbox access tokens (JWT, HS256) and password hashing.

An access token's payload is ``{"distributorId", "roleName", "iat", "exp"}`` with
``exp - iat`` equal to the configured TTL, as on the real API. For a TTL of a minute
or more that is a whole number, ``iat`` and ``exp`` are whole seconds like the real
tokens; shorter or fractional TTLs (used by tests) carry milliseconds, so a 2-second
token really lives 2 seconds. Expiry is checked here, against ``exp`` as a float,
rather than by PyJWT, which truncates ``exp`` to whole seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt

ROLE_DISTRIBUTOR = "DISTRIBUTOR"
_ALGORITHM = "HS256"
_REFRESH = "refresh"
_PBKDF2_ROUNDS = 20_000


def new_secret() -> str:
    """A fresh random signing secret."""
    return secrets.token_hex(32)


def hash_password(password: str, salt: str | None = None) -> str:
    """``salt$hash`` (PBKDF2-SHA256) of ``password``."""
    salt = salt if salt is not None else secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), _PBKDF2_ROUNDS)
    return f"{salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``hash_password`` result, in constant time."""
    salt, _, _ = stored.partition("$")
    try:
        candidate = hash_password(password, salt)
    except ValueError:
        return False
    return hmac.compare_digest(candidate, stored)


def _times(now: float, ttl: float) -> tuple[float | int, float | int]:
    if ttl >= 60 and ttl == int(ttl):
        iat = int(now)
        return iat, iat + int(ttl)
    iat_ms = round(now, 3)
    return iat_ms, round(iat_ms + ttl, 3)


def issue_token(
    secret: str,
    distributor_id: str,
    ttl: float,
    now: float,
    *,
    refresh: bool = False,
    jti: str | None = None,
) -> str:
    """A signed token for ``distributor_id``; a refresh token (with its id ``jti``, so it
    can be used once) when ``refresh``."""
    iat, exp = _times(now, ttl)
    payload: dict[str, Any] = {
        "distributorId": distributor_id,
        "roleName": ROLE_DISTRIBUTOR,
        "iat": iat,
        "exp": exp,
    }
    if refresh:
        payload["tokenUse"] = _REFRESH
        payload["jti"] = jti or new_token_id()
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def new_token_id() -> str:
    """A fresh refresh-token id."""
    return secrets.token_hex(12)


def verify_refresh_token(secret: str, token: str, now: float) -> tuple[str, str] | None:
    """``(distributor_id, jti)`` of a valid, unexpired refresh token, or None."""
    payload = _decode(secret, token)
    if payload is None or payload.get("tokenUse") != _REFRESH:
        return None
    distributor_id, jti, exp = payload.get("distributorId"), payload.get("jti"), payload.get("exp")
    if not (isinstance(distributor_id, str) and isinstance(jti, str) and _is_number(exp)):
        return None
    if not math.isfinite(float(exp)) or now >= float(exp):
        return None
    return distributor_id, jti


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of an access token."""

    distributor_id: str
    role_name: str
    issued_at: float
    expires_at: float


def verify_token(secret: str, token: str, now: float) -> Claims | None:
    """The claims of a valid, unexpired access token, or None (never raises)."""
    payload = _decode(secret, token)
    if payload is None or payload.get("tokenUse") == _REFRESH:
        return None
    distributor_id = payload.get("distributorId")
    role = payload.get("roleName")
    iat = payload.get("iat")
    exp = payload.get("exp")
    if not (isinstance(distributor_id, str) and isinstance(role, str)):
        return None
    if not (_is_number(iat) and _is_number(exp)):
        return None
    expires_at = float(exp)
    if not math.isfinite(expires_at) or now >= expires_at:
        return None
    return Claims(distributor_id, role, float(iat), expires_at)


def _decode(secret: str, token: str) -> dict[str, Any] | None:
    """A token's verified payload (signature only: expiry is checked by the callers, as a
    float), or None."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        return None
    return payload if isinstance(payload, dict) else None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
