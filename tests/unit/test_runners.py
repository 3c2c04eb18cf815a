"""The runners of guest threads: a trio task that ran a thread to its end runs the next one."""

from __future__ import annotations

import trio
import trio.testing

from kernel.runners import Runners


class FakeThread:
    """Stands in for a kernel Task: records the trio task and scope it ran in."""

    def __init__(self, name: str, stop: trio.Event | None = None) -> None:
        self.name = name
        self.stop = stop  # if given, the thread runs until it is set (or its scope is cancelled)
        self.trio_task: trio.lowlevel.Task | None = None
        self.scope: trio.CancelScope | None = None
        self.ended = trio.Event()

    async def run(self, scope: trio.CancelScope) -> None:
        self.trio_task = trio.lowlevel.current_task()
        self.scope = scope
        try:
            if self.stop is not None:
                await self.stop.wait()
        finally:
            self.ended.set()


async def test_a_thread_starts_on_the_runner_the_last_one_ended_on() -> None:
    async with trio.open_nursery() as nursery:
        runners = Runners(nursery)
        first, second = FakeThread("a"), FakeThread("b")
        runners.start(first)
        await first.ended.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert runners.idle == 1
        runners.start(second)
        await second.ended.wait()
        assert second.trio_task is first.trio_task
        assert second.scope is first.scope  # its scope was never cancelled: it serves again
        nursery.cancel_scope.cancel()  # the kernel's end: idle runners end with it


async def test_threads_that_run_at_once_each_get_a_runner() -> None:
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        runners = Runners(nursery)
        threads = [FakeThread(f"t{i}", release) for i in range(3)]
        for thread in threads:
            runners.start(thread)
        await trio.testing.wait_all_tasks_blocked()
        assert len({thread.trio_task for thread in threads}) == 3
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert runners.idle == 3
        nursery.cancel_scope.cancel()


async def test_a_runner_whose_thread_was_cancelled_ends_with_it() -> None:
    async with trio.open_nursery() as nursery:
        runners = Runners(nursery)
        stopped = FakeThread("stopped", trio.Event())  # never set: only the cancel ends it
        runners.start(stopped)
        await trio.testing.wait_all_tasks_blocked()
        assert stopped.scope is not None
        stopped.scope.cancel()  # what Task.stop does to a thread of an exiting process
        await stopped.ended.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert runners.idle == 0
        after = FakeThread("after")
        runners.start(after)
        await after.ended.wait()
        assert after.trio_task is not stopped.trio_task
        assert after.scope is not stopped.scope and not after.scope.cancel_called
        nursery.cancel_scope.cancel()


async def test_no_more_than_the_most_idle_runners_wait() -> None:
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        runners = Runners(nursery, most_idle=2)
        for i in range(5):
            runners.start(FakeThread(f"t{i}", release))
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert runners.idle == 2
        nursery.cancel_scope.cancel()
