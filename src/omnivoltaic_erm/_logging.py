"""Loggers of the package, with secrets redacted.

The package never logs a password or a token; as a second layer, every logger made here
carries a filter that replaces any registered secret in a record's message and args.
"""

from __future__ import annotations

import logging
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
REDACTED = "<redacted>"


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every record of this package's loggers from now on."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


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
