"""``ErmClient`` at parity with ``AsyncErmClient``, and usable from threads, from inside a
running event loop, and closed any number of times."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest

from omnivoltaic_erm import AsyncErmClient, ErmClient, Limits
from omnivoltaic_erm.sandbox import Sandbox

URL = "http://127.0.0.1:1/graphql"  # never contacted by the member checks
# The only differences of name: closing, and the way back to the other face.
RENAMED = {"aclose": "close"}
SYNC_ONLY = {"aio"}
# Members whose types differ by design: the generated client, asynchronous or not (under
# ``api``, and ``transport``, its deprecated name), and an asynchronous generator against an
# iterator.
OTHER_TYPES = {"api", "transport", "iter_items"}


def public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_sync_face_has_every_public_member_of_the_async_face() -> None:
    aio = AsyncErmClient(URL, "e@example.com", "pw", limits=Limits(code_interval=2.0))
    erm = ErmClient(URL, "e@example.com", "pw", limits=Limits(code_interval=2.0))
    try:
        # Instances, not classes: attributes set in __init__ (config, url, ...) count too.
        assert {RENAMED.get(n, n) for n in public(aio)} == public(erm) - SYNC_ONLY
        for name in public(aio):
            a = inspect.getattr_static(aio, name)
            s = inspect.getattr_static(erm, RENAMED.get(name, name))
            if inspect.isfunction(a):
                assert inspect.isfunction(s), name
                assert inspect.iscoroutinefunction(a) or inspect.isasyncgenfunction(a), name
                assert not inspect.iscoroutinefunction(s), name
                a_sig, s_sig = inspect.signature(a), inspect.signature(s)
                assert a_sig.parameters == s_sig.parameters, name
                if name not in OTHER_TYPES:
                    assert a_sig.return_annotation == s_sig.return_annotation, name
            elif isinstance(a, property):
                assert isinstance(s, property), name
                assert a.fget is not None and s.fget is not None
                if name not in OTHER_TYPES:
                    a_ret = inspect.signature(a.fget).return_annotation
                    assert a_ret == inspect.signature(s.fget).return_annotation, name
                    assert getattr(aio, name) == getattr(erm, name), name
            else:
                # A plain attribute of the async client: a read-only property here, with
                # the same value.
                assert isinstance(s, property), name
                assert getattr(aio, name) == getattr(erm, name), name
        # The constructors: the same explicit, typed parameters.
        a_init = inspect.signature(AsyncErmClient.__init__).parameters
        s_init = inspect.signature(ErmClient.__init__).parameters
        assert a_init == s_init
        assert all(p.kind is not p.VAR_KEYWORD for p in s_init.values())
        # Every generated operation is on both faces, with the same parameters.
        async_ops = {
            n for n, v in vars(type(erm.aio.api)).items() if inspect.iscoroutinefunction(v)
        }
        sync_ops = {n for n in vars(type(erm.api)) if not n.startswith("_")}
        assert async_ops == sync_ops
        assert {"get_all_client_items", "generate_days_code", "sign_in_user"} <= sync_ops
        for name in async_ops:
            a_op = inspect.signature(getattr(type(erm.aio.api), name))
            s_op = inspect.signature(getattr(type(erm.api), name))
            assert list(a_op.parameters) == list(s_op.parameters), name
    finally:
        erm.close()


def test_a_new_async_method_without_a_sync_twin_is_caught() -> None:
    # The check above must be able to fail: a method only on the async face shows up.
    class Grown(AsyncErmClient):
        async def brand_new(self) -> None:
            """Only on the async face."""

    grown = Grown(URL, "e@example.com", "pw")
    erm = ErmClient(URL, "e@example.com", "pw")
    try:
        missing = {RENAMED.get(n, n) for n in public(grown)} - public(erm)
        assert missing == {"brand_new"}
    finally:
        erm.close()


def _sandbox(factory: Callable[..., Sandbox]) -> Sandbox:
    return factory(items=4, code_interval=0.2)


def _client(sb: Sandbox) -> ErmClient:
    return ErmClient(sb.url, sb.email, sb.password, limits=Limits(code_interval=0.2))


def test_sync_face_works_from_threads(erm_sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = _sandbox(erm_sandbox_factory)
    keys = [str(i["oemItemID"]) for i in sb.items()]
    results: dict[str, Any] = {}
    with _client(sb) as erm:

        def work(key: str) -> None:
            try:
                results[key] = erm.generate_days_code(key, days=2)
            except BaseException as exc:  # reported below, not lost in the thread
                results[key] = exc

        threads = [threading.Thread(target=work, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert erm.sign_ins == 1
    for key in keys:
        code = results[key]
        assert not isinstance(code, BaseException), code
        assert [e["codeHexString"] for e in sb.history(key)] == [code.code_hex]


def test_sync_face_works_inside_a_running_event_loop(
    erm_sandbox_factory: Callable[..., Sandbox],
) -> None:
    # A notebook cell runs inside the kernel's event loop; the sync face never uses the
    # caller's loop, so it works there (blocking that loop while it waits, as any
    # synchronous call does).
    sb = _sandbox(erm_sandbox_factory)
    key = str(sb.items()[0]["oemItemID"])

    async def cell() -> str:
        asyncio.get_running_loop()  # really inside a loop
        with _client(sb) as erm:
            return erm.generate_free_code(key).code_hex

    code_hex = asyncio.run(cell())
    assert [e["codeHexString"] for e in sb.history(key)] == [code_hex]


def test_close_is_idempotent_and_the_closed_client_says_so(
    erm_sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = _sandbox(erm_sandbox_factory)
    key = str(sb.items()[0]["oemItemID"])
    erm = _client(sb)
    assert erm.find_item(key).oem_item_id == key
    erm.close()
    erm.close()
    with erm:
        pass  # __exit__ closes again
    with pytest.raises(RuntimeError, match="closed"):
        erm.find_item(key)
    assert not [t for t in threading.enumerate() if t.name == "erm-sync"]


def test_close_cancels_a_call_still_running_in_another_thread(
    erm_sandbox_factory: Callable[..., Sandbox],
) -> None:
    # close() must not wait for work that may never end: a call held by the server is
    # cancelled, and its thread gets an error instead of hanging.
    sb = _sandbox(erm_sandbox_factory)
    key = str(sb.items()[0]["oemItemID"])
    erm = _client(sb)
    erm.find_item(key)
    sb.faults = "delay=1:120"
    outcome: list[BaseException | object] = []
    caller = threading.Thread(target=lambda: _call_into(outcome, lambda: erm.code_history(key)))
    caller.start()
    while sb.fault_counts["delay"] == 0:  # the read has reached the server and is held
        threading.Event().wait(0.02)
    erm.close()
    caller.join(60)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], BaseException), outcome
    assert sb.fault_counts["delay"] == 1


def _call_into(outcome: list[BaseException | object], call: Callable[[], object]) -> None:
    try:
        outcome.append(call())
    except BaseException as exc:
        outcome.append(exc)
