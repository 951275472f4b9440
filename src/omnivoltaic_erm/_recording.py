"""Recording answered operations, redacted, as evidence of what the real server returns.

``Recorder.record`` writes one JSON file per answered attempt of an operation: its name,
document and variables, the answer, the HTTP status, timings, the hash of the schema the
client was generated from, the client's version and the date. Off by default: a client
records when given ``record=DIR`` (or ``ERM_RECORD=DIR``), each operation with the
probability ``record_sample`` (``ERM_RECORD_SAMPLE``; 1 by default).

Redaction happens before anything touches the disk (``redact``): the password, both
tokens, every JWT-shaped string, the codes (``codeHex``, ``codeDec`` and their
``…String`` forms in a history) and every secret registered with the logging's redaction
registry are replaced by placeholders. A placeholder is stable within a recording set (a
directory): ``<redacted:KIND:DIGEST>``, the digest a keyed hash of the value under the
set's own random key (``.erm-recording-key``, 0600, never recorded), so the same value gets
the same placeholder in every file of the set and in no other set, and the value cannot
be recovered from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from . import _constants as c
from . import _logging
from ._logging import get_logger
from .config import ClientConfig
from .errors import ConfigurationError

log = get_logger("omnivoltaic_erm.recording")

FORMAT = 1
KEY_FILE = ".erm-recording-key"
# Fields whose values are secrets wherever they appear, by kind of placeholder.
SECRET_FIELDS = {
    "password": "password",
    "accessToken": "token",
    "refreshToken": "token",
    "codeHex": "code",
    "codeDec": "code",
    "codeHexString": "code",
    "codeDecString": "code",
    # The hash chain behind an item's codes, and a batch's seed: whoever holds them can
    # make codes.
    "hashRoot": "hash",
    "hashTop": "hash",
    "hashTopInitial": "hash",
    "secret_key": "hash",
    "starting_code": "code",
}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")
PLACEHOLDER = re.compile(r"<redacted:[a-z]+:[0-9a-f]{12}>")


@cache
def schema_sha256() -> str | None:
    """The SHA-256 of the ``schema.graphql`` the client was generated from, where the
    package carries it (a wheel) or a checkout has it; None when neither does."""
    try:
        packaged = resources.files("omnivoltaic_erm.sandbox").joinpath("schema.graphql")
        if packaged.is_file():
            return hashlib.sha256(packaged.read_bytes()).hexdigest()
    except ModuleNotFoundError:  # pragma: no cover - the sandbox package is always there
        pass
    checkout = Path(__file__).resolve().parents[2] / "schema.graphql"
    if checkout.is_file():
        return hashlib.sha256(checkout.read_bytes()).hexdigest()
    return None


def read_key(directory: Path) -> bytes:
    """The recording set's key; ``FileNotFoundError`` when the set has none yet."""
    return bytes.fromhex((directory / KEY_FILE).read_text().strip())


def set_key(directory: Path) -> bytes:
    """The recording set's key, created (0600) on first use."""
    path = directory / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return read_key(directory)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


class Redactor:
    """Replaces secrets in JSON values by placeholders stable under ``key`` (pure but for
    reading the registry of secrets)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder of ``value``: the same for the same value under one key."""
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:12]
        return f"<redacted:{kind}:{digest}>"

    def _text(self, text: str) -> str:
        text = JWT.sub(lambda m: self.placeholder("token", m.group()), text)
        for secret in _logging.registered_secrets():
            if secret in text:
                text = text.replace(secret, self.placeholder("secret", secret))
        return text

    def redact(self, value: Any, field: str | None = None) -> Any:
        """``value`` with every secret replaced; ``field`` is the key it sits under."""
        if isinstance(value, Mapping):
            return {k: self.redact(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v, field) for v in value]
        if isinstance(value, str):
            kind = SECRET_FIELDS.get(field or "")
            if kind is not None and not PLACEHOLDER.fullmatch(value):
                return self.placeholder(kind, value)
            return self._text(value)
        return value


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


class Recorder:
    """Writes redacted recordings of answered operations into ``directory``.

    ``sample`` is the probability that one operation's answer is recorded; ``rand``
    draws it. A failure to write is logged once and never fails the call.
    """

    def __init__(
        self,
        directory: str | Path,
        sample: float = 1.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError("record_sample must be between 0 and 1")
        self.directory = Path(directory).expanduser()
        self.sample = sample
        self._rand = rand
        self._redactor: Redactor | None = None
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._warned = False

    def __repr__(self) -> str:
        return f"Recorder(directory={str(self.directory)!r}, sample={self.sample:g})"

    def _ready(self) -> Redactor:
        with self._lock:
            if self._redactor is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._redactor = Redactor(set_key(self.directory))
            return self._redactor

    def wanted(self) -> bool:
        """Whether this operation's answer is to be recorded (one draw)."""
        return self.sample >= 1.0 or (self.sample > 0.0 and self._rand() < self.sample)

    def record(
        self,
        *,
        operation: str,
        document: str,
        variables: Mapping[str, Any] | None,
        status: int,
        body: bytes,
        started: float,
        elapsed: float,
    ) -> Path | None:
        """Write one recording; return its path, or None when it could not be written."""
        try:
            redactor = self._ready()
            try:
                answer: Any = json.loads(body) if body else None
            except ValueError:
                answer = None  # not JSON: a gateway's page; its status says enough
            entry = {
                "format": FORMAT,
                "operation": operation,
                "document": redactor.redact(document),
                "variables": redactor.redact(dict(variables or {})),
                "status": status,
                "answer": redactor.redact(answer),
                "timings": {"started": _iso(started), "elapsed_ms": round(elapsed * 1000, 3)},
                "schema_sha256": schema_sha256(),
                "client_version": _version(),
                "recorded_at": _iso(started + elapsed),
            }
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}-{next(self._seq)}"
            path = self.directory / f"{name}-{_safe(operation)}.json"
            _write_atomically(path, json.dumps(entry, indent=2, sort_keys=True) + "\n")
            return path
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot record into %s (%s); later failures are not logged",
                    self.directory,
                    exc,
                )
            return None


def _safe(operation: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", operation)[:80] or "anonymous"


def _version() -> str:
    from . import __version__

    return __version__


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".recording-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def recorder_from(config: ClientConfig) -> Recorder | None:
    """The recorder a client's settings ask for (``record``, else ``ERM_RECORD``), or
    None; a sample rate outside 0..1 is a ``ConfigurationError``."""
    directory = config.record or os.environ.get(c.ENV_RECORD) or None
    if directory is None:
        return None
    raw: str | float = (
        config.record_sample
        if config.record_sample is not None
        else os.environ.get(c.ENV_RECORD_SAMPLE) or 1.0
    )
    try:
        sample = float(raw)
    except ValueError:
        sample = -1.0
    if not 0.0 <= sample <= 1.0:
        raise ConfigurationError(
            f"the recording sample rate must be a number from 0 to 1 ({c.ENV_RECORD_SAMPLE}"
            " or record_sample=)"
        )
    return Recorder(directory, sample)
