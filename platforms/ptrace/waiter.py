"""Learning of ptrace stops from the trio thread, without a helper thread.

The tracer is the trio thread itself (ptrace requests must come from the thread that attached).
A task that resumed a stub thread calls :meth:`StopWaiter.wait`:

1. it first *spins* on ``waitpid(tid, WNOHANG|__WALL)`` for a few microseconds — a trapped
   system call usually comes back within two, and a spinning tracer notices it without a
   sleep/wake-up (a cross-CPU wake-up costs ~20 µs in this VM). A thread pinned to the
   Sentry's CPU gets ``sched_yield`` instead of the spin: it runs only while the Sentry does
   not, so a spin held back a thread that computed a few microseconds before its next call
   (22 → 18 µs per call after 12 µs of computing);
2. then it *blocks the thread* on the SIGCHLD signalfd (``select`` with the rest of a bounded
   window as timeout), polling again at each SIGCHLD. A spin longer than a few microseconds
   only helps a stub running on another CPU: one queued behind the Sentry on its own CPU (a
   pinned stub whose wake-up did not preempt the Sentry) runs only once the Sentry sleeps, so a
   50 µs spin made one injected host call in nine take 130–430 µs. Sleeping lets it run at once.
   A pinned thread gets no such window: it is blocked for as in step 3 at once, for up to
   :data:`PINNED_BLOCK_MOST_S` (then it counts as computing, and is unpinned). A select timeout
   shorter than the kernel's tick has a timer programmed and cancelled, an exit to the
   hypervisor each way in this VM (~9 µs per call), and a thread that has just computed for a
   while is not run by the yield (the scheduler lets it run again only once the Sentry sleeps),
   so each of its next calls paid for one;
3. while trio has nothing else to do (no task to run, no I/O ready: its own epoll fd is in the
   read set), it *goes on blocking* there: the sleep trio would take anyway, without the cost
   of parking and being woken through the loop. A thread that computes on another CPU is
   first *polled for* instead, for up to :data:`IDLE_POLL_NS`, yielding the CPU between polls:
   in a virtual machine a CPU that sleeps takes 100–200 µs to wake (the host must run its vCPU
   again), and a stop after a millisecond of computing was seen that late. The poll stops as
   soon as the thread is found on the Sentry's own CPU (it would be waiting for it), or another
   thread is parked (two compute: the CPU is theirs), or trio has work. A task that had to park
   because trio was busy (tar's calls beside gzip's computing) is polled for the same way when
   trio runs out of work and is about to sleep (:class:`PollBeforeSleep`, an instrument);
4. then it *parks*: one reaper task sleeps on the same signalfd (the brief measured signalfd +
   bounded spin as the best way here: 18 µs per trapped call unpinned) and hands each parked
   task its stop when SIGCHLD says something changed. Every stop raises SIGCHLD, also the ones
   a spin caught, so the reaper listens only while some task is parked (or a killed thread
   awaits collection); it idles otherwise rather than wake for each system call.

No wake-up is lost: a task parks synchronously right after its last poll, with no checkpoint in
between, so a stop that lands after the poll leaves SIGCHLD pending and the reaper's signalfd
readable; the reaper polls every parked thread after draining the signalfd. A task blocked in
step 2 or 3 drains the signalfd too: it polls the parked threads as the reaper would, and polls its
own thread after every drain; killed threads awaiting collection it leaves to the reaper, which
polls them every ``PARKED_POLL_S`` while any are left. (A SIGCHLD left pending while nobody
listened only costs one spurious poll.)

SIGCHLD reaches the signalfd only if every thread of the Sentry process blocks it. The CLI blocks
it before any thread exists, but an embedding program (a test runner, a researcher's notebook)
may already have threads that do not — the kernel then hands SIGCHLD to one of them, which
discards it. So while any task is parked the reaper also re-polls every ``PARKED_POLL_S``, and so
does a task blocked for its stop unless every thread blocked SIGCHLD when the waiter was made
(the CLI's case: there a short timeout would only cost a timer): a stolen SIGCHLD costs
latency, never a hang.

A stub killed from outside (the host's OOM killer, an administrator's ``kill -9``) stops no one
who is waiting: its threads were not running, they were held in a stop while the Sentry served
their system calls or injected into them. :meth:`StopWaiter.watch_exit` learns of such a death
at once, without polling: a pidfd of one thread (``PIDFD_THREAD``, Linux 6.9) becomes readable
when that thread exits, whoever reaps it, and one task sleeps on an epoll set of them. (A pidfd
of a thread-group leader is no use here: it is woken only once the other threads are reaped.)
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

import outcome
import trio

from abi.linux import sigbit
from platforms.ptrace.binding import (
    PTRACE_CONT,
    SIGNALFD_SIGINFO_SIZE,
    WALL,
    PtraceError,
    block_sigchld,
    ptrace,
    signalfd,
)

log = logging.getLogger("sentrio.platform")

_WNOHANG_WALL = os.WNOHANG | WALL
#: pidfd_open(2) flag: a pidfd of this one thread, readable when it exits (Linux 6.9); O_EXCL's bits.
PIDFD_THREAD = os.O_EXCL
#: How long a task waits for a stop (spinning, then blocked on SIGCHLD) before parking (ns).
DEFAULT_SPIN_NS = 50_000
#: How much of that it spins before it blocks (ns): the stops that come at once come within 2 µs.
BUSY_SPIN_NS = 10_000
#: While tasks are parked, how often the reaper polls even without a SIGCHLD (seconds).
PARKED_POLL_S = 0.002
#: The longest a task blocks for its stop while trio is idle before it parks after all (seconds):
#: a bound for a wake-up source the read set would miss, never reached otherwise.
IDLE_BLOCK_MOST_S = 1.0
#: How long a task blocks for the stop of a thread pinned to the Sentry's CPU, while trio is
#: idle, before the thread counts as computing and is let go to any CPU (seconds): a few of the
#: kernel's ticks (4 ms at HZ=250), so its timer is rarely the next one the CPU must program.
PINNED_BLOCK_MOST_S = 0.012
#: How long a task polls for the stop of a thread computing on another CPU while trio is idle,
#: before it blocks (ns): a stop after up to this much computing is seen within microseconds.
IDLE_POLL_NS = 2_000_000
#: Polls between two looks at trio's epoll fd, the clock and where the thread runs.
_POLLS_PER_LOOK = 16
#: Looks between two readings of the thread's CPU (a /proc read, ~5 µs).
_LOOKS_PER_CPU_CHECK = 16
#: select(2)'s limit: fds from this number on cannot be in its sets.
_FD_SETSIZE = 1024


class ThreadGone(Exception):
    """The thread being waited for does not exist (already reaped or never traced)."""


class StopWaiter:
    """Delivers ``waitpid`` statuses of traced threads to the trio tasks waiting for them."""

    def __init__(self, spin_ns: int = DEFAULT_SPIN_NS, idle_poll_ns: int = IDLE_POLL_NS) -> None:
        block_sigchld()  # idempotent; the CLI has already done it before starting threads
        self.spin_ns = spin_ns
        #: 0: a thread computing elsewhere is not polled for (the Sentry sleeps at once).
        self.idle_poll_ns = idle_poll_ns
        self._sfd = signalfd({17})  # SIGCHLD
        #: Whether every thread of the process blocks SIGCHLD, so none can take one from the
        #: signalfd: then a block needs no short timeout to notice a stolen one (threads made
        #: later inherit the mask of the thread that makes them).
        self.sigchld_kept = _every_thread_blocks_sigchld()
        self._signalfd_only = [self._sfd]  # select()'s read set, made once
        self._parked: dict[int, trio.lowlevel.Task] = {}
        #: Of the parked threads, those that ran on another CPU than the Sentry's when they
        #: parked, with the test of where they run now (:meth:`poll_before_sleep`).
        self._parked_elsewhere: dict[int, Callable[[], bool]] = {}
        #: Threads killed whose exit status nobody waits for: the reaper collects them.
        self._orphans: set[int] = set()
        self._closed = False
        #: Set when the reaper has work (a parked task, an orphan) after it went idle.
        self._work = trio.Event()
        #: Threads whose exit someone wants to hear of: pidfd -> (tid, callback), and its epoll set.
        self._exit_watches: dict[int, tuple[int, Callable[[], None]]] = {}
        self._exit_fds: dict[int, int] = {}  # tid -> pidfd
        self._exits = select.epoll()
        #: False once the host refused a thread pidfd (Linux before 6.9): deaths are then
        #: learnt only when the Sentry next uses the thread.
        self.can_watch_exits = True

    # --- waiting ------------------------------------------------------------------------------

    async def wait(self, tid: int) -> int:
        """The next ``waitpid`` status of traced thread ``tid``."""
        status = self.poll_for(tid)
        if status is not None:
            return status
        return await self.park(tid)

    def poll_for(self, tid: int, beside: bool = False) -> int | None:
        """Wait up to ``spin_ns`` for ``tid``'s next stop, without letting trio run (spinning,
        then blocked on SIGCHLD); None if it did not come.

        ``beside``: the thread is pinned to the Sentry's own CPU. It can run only when the
        Sentry does not, so instead of spinning the Sentry yields the CPU to it once (a thread
        that computes briefly before its next system call stops during that yield) and then
        blocks: a spin would only hold it off. It blocks on for as long as trio has nothing
        else to do (:meth:`_block_while_idle`), not for a window: a short timeout costs a
        timer programmed and cancelled, two exits to the hypervisor in this VM (~9 µs a call;
        a thread that has just computed for a while gets nothing from the yield — the
        scheduler lets it run again only once the Sentry sleeps — and paid that on each of its
        next calls). The window is only for a trio loop whose epoll fd ``select`` cannot take.
        """
        if self._closed:  # the platform is gone, and every stub with it (a task the end raced)
            raise ThreadGone(tid)
        waitpid = os.waitpid
        pid, status = _waitpid_nohang(waitpid, tid)
        if pid:
            return status
        now = time.perf_counter_ns()
        spin_until = now + min(BUSY_SPIN_NS, self.spin_ns)
        deadline = now + self.spin_ns
        if beside:
            os.sched_yield()
            pid, status = _waitpid_nohang(waitpid, tid)
            if pid:
                return status
            trio_fd = _selectable_trio_fd()
            if trio_fd is not None:
                return self._block_on(tid, trio_fd, None, PINNED_BLOCK_MOST_S)
            spin_until = 0
        while time.perf_counter_ns() < spin_until:
            pid, status = _waitpid_nohang(waitpid, tid)
            if pid:
                return status
        while (left := deadline - time.perf_counter_ns()) > 0:
            if select.select(self._signalfd_only, (), (), left / 1e9)[0]:
                self._drain_signalfd()
                if self._parked:
                    self._wake_parked()
            pid, status = _waitpid_nohang(waitpid, tid)
            if pid:
                return status
        return None

    def stopped_if_busy(self, tid: int) -> tuple[bool, int | None]:
        """For a thread on another CPU: whether another trio task can run now, and if so
        ``tid``'s stop if it has come already. Spinning for the stop of a thread that computes
        elsewhere (gzip between two writes) would only hold that task off (tar, woken by the
        write); the thread's task parks instead, and the reaper brings its stop."""
        if not _trio_busy():
            return False, None
        if self._closed:
            raise ThreadGone(tid)
        pid, status = _waitpid_nohang(os.waitpid, tid)
        return True, status if pid else None

    def _block_while_idle(self, tid: int, elsewhere: Callable[[], bool] | None = None) -> int | None:
        """Go on blocking on SIGCHLD for ``tid``'s stop while trio has nothing else to do; None
        as soon as it has (a task to run, I/O ready, a deadline reached). ``elsewhere`` tells
        whether the thread runs on another CPU than the Sentry's: while it does, and no other
        task is parked, the stop is polled for first (:meth:`_poll_while_idle`).

        This is the sleep trio would take anyway, without its way back: parking and being
        rescheduled by the reaper cost ~30 µs more per stop than a wake-up from ``select``
        (compile_dir of the stdlib in one guest process: 1.36–1.50 → 1.28–1.35 s). Trio's own
        epoll fd is in the read set, readable whenever anything trio waits for is ready —
        other tasks' I/O, its wake-up socket (signals, calls from other threads); its next
        deadline bounds the wait. (``select`` takes fds below FD_SETSIZE only: a trio loop
        started after a thousand fds were open, in an embedding program, just parks.)
        """
        trio_fd = _selectable_trio_fd()
        if trio_fd is None:
            return None
        return self._block_on(tid, trio_fd, elsewhere, IDLE_BLOCK_MOST_S)

    def _block_on(self, tid: int, trio_fd: int, elsewhere: Callable[[], bool] | None, most: float) -> int | None:
        """:meth:`_block_while_idle` with trio's epoll fd known selectable, for up to ``most``
        seconds (a pinned thread's wait, :meth:`poll_for`, bounds it closer)."""
        idle = _trio_idle_seconds()
        if idle <= 0:
            return None
        until = time.monotonic() + min(idle, most)
        if elsewhere is not None and self.idle_poll_ns and not self._parked:
            poll_until = min(until, time.monotonic() + self.idle_poll_ns / 1e9)
            status, trio_ready = self._poll_while_idle(tid, trio_fd, poll_until, elsewhere)
            if status is not None or trio_ready:
                return status
        read_set = [self._sfd, trio_fd]
        while (left := until - time.monotonic()) > 0:
            # (Polled every PARKED_POLL_S where a thread that does not block SIGCHLD, in an
            # embedding program, may take the signal, as the reaper's docstring says, and while
            # tasks are parked. Otherwise no shorter timeout than trio's own: one shorter than
            # the kernel's tick has a timer programmed for it, an exit to the hypervisor each
            # way here.)
            polled = self._parked or not self.sigchld_kept
            ready = select.select(read_set, (), (), min(left, PARKED_POLL_S) if polled else left)[0]
            if trio_fd in ready:
                return None
            if ready:
                self._drain_signalfd()
                if self._parked:
                    self._wake_parked()
            pid, status = _waitpid_nohang(os.waitpid, tid)
            if pid:
                return status
            if _trio_idle_seconds() <= 0:
                return None  # (a parked task was woken, or a deadline came: let trio run)
        return None

    @staticmethod
    def _poll_while_idle(tid: int, trio_fd: int, until: float,
                         elsewhere: Callable[[], bool]) -> tuple[int | None, bool]:
        """Poll for ``tid``'s stop until ``until`` (monotonic seconds), keeping the Sentry's CPU
        awake, while the thread runs on another CPU; returns (its status or None, whether trio
        has something to do). The CPU is yielded between polls: whatever else waits for it
        runs first."""
        waitpid, sched_yield, monotonic = os.waitpid, os.sched_yield, time.monotonic
        trio_only = [trio_fd]
        polls = 0
        if not elsewhere():
            return None, False
        while True:
            pid, status = _waitpid_nohang(waitpid, tid)
            if pid:
                return status, False
            polls += 1
            if not polls % _POLLS_PER_LOOK:
                if select.select(trio_only, (), (), 0)[0]:
                    return None, True
                if monotonic() >= until:
                    return None, False
                if not polls % (_POLLS_PER_LOOK * _LOOKS_PER_CPU_CHECK) and not elsewhere():
                    return None, False
            sched_yield()

    def wait_blocking(self, tid: int) -> int:
        """Block the whole thread until ``tid`` stops: for set-up before trio runs."""
        while True:
            try:
                return os.waitpid(tid, WALL)[1]
            except InterruptedError:
                continue
            except ChildProcessError as error:
                raise ThreadGone(tid) from error

    async def park(self, tid: int, elsewhere: Callable[[], bool] | None = None) -> int:
        """Sleep until ``tid`` stops; call right after a :meth:`poll_for` miss. While trio has
        nothing else to do the thread just blocks on (polling for a thread that runs
        ``elsewhere``, see :meth:`_block_while_idle`), else the task sleeps until the reaper
        sees the stop."""
        if self._closed:
            raise ThreadGone(tid)
        status = self._block_while_idle(tid, elsewhere)
        if status is not None:
            return status
        if tid in self._parked:
            raise RuntimeError(f"two tasks wait for thread {tid}")
        task = trio.lowlevel.current_task()
        self._parked[tid] = task
        if elsewhere is not None:
            self._parked_elsewhere[tid] = elsewhere
        self._work.set()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._parked.pop(tid, None)
            self._parked_elsewhere.pop(tid, None)
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def reap_later(self, tid: int) -> None:
        """``tid`` was killed and nobody will wait for it: collect its exit in the background."""
        self._orphans.add(tid)
        self._collect_orphans()
        if self._orphans:
            self._work.set()

    # --- deaths nobody waits for --------------------------------------------------------------

    def watch_exit(self, tid: int, callback: Callable[[], None]) -> bool:
        """Call ``callback()`` once when host thread ``tid`` exits (or is killed), from the reaper's
        side of the loop. False if this host cannot watch threads; ThreadGone if ``tid`` is not
        there at all. A thread not yet reaped may be watched even if it has exited already: the
        callback then comes at once."""
        if not self.can_watch_exits:
            return False
        if self._closed:  # the platform is gone, and every stub with it (a clone racing the end)
            raise ThreadGone(tid)
        self.unwatch_exit(tid)
        try:
            fd = os.pidfd_open(tid, PIDFD_THREAD)
        except ProcessLookupError as error:
            raise ThreadGone(tid) from error
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            self.can_watch_exits = False  # no PIDFD_THREAD here
            return False
        self._exits.register(fd, select.EPOLLIN)
        self._exit_watches[fd] = (tid, callback)
        self._exit_fds[tid] = fd
        return True

    def unwatch_exit(self, tid: int) -> None:
        """Forget a :meth:`watch_exit` (a no-op if ``tid`` is not watched)."""
        fd = self._exit_fds.pop(tid, None)
        if fd is not None:
            del self._exit_watches[fd]
            self._exits.unregister(fd)
            os.close(fd)

    async def _watch_exits(self) -> None:
        while True:
            await trio.lowlevel.wait_readable(self._exits.fileno())
            ready = [(fd, self._exit_watches.get(fd)) for fd, _events in self._exits.poll(0)]
            for fd, watch in ready:
                # A callback may end other watches, and a new watch may reuse a closed fd number.
                if watch is None or self._exit_watches.get(fd) is not watch:
                    continue
                tid, callback = watch
                self.unwatch_exit(tid)
                try:
                    callback()
                except Exception:  # noqa: BLE001 — one owner's bug must not end every watch
                    log.exception("the exit callback of thread %d failed", tid)

    # --- the reaper -----------------------------------------------------------------------------

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The reaper: sleep on SIGCHLD, then hand stops to the tasks parked for them; and the
        watch on exits nobody waits for. While it serves, the loop polls for a parked thread's
        stop before it sleeps (:class:`PollBeforeSleep`)."""
        instrument = PollBeforeSleep(self)
        trio.lowlevel.add_instrument(instrument)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_exits)
                task_status.started()
                await self._reap()
        finally:
            trio.lowlevel.remove_instrument(instrument)
            self.close()

    async def _reap(self) -> None:
        while True:
            if not (self._parked or self._orphans):
                self._work = trio.Event()
                await self._work.wait()
            # One cancel scope while SIGCHLDs keep coming, its deadline moved on at each (a new
            # scope per stop cost ~8 µs, for every stop of a parked thread); a new one only
            # after a poll the deadline forced (a cancelled scope cannot be used again).
            with trio.CancelScope() as poll_due:
                while self._parked or self._orphans:
                    poll_due.deadline = trio.current_time() + PARKED_POLL_S
                    await trio.lowlevel.wait_readable(self._sfd)
                    self._reap_once()
            self._reap_once()

    def _reap_once(self) -> None:
        self._drain_signalfd()
        self._wake_parked()
        self._collect_orphans()

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
                self._hand_over(tid, outcome.Error(gone))
                continue
            if pid:
                self._hand_over(tid, outcome.Value(status))

    def _hand_over(self, tid: int, result: outcome.Outcome[int]) -> None:
        """Give parked thread ``tid``'s task its stop (or the error that it is gone)."""
        self._parked_elsewhere.pop(tid, None)
        trio.lowlevel.reschedule(self._parked.pop(tid), result)

    def poll_before_sleep(self, timeout: float) -> None:
        """Trio is about to sleep for up to ``timeout`` seconds with one task parked whose
        thread computes on another CPU: poll for its stop first, as a task blocked while trio
        is idle does (:meth:`_poll_while_idle`), and hand it over. Its SIGCHLD stays in the
        signalfd, so trio's wait for I/O returns at once and runs the task. Called by
        :class:`PollBeforeSleep`, an instrument of the loop."""
        if timeout <= 0 or len(self._parked) != 1 or len(self._parked_elsewhere) != 1 or not self.idle_poll_ns:
            return
        trio_fd = _selectable_trio_fd()
        if trio_fd is None:
            return
        ((tid, elsewhere),) = self._parked_elsewhere.items()
        until = time.monotonic() + min(timeout, self.idle_poll_ns / 1e9)
        try:
            status, _trio_ready = self._poll_while_idle(tid, trio_fd, until, elsewhere)
        except ThreadGone:
            return  # (the reaper tells the task)
        if status is not None:
            self._hand_over(tid, outcome.Value(status))

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
            for tid in list(self._exit_fds):
                self.unwatch_exit(tid)
            self._exits.close()


