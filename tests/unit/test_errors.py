"""The error tree as user code meets it: ``except TimeoutError`` catches the client's
timeout, the old name still works with a warning, and a star import shadows no builtin."""

from __future__ import annotations

import builtins
import warnings

import pytest

import omnivoltaic_erm
from omnivoltaic_erm import ErmTimeoutError, TransportError, errors


def test_the_client_timeout_is_a_builtin_timeout_and_a_transport_error() -> None:
    error = ErmTimeoutError("GenerateDaysCode: no complete answer within 30 s", sent=False)
    assert isinstance(error, builtins.TimeoutError)
    assert isinstance(error, TransportError)
    assert error.sent is False and error.retryable is True
    assert str(error) == error.message
    assert repr(error) == "ErmTimeoutError('GenerateDaysCode: no complete answer within 30 s')"
    try:
        raise error
    except TimeoutError as caught:  # the builtin name, as user code writes it
        assert caught is error


def test_the_old_name_is_the_same_class_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="use ErmTimeoutError"):
        old = omnivoltaic_erm.TimeoutError
    assert old is ErmTimeoutError
    with pytest.warns(DeprecationWarning):
        assert errors.TimeoutError is ErmTimeoutError
    with pytest.raises(AttributeError):
        _ = errors.NoSuchError  # type: ignore[attr-defined]


def test_a_star_import_shadows_no_builtin() -> None:
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a star import must not touch the old name
        exec("from omnivoltaic_erm import *", namespace)
    assert "TimeoutError" not in namespace
    assert not set(namespace) & set(dir(builtins)) - {"__builtins__"}
