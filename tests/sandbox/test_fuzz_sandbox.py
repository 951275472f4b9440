"""The sandbox under property-based fuzzing: valid and invalid GraphQL documents built
from its own schema never produce an HTTP 500 or an unhandled exception in its log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.resolvers import served_root_fields
from tests.conftest import ROOT

SCHEMA = (ROOT / "schema.graphql").read_text()
# The served root fields; the rest of the real schema answers "not served" (tested apart).
SERVED = sorted(served_root_fields())


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[Sandbox, requests.Session, _Collect]]:
    collect = _Collect()
    loggers = [logging.getLogger(n) for n in ("omnivoltaic_erm.sandbox", "aiohttp.server")]
    for logger in loggers:
        logger.addHandler(collect)
    with Sandbox(items=5, code_interval=0) as sb, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sb.access_token()}"
        yield sb, session, collect
    for logger in loggers:
        logger.removeHandler(collect)


def _post(session: requests.Session, url: str, body: object) -> requests.Response:
    return session.post(url, json=body, timeout=10)


def _check(response: requests.Response, collect: _Collect) -> None:
    assert response.status_code < 500, response.text[:300]
    payload = response.json()
    assert isinstance(payload, dict) and ("data" in payload or "errors" in payload)
    assert not collect.records, [r.getMessage() for r in collect.records]


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@FUZZ
@given(query=from_schema(SCHEMA, fields=SERVED, mode=Mode.POSITIVE))
def test_valid_documents(target: tuple[Sandbox, requests.Session, _Collect], query: str) -> None:
    sb, session, collect = target
    _check(_post(session, sb.url, {"query": query}), collect)


@pytest.mark.slow
@FUZZ
@given(query=from_schema(SCHEMA, fields=SERVED, mode=Mode.NEGATIVE))
def test_invalid_documents(target: tuple[Sandbox, requests.Session, _Collect], query: str) -> None:
    sb, session, collect = target
    response = _post(session, sb.url, {"query": query})
    _check(response, collect)


@FUZZ
@given(
    body=st.one_of(
        st.text(max_size=200),
        st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=4),
        st.fixed_dictionaries(
            {
                "query": st.text(max_size=100),
                "variables": st.one_of(st.none(), st.text(), st.lists(st.integers())),
                "operationName": st.one_of(st.none(), st.integers(), st.text(max_size=10)),
            }
        ),
    )
)
def test_garbage_bodies(target: tuple[Sandbox, requests.Session, _Collect], body: object) -> None:
    sb, session, collect = target
    _check(_post(session, sb.url, body), collect)
