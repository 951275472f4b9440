"""A code kind added as the table says: one ``CodeKind`` row plus its operation's
``.graphql`` file, nothing else.

The printed schema's ``CodeTypes`` has ``JUMPCODE``, which no mutation issues; the test
gives a copy of the schema a ``generateJumpCode`` mutation, adds the operation to a copy
of ``queries/``, generates the client from them as ``make generate`` does, and then, in a
fresh interpreter that imports that client, registers the row and issues jump codes
against a scripted server on loopback three ways: ``AsyncErmClient.issue``, a batch file
run through the batch parser and runner, and ``erm code jump``. No module of the package
is changed for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import ROOT
from tests.support.stub_erm import ITEM_ID, PASSWORD, StubErm

JUMP_MUTATION = "  generateJumpCode(generateJumpCodeInput: GenerateCodeInput!): CodeResponse!\n"
JUMP_OPERATION = """\
mutation GenerateJumpCode($itemId: ID!, $description: String) {
  generateJumpCode(generateJumpCodeInput: {itemId: $itemId, description: $description}) {
    ...CodeFields
  }
}
"""

# Run in a fresh interpreter whose ``omnivoltaic_erm_gql`` is the one generated here.
SCRIPT = """\
import asyncio, json, os, sys
from pathlib import Path

from omnivoltaic_erm_gql import CodeTypes

from omnivoltaic_erm.kinds import CodeKind, register

register(CodeKind(
    CodeTypes.JUMPCODE,
    word="jump",
    label="jump code",
    operation="generate_jump_code",
    help="moves item ID's credit to a set point",
))

from omnivoltaic_erm import AsyncErmClient
from omnivoltaic_erm.batch import BatchRunner, parse_batch, plan
from omnivoltaic_erm.cli import main
from omnivoltaic_erm.journal import Identity, Journal

url, email, password, item, workdir = sys.argv[1:6]
out = {}


async def issue_one():
    async with AsyncErmClient(url, email, password) as erm:
        code = await erm.issue(CodeTypes.JUMPCODE, item, description="by the client")
        return {"type": code.code_type.value, "hex": code.code_hex, "rid": code.request_id}

out["client"] = asyncio.run(issue_one())

parsed = parse_batch(f"item,type,days\\n{item},jump,\\n".encode())
out["parsed"] = [(row.item, row.type, row.days) for row in parsed.rows]
identity = Identity("jump.csv", parsed.sha256, url, email)


async def run_batch(journal):
    todo = plan(parsed, journal)
    async with AsyncErmClient(url, email, password) as erm:
        results = await BatchRunner(erm, journal).run(todo.pending)
    return [(r.status, r.code_hex) for r in results]

with Journal.open(Path(workdir) / "jump.db", identity) as journal:
    out["batch"] = asyncio.run(run_batch(journal))

os.environ.update(ERM_URL=url, ERM_EMAIL=email, ERM_PASSWORD=password)
out["cli_rc"] = main(["--json", "code", "jump", item, "--description", "by the cli"])
print("\\nRESULT " + json.dumps(out))
"""


def _generated_with_jump(tmp: Path) -> Path:
    """The client generated from the schema and queries with the jump code added."""
    schema = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert schema.count("type Mutation {\n") == 1
    (tmp / "schema.graphql").write_text(
        schema.replace("type Mutation {\n", "type Mutation {\n" + JUMP_MUTATION), encoding="utf-8"
    )
    shutil.copytree(ROOT / "queries", tmp / "queries")
    (tmp / "queries" / "jump_code.graphql").write_text(JUMP_OPERATION, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; sys.path.insert(0, 'codegen'); "
            "from run import generate; "
            "generate(Path(sys.argv[1]), schema_path=Path(sys.argv[2]), "
            "queries_path=Path(sys.argv[3]))",
            str(tmp / "gen"),
            str(tmp / "schema.graphql"),
            str(tmp / "queries"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "gen"


@pytest.fixture
def stub() -> StubErm:
    erm = StubErm()

    def jump_code() -> web.Response:
        n = erm.calls["GenerateJumpCode"]
        code = {"codeType": "JUMPCODE", "codeHex": f"{n:016X}", "codeDec": f"*{n}#"}
        return web.json_response({"data": {"generateJumpCode": code}})

    erm.answers["GenerateJumpCode"] = jump_code
    return erm


def test_a_kind_from_one_row_issues_through_client_batch_and_cli(
    tmp_path: Path, stub: StubErm
) -> None:
    generated = _generated_with_jump(tmp_path)
    assert "def generate_jump_code" in (generated / "omnivoltaic_erm_gql" / "client.py").read_text()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(generated), str(ROOT)])}
    for name in ("ERM_URL", "ERM_EMAIL", "ERM_PASSWORD", "ERM_RECORD"):
        env.pop(name, None)
    with stub.serve() as srv:
        url = f"{srv.base_url}/graphql"
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, url, "d@example.com", PASSWORD, ITEM_ID, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    result_line = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert result_line, done.stdout[-2000:]
    out = json.loads(result_line[-1].removeprefix("RESULT "))

    # Three requests of the new operation, one per path, each tagged with its request id.
    sent = [body for _, body in stub.requests if body.get("operationName") == "GenerateJumpCode"]
    assert len(sent) == 3
    assert all(set(body["variables"]) == {"itemId", "description"} for body in sent)
    assert [body["variables"]["itemId"] for body in sent] == [ITEM_ID] * 3
    descriptions = [body["variables"]["description"] for body in sent]
    assert descriptions[0].startswith("by the client") and "[req:" in descriptions[0]
    assert descriptions[2].startswith("by the cli") and "[req:" in descriptions[2]

    assert out["client"] == {"type": "JUMPCODE", "hex": f"{1:016X}", "rid": out["client"]["rid"]}
    assert f"[req:{out['client']['rid']}]" in descriptions[0]
    assert out["parsed"] == [[ITEM_ID, "jump", 0]]
    assert out["batch"] == [["issued", f"{2:016X}"]]
    assert out["cli_rc"] == 0
    cli_json = json.loads(done.stdout.split("\nRESULT ")[0])
    assert (cli_json["code_hex"], cli_json["code_type"]) == (f"{3:016X}", "JUMPCODE")
    assert cli_json["description"] == "by the cli"
