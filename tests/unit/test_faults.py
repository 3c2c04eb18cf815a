"""Fault injection on the bus: rules, reproducibility from a seed, and each action."""

from __future__ import annotations

import pytest
import trio

from abi.errno import EIO, ENOMEM
from kernel.bus import Actor, Bus, FailCallSupervisor, current_caller, operation
from abi.errno import Errno
from kernel.faults import FaultInjector, InjectedCrash, RuleError


class Echo(Actor):
    service = "echo"

    def __init__(self) -> None:
        self.seen: list[int] = []

    @operation
    async def ping(self, n: int) -> int:
        self.seen.append(n)
        return n

    @operation
    async def pong(self, n: int) -> int:
        return -n


def _bus(rules: list[str], seed: int = 0, strict: bool = False) -> tuple[Bus, Echo, FaultInjector]:
    bus = Bus(FailCallSupervisor(strict=strict))
    echo = Echo()
    bus.register(echo)
    injector = FaultInjector(rules, seed)
    injector.install(bus)
    return bus, echo, injector


async def _failures(bus: Bus, calls: int = 100, op: str = "ping") -> list[int]:
    failed = []
    for n in range(calls):
        try:
            await bus.call("echo", op, n)
        except Errno:
            failed.append(n)
    return failed


@pytest.mark.parametrize("rule", [
    "echo", "echo.ping", "echo.ping:fail=ENOPE", "echo.ping:fail=EIO:p=2", "echo.ping:fail=EIO:delay=1ms",
    "echo.ping:delay=soon", "echo.ping:crash=1", "echo.ping:fail=EIO:nth=0", "echo.ping:fail=EIO:colour=red",
])
def test_bad_rules_are_refused_with_the_rule_named(rule: str) -> None:
    with pytest.raises(RuleError, match="fault rule|expected"):
        FaultInjector([rule])


async def test_the_same_seed_hits_the_same_messages() -> None:
    first = await _failures(_bus(["echo.ping:fail=EIO:p=0.3"], seed=7)[0])
    again = await _failures(_bus(["echo.ping:fail=EIO:p=0.3"], seed=7)[0])
    other = await _failures(_bus(["echo.ping:fail=EIO:p=0.3"], seed=8)[0])
    assert first == again
    assert first != other
    assert 10 < len(first) < 50


async def test_a_rule_that_never_matches_does_not_change_another_rules_choices() -> None:
    alone = await _failures(_bus(["echo.ping:fail=EIO:p=0.5"], seed=3)[0])
    with_other = await _failures(_bus(["nobody.*:crash", "echo.ping:fail=EIO:p=0.5"], seed=3)[0])
    assert alone == with_other


async def test_failed_messages_never_reach_the_actor_and_carry_the_errno() -> None:
    bus, echo, injector = _bus(["echo.ping:fail=ENOMEM:nth=3"])
    results = []
    for n in range(5):
        try:
            results.append(await bus.call("echo", "ping", n))
        except Errno as error:
            results.append(error.errno)
    assert results == [0, 1, ENOMEM, 3, 4]
    assert echo.seen == [0, 1, 3, 4]
    assert [(h.op, h.action, h.seq) for h in injector.hits] == [("ping", "fail", 3)]


async def test_after_and_count_bound_the_hits() -> None:
    bus, _, _ = _bus(["echo.ping:fail=EIO:after=5:count=2"])
    assert await _failures(bus, 10) == [4, 5]  # the 5th and 6th calls (n counts from 0)


async def test_patterns_select_service_and_operation() -> None:
    bus, _, _ = _bus(["ech?.po*:fail=EIO"])
    assert await _failures(bus, 3, op="ping") == []
    assert await _failures(bus, 3, op="pong") == [0, 1, 2]


async def test_from_selects_the_caller() -> None:
    bus, _, _ = _bus(["echo.ping:fail=EIO:from=task*"])
    assert await _failures(bus, 2) == []  # called from the kernel's own context
    current_caller.set("task 3")
    assert await _failures(bus, 2) == [0, 1]


async def test_delay_holds_the_message_then_delivers_it(autojump_clock: trio.abc.Clock) -> None:
    bus, echo, _ = _bus(["echo.ping:delay=250ms"])
    start = trio.current_time()
    assert await bus.call("echo", "ping", 42) == 42
    assert trio.current_time() - start == pytest.approx(0.25)
    assert echo.seen == [42]


async def test_an_injected_crash_goes_to_the_supervisor() -> None:
    bus, echo, _ = _bus(["echo.ping:crash:nth=1"])
    with pytest.raises(Errno) as failed:
        await bus.call("echo", "ping", 1)
    assert failed.value.errno == EIO
    assert isinstance(bus.supervisor, FailCallSupervisor) and bus.supervisor.crashes == 1
    assert echo.seen == []
    assert await bus.call("echo", "ping", 2) == 2  # the actor stays


async def test_a_strict_supervisor_lets_the_injected_crash_through() -> None:
    bus, _, _ = _bus(["echo.ping:crash"], strict=True)
    with pytest.raises(InjectedCrash):
        await bus.call("echo", "ping", 1)
