"""The signals actor on its own: queues, masks, actions, the doorbell, and sigtimedwait."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from abi.errno import EINVAL, ESRCH
from abi.linux import SA_NODEFER, SA_RESETHAND, SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK, Signal, sigbit
from kernel.bus import Bus
from abi.errno import Errno
from services.signals.actor import SignalsActor

USR1, USR2, CHLD, RTMIN = int(Signal.SIGUSR1), int(Signal.SIGUSR2), int(Signal.SIGCHLD), 34
HANDLER = 0x401000


@pytest.fixture
async def actor() -> tuple[SignalsActor, list[int]]:
    rung: list[int] = []
    signals = SignalsActor(Bus(), memoryview(bytearray(4096)), rung.append)
    await signals.new_process(1, None)
    await signals.new_thread(1, 1, None, True)
    await signals.new_thread(2, 1, 1, False)
    return signals, rung


async def test_an_unblocked_signal_rings_and_is_taken_once(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, rung = actor
    await signals.sigaction(1, USR1, (HANDLER, 0, 0, sigbit(USR2)))
    assert await signals.send(1, None, USR1, b"info")
    assert rung == [1]
    signo, info, action, old_mask = await signals.dequeue(1)
    assert (signo, info, action[0], old_mask) == (USR1, b"info", HANDLER, 0)
    assert await signals.sigprocmask(1, SIG_BLOCK, None) == sigbit(USR1) | sigbit(USR2)
    assert await signals.dequeue(1) is None


async def test_standard_signals_coalesce_and_realtime_ones_queue(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, _ = actor
    for signo in (USR1, RTMIN):  # handled: pid 1 drops what it has no handler for, as init does
        await signals.sigaction(1, signo, (HANDLER, 0, 0, 0))
    await signals.sigprocmask(1, SIG_SETMASK, sigbit(USR1) | sigbit(RTMIN))
    await signals.sigprocmask(2, SIG_SETMASK, sigbit(USR1) | sigbit(RTMIN))
    for n in range(3):
        await signals.send(1, 1, USR1, b"u%d" % n)
        await signals.send(1, 1, RTMIN, b"r%d" % n)
    await signals.sigprocmask(1, SIG_SETMASK, 0)
    taken = []
    while (item := await signals.dequeue(1)) is not None:
        taken.append((item[0], item[1]))
        await signals.set_mask(1, 0)
    assert taken == [(USR1, b"u0"), (RTMIN, b"r0"), (RTMIN, b"r1"), (RTMIN, b"r2")]


async def test_a_process_signal_goes_to_a_thread_that_does_not_block_it(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, rung = actor
    await signals.sigaction(1, USR1, (HANDLER, 0, 0, 0))
    await signals.sigprocmask(1, SIG_BLOCK, sigbit(USR1))
    await signals.send(1, None, USR1, b"")
    assert rung == [2]


async def test_ignored_signals_are_dropped_unless_blocked(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, rung = actor
    assert not await signals.send(1, None, CHLD, b"")  # ignored by default
    await signals.sigaction(1, USR1, (SIG_IGN, 0, 0, 0))
    assert not await signals.send(1, None, USR1, b"")
    await signals.sigprocmask(1, SIG_BLOCK, sigbit(USR2))
    await signals.sigprocmask(2, SIG_BLOCK, sigbit(USR2))
    assert await signals.send(1, None, USR2, b"")
    assert await signals.pending(1) == sigbit(USR2) and rung == []


async def test_resethand_and_nodefer(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, _ = actor
    await signals.sigaction(1, USR1, (HANDLER, SA_RESETHAND | SA_NODEFER, 0, 0))
    await signals.send(1, 1, USR1, b"")
    await signals.dequeue(1)
    assert (await signals.sigaction(1, USR1, None))[0] == SIG_DFL
    assert await signals.sigprocmask(1, SIG_BLOCK, None) == 0


async def test_kill_and_stop_cannot_be_caught(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, _ = actor
    for signo in (Signal.SIGKILL, Signal.SIGSTOP):
        with pytest.raises(Errno) as error:
            await signals.sigaction(1, int(signo), (HANDLER, 0, 0, 0))
        assert error.value.errno == EINVAL
    await signals.sigprocmask(1, SIG_SETMASK, (1 << 64) - 1)
    assert not await signals.sigprocmask(1, SIG_BLOCK, None) & sigbit(int(Signal.SIGKILL))


async def test_sigtimedwait_takes_a_blocked_signal_when_it_comes(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, rung = actor
    await signals.sigprocmask(1, SIG_BLOCK, sigbit(USR1))
    await signals.sigprocmask(2, SIG_BLOCK, sigbit(USR1))
    result = []

    async def waiter() -> None:
        result.append(await signals.take(1, sigbit(USR1), None))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        await signals.send(1, None, USR1, b"x")
    assert result == [(USR1, b"x")] and rung == []


async def test_sigtimedwait_times_out(actor: tuple[SignalsActor, list[int]],
                                      autojump_clock: trio.testing.MockClock) -> None:
    signals, _ = actor
    assert await signals.take(1, sigbit(USR1), 0.5) is None


async def test_unknown_targets(actor: tuple[SignalsActor, list[int]]) -> None:
    signals, _ = actor
    with pytest.raises(Errno) as error:
        await signals.send(99, None, USR1, b"")
    assert error.value.errno == ESRCH