class PollBeforeSleep(trio.abc.Instrument):
    """Lets a stop waiter poll for a parked thread's stop when trio is about to sleep."""

    def __init__(self, waiter: StopWaiter) -> None:
        self._waiter = waiter

    def before_io_wait(self, timeout: float) -> None:
        self._waiter.poll_before_sleep(timeout)


def _trio_io_fd() -> int | None:
    """The epoll fd of the running trio loop's I/O manager, or None.

    Trio has no public way to name it: this reads the private ``_epoll`` of its Linux
    ``EpollIOManager`` (trio 0.30 to 0.35 at least). Without it (another backend, a trio that
    renamed it) a waiting task parks as before; tests/platform/test_waiter.py fails then, so an
    upgrade cannot lose the fast path unnoticed.
    """
    try:
        runner = trio._core._run.GLOBAL_RUN_CONTEXT.runner
        return int(runner.io_manager._epoll.fileno())
    except (AttributeError, ValueError):
        return None


def _trio_idle_seconds() -> float:
    """How long the running trio loop would sleep if it were asked now: 0 when a task is
    runnable, else the time to its next deadline (inf if it has none).

    What ``trio.lowlevel.current_statistics()`` says in ``tasks_runnable`` and
    ``seconds_to_next_deadline``, without the rest it computes: its I/O statistics count every
    fd trio waits on, ~4 µs with a sandbox's fds, and a task asks before every block. Reads the
    runner's private run queue and deadlines (trio 0.30 to 0.35 at least), or falls back to the
    public call; tests/platform/test_waiter.py compares the two, so an upgrade that renames them
    cannot go unnoticed.
    """
    try:
        runner = trio._core._run.GLOBAL_RUN_CONTEXT.runner
        if runner.runq:
            return 0.0
        return float(runner.deadlines.next_deadline() - runner.clock.current_time())
    except AttributeError:
        statistics = trio.lowlevel.current_statistics()
        return 0.0 if statistics.tasks_runnable else statistics.seconds_to_next_deadline


def _trio_busy() -> bool:
    """Whether a trio task is runnable now: the first half of :func:`_trio_idle_seconds`."""
    try:
        return bool(trio._core._run.GLOBAL_RUN_CONTEXT.runner.runq)
    except AttributeError:
        return trio.lowlevel.current_statistics().tasks_runnable > 0


def _every_thread_blocks_sigchld() -> bool:
    """Whether every thread of this process blocks SIGCHLD now (``SigBlk`` in each thread's
    /proc status); False if that cannot be read."""
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"SigBlk:"):
                        if not int(line.split()[1], 16) & sigbit(signal.SIGCHLD):
                            return False
                        break
    except OSError:
        return False
    return True


def _selectable_trio_fd() -> int | None:
    """Trio's epoll fd if ``select`` can take it (below FD_SETSIZE), else None."""
    fd = _trio_io_fd()
    return fd if fd is not None and fd < _FD_SETSIZE else None


def _waitpid_nohang(waitpid: Any, tid: int) -> tuple[int, int]:
    try:
        return waitpid(tid, _WNOHANG_WALL)
    except ChildProcessError as error:
        raise ThreadGone(tid) from error
    except OSError as error:
        if error.errno == errno.EINTR:
            return 0, 0
        raise
