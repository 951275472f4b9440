"""Spans with opentelemetry installed: one per operation, named and attributed by the
GraphQL semantic conventions, with retries, request ids and recoveries; never a secret.
Without the package, nothing is imported."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from aiohttp import web
from omnivoltaic_erm_gql import QueryOrder
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnivoltaic_erm import AsyncErmClient, RetryPolicy, _tracing
from omnivoltaic_erm.testing import BackgroundServer
from tests.conftest import ROOT
from tests.support.stub_erm import ITEM_ID, PASSWORD, StubErm, status

EXPORTER = InMemorySpanExporter()


@pytest.fixture(autouse=True)
def _provider(monkeypatch: pytest.MonkeyPatch) -> None:
    # A provider of this test's own: the global one can be set only once per process,
    # and would then trace every later test. The global path is tested in a subprocess.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    monkeypatch.setattr(_tracing, "tracer", lambda: provider.get_tracer(_tracing.TRACER_NAME))


@pytest.fixture
def stub() -> Iterator[tuple[StubErm, BackgroundServer]]:
    erm = StubErm()
    with erm.serve() as srv:
        yield erm, srv


def _once_then_default(first: Callable[[], web.Response], stub: StubErm, name: str) -> None:
    def answer() -> web.Response:
        if stub.calls[name] == 1:
            return first()
        del stub.answers[name]
        return stub._default(name, {})

    stub.answers[name] = answer


def _spans(stub: StubErm, srv: BackgroundServer) -> list[ReadableSpan]:
    EXPORTER.clear()
    _once_then_default(status(502), stub, "GetAllClientItems")
    stub.after_commit = status(502)  # the code is issued, its answer lost

    async def run() -> None:
        policy = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)
        async with AsyncErmClient(
            f"{srv.base_url}/graphql", "d@example.com", PASSWORD, retry=policy
        ) as erm:
            await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
            code = await erm.generate_days_code(ITEM_ID, 7, request_id="00000000000000aa")
            assert code.recovered

    asyncio.run(run())
    return list(EXPORTER.get_finished_spans())


def test_each_operation_is_a_span(stub: tuple[StubErm, BackgroundServer]) -> None:
    erm_stub, srv = stub
    spans = {s.name: s for s in _spans(erm_stub, srv)}
    assert {
        "mutation SignInUser",
        "query GetAllClientItems",
        "query GetItemsForDownloadById",
        "mutation GenerateDaysCode",
        "issue DAYSCODE",
    } <= set(spans)
    query = spans["query GetAllClientItems"]
    assert query.attributes is not None
    assert query.attributes["graphql.operation.name"] == "GetAllClientItems"
    assert query.attributes["graphql.operation.type"] == "query"
    assert query.attributes["erm.attempts"] == 2
    assert [e.name for e in query.events] == ["erm.retry"]
    mutation = spans["mutation GenerateDaysCode"]
    assert mutation.attributes is not None
    assert mutation.attributes["graphql.operation.type"] == "mutation"
    assert mutation.attributes["erm.request_id"] == "00000000000000aa"
    assert mutation.attributes["error.type"] == "ServerError"
    issue = spans["issue DAYSCODE"]
    assert [e.name for e in issue.events] == ["erm.recovered_from_history"]
    assert mutation.parent is not None and mutation.parent.span_id == issue.context.span_id


def test_no_secret_reaches_a_span(stub: tuple[StubErm, BackgroundServer]) -> None:
    erm_stub, srv = stub
    spans = _spans(erm_stub, srv)
    assert spans
    assert erm_stub.tokens, "the stub issued a token"
    text = "\n".join(s.to_json() for s in spans)
    assert PASSWORD not in text
    for token in erm_stub.tokens:
        assert token not in text
        assert token.split(".")[1] not in text


def test_without_opentelemetry_nothing_is_imported() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if not installed
import asyncio
from omnivoltaic_erm import AsyncErmClient
from omnivoltaic_erm import _tracing
from omnivoltaic_erm._pipeline import Pipeline

async def send(headers):
    return "sent"

print(asyncio.run(Pipeline().run("Op", "query", send)), _tracing.tracer())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry") and sys.modules[m]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "sent None"
    assert json.loads(second.replace("'", '"')) == []


def test_the_application_configures_the_sdk_even_after_the_first_call() -> None:
    code = """
import asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from omnivoltaic_erm import AsyncErmClient, QueryOrder
from tests.support.stub_erm import PASSWORD, StubErm

async def main(url, exporter):
    async with AsyncErmClient(url, "d@example.com", PASSWORD) as erm:
        # No SDK yet: no span.
        await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        await erm.api.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)

exporter = InMemorySpanExporter()
with StubErm().serve() as srv:
    asyncio.run(main(f"{srv.base_url}/graphql", exporter))
print(sorted(s.name for s in exporter.get_finished_spans()))
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['query GetAllClientItems']"
