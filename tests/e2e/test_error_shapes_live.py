"""The server's own words, over the wire, in each generation of its error shape.

A sandbox answers in the current shape (``extensions.originalError``), the handbook's
(``extensions.response``) or the oldest (``extensions.exception.response``); the client
raises the same class with the same message in all three, and a gateway's HTML page is a
``ServerError`` naming its status.
"""

from __future__ import annotations

import asyncio

import pytest

from omnivoltaic_erm import (
    AsyncErmClient,
    AuthenticationError,
    CodeLimitError,
    InvalidInputError,
    NotFoundError,
    ServerError,
)
from omnivoltaic_erm.config import Limits, RetryPolicy
from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.config import FaultSpec
from omnivoltaic_erm.sandbox.errors import ERROR_SHAPES

NO_WAIT = Limits(code_interval=0.0, interval_margin=0.0)


@pytest.mark.parametrize("shape", ERROR_SHAPES)
def test_the_user_reads_the_servers_reason_in_every_generation(shape: str) -> None:
    with Sandbox(items=2, code_interval=0, max_days=30, free_limit=1, error_shape=shape) as sb:
        item = sb.items()[0]["_id"]

        async def run() -> None:
            async with AsyncErmClient(sb.url, sb.email, "wrong-password") as bad:
                with pytest.raises(AuthenticationError) as refused:
                    await bad.generate_free_code(item)
            assert refused.value.message == "Invalid Credentials"
            async with AsyncErmClient(sb.url, sb.email, sb.password, limits=NO_WAIT) as erm:
                # Within the client's own bounds, past the server's: the server's words.
                with pytest.raises(InvalidInputError) as too_long:
                    await erm.generate_days_code(item, 31)
                assert too_long.value.message == "codeDays must be a whole number from 1 to 30"
                assert too_long.value.reasons == (too_long.value.message,)
                assert "Bad Request Exception" not in str(too_long.value)
                await erm.generate_free_code(item)
                # The sandbox's own rule, read beside whichever shape (the client's
                # limits allow 5 free codes, the server's 1).
                with pytest.raises(CodeLimitError) as used_up:
                    await erm.api.generate_free_code(item_id=item)
                assert used_up.value.message == "This item has used all 1 of its free codes"
                with pytest.raises(NotFoundError):
                    await erm.api.get_specific_item(item_id="no-such-item")

        asyncio.run(run())
        assert len(sb.history(item)) == 1


@pytest.mark.parametrize(("spec", "status"), [("502=1", 502), ("504=1", 504), ("521=1", 521)])
def test_a_gateway_page_is_a_server_error_naming_its_status(spec: str, status: int) -> None:
    with Sandbox(items=1, code_interval=0) as sb:
        item = sb.items()[0]["_id"]

        async def run() -> None:
            no_retry = RetryPolicy(max_retries=0)
            async with AsyncErmClient(sb.url, sb.email, sb.password, retry=no_retry) as erm:
                await erm.api.get_specific_item(item_id=item)  # signed in before the faults
                sb.faults = FaultSpec.parse(spec)
                with pytest.raises(ServerError) as failed:
                    await erm.api.get_specific_item(item_id=item)
            assert failed.value.status == status
            assert failed.value.message.startswith(f"HTTP {status} from the ERM API: ")

        asyncio.run(run())
        assert sb.fault_counts[f"error_{status}"] == 1
