"""kernel.interrupts: a signal ends a sleep wherever its task is parked, with no cancel scope.

Each test parks a trio task the way a guest thread's sleep does (an event, a deadline, a
parking lot inside a nursery, a socket's readiness) and interrupts it from another task, as
the signals actor does; and checks the cases where it cannot at once (the task was woken and
has not run yet, or is at a checkpoint).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
import trio

from kernel import interrupts
from kernel.interrupts import Interrupted

pytestmark = pytest.mark.skipif(not interrupts.AVAILABLE, reason="this trio has no abort hook")


async def _parked_in(sleep: Callable[[], Awaitable[object]]) -> tuple[trio.lowlevel.Task, list[BaseException]]:
    """A task started and parked in ``sleep()``; what it raised goes into the list."""
    raised: list[BaseException] = []
    started: list[trio.lowlevel.Task] = []

    async def sleeper() -> None:
        started.append(trio.lowlevel.current_task())
        try:
            await sleep()
        except BaseException as error:  # noqa: BLE001 - the test looks at what came out
            raised.append(error)

    trio.lowlevel.spawn_system_task(sleeper)
    await trio.testing.wait_all_tasks_blocked()
    return started[0], raised


async def _nursery_sleep() -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        await trio.sleep_forever()


async def _socket_sleep() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        await trio.lowlevel.wait_readable(ours)


@pytest.mark.parametrize("sleep", [trio.Event().wait, trio.sleep_forever, lambda: trio.sleep(3600),
                                   _socket_sleep], ids=["event", "forever", "deadline", "socket"])
async def test_a_parked_sleep_ends_with_interrupted(sleep: Callable[[], Awaitable[object]]) -> None:
    task, raised = await _parked_in(sleep)
    assert interrupts.interrupt(task)
    await trio.testing.wait_all_tasks_blocked()
    assert [type(error) for error in raised] == [Interrupted]


async def test_a_nursery_in_the_sleep_raises_a_group_of_just_the_interruption() -> None:
    task, raised = await _parked_in(_nursery_sleep)
    assert interrupts.interrupt(task)
    await trio.testing.wait_all_tasks_blocked()
    [group] = raised
    assert isinstance(group, BaseExceptionGroup) and interrupts.was_interrupted(group)
    assert not interrupts.was_interrupted(BaseExceptionGroup("", [Interrupted(), ValueError()]))


async def test_a_task_not_parked_is_not_interrupted_at_once() -> None:
    """The task calling it runs: there is no wait to abort."""
    assert not interrupts.interrupt(trio.lowlevel.current_task())


async def test_a_sleep_woken_before_it_ran_is_interrupted_when_it_parks_again() -> None:
    """A pipe reader woken by a change that another reader took: it parks again, in the same
    sleep, and the signal that came meanwhile must still end it."""
    first, second = trio.Event(), trio.Event()
    asleep = True

    async def sleep() -> None:
        await first.wait()
        await second.wait()  # parks again: the signal came between the two

    task, raised = await _parked_in(sleep)
    first.set()  # woken: runnable, not parked
    interrupts.interrupt_sleep(task, lambda: asleep)
    await trio.testing.wait_all_tasks_blocked()
    assert [type(error) for error in raised] == [Interrupted]


async def test_a_sleep_that_ends_before_parking_again_is_left_alone() -> None:
    """The woken sleep ends (the read got its bytes): the call returns them, and the thread's
    next sleep is not the one the signal was for."""
    event = trio.Event()
    asleep = True
    after = trio.Event()

    async def sleep() -> None:
        nonlocal asleep
        await event.wait()
        asleep = False  # the sleep is over; what follows is another one
        await after.wait()

    task, raised = await _parked_in(sleep)
    event.set()
    interrupts.interrupt_sleep(task, lambda: asleep)
    await trio.testing.wait_all_tasks_blocked()
    assert raised == [] and not asleep
    after.set()
    await trio.testing.wait_all_tasks_blocked()
    assert raised == []


async def test_a_checkpoint_is_not_a_sleep_to_interrupt() -> None:
    """A task yielding at a checkpoint is already runnable: the abort fails, nothing is thrown,
    and a retry finds it parked later."""
    parked = trio.Event()
    asleep = True

    async def sleep() -> None:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        parked.set()
        await trio.sleep_forever()

    raised: list[BaseException] = []

    async def sleeper(task_status: trio.TaskStatus[trio.lowlevel.Task] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(trio.lowlevel.current_task())
        try:
            await sleep()
        except BaseException as error:  # noqa: BLE001
            raised.append(error)

    async with trio.open_nursery() as nursery:
        task = await nursery.start(sleeper)
        interrupts.interrupt_sleep(task, lambda: asleep)
        await parked.wait()
        await trio.testing.wait_all_tasks_blocked()
    assert [type(error) for error in raised] == [Interrupted]
