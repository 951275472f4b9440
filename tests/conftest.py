"""Shared fixtures: snapshot extensions and repository paths."""

from __future__ import annotations

# Imported here, before any test runs: hypothesis's pytest plugin otherwise imports it
# at the end of a session, and a Ctrl-C raised in process by a CLI test (a SIGINT to
# this process) can leave the interpreter's AST recursion counter off, so that
# compiling it then fails with "AST constructor recursion depth mismatch" (seen with
# CPython 3.11.7, running tests/cli/test_cli_issuing.py alone).
import signal
from pathlib import Path

import hypothesis  # noqa: F401
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

ROOT = Path(__file__).resolve().parent.parent

# The reference material lives in shared/, beside the clone (as in CI) or at the
# workplace's root.
REFERENCE = next(
    (
        p
        for p in (ROOT.parent / "shared" / "reference", Path("/work/shared/reference"))
        if p.is_dir()
    ),
    ROOT.parent / "shared" / "reference",
)
PRINTED_SCHEMA = REFERENCE / "erm-federated-schema-2024-12.graphql"


# The sandbox fixtures (`erm_sandbox`, `erm_sandbox_factory`), as users enable them.
pytest_plugins = ["omnivoltaic_erm.sandbox.pytest_plugin"]


class GraphQLSnapshotExtension(SingleFileSnapshotExtension):
    """One ``.graphql`` file per snapshot, so a contract change reads as a plain diff."""

    _write_mode = WriteMode.TEXT
    file_extension = "graphql"


@pytest.fixture
def graphql_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(GraphQLSnapshotExtension)


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# Started in the background of a shell without job control, the process ignores SIGINT,
# and the tests that press Ctrl-C (a real SIGINT) would see nothing: take the default.
signal.signal(signal.SIGINT, signal.default_int_handler)
