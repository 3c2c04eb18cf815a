"""How the Sentry waits for a stub thread's stop (platforms/ptrace/waiter.py), with waitpid and
sched_yield scripted: which calls it makes, not how long they take."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from platforms.ptrace.waiter import StopWaiter


@pytest.fixture
def waiter() -> Iterator[StopWaiter]:
    """A stop waiter (which blocks SIGCHLD in this thread for its signalfd), closed afterwards
    with the thread's signal mask as it was."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    stop_waiter = StopWaiter()
    try:
        yield stop_waiter
    finally:
        stop_waiter.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _scripted_waitpid(monkeypatch: pytest.MonkeyPatch, stop_after_yields: int | None) -> list[str]:
    """Make ``os.waitpid`` report a stop once ``os.sched_yield`` was called that many times
    (never, for None); returns the log of both calls."""
    log: list[str] = []

    def waitpid(tid: int, options: int) -> tuple[int, int]:
        log.append("waitpid")
        if stop_after_yields is not None and log.count("yield") >= stop_after_yields:
            return tid, 0x857F  # stopped, SIGTRAP | 0x80
        return 0, 0

    monkeypatch.setattr(os, "waitpid", waitpid)
    monkeypatch.setattr(os, "sched_yield", lambda: log.append("yield"))
    return log


def test_a_thread_beside_the_sentry_is_given_the_cpu_not_spun_for(waiter: StopWaiter,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A stub thread pinned to the Sentry's CPU runs only when the Sentry does not: the waiter
    yields to it once instead of spinning on waitpid, and its stop is collected right after."""
    log = _scripted_waitpid(monkeypatch, stop_after_yields=1)
    assert waiter.poll_for(4242, beside=True) == 0x857F
    assert log == ["waitpid", "yield", "waitpid"]
    # Not beside the Sentry: it spins (the thread runs on another CPU) and never yields.
    log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
    waiter.spin_ns = 20_000
    assert waiter.poll_for(4242) is None
    assert "yield" not in log and log.count("waitpid") > 3
    # Beside it and not stopped by the yield: no spin either, it blocks on SIGCHLD till the deadline.
    log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
    assert waiter.poll_for(4242, beside=True) is None
    assert log[:3] == ["waitpid", "yield", "waitpid"] and log.count("yield") == 1


def _stopping_later(monkeypatch: pytest.MonkeyPatch, after: float) -> None:
    """Make ``os.waitpid`` report a stop ``after`` seconds from now, when SIGCHLD is sent to
    this thread (which alone blocks it here) as the kernel would."""
    stopped = threading.Event()
    monkeypatch.setattr(os, "waitpid", lambda tid, options: (tid, 0x857F) if stopped.is_set() else (0, 0))
    me = threading.get_ident()

    def stop() -> None:
        stopped.set()
        signal.pthread_kill(me, signal.SIGCHLD)

    threading.Timer(after, stop).start()


async def test_a_thread_beside_the_sentry_is_waited_for_while_trio_is_idle(waiter: StopWaiter,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the yield, a pinned thread's stop is waited for as long as trio has nothing else
    to do, not for a short window: a window's timer costs two exits to the hypervisor here,
    and the caller would unpin and park the thread at its end."""
    from platforms.ptrace import waiter as waiter_module

    monkeypatch.setattr(os, "sched_yield", lambda: None)
    monkeypatch.setattr(waiter_module, "PINNED_BLOCK_MOST_S", 0.5)
    _stopping_later(monkeypatch, 0.05)
    started = time.monotonic()
    assert waiter.poll_for(4242, beside=True) == 0x857F  # far past the 50 µs window
    assert 0.04 < time.monotonic() - started < 0.45
    # A thread that computes for longer is let go (the caller unpins it) after PINNED_BLOCK_MOST_S.
    _never_stopping(monkeypatch)
    monkeypatch.setattr(waiter_module, "PINNED_BLOCK_MOST_S", 0.05)
    started = time.monotonic()
    assert waiter.poll_for(4242, beside=True) is None
    assert 0.04 < time.monotonic() - started < 0.45


async def test_with_nothing_parked_the_block_sets_no_short_timer(waiter: StopWaiter,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A select timeout shorter than the kernel's tick programs a timer: the idle block asks
    for trio's own deadline, and for PARKED_POLL_S only while a parked thread may need it."""
    from platforms.ptrace import waiter as waiter_module

    timeouts: list[float] = []
    real_select = waiter_module.select.select

    def select(read: list[int], write: tuple[()], error: tuple[()], timeout: float | None = None) -> list[list[int]]:
        if len(read) == 2:  # the block's (signalfd, trio's epoll fd)
            timeouts.append(timeout if timeout is not None else float("inf"))
            return [[], [], []]  # as if it timed out
        return real_select(read, write, error, timeout)

    _never_stopping(monkeypatch)
    monkeypatch.setattr(waiter_module.select, "select", select)
    monkeypatch.setattr(waiter_module, "IDLE_BLOCK_MOST_S", 0.2)
    waiter.sigchld_kept = True  # as in the CLI, which blocks SIGCHLD before any thread exists
    with trio.move_on_after(0.1):
        waiter._block_while_idle(4242)
    assert timeouts and timeouts[0] > 0.05  # trio's deadline, not PARKED_POLL_S
    waiter._parked[4343] = trio.lowlevel.current_task()
    timeouts.clear()
    waiter._block_while_idle(4242)
    del waiter._parked[4343]
    assert timeouts and max(timeouts) <= waiter_module.PARKED_POLL_S
    # A thread of the process that does not block SIGCHLD may take it: then the block polls.
    waiter.sigchld_kept = False
    timeouts.clear()
    waiter._block_while_idle(4242)
    assert timeouts and max(timeouts) <= waiter_module.PARKED_POLL_S


async def test_a_stop_whose_sigchld_another_thread_took_is_seen_by_polling(waiter: StopWaiter,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a thread of the process does not block SIGCHLD (a test runner, a notebook) the
    signalfd may never hear of a stop: the block polls, so it costs milliseconds, not the
    one-second bound (the contract suites ran 5x slower when it did not)."""
    stopped = threading.Event()
    monkeypatch.setattr(os, "waitpid", lambda tid, options: (tid, 0x857F) if stopped.is_set() else (0, 0))
    threading.Timer(0.05, stopped.set).start()  # no SIGCHLD reaches this thread
    waiter.sigchld_kept = False
    started = time.monotonic()
    assert waiter._block_while_idle(4242) == 0x857F
    assert time.monotonic() - started < 0.5


def test_the_waiter_knows_whether_a_thread_could_take_sigchld() -> None:
    """In a fresh process: every thread blocking SIGCHLD (threads made after the block inherit
    it) keeps it for the signalfd; one thread that unblocks it can take it."""
    program = """
import signal, threading
from platforms.ptrace.waiter import _every_thread_blocks_sigchld
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
done = threading.Event()
threading.Thread(target=done.wait).start()
print(_every_thread_blocks_sigchld())
ready = threading.Event()
def unblocked():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    ready.set()
    done.wait()
threading.Thread(target=unblocked).start()
ready.wait()
print(_every_thread_blocks_sigchld())
done.set()
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.split() == ["True", "False"], result.stderr


async def test_a_block_ends_when_it_wakes_a_parked_task(waiter: StopWaiter, monkeypatch: pytest.MonkeyPatch,
                                                        nursery: trio.Nursery) -> None:
    """The block drains SIGCHLD for every parked thread: when it hands one its stop, that
    task must run now, not once the blocked-for thread stops (two threads of one guest)."""
    stopped = threading.Event()
    monkeypatch.setattr(os, "waitpid",
                        lambda tid, options: (tid, 0x857F) if tid == 4343 and stopped.is_set() else (0, 0))
    woken: list[int] = []

    async def parked() -> None:
        waiter._parked[4343] = trio.lowlevel.current_task()
        woken.append(await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.SUCCEEDED))

    nursery.start_soon(parked)
    await trio.testing.wait_all_tasks_blocked()
    me = threading.get_ident()
    threading.Timer(0.05, lambda: (stopped.set(), signal.pthread_kill(me, signal.SIGCHLD))).start()
    started = time.monotonic()
    assert waiter._block_while_idle(4242) is None
    assert time.monotonic() - started < 0.5  # not the one-second bound
    await trio.testing.wait_all_tasks_blocked()
    assert woken == [0x857F]


async def test_trios_idle_time_is_read_as_its_statistics_say(nursery: trio.Nursery) -> None:
    """The waiter reads trio's run queue and deadlines directly (its statistics also count
    every fd it waits on, ~4 µs): the same answers, or a trio upgrade broke the fast path."""
    from trio._core import _run

    from platforms.ptrace.waiter import _trio_idle_seconds

    runner = _run.GLOBAL_RUN_CONTEXT.runner
    assert hasattr(runner, "runq") and hasattr(runner, "deadlines") and hasattr(runner, "clock")
    await trio.testing.wait_all_tasks_blocked()
    assert _trio_idle_seconds() == trio.lowlevel.current_statistics().seconds_to_next_deadline == float("inf")
    with trio.move_on_after(5):
        expected = trio.lowlevel.current_statistics().seconds_to_next_deadline
        assert expected - 0.5 < _trio_idle_seconds() <= expected
    nursery.start_soon(trio.sleep, 0)
    assert trio.lowlevel.current_statistics().tasks_runnable and _trio_idle_seconds() == 0


async def test_a_thread_elsewhere_is_not_waited_for_while_another_task_can_run(
        waiter: StopWaiter, monkeypatch: pytest.MonkeyPatch, nursery: trio.Nursery) -> None:
    """gzip computes between two writes while tar, woken by the last one, could run: the
    task of gzip's thread looks once for its stop and gives way, rather than spin for it."""
    log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
    await trio.testing.wait_all_tasks_blocked()
    assert waiter.stopped_if_busy(1234) == (False, None) and log == []  # nothing else to run: wait as ever
    nursery.start_soon(trio.sleep, 0)  # a task is runnable now
    assert waiter.stopped_if_busy(1234) == (True, None) and log == ["waitpid"]
    monkeypatch.setattr(os, "waitpid", lambda tid, options: (tid, 0x857F))
    assert waiter.stopped_if_busy(1234) == (True, 0x857F)  # the stop came already: taken at once


async def test_the_waiter_can_name_trios_epoll_fd() -> None:
    """The fast path of a long wait needs trio's own epoll fd (a private attribute): a trio that
    renamed it must fail here, not only make every waiting task park again."""
    from platforms.ptrace.waiter import _trio_io_fd

    fd = _trio_io_fd()
    assert fd is not None and os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventpoll]"


def _never_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "waitpid", lambda tid, options: (0, 0))


async def test_a_wait_while_trio_is_idle_gives_way_to_io_and_deadlines(waiter: StopWaiter,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its short window a waiting task blocks on as long as trio is idle, and no longer:
    I/O another task waits for, or a trio deadline, ends the block (then the task parks)."""
    left, right = socket.socketpair()
    try:
        _never_stopping(monkeypatch)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.lowlevel.wait_readable, left)
            await trio.testing.wait_all_tasks_blocked()
            threading.Timer(0.05, right.send, (b"x",)).start()
            started = time.monotonic()
            assert waiter._block_while_idle(4242) is None
            assert 0.04 < time.monotonic() - started < 0.5  # the I/O, not the one-second bound
        with trio.move_on_after(0.05):
            started = time.monotonic()
            assert waiter._block_while_idle(4242) is None
            assert 0.04 < time.monotonic() - started < 0.5  # the deadline
    finally:
        left.close()
        right.close()


async def test_a_task_that_parks_while_trio_is_idle_takes_its_stop_without_the_reaper(
        waiter: StopWaiter, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = threading.Event()

    def waitpid(tid: int, options: int) -> tuple[int, int]:
        return (tid, 0x857F) if stopped.is_set() else (0, 0)

    monkeypatch.setattr(os, "waitpid", waitpid)

    me = threading.get_ident()  # (SIGCHLD is blocked in this thread alone: send it here)

    def stop() -> None:
        stopped.set()
        signal.pthread_kill(me, signal.SIGCHLD)

    threading.Timer(0.1, stop).start()
    started = time.monotonic()
    assert await waiter.park(4242) == 0x857F  # (no reaper runs here: serve() was never started)
    assert time.monotonic() - started < 0.9  # not by the one-second bound


async def test_a_trio_fd_select_cannot_take_makes_the_task_park(waiter: StopWaiter,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """select(2) takes fds below 1024 only: a trio loop whose epoll fd lies above (started late
    in an embedding program) gets the old way, a park, not a ValueError."""
    from platforms.ptrace import waiter as waiter_module

    _never_stopping(monkeypatch)
    monkeypatch.setattr(waiter_module, "_trio_io_fd", lambda: 4000)
    started = time.monotonic()
    assert waiter._block_while_idle(4242) is None
    assert time.monotonic() - started < 0.5


async def test_a_thread_computing_on_another_cpu_is_polled_for_while_trio_is_idle(
        waiter: StopWaiter, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sleeping CPU of a virtual machine takes 100-200 µs to wake: while trio is idle, a thread
    computing on another CPU is polled for (yielding between polls), not slept for."""
    log = _scripted_waitpid(monkeypatch, stop_after_yields=40)
    assert waiter._block_while_idle(4242, elsewhere=lambda: True) == 0x857F
    assert log.count("yield") == 40 and log[-1] == "waitpid"
    # None of it without the test, or with polling turned off: the thread is slept for at once.
    for elsewhere, idle_poll_ns in ((None, waiter.idle_poll_ns), (lambda: True, 0)):
        log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
        waiter.idle_poll_ns = idle_poll_ns
        with trio.move_on_after(0.02):
            assert waiter._block_while_idle(4242, elsewhere) is None
        assert "yield" not in log


async def test_a_thread_on_the_sentrys_cpu_is_not_polled_for(waiter: StopWaiter,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread found on the Sentry's own CPU waits for that CPU: polling would only hold it
    off, so the Sentry sleeps at once, or as soon as it finds the thread there."""
    log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
    with trio.move_on_after(0.02):
        assert waiter._block_while_idle(4242, elsewhere=lambda: False) is None
    assert "yield" not in log
    answers = iter([True, False])  # moved onto the Sentry's CPU while being polled for
    log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
    with trio.move_on_after(0.1):
        started = time.monotonic()
        assert waiter._block_while_idle(4242, elsewhere=lambda: next(answers)) is None
        assert time.monotonic() - started > 0.09  # then it slept till the deadline
    assert 0 < log.count("yield") < 1000


async def test_no_thread_is_polled_for_while_another_is_parked(waiter: StopWaiter,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads computing at once need both CPUs: the Sentry sleeps rather than poll."""
    log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
    waiter._parked[4343] = trio.lowlevel.current_task()  # as park() records a parked task
    try:
        with trio.move_on_after(0.02):
            assert waiter._block_while_idle(4242, elsewhere=lambda: True) is None
    finally:
        del waiter._parked[4343]
    assert "yield" not in log


async def test_polling_for_a_thread_gives_way_to_io(waiter: StopWaiter, monkeypatch: pytest.MonkeyPatch) -> None:
    """I/O another task waits for ends the polling as it ends the block: trio's fd is looked at
    between polls."""
    left, right = socket.socketpair()
    try:
        log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
        waiter.idle_poll_ns = 5_000_000_000  # longer than the test: only the I/O can end it
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.lowlevel.wait_readable, left)
            await trio.testing.wait_all_tasks_blocked()
            threading.Timer(0.05, right.send, (b"x",)).start()
            started = time.monotonic()
            assert waiter._block_while_idle(4242, elsewhere=lambda: True) is None
            assert 0.04 < time.monotonic() - started < 0.5
        assert log.count("yield") > 100
    finally:
        left.close()
        right.close()


async def test_before_trio_sleeps_a_parked_thread_computing_elsewhere_is_polled_for(
        waiter: StopWaiter, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task that parked while trio was busy (tar's calls beside gzip's computing) is polled
    for when trio runs out of work, as a blocked task is: its stop is handed over at once
    instead of after trio's sleep and the CPU's wake-up. Not with two parked (their threads
    need the CPUs), nor when trio is not about to sleep."""
    monkeypatch.setattr(waiter, "_block_while_idle", lambda tid, elsewhere=None: None)  # park at once
    statuses: dict[int, int] = {}

    async def parked(tid: int) -> None:
        statuses[tid] = await waiter.park(tid, elsewhere=lambda: True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(parked, 4242)
        await trio.testing.wait_all_tasks_blocked()
        log = _scripted_waitpid(monkeypatch, stop_after_yields=30)
        waiter.poll_before_sleep(0)  # trio has work: no poll
        assert log == []
        waiter.poll_before_sleep(1.0)
        assert log.count("yield") == 30
    assert statuses == {4242: 0x857F}

    _scripted_waitpid(monkeypatch, stop_after_yields=None)
    async with trio.open_nursery() as nursery:
        for tid in (4242, 4343):
            nursery.start_soon(parked, tid)
        await trio.testing.wait_all_tasks_blocked()
        log = _scripted_waitpid(monkeypatch, stop_after_yields=0)
        waiter.poll_before_sleep(1.0)
        assert log == []  # two parked: left to the reaper
        nursery.cancel_scope.cancel()


async def test_a_parked_thread_found_gone_leaves_nothing_to_poll_for(waiter: StopWaiter,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A parked thread reaped elsewhere gets ThreadGone, and is forgotten as one to poll for:
    the next parked thread is polled for alone."""
    from platforms.ptrace.waiter import ThreadGone

    monkeypatch.setattr(waiter, "_block_while_idle", lambda tid, elsewhere=None: None)
    outcomes: dict[int, object] = {}

    async def parked(tid: int) -> None:
        try:
            outcomes[tid] = await waiter.park(tid, elsewhere=lambda: True)
        except ThreadGone:
            outcomes[tid] = "gone"

    def gone(tid: int, options: int) -> tuple[int, int]:
        raise ChildProcessError

    async with trio.open_nursery() as nursery:
        nursery.start_soon(parked, 4242)
        await trio.testing.wait_all_tasks_blocked()
        monkeypatch.setattr(os, "waitpid", gone)
        waiter._wake_parked()
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == {4242: "gone"}
        nursery.start_soon(parked, 4343)
        await trio.testing.wait_all_tasks_blocked()
        _scripted_waitpid(monkeypatch, stop_after_yields=3)
        waiter.poll_before_sleep(1.0)
    assert outcomes == {4242: "gone", 4343: 0x857F}


async def test_a_task_that_waits_after_the_platform_closed_finds_its_thread_gone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At the sandbox's end the reaper closes the waiter while tasks that were already
    runnable still run on to their next wait: they find their thread gone (the stubs went with
    the platform), not a closed signalfd (an OSError that crashed a fork bomb's end in CI)."""
    from platforms.ptrace.waiter import ThreadGone

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    closed = StopWaiter()
    closed.close()
    _never_stopping(monkeypatch)  # a live child of ours, still running
    try:
        with pytest.raises(ThreadGone):
            closed.poll_for(4242)
        with pytest.raises(ThreadGone):
            await closed.park(4242)
        with pytest.raises(ThreadGone):
            await closed.wait(4242)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
