"""The ``signals`` actor: signal actions, masks and queues, and futexes.

Signals: the actor keeps every process's actions and pending queue and every thread's mask,
queue and alternate stack (:mod:`services.signals.queues`), keyed by pid and tid. When a signal
becomes deliverable to a thread it calls the kernel's ``notify(tid)``, which makes the thread
stop sleeping and check for signals before it next runs guest code; the thread then takes its
signals with :meth:`SignalsActor.dequeue` and builds the frames itself.

Futexes: operations take an address space and a guest address; the MM translates the address
to its memory-file offset, which is the futex's key (see :mod:`services.signals.futex`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import trio

from abi.errno import EAGAIN, EINVAL, ENOMEM, EPERM, ERESTARTSYS, ESRCH
from abi.linux import (
    ALL_SIGNALS,
    MINSIGSTKSZ,
    NSIG,
    SA_NOCLDSTOP,
    SA_NOCLDWAIT,
    SA_RESETHAND,
    SA_NODEFER,
    SI_USER,
    SIGRTMIN,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    SIG_SETMASK,
    SIG_UNBLOCK,
    SS_AUTODISARM,
    SS_DISABLE,
    SS_ONSTACK,
    STOP_SIGNALS,
    UNBLOCKABLE,
    Signal,
    sigbit,
)
from abi.structs import SIGINFO_HEAD
from kernel.bus import Bus, operation
from abi.errno import Errno
from services.signals.contract import SignalsContract
from services.signals.futex import FutexTable
from services.signals.queues import DEFAULT_ACTION, IGNORED_ACTION, Action, ProcessSignals, ThreadSignals, next_signal
from services.signals.watch import PendingWatch

_STOP_BITS = 0
for _signo in STOP_SIGNALS:
    _STOP_BITS |= sigbit(_signo)
_CONT_BIT = sigbit(Signal.SIGCONT)


class SignalsActor(SignalsContract):
    """The ``signals`` service."""

    service = "signals"

    def __init__(self, bus: Bus, memfile_view: memoryview, notify: Callable[[int], None] | None = None) -> None:
        self._bus = bus
        self.futexes = FutexTable(memfile_view)
        self._notify = notify or (lambda tid: None)
        self._processes: dict[int, ProcessSignals] = {}
        self._threads: dict[int, ThreadSignals] = {}
        self._waits: dict[int, trio.Event] = {}
        #: Real-time signal instances queued, per real uid of their receivers (RLIMIT_SIGPENDING).
        self._queued: dict[int, int] = {}
        self._watch = PendingWatch(self._pending_bits)

    # --- processes and threads ----------------------------------------------------------------

    def _thread(self, tid: int) -> ThreadSignals:
        try:
            return self._threads[tid]
        except KeyError:
            raise Errno(ESRCH) from None

    def _process(self, pid: int) -> ProcessSignals:
        try:
            return self._processes[pid]
        except KeyError:
            raise Errno(ESRCH) from None

    @operation
    async def new_process(self, pid: int, parent: int | None) -> None:
        """A process appears: a fork copies its parent's actions, a first process has defaults."""
        process = ProcessSignals(pid)
        if parent is not None and parent in self._processes:
            process.actions = list(self._processes[parent].actions)
        self._processes[pid] = process

    @operation
    async def new_thread(self, tid: int, pid: int, creator: int | None, keep_altstack: bool) -> None:
        """A thread appears; it inherits its creator's mask (and alternate stack, for fork)."""
        process = self._process(pid)
        thread = ThreadSignals(tid, process)
        source = self._threads.get(creator) if creator is not None else None
        if source is not None:
            thread.mask = source.mask
            thread.altstack = source.altstack if keep_altstack else (0, SS_DISABLE, 0)
        process.threads.append(thread)
        self._threads[tid] = thread

    @operation
    async def retid(self, old: int, new: int) -> None:
        """execve from a non-leader thread: the thread takes the process's pid as its tid."""
        thread = self._threads.pop(old, None)
        if thread is not None:
            thread.tid = new
            self._threads[new] = thread

    @operation
    async def exit_thread(self, tid: int) -> None:
        thread = self._threads.pop(tid, None)
        if thread is not None:
            self._release(thread.pending.discard(ALL_SIGNALS))  # its own queue goes with it
            if thread in thread.process.threads:
                thread.process.threads.remove(thread)

    @operation
    async def exit_process(self, pid: int) -> None:
        process = self._processes.pop(pid, None)
        if process is not None:
            self._discard(process, ALL_SIGNALS)
            for thread in process.threads:
                self._threads.pop(thread.tid, None)

    @operation
    async def exec(self, pid: int, tid: int) -> None:
        """execve: caught signals go back to their default; ignored ones stay ignored, without
        flags or mask (Linux's flush_signal_handlers clears those of every action)."""
        process = self._process(pid)
        process.actions = [IGNORED_ACTION if action.handler == SIG_IGN else DEFAULT_ACTION
                           for action in process.actions]
        thread = self._threads.get(tid)
        if thread is not None:
            thread.altstack = (0, 0, 0)

    # --- actions, masks, alternate stacks --------------------------------------------------------

    @operation
    async def sigaction(self, pid: int, signo: int,
                        new: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
        """Install ``new`` (handler, flags, restorer, mask) for ``signo``; returns the old one."""
        if not 1 <= signo <= NSIG:
            raise Errno(EINVAL)
        process = self._process(pid)
        action = process.actions[signo]
        old = action.as_tuple()
        if new is not None:
            if sigbit(signo) & UNBLOCKABLE:
                raise Errno(EINVAL)
            handler, flags, restorer, mask = new
            process.actions[signo] = Action(handler, flags, restorer, mask & ~UNBLOCKABLE)
            if process.ignored(signo):  # pending instances of a now-ignored signal go away
                self._discard(process, sigbit(signo))
        return old

    @operation
    async def sigprocmask(self, tid: int, how: int, change: int | None) -> int:
        """Block, unblock or set the thread's mask; returns the old mask."""
        thread = self._thread(tid)
        old = thread.mask
        if change is not None:
            if how == SIG_BLOCK:
                mask = old | change
            elif how == SIG_UNBLOCK:
                mask = old & ~change
            elif how == SIG_SETMASK:
                mask = change
            else:
                raise Errno(EINVAL)
            self._set_mask(thread, mask)
        return old

    @operation
    async def set_mask(self, tid: int, mask: int) -> int:
        """Set the thread's mask (sigreturn, sigsuspend); returns the old one."""
        thread = self._thread(tid)
        old = thread.mask
        self._set_mask(thread, mask)
        return old

    def _set_mask(self, thread: ThreadSignals, mask: int) -> None:
        thread.mask = mask & ALL_SIGNALS & ~UNBLOCKABLE
        if self._deliverable(thread):
            self._signal_for(thread.tid)

    @operation
    async def pending(self, tid: int) -> int:
        """Signals pending for the thread or its process (rt_sigpending shows the blocked ones)."""
        thread = self._thread(tid)
        return thread.pending.bits | thread.process.pending.bits

    @operation
    async def status(self, tid: int) -> tuple[int, int, int, int, int]:
        thread = self._thread(tid)
        process = thread.process
        ignored = caught = 0
        for signo in range(1, NSIG + 1):
            handler = process.actions[signo].handler
            if handler == SIG_IGN:
                ignored |= sigbit(signo)
            elif handler != SIG_DFL:
                caught |= sigbit(signo)
        return thread.pending.bits, process.pending.bits, thread.mask, ignored, caught

    def _pending_bits(self, tid: int) -> int:
        thread = self._threads.get(tid)
        return thread.pending.bits | thread.process.pending.bits if thread is not None else 0

    @operation
    async def watch(self) -> PendingWatch:
        """The read-only view of pending signals that signalfd's poll reads."""
        return self._watch

    @operation
    async def sigaltstack(self, tid: int, new: tuple[int, int, int] | None, sp: int) -> tuple[int, int, int]:
        """Set the alternate stack; returns the old one with SS_ONSTACK if ``sp`` is on it.
        An SS_AUTODISARM stack never counts as "on it" (Linux's ``on_sig_stack``)."""
        thread = self._thread(tid)
        base, flags, size = thread.altstack
        on_stack = size > 0 and not flags & SS_AUTODISARM and base < sp <= base + size
        old_flags = SS_DISABLE if size == 0 else (SS_ONSTACK if on_stack else 0)
        old = (base, old_flags | (flags & SS_AUTODISARM), size)
        if new is not None:
            if on_stack:
                raise Errno(EPERM)
            new_base, new_flags, new_size = new
            mode = new_flags & ~SS_AUTODISARM
            if mode not in (0, SS_ONSTACK, SS_DISABLE):
                raise Errno(EINVAL)
            if mode == SS_DISABLE:
                thread.altstack = (0, SS_DISABLE, 0)
            else:
                if new_size < MINSIGSTKSZ:
                    raise Errno(ENOMEM)
                thread.altstack = (new_base, new_flags, new_size)
        return old

    @operation
    async def altstack_of(self, tid: int) -> tuple[int, int, int]:
        return self._thread(tid).altstack

    @operation
    async def set_altstack(self, tid: int, altstack: tuple[int, int, int]) -> None:
        """sigreturn restores the alternate stack saved in the frame."""
        thread = self._thread(tid)
        base, flags, size = altstack
        if flags & ~SS_AUTODISARM not in (0, SS_ONSTACK, SS_DISABLE):
            return
        if flags & ~SS_AUTODISARM == SS_DISABLE:
            thread.altstack = (0, SS_DISABLE, 0)
        elif size >= MINSIGSTKSZ:
            thread.altstack = (base, flags, size)

    # --- sending and taking ------------------------------------------------------------------------

    @operation
    async def send(self, pid: int, tid: int | None, signo: int, info: bytes,
                   bound: tuple[int, int] | None = None) -> bool:
        """Send ``signo`` to process ``pid`` (or to its thread ``tid``); False if it was dropped.
        ``bound``: the receiver's real uid and RLIMIT_SIGPENDING, for a real-time signal."""
        process = self._process(pid)
        target = self._thread(tid) if tid is not None else None
        if target is not None and target.process is not process:
            raise Errno(ESRCH)
        if signo == 0:
            return True
        bit = sigbit(signo)
        if bit & _STOP_BITS:
            self._discard(process, _CONT_BIT)
        elif signo == Signal.SIGCONT:
            self._discard(process, _STOP_BITS)
        blocked_everywhere = all(t.mask & bit for t in ([target] if target else process.threads))
        waiter = self._waiter_for(process, target, bit)
        unkillable = self._init_default(process, signo)
        if unkillable and signo == Signal.SIGKILL:
            return False
        if (process.ignored(signo) and not process.traced or unkillable) and not blocked_everywhere \
                and waiter is None and signo != Signal.SIGKILL:
            return False
        queue = target.pending if target is not None else process.pending
        owner = None
        if bound is not None and not (signo < SIGRTMIN and queue.bits & bit):  # else it coalesces
            owner = self._charge(bound, signo, info)
            if owner is None and queue.bits & bit:
                return True  # past the limit: the instance is lost, the signal stays pending once
        queue.add(signo, info, owner)
        self._watch.changed()
        if waiter is not None:
            event = self._waits.get(waiter.tid)
            if event is not None:
                event.set()
        if signo == Signal.SIGKILL:
            for thread in process.threads:
                self._signal_for(thread.tid)
            return True
        for thread in ([target] if target else process.threads):
            if not thread.mask & bit:
                self._signal_for(thread.tid)
                break
        return True

    @staticmethod
    def _init_default(process: ProcessSignals, signo: int) -> bool:
        """Whether the signal would take its default action in the sandbox's init (pid 1).

        Every sender is inside init's pid namespace, so, as Linux does for a namespace's init
        (SIGNAL_UNKILLABLE), such a signal is dropped, even SIGKILL; faults never come here
        with a default action (the faulting task ends the process itself)."""
        return process.pid == 1 and process.actions[signo].handler == SIG_DFL

    def _charge(self, bound: tuple[int, int], signo: int, info: bytes) -> int | None:
        """Count a queued instance against its receiver's user (``__sigqueue_alloc``): the uid
        charged, or None past RLIMIT_SIGPENDING, the signal then pending without its siginfo.
        A standard signal from kill(2) or the kernel (si_code >= 0) is charged past the limit;
        a real-time one from anything but kill(2) (sigqueue, tgkill) is refused, EAGAIN."""
        uid, limit = bound
        queued = self._queued.get(uid, 0)
        code = SIGINFO_HEAD.unpack_from(info)[2]
        if queued < limit or signo < SIGRTMIN and code >= 0:
            self._queued[uid] = queued + 1
            return uid
        if signo >= SIGRTMIN and code != SI_USER:
            raise Errno(EAGAIN)
        return None

    def _take(self, thread: ThreadSignals, signo: int) -> bytes:
        """Take the first instance of ``signo`` pending for the thread (its own queue first)."""
        pending = thread.pending if thread.pending.bits & sigbit(signo) else thread.process.pending
        info, owner = pending.take(signo)
        if owner is not None:
            self._release([owner])
        return info

    def _release(self, owners: list[int]) -> None:
        """Instances charged to ``owners`` left their queues."""
        for uid in owners:
            left = self._queued[uid] - 1
            if left:
                self._queued[uid] = left
            else:
                del self._queued[uid]

    def _discard(self, process: ProcessSignals, mask: int) -> None:
        self._release(process.pending.discard(mask))
        for thread in process.threads:
            self._release(thread.pending.discard(mask))

    def _waiter_for(self, process: ProcessSignals, target: ThreadSignals | None, bit: int) -> ThreadSignals | None:
        for thread in ([target] if target else process.threads):
            if thread.waiting_for & bit:
                return thread
        return None

    def _signal_for(self, tid: int) -> None:
        """Thread ``tid`` has a signal to act on: end its futex sleep here, and tell the kernel."""
        self.futexes.interrupt(tid)
        self._notify(tid)

    def _deliverable(self, thread: ThreadSignals) -> bool:
        return bool((thread.pending.bits | thread.process.pending.bits) & ~thread.mask)

    @operation
    async def dequeue(self, tid: int) -> tuple[int, bytes, tuple[int, int, int, int], int] | None:
        """The next signal the thread must act on: (signo, siginfo, action, mask before it).

        For a caught signal the thread's mask gains the action's mask (and the signal itself
        unless SA_NODEFER), and SA_RESETHAND puts the default action back, as delivery does.
        """
        thread = self._thread(tid)
        process = thread.process
        while True:
            signo = next_signal((thread.pending.bits | process.pending.bits) & ~thread.mask)
            if not signo:
                return None
            bit = sigbit(signo)
            info = self._take(thread, signo)
            self._watch.changed()
            if not self._init_default(process, signo):  # queued while blocked: dropped now
                break
        action = process.actions[signo]
        old_mask = thread.mask
        taken = action.as_tuple()
        if action.handler not in (SIG_DFL, SIG_IGN):
            thread.mask = (thread.mask | action.mask | (0 if action.flags & SA_NODEFER else bit)) & ~UNBLOCKABLE
            if action.flags & SA_RESETHAND:
                process.actions[signo] = DEFAULT_ACTION
        return signo, info, taken, old_mask

    @operation
    async def take(self, tid: int, wanted: int, timeout: float | None) -> tuple[int, bytes] | None:
        """sigtimedwait: take a pending signal in ``wanted`` (blocked or not), waiting up to
        ``timeout`` seconds for one (None: forever); None if none came."""
        thread = self._thread(tid)
        process = thread.process
        deadline = trio.current_time() + timeout if timeout is not None else float("inf")
        while True:
            signo = next_signal((thread.pending.bits | process.pending.bits) & wanted)
            if signo:
                info = self._take(thread, signo)
                self._watch.changed()
                return signo, info
            if trio.current_time() >= deadline:
                return None
            event = self._waits[tid] = trio.Event()
            thread.waiting_for = wanted
            try:
                with trio.move_on_at(deadline):
                    await event.wait()
            finally:
                thread.waiting_for = 0
                self._waits.pop(tid, None)

    @operation
    async def set_traced(self, pid: int, traced: bool) -> None:
        self._process(pid).traced = traced

    @operation
    async def child_state(self, parent: int, info: bytes) -> None:
        """A child of ``parent`` stopped or continued: SIGCHLD unless SA_NOCLDSTOP."""
        process = self._processes.get(parent)
        if process is not None and not process.actions[Signal.SIGCHLD].flags & SA_NOCLDSTOP:
            await self.send(parent, None, int(Signal.SIGCHLD), info)

    @operation
    async def child_exited(self, parent: int, signo: int, info: bytes) -> bool:
        """A child of ``parent`` ended: signal it; False if the parent wants no zombies
        (SIGCHLD ignored or SA_NOCLDWAIT), so the child is reaped at once."""
        process = self._processes.get(parent)
        if process is None:
            return True
        action = process.actions[Signal.SIGCHLD]
        reap_now = action.handler == SIG_IGN or bool(action.flags & SA_NOCLDWAIT)
        if signo:
            await self.send(parent, None, signo, info)
        return not reap_now

    async def _key(self, asid: int, addr: int, private: bool, write: bool = False) -> tuple[Hashable, int]:
        if addr % 4:
            raise Errno(EINVAL)
        key: tuple[Hashable, int] = await self._bus.call("mm", "futex_key", asid, addr, private, write)
        return key

    @operation
    async def futex_wait(self, asid: int, addr: int, expected: int, bitset: int, timeout: float | None,
                         private: bool = False, tid: int | None = None) -> int:
        """Sleep while the word at ``addr`` holds ``expected``: 0 when woken, else an errno;
        ERESTARTSYS once a signal is deliverable to thread ``tid`` (if given)."""
        if bitset == 0:
            raise Errno(EINVAL)
        key, offset = await self._key(asid, addr, private)
        if tid is not None:
            thread = self._threads.get(tid)
            if thread is not None and self._deliverable(thread):
                raise Errno(ERESTARTSYS)
        await self.futexes.wait(key, offset, expected, bitset, timeout, tid)
        return 0

    @operation
    async def futex_wake(self, asid: int, addr: int, count: int, bitset: int, private: bool = False) -> int:
        if bitset == 0:
            raise Errno(EINVAL)
        key, _ = await self._key(asid, addr, private)
        return self.futexes.wake(key, count, bitset)

    @operation
    async def futex_requeue(self, asid: int, addr: int, addr2: int, wake: int, move: int,
                            expected: int | None, private: bool = False) -> int:
        if wake < 0 or move < 0:
            raise Errno(EINVAL)
        key, offset = await self._key(asid, addr, private)
        target, _ = await self._key(asid, addr2, private)
        return self.futexes.requeue(key, target, wake, move, expected, offset)

    @operation
    async def futex_wake_op(self, asid: int, addr: int, addr2: int, wake1: int, wake2: int, op: int,
                            private: bool = False) -> int:
        key, _ = await self._key(asid, addr, private)
        key2, offset2 = await self._key(asid, addr2, private, write=True)
        return self.futexes.wake_op(key, key2, offset2, wake1, wake2, op)

    @operation
    async def futex_interrupt(self, tid: int) -> None:
        self.futexes.interrupt(tid)

    @operation
    async def futex_waiters(self, asid: int, addr: int, private: bool = False) -> int:
        """How many threads sleep on the futex at ``addr``."""
        key, _ = await self._key(asid, addr, private)
        return self.futexes.waiters(key)
