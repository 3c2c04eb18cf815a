"""services.vfs.poll: a poll sleeps until something it watches changes, and no change is lost,
even one made while its sleepers are being started."""

from __future__ import annotations

import math

import trio
import trio.testing

from services.vfs.poll import Changes, wait_ready


async def test_a_change_made_while_the_sleepers_start_wakes_the_poll() -> None:
    """The change lands at the poll's first scheduling point after its check: before the fix,
    the sleeper of ``last`` could start after the change and sleep on, for ever."""
    for _ in range(20):  # trio varies the order a batch of tasks runs in: try several
        assert await _poll_with_a_change_at_the_first_scheduling_point() == ["last"]


async def _poll_with_a_change_at_the_first_scheduling_point() -> list[str]:
    first, last = Changes(), Changes()
    ready: list[str] = []

    async def change_last() -> None:
        ready.append("last")
        last.notify()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(change_last)
        with trio.fail_after(5):
            return await wait_ready(lambda: list(ready), [(first, 0), (last, 0)], math.inf)


async def test_a_poll_sleeps_until_a_change_then_checks_again() -> None:
    watched = Changes()
    ready: list[int] = []
    async with trio.open_nursery() as nursery:
        results: list[list[int]] = []

        async def poll() -> None:
            results.append(await wait_ready(lambda: list(ready), [(watched, 0)], math.inf))

        nursery.start_soon(poll)
        await trio.testing.wait_all_tasks_blocked()
        watched.notify()  # a change with nothing ready: the poll checks and sleeps again
        await trio.testing.wait_all_tasks_blocked()
        assert results == []
        ready.append(1)
        watched.notify()
    assert results == [[1]]


async def test_a_deadline_ends_the_sleep_with_the_last_answer(autojump_clock: trio.testing.MockClock) -> None:
    answer = await wait_ready(lambda: 0, [(Changes(), 0)], trio.current_time() + 1.0)
    assert answer == 0
