"""Loggers of the package, with secrets redacted.

The package never logs a password or a token; as a second layer, every logger made here
carries a filter that replaces any registered secret in a record's message and args.
"""

from __future__ import annotations

import logging
import threading

REDACTED = "<redacted>"
# Passwords stay for the life of the process; tokens are replaced as they are refreshed,
# so only the latest few are kept (a long-running client signs in every day).
MAX_TOKENS = 16

_passwords: tuple[str, ...] = ()
_tokens: tuple[str, ...] = ()
# Readers take the current tuples without the lock: a tuple never changes, and writers
# replace the whole tuple under the lock, so a reader never sees one half-updated.
_secrets: tuple[str, ...] = ()
_lock = threading.Lock()


def register_secret(value: str | None, *, token: bool = False) -> None:
    """Redact ``value`` from every record of this package's loggers from now on.

    ``token=True`` marks a value that a newer one replaces; only the latest
    ``MAX_TOKENS`` of those are kept.
    """
    global _passwords, _tokens, _secrets
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _secrets:
            return
        if token:
            _tokens = (*_tokens, value)[-MAX_TOKENS:]
        else:
            _passwords = (*_passwords, value)
        _secrets = _passwords + _tokens


def registered_secrets() -> tuple[str, ...]:
    """Every registered secret: the passwords, and the latest tokens."""
    return _secrets


def redact(text: str) -> str:
    """``text`` with every registered secret replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record whose text holds a registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg = cleaned
                record.args = None
        return True


_filter = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """The package logger ``name``, with the redacting filter attached once."""
    logger = logging.getLogger(name)
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger
