"""Learning of ptrace stops from the trio thread, without a helper thread.

The tracer is the trio thread itself (ptrace requests must come from the thread that attached).
A task that resumed a stub thread calls :meth:`StopWaiter.wait`:

1. it first *spins* on ``waitpid(tid, WNOHANG|__WALL)`` for a bounded time — a trapped system
   call usually comes back within a few microseconds, and a spinning tracer notices it without
   a sleep/wake-up (a cross-CPU wake-up costs ~20 µs in this VM);
2. then it *parks*; one reaper task sleeps on a signalfd for SIGCHLD (the brief measured
   signalfd + bounded spin as the best way here: 18 µs per trapped call unpinned) and hands
   each parked task its stop when SIGCHLD says something changed. Every stop raises SIGCHLD,
   also the ones a spin caught, so the reaper listens only while some task is parked (or a
   killed thread awaits collection); it idles otherwise rather than wake for each system call.

No wake-up is lost: a task parks synchronously right after its last poll, with no checkpoint in
between, so a stop that lands after the poll leaves SIGCHLD pending and the reaper's signalfd
readable; the reaper polls every parked thread after draining the signalfd. (A SIGCHLD left
pending while the reaper idled only costs one spurious poll.)

SIGCHLD reaches the signalfd only if every thread of the Sentry process blocks it. The CLI blocks
it before any thread exists, but an embedding program (a test runner, a researcher's notebook)
may already have threads that do not — the kernel then hands SIGCHLD to one of them, which
discards it. So while any task is parked the reaper also re-polls every ``PARKED_POLL_S``: a stolen
SIGCHLD costs latency, never a hang.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

import outcome
import trio

from platforms.ptrace.binding import (
    PTRACE_CONT,
    SIGNALFD_SIGINFO_SIZE,
    WALL,
    PtraceError,
    block_sigchld,
    ptrace,
    signalfd,
)

_WNOHANG_WALL = os.WNOHANG | WALL
#: How long a task spins on waitpid before parking (nanoseconds).
DEFAULT_SPIN_NS = 50_000
#: While tasks are parked, how often the reaper polls even without a SIGCHLD (seconds).
PARKED_POLL_S = 0.002


class ThreadGone(Exception):
    """The thread being waited for does not exist (already reaped or never traced)."""


class StopWaiter:
    """Delivers ``waitpid`` statuses of traced threads to the trio tasks waiting for them."""

    def __init__(self, spin_ns: int = DEFAULT_SPIN_NS) -> None:
        block_sigchld()  # idempotent; the CLI has already done it before starting threads
        self.spin_ns = spin_ns
        self._sfd = signalfd({17})  # SIGCHLD
        self._parked: dict[int, trio.lowlevel.Task] = {}
        #: Threads killed whose exit status nobody waits for: the reaper collects them.
        self._orphans: set[int] = set()
        self._closed = False
        #: Set when the reaper has work (a parked task, an orphan) after it went idle.
        self._work = trio.Event()

    # --- waiting ------------------------------------------------------------------------------

    async def wait(self, tid: int) -> int:
        """The next ``waitpid`` status of traced thread ``tid``."""
        status = self.poll_for(tid)
        if status is not None:
            return status
        return await self.park(tid)

    def poll_for(self, tid: int) -> int | None:
        """Spin for up to ``spin_ns`` waiting for ``tid``'s next stop; None if it did not come."""
        waitpid = os.waitpid
        pid, status = _waitpid_nohang(waitpid, tid)
        if pid:
            return status
        deadline = time.perf_counter_ns() + self.spin_ns
        while time.perf_counter_ns() < deadline:
            pid, status = _waitpid_nohang(waitpid, tid)
            if pid:
                return status
        return None

    def wait_blocking(self, tid: int) -> int:
        """Block the whole thread until ``tid`` stops: for set-up before trio runs."""
        while True:
            try:
                return os.waitpid(tid, WALL)[1]
            except InterruptedError:
                continue
            except ChildProcessError as error:
                raise ThreadGone(tid) from error

    async def park(self, tid: int) -> int:
        """Sleep until the reaper sees ``tid`` stop; call right after a :meth:`poll_for` miss."""
        if tid in self._parked:
            raise RuntimeError(f"two tasks wait for thread {tid}")
        task = trio.lowlevel.current_task()
        self._parked[tid] = task
        self._work.set()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._parked.pop(tid, None)
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def reap_later(self, tid: int) -> None:
        """``tid`` was killed and nobody will wait for it: collect its exit in the background."""
        self._orphans.add(tid)
        self._collect_orphans()
        if self._orphans:
            self._work.set()

    # --- the reaper -----------------------------------------------------------------------------

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The reaper: sleep on SIGCHLD, then hand stops to the tasks parked for them."""
        task_status.started()
        try:
            while True:
                if not (self._parked or self._orphans):
                    self._work = trio.Event()
                    await self._work.wait()
                with trio.move_on_after(PARKED_POLL_S):
                    await trio.lowlevel.wait_readable(self._sfd)
                self._drain_signalfd()
                self._wake_parked()
                self._collect_orphans()
        finally:
            self.close()

    def _drain_signalfd(self) -> None:
        try:
            while os.read(self._sfd, SIGNALFD_SIGINFO_SIZE * 16):
                pass
        except BlockingIOError:
            pass

    def _wake_parked(self) -> None:
        for tid in list(self._parked):
            try:
                pid, status = _waitpid_nohang(os.waitpid, tid)
            except ThreadGone as gone:
                trio.lowlevel.reschedule(self._parked.pop(tid), outcome.Error(gone))
                continue
            if pid:
                trio.lowlevel.reschedule(self._parked.pop(tid), outcome.Value(status))

    def _collect_orphans(self) -> None:
        for tid in list(self._orphans):
            try:
                pid, status = _waitpid_nohang(os.waitpid, tid)
            except ThreadGone:
                self._orphans.discard(tid)
                continue
            if pid and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
                self._orphans.discard(tid)
            elif pid and os.WIFSTOPPED(status):
                # A host signal (the Sentry's interruption) stopped it on its way out: let it go on.
                try:
                    ptrace(PTRACE_CONT, tid, 0, 0)
                except PtraceError:
                    self._orphans.discard(tid)

    def reap_orphans_blocking(self, timeout: float = 2.0) -> None:
        """Collect every killed thread before shutdown.

        Polls rather than blocks: a thread-group leader is reported only after its other
        threads, so waiting for the leader first would wait forever.
        """
        deadline = time.monotonic() + timeout
        while self._orphans and time.monotonic() < deadline:
            self._collect_orphans()
            if self._orphans:
                time.sleep(0.001)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._sfd)


def _waitpid_nohang(waitpid: Any, tid: int) -> tuple[int, int]:
    try:
        return waitpid(tid, _WNOHANG_WALL)
    except ChildProcessError as error:
        raise ThreadGone(tid) from error
    except OSError as error:
        if error.errno == errno.EINTR:
            return 0, 0
        raise
