"""The bus: routing, errno replies, interceptors, supervision and swapping actors."""

from __future__ import annotations

import io
import json
import os

import pytest
import trio

from abi.errno import EBADF, EINVAL, EIO, EMFILE, ENFILE, ENOMEM, ENOSYS
from kernel.bus import Actor, Bus, FailCallSupervisor, Message, current_caller, operation
from abi.errno import Errno
from kernel.tracing import MessageTracer


class Counter(Actor):
    service = "counter"

    def __init__(self, start: int = 0) -> None:
        self.value = start

    @operation
    async def add(self, amount: int) -> int:
        if amount < 0:
            raise Errno(EINVAL)
        self.value += amount
        return self.value

    @operation
    async def buggy(self) -> None:
        raise KeyError("a Sentry bug")

    @operation
    async def short_of(self, host_errno: int) -> None:
        raise OSError(host_errno, os.strerror(host_errno))

    def not_an_operation(self) -> None:  # pragma: no cover - must not be reachable
        raise AssertionError


class Doubler(Counter):
    """A researcher's replacement: same contract, different behaviour."""

    @operation
    async def add(self, amount: int) -> int:
        self.value += 2 * amount
        return self.value


async def test_call_reaches_the_registered_actor() -> None:
    bus = Bus()
    bus.register(Counter())
    assert await bus.call("counter", "add", 2) == 2
    assert await bus.endpoint("counter").call("add", 3) == 5


async def test_errno_is_the_reply_of_a_failed_operation() -> None:
    bus = Bus()
    bus.register(Counter())
    with pytest.raises(Errno) as failure:
        await bus.call("counter", "add", -1)
    assert failure.value.errno == EINVAL


async def test_unknown_service_or_operation_is_enosys() -> None:
    bus = Bus()
    bus.register(Counter())
    for service, op in (("nope", "add"), ("counter", "not_an_operation"), ("counter", "nope")):
        with pytest.raises(Errno) as failure:
            await bus.call(service, op)
        assert failure.value.errno == ENOSYS


async def test_a_crashing_actor_fails_the_call_with_eio_and_stays() -> None:
    bus = Bus()
    bus.register(Counter())
    with pytest.raises(Errno) as failure:
        await bus.call("counter", "buggy")
    assert failure.value.errno == EIO
    assert isinstance(bus.supervisor, FailCallSupervisor) and bus.supervisor.crashes == 1
    assert await bus.call("counter", "add", 1) == 1


@pytest.mark.parametrize("traced", [False, True])
async def test_a_host_shortage_is_the_guests_errno_not_a_crash(traced: bool) -> None:
    """The host running out of fds or memory in an actor is what Linux answers when the system
    runs out (ENFILE, ENOMEM), even under strict supervision, through interceptors or not;
    any other host error is still a bug."""
    supervisor = FailCallSupervisor(strict=True)
    bus = Bus(supervisor)
    bus.register(Counter())
    if traced:
        bus.add_interceptor(lambda message, proceed: proceed(message))
    for host, guest in ((EMFILE, ENFILE), (ENFILE, ENFILE), (ENOMEM, ENOMEM)):
        with pytest.raises(Errno) as failure:
            await bus.call("counter", "short_of", host)
        assert failure.value.errno == guest
    assert supervisor.crashes == 0
    with pytest.raises(OSError):
        await bus.call("counter", "short_of", EBADF)
    assert supervisor.crashes == 1


async def test_strict_supervision_reraises_the_bug() -> None:
    bus = Bus(FailCallSupervisor(strict=True))
    bus.register(Counter())
    with pytest.raises(KeyError):
        await bus.call("counter", "buggy")


async def test_swapping_an_actor_redirects_existing_endpoints() -> None:
    bus = Bus()
    bus.register(Counter())
    endpoint = bus.endpoint("counter")
    bus.register(Doubler(), "counter")
    assert await endpoint.call("add", 5) == 10
    assert isinstance(endpoint.actor, Doubler)


async def test_interceptors_see_every_message_in_order_and_can_fail_it() -> None:
    bus = Bus()
    bus.register(Counter())
    seen: list[str] = []

    async def first(message: Message, proceed):  # type: ignore[no-untyped-def]
        seen.append(f"first {message.op}{message.args}")
        return await proceed(message)

    async def fault_injector(message: Message, proceed):  # type: ignore[no-untyped-def]
        seen.append("second")
        if message.args == (13,):
            message.notes["fault"] = "EIO"
            raise Errno(EIO)
        return await proceed(message)

    bus.add_interceptor(first)
    bus.add_interceptor(fault_injector)
    assert await bus.call("counter", "add", 1) == 1
    with pytest.raises(Errno):
        await bus.call("counter", "add", 13)
    assert seen == ["first add(1,)", "second", "first add(13,)", "second"]
    assert bus.actor("counter").value == 1  # type: ignore[attr-defined]


async def test_message_tracer_writes_one_record_per_message() -> None:
    bus = Bus()
    bus.register(Counter())
    stream = io.StringIO()
    bus.add_interceptor(MessageTracer(stream))

    async def as_task() -> None:
        current_caller.set("task 7")
        await bus.call("counter", "add", 4)
        with pytest.raises(Errno):
            await bus.call("counter", "add", -1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(as_task)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["caller"], r["service"], r["op"], r["args"]) for r in records] == [
        ("task 7", "counter", "add", [4]),
        ("task 7", "counter", "add", [-1]),
    ]
    assert records[0]["result"] == 4 and "errno" not in records[0]
    assert records[1]["errno"] == "EINVAL" and "result" not in records[1]
    assert records[0]["seq"] < records[1]["seq"]
