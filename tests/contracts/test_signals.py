"""The ``signals`` service's contract (services/signals/contract.py), through the bus.

Every test talks to whatever actor serves ``signals`` (ours, or ``--service signals=...``) only
with operations, as the kernel does; the doorbell is observed where the kernel hears it, as
``kernel.signal_arrived(tid)`` reaching the thread. Futex words live in memory of the ``mm``
service, which runs too.
"""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing

from abi.errno import EAGAIN, EFAULT, EINVAL, ENOMEM, ENOSYS, EPERM, ERESTARTSYS, ESRCH, ETIMEDOUT
from abi.linux import (
    FUTEX_BITSET_MATCH_ANY,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MINSIGSTKSZ,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    SA_NOCLDSTOP,
    SA_NOCLDWAIT,
    SA_NODEFER,
    SA_RESETHAND,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    SIG_SETMASK,
    SIG_UNBLOCK,
    SS_AUTODISARM,
    SS_DISABLE,
    SS_ONSTACK,
    Signal,
    sigbit,
)
from tests.contracts.conftest import Sandbox

SERVICES = ("mm", "signals")

USR1, USR2, CHLD, TERM, KILL, STOP, CONT, SEGV = (
    int(Signal.SIGUSR1), int(Signal.SIGUSR2), int(Signal.SIGCHLD), int(Signal.SIGTERM), int(Signal.SIGKILL),
    int(Signal.SIGSTOP), int(Signal.SIGCONT), int(Signal.SIGSEGV))
RTMIN = 34
HANDLER = 0x401000
INFO = bytes(range(128))
#: The process the tests use: not pid 1, whose default actions the sandbox's init rules change.
PID, TID, TID2 = 10, 10, 11
STACK = (0x7000_0000, 0, 4 * MINSIGSTKSZ)


class Doorbell:
    """Stands in for a guest thread in ``kernel.threads``: counts ``signal_arrived`` rings."""

    def __init__(self) -> None:
        self.rings = 0

    def signal_arrived(self) -> None:
        self.rings += 1


class Signals:
    """The signals service of a sandbox, with process PID (threads TID and TID2) announced."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.bells: dict[int, Doorbell] = {}

    async def __call__(self, op: str, *args: object) -> object:
        return await self.sandbox.call("signals", op, *args)

    async def errno(self, op: str, *args: object) -> int:
        return await self.sandbox.errno("signals", op, *args)

    async def process(self, pid: int, parent: int | None = None, threads: tuple[int, ...] = ()) -> None:
        await self("new_process", pid, parent)
        creator = parent
        for tid in threads or (pid,):
            await self.thread(tid, pid, creator)
            creator = tid

    async def thread(self, tid: int, pid: int, creator: int | None, keep_altstack: bool = False) -> None:
        await self("new_thread", tid, pid, creator, keep_altstack)
        self.bells[tid] = bell = Doorbell()
        self.sandbox.kernel.threads[tid] = bell  # type: ignore[assignment]

    def rung(self) -> dict[int, int]:
        """Which threads' doorbells rang since the last look."""
        rings = {tid: bell.rings for tid, bell in self.bells.items() if bell.rings}
        for bell in self.bells.values():
            bell.rings = 0
        return rings

    async def catch(self, pid: int, signo: int, flags: int = 0, mask: int = 0) -> None:
        await self("sigaction", pid, signo, (HANDLER, flags, 0, mask))


@pytest.fixture
async def signals(sandbox: Sandbox) -> Signals:
    service = Signals(sandbox)
    await service.process(PID, None, (TID, TID2))
    return service


# --- processes and threads ---------------------------------------------------------------------


async def test_unknown_processes_and_threads_are_esrch(signals: Signals) -> None:
    assert await signals.errno("new_thread", 99, 98, None, False) == ESRCH
    assert await signals.errno("sigaction", 98, USR1, None) == ESRCH
    assert await signals.errno("sigprocmask", 99, SIG_BLOCK, None) == ESRCH
    assert await signals.errno("set_mask", 99, 0) == ESRCH
    assert await signals.errno("pending", 99) == ESRCH
    assert await signals.errno("send", 98, None, USR1, INFO) == ESRCH
    assert await signals.errno("dequeue", 99) == ESRCH
    assert await signals.errno("take", 99, sigbit(USR1), 0.0) == ESRCH
    assert await signals.errno("sigaltstack", 99, None, 0) == ESRCH
    assert await signals.errno("altstack_of", 99) == ESRCH
    assert await signals.errno("exec", 98, 99) == ESRCH


async def test_a_thread_of_another_process_is_esrch(signals: Signals) -> None:
    await signals.process(20)
    assert await signals.errno("send", PID, 20, USR1, INFO) == ESRCH
    assert await signals("send", 20, 20, 0, b"") is True


async def test_exited_threads_and_processes_are_gone(signals: Signals) -> None:
    await signals("exit_thread", TID2)
    assert await signals.errno("pending", TID2) == ESRCH
    assert await signals("pending", TID) == 0
    await signals("exit_process", PID)
    assert await signals.errno("pending", TID) == ESRCH
    assert await signals.errno("sigaction", PID, USR1, None) == ESRCH
    await signals("exit_thread", TID2)  # unknown: no error
    await signals("exit_process", PID)


async def test_a_fork_copies_actions_and_a_thread_its_creators_mask(signals: Signals) -> None:
    await signals.catch(PID, USR1)
    await signals("sigaction", PID, USR2, (SIG_IGN, 0, 0, 0))
    await signals("sigprocmask", TID, SIG_SETMASK, sigbit(TERM))
    await signals("new_process", 20, PID)
    await signals.thread(20, 20, TID)
    assert (await signals("sigaction", 20, USR1, None))[0] == HANDLER  # type: ignore[index]
    assert (await signals("sigaction", 20, USR2, None))[0] == SIG_IGN  # type: ignore[index]
    assert await signals("sigprocmask", 20, SIG_BLOCK, None) == sigbit(TERM)
    await signals("new_process", 30, None)
    await signals.thread(30, 30, None)
    assert await signals("sigaction", 30, USR1, None) == (SIG_DFL, 0, 0, 0)
    assert await signals("sigprocmask", 30, SIG_BLOCK, None) == 0


async def test_retid_keeps_the_threads_state_under_its_new_id(signals: Signals) -> None:
    await signals("sigprocmask", TID2, SIG_SETMASK, sigbit(USR1))
    await signals("send", PID, TID2, USR1, INFO)
    await signals("exit_thread", TID)
    await signals("retid", TID2, TID)
    assert await signals("sigprocmask", TID, SIG_BLOCK, None) == sigbit(USR1)
    assert await signals("pending", TID) == sigbit(USR1)
    assert await signals.errno("pending", TID2) == ESRCH


async def test_exec_resets_caught_signals_keeps_ignored_ones_and_drops_the_altstack(signals: Signals) -> None:
    await signals.catch(PID, USR1, SA_NODEFER, sigbit(USR2))
    await signals("sigaction", PID, USR2, (SIG_IGN, 0, 0, 0))
    await signals("sigaltstack", TID, STACK, 0)
    await signals("exec", PID, TID)
    assert await signals("sigaction", PID, USR1, None) == (SIG_DFL, 0, 0, 0)
    assert (await signals("sigaction", PID, USR2, None))[0] == SIG_IGN  # type: ignore[index]
    assert (await signals("sigaltstack", TID, None, 0))[1] & SS_DISABLE  # type: ignore[index]


# --- actions and masks ----------------------------------------------------------------------------


async def test_sigaction_replies_the_old_action(signals: Signals) -> None:
    assert await signals("sigaction", PID, USR1, (HANDLER, SA_RESETHAND, 0x402000, sigbit(USR2))) == (SIG_DFL, 0, 0, 0)
    assert await signals("sigaction", PID, USR1, None) == (HANDLER, SA_RESETHAND, 0x402000, sigbit(USR2))
    await signals("sigaction", PID, USR2, (HANDLER, 0, 0, sigbit(KILL) | sigbit(STOP) | sigbit(TERM)))
    assert (await signals("sigaction", PID, USR2, None))[3] == sigbit(TERM)  # type: ignore[index]


@pytest.mark.parametrize(("signo", "new"), [(0, None), (65, None), (KILL, (SIG_IGN, 0, 0, 0)),
                                            (STOP, (HANDLER, 0, 0, 0))])
async def test_sigaction_errors(signals: Signals, signo: int, new: tuple[int, int, int, int] | None) -> None:
    assert await signals.errno("sigaction", PID, signo, new) == EINVAL


async def test_sigaction_may_ask_about_sigkill(signals: Signals) -> None:
    assert await signals("sigaction", PID, KILL, None) == (SIG_DFL, 0, 0, 0)


async def test_sigprocmask_blocks_unblocks_and_sets_but_never_kill_or_stop(signals: Signals) -> None:
    assert await signals("sigprocmask", TID, SIG_BLOCK, sigbit(USR1) | sigbit(KILL)) == 0
    assert await signals("sigprocmask", TID, SIG_BLOCK, sigbit(USR2)) == sigbit(USR1)
    assert await signals("sigprocmask", TID, SIG_UNBLOCK, sigbit(USR1)) == sigbit(USR1) | sigbit(USR2)
    assert await signals("sigprocmask", TID, SIG_SETMASK, sigbit(TERM) | sigbit(STOP)) == sigbit(USR2)
    assert await signals("set_mask", TID, sigbit(CHLD) | sigbit(KILL)) == sigbit(TERM)
    assert await signals("sigprocmask", TID, SIG_BLOCK, None) == sigbit(CHLD)
    assert await signals("sigprocmask", TID2, SIG_BLOCK, None) == 0  # masks are per thread
    assert await signals.errno("sigprocmask", TID, 7, sigbit(USR1)) == EINVAL
    assert await signals("sigprocmask", TID, 7, None) == sigbit(CHLD)


# --- alternate stacks ---------------------------------------------------------------------------


async def test_sigaltstack_sets_and_reports_the_stack(signals: Signals) -> None:
    base, _, size = STACK
    assert (await signals("sigaltstack", TID, None, 0))[1] & SS_DISABLE  # type: ignore[index]
    await signals("sigaltstack", TID, (base, SS_AUTODISARM, size), 0)
    assert await signals("sigaltstack", TID, None, 0) == (base, SS_AUTODISARM, size)
    # An SS_AUTODISARM stack never counts as the one the thread is on (Linux's on_sig_stack).
    assert await signals("sigaltstack", TID, None, base + 16) == (base, SS_AUTODISARM, size)
    assert await signals("altstack_of", TID) == (base, SS_AUTODISARM, size)
    await signals("sigaltstack", TID, (base, 0, size), base + 16)
    assert await signals("sigaltstack", TID, None, base + 16) == (base, SS_ONSTACK, size)
    assert await signals.errno("sigaltstack", TID, (0, SS_DISABLE, 0), base + 16) == EPERM
    await signals("sigaltstack", TID, (0, SS_DISABLE, 0), 0)
    assert (await signals("sigaltstack", TID, None, 0))[1] & SS_DISABLE  # type: ignore[index]


async def test_sigaltstack_errors(signals: Signals) -> None:
    assert await signals.errno("sigaltstack", TID, (STACK[0], 0x10, STACK[2]), 0) == EINVAL
    assert await signals.errno("sigaltstack", TID, (STACK[0], 0, MINSIGSTKSZ - 1), 0) == ENOMEM


async def test_set_altstack_restores_a_valid_stack_and_ignores_a_bad_one(signals: Signals) -> None:
    await signals("set_altstack", TID, STACK)
    assert await signals("altstack_of", TID) == STACK
    await signals("set_altstack", TID, (0x1234, 0x10, 4 * MINSIGSTKSZ))
    assert await signals("altstack_of", TID) == STACK
    assert await signals.errno("set_altstack", 99, STACK) == ESRCH


async def test_a_fork_keeps_the_altstack_only_when_asked(signals: Signals) -> None:
    await signals("sigaltstack", TID, STACK, 0)
    await signals("new_process", 20, PID)
    await signals.thread(20, 20, TID, keep_altstack=True)
    await signals.thread(21, 20, TID, keep_altstack=False)
    assert await signals("altstack_of", 20) == STACK
    assert (await signals("sigaltstack", 21, None, 0))[1] & SS_DISABLE  # type: ignore[index]


# --- sending, delivering, taking ------------------------------------------------------------------


async def test_a_caught_signal_rings_one_thread_and_is_dequeued_once(signals: Signals) -> None:
    await signals.catch(PID, USR1, mask=sigbit(USR2))
    assert await signals("send", PID, None, USR1, INFO) is True
    assert signals.rung() == {TID: 1}
    assert await signals("pending", TID2) == sigbit(USR1)  # process-wide: every thread sees it
    assert await signals("dequeue", TID) == (USR1, INFO, (HANDLER, 0, 0, sigbit(USR2)), 0)
    assert await signals("sigprocmask", TID, SIG_BLOCK, None) == sigbit(USR1) | sigbit(USR2)
    assert await signals("dequeue", TID) is None
    assert await signals("dequeue", TID2) is None


async def test_a_process_signal_rings_a_thread_that_does_not_block_it(signals: Signals) -> None:
    await signals.catch(PID, USR1)
    await signals("sigprocmask", TID, SIG_BLOCK, sigbit(USR1))
    await signals("send", PID, None, USR1, INFO)
    assert signals.rung() == {TID2: 1}
    assert await signals("dequeue", TID) is None
    assert (await signals("dequeue", TID2))[0] == USR1  # type: ignore[index]


async def test_a_thread_signal_waits_for_its_thread_to_unblock_it(signals: Signals) -> None:
    await signals.catch(PID, USR1)
    await signals("sigprocmask", TID2, SIG_BLOCK, sigbit(USR1))
    await signals("send", PID, TID2, USR1, INFO)
    assert signals.rung() == {}
    assert await signals("pending", TID2) == sigbit(USR1) and await signals("pending", TID) == 0
    assert await signals("dequeue", TID) is None
    await signals("sigprocmask", TID2, SIG_UNBLOCK, sigbit(USR1))
    assert signals.rung() == {TID2: 1}
    assert (await signals("dequeue", TID2))[0] == USR1  # type: ignore[index]


async def test_standard_signals_coalesce_and_realtime_signals_queue_in_order(signals: Signals) -> None:
    for signo in (USR1, RTMIN):
        await signals.catch(PID, signo, SA_NODEFER)
    await signals("set_mask", TID, sigbit(USR1) | sigbit(RTMIN))
    await signals("set_mask", TID2, sigbit(USR1) | sigbit(RTMIN))
    for n in range(3):
        await signals("send", PID, TID, USR1, b"u%d" % n)
        await signals("send", PID, TID, RTMIN, b"r%d" % n)
    await signals("set_mask", TID, 0)
    taken = []
    while (item := await signals("dequeue", TID)) is not None:
        taken.append(item[:2])  # type: ignore[index]
    assert taken == [(USR1, b"u0"), (RTMIN, b"r0"), (RTMIN, b"r1"), (RTMIN, b"r2")]


async def test_synchronous_faults_are_delivered_first(signals: Signals) -> None:
    for signo in (USR1, SEGV):
        await signals.catch(PID, signo, SA_NODEFER)
    await signals("set_mask", TID, sigbit(USR1) | sigbit(SEGV))
    await signals("send", PID, TID, USR1, INFO)
    await signals("send", PID, TID, SEGV, INFO)
    await signals("set_mask", TID, 0)
    assert [(await signals("dequeue", TID))[0] for _ in range(2)] == [SEGV, USR1]  # type: ignore[index]


async def test_delivery_applies_sa_nodefer_and_sa_resethand(signals: Signals) -> None:
    await signals.catch(PID, USR1, SA_NODEFER | SA_RESETHAND)
    await signals("send", PID, TID, USR1, INFO)
    signo, _, action, old_mask = await signals("dequeue", TID)  # type: ignore[misc]
    assert (signo, action[0], old_mask) == (USR1, HANDLER, 0)
    assert await signals("sigprocmask", TID, SIG_BLOCK, None) == 0  # SA_NODEFER: not blocked
    assert await signals("sigaction", PID, USR1, None) == (SIG_DFL, 0, 0, 0)


async def test_a_default_action_is_dequeued_for_the_kernel_to_carry_out(signals: Signals) -> None:
    await signals("send", PID, None, TERM, INFO)
    assert await signals("dequeue", TID) == (TERM, INFO, (SIG_DFL, 0, 0, 0), 0)


async def test_ignored_signals_are_dropped_unless_blocked(signals: Signals) -> None:
    assert await signals("send", PID, None, CHLD, INFO) is False  # ignored by default
    await signals("sigaction", PID, USR1, (SIG_IGN, 0, 0, 0))
    assert await signals("send", PID, None, USR1, INFO) is False
    assert await signals("pending", TID) == 0
    await signals("set_mask", TID, sigbit(USR1))
    await signals("set_mask", TID2, sigbit(USR1))
    assert await signals("send", PID, None, USR1, INFO) is True  # blocked everywhere: kept
    assert await signals("pending", TID) == sigbit(USR1)


async def test_ignoring_a_signal_discards_its_pending_instances(signals: Signals) -> None:
    await signals("set_mask", TID, sigbit(USR1))
    await signals("set_mask", TID2, sigbit(USR1))
    await signals("send", PID, None, USR1, INFO)
    await signals("send", PID, TID, USR1, INFO)
    await signals("sigaction", PID, USR1, (SIG_IGN, 0, 0, 0))
    assert await signals("pending", TID) == 0


async def test_stop_and_continue_signals_discard_each_other(signals: Signals) -> None:
    await signals("set_mask", TID, sigbit(CONT) | sigbit(int(Signal.SIGTSTP)))
    await signals("set_mask", TID2, sigbit(CONT) | sigbit(int(Signal.SIGTSTP)))
    await signals.catch(PID, CONT)
    await signals.catch(PID, int(Signal.SIGTSTP))
    await signals("send", PID, None, CONT, INFO)
    await signals("send", PID, None, int(Signal.SIGTSTP), INFO)
    assert await signals("pending", TID) == sigbit(int(Signal.SIGTSTP))
    await signals("send", PID, None, CONT, INFO)
    assert await signals("pending", TID) == sigbit(CONT)


async def test_signal_zero_only_checks_the_target(signals: Signals) -> None:
    assert await signals("send", PID, None, 0, b"") is True
    assert await signals("send", PID, TID2, 0, b"") is True
    assert await signals("pending", TID) == 0 and signals.rung() == {}


async def test_sigkill_rings_every_thread_even_when_ignored_elsewhere(signals: Signals) -> None:
    assert await signals("send", PID, None, KILL, INFO) is True
    assert signals.rung() == {TID: 1, TID2: 1}
    assert (await signals("dequeue", TID))[0] == KILL  # type: ignore[index]


async def test_init_drops_signals_it_has_no_handler_for(sandbox: Sandbox) -> None:
    signals = Signals(sandbox)
    await signals.process(1)
    assert await signals("send", 1, None, TERM, INFO) is False
    assert await signals("send", 1, None, KILL, INFO) is False
    await signals.catch(1, TERM)
    assert await signals("send", 1, None, TERM, INFO) is True
    assert (await signals("dequeue", 1))[0] == TERM  # type: ignore[index]


async def test_take_returns_a_pending_signal_or_none(signals: Signals) -> None:
    await signals("set_mask", TID, sigbit(USR1))
    await signals("set_mask", TID2, sigbit(USR1))
    assert await signals("take", TID, sigbit(USR1), 0.0) is None
    await signals("send", PID, None, USR1, INFO)
    assert await signals("take", TID, sigbit(USR2), 0.0) is None
    assert await signals("take", TID, sigbit(USR1), 0.0) == (USR1, INFO)
    assert await signals("pending", TID) == 0


async def test_take_waits_for_a_signal_even_one_that_would_be_ignored(signals: Signals) -> None:
    results: list[object] = []

    async def wait() -> None:
        results.append(await signals("take", TID, sigbit(CHLD), None))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert results == []
        assert await signals("send", PID, None, CHLD, INFO) is True  # a waiter wants it
    assert results == [(CHLD, INFO)]


async def test_a_cancelled_take_takes_nothing(signals: Signals) -> None:
    await signals("set_mask", TID, sigbit(USR1))
    await signals("set_mask", TID2, sigbit(USR1))
    with trio.CancelScope() as scope:
        scope.cancel()
        await signals("take", TID, sigbit(USR1), None)
    await signals("send", PID, None, USR1, INFO)
    assert await signals("pending", TID) == sigbit(USR1)


async def test_child_state_sends_sigchld_unless_sa_nocldstop(signals: Signals) -> None:
    await signals.catch(PID, CHLD)
    await signals("child_state", PID, INFO)
    assert await signals("pending", TID) == sigbit(CHLD)
    assert await signals("take", TID, sigbit(CHLD), 0.0) == (CHLD, INFO)
    await signals.catch(PID, CHLD, SA_NOCLDSTOP)
    await signals("child_state", PID, INFO)
    assert await signals("pending", TID) == 0
    await signals("child_state", 99, INFO)  # an unknown parent is no error


async def test_child_exited_signals_and_says_whether_a_zombie_stays(signals: Signals) -> None:
    await signals.catch(PID, CHLD)
    assert await signals("child_exited", PID, CHLD, INFO) is True
    assert await signals("take", TID, sigbit(CHLD), 0.0) == (CHLD, INFO)
    assert await signals("child_exited", PID, 0, INFO) is True
    assert await signals("pending", TID) == 0
    await signals.catch(PID, CHLD, SA_NOCLDWAIT)
    assert await signals("child_exited", PID, CHLD, INFO) is False
    await signals("sigaction", PID, CHLD, (SIG_IGN, 0, 0, 0))
    assert await signals("child_exited", PID, CHLD, INFO) is False
    assert await signals("child_exited", 99, CHLD, INFO) is True


async def test_the_watch_sees_pending_signals_change(signals: Signals) -> None:
    watch = await signals("watch")
    assert watch is await signals("watch")
    await signals("set_mask", TID, sigbit(USR1))
    await signals("set_mask", TID2, sigbit(USR1))
    before = watch.count  # type: ignore[attr-defined]
    woken: list[bool] = []

    async def wait() -> None:
        await watch.wait()  # type: ignore[attr-defined]
        woken.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        await signals("send", PID, TID2, USR1, INFO)
    assert woken == [True] and watch.count > before  # type: ignore[attr-defined]
    assert watch.pending(TID2) == sigbit(USR1) and watch.pending(TID) == 0  # type: ignore[attr-defined]
    assert watch.pending(99) == 0  # type: ignore[attr-defined]


# --- futexes --------------------------------------------------------------------------------------

WORD = 0x2000_0000
WORD_LAYOUT = struct.Struct("<I")
ANY = FUTEX_BITSET_MATCH_ANY


class Memory:
    """An address space of the sandbox's MM with one page at WORD."""

    def __init__(self, sandbox: Sandbox, asid: int) -> None:
        self.sandbox = sandbox
        self.asid = asid

    @classmethod
    async def create(cls, sandbox: Sandbox, flags: int = MAP_PRIVATE | MAP_ANONYMOUS) -> Memory:
        asid = await sandbox.call("mm", "create")
        await sandbox.call("mm", "mmap", asid, WORD, PAGE_SIZE, PROT_READ | PROT_WRITE, flags | MAP_FIXED)
        return cls(sandbox, asid)

    async def set(self, addr: int, value: int) -> None:
        await self.sandbox.call("mm", "copy_out", self.asid, addr, WORD_LAYOUT.pack(value))

    async def get(self, addr: int) -> int:
        value: int = WORD_LAYOUT.unpack(await self.sandbox.call("mm", "copy_in", self.asid, addr, 4))[0]
        return value


@pytest.fixture
async def memory(sandbox: Sandbox) -> Memory:
    return await Memory.create(sandbox)


async def test_futex_wait_checks_the_word_then_sleeps_until_woken(signals: Signals, memory: Memory) -> None:
    await memory.set(WORD, 5)
    assert await signals.errno("futex_wait", memory.asid, WORD, 4, ANY, None) == EAGAIN
    results: list[object] = []

    async def wait() -> None:
        results.append(await signals("futex_wait", memory.asid, WORD, 5, ANY, None))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_waiters", memory.asid, WORD) == 1
        assert await signals("futex_wake", memory.asid, WORD + 4, 1, ANY) == 0  # another word
        assert await signals("futex_wake", memory.asid, WORD, 5, ANY) == 1
    assert results == [0]
    assert await signals("futex_waiters", memory.asid, WORD) == 0


async def test_a_signal_ends_the_futex_sleep_of_the_thread_it_is_for(signals: Signals, memory: Memory) -> None:
    """Given the sleeping thread's tid, the wait ends by itself with ERESTARTSYS once a signal is
    deliverable to that thread (the caller needs no cancel scope): not for a signal it blocks,
    nor for one another thread takes; at once if one is already deliverable."""
    await signals.catch(PID, USR1)
    await signals.catch(PID, USR2)
    await signals("sigprocmask", TID, SIG_BLOCK, sigbit(USR2))
    await signals("sigprocmask", TID2, SIG_BLOCK, sigbit(USR1) | sigbit(USR2))
    results: list[object] = []

    async def wait(tid: int) -> None:
        results.append(await signals.errno("futex_wait", memory.asid, WORD, 0, ANY, None, False, tid))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, TID)
        await trio.testing.wait_all_tasks_blocked()
        await signals("send", PID, TID, USR2, INFO)  # blocked by TID
        await signals("send", PID, TID2, USR1, INFO)  # for the other thread
        await trio.testing.wait_all_tasks_blocked()
        assert results == [] and await signals("futex_waiters", memory.asid, WORD) == 1
        await signals("sigprocmask", TID, SIG_UNBLOCK, sigbit(USR2))  # USR2 becomes deliverable
    assert results == [ERESTARTSYS]
    assert await signals("futex_waiters", memory.asid, WORD) == 0
    # Still deliverable (nobody took it): the next wait fails at once, the word unread.
    assert await signals.errno("futex_wait", memory.asid, WORD, 0, ANY, None, False, TID) == ERESTARTSYS
    # Without the tid, the caller interrupts the wait its own way: the signal does not end it.
    with trio.move_on_after(0.05):
        await signals("futex_wait", memory.asid, WORD, 0, ANY, None)
        raise AssertionError("woken by a signal it was not told of")


async def test_futex_interrupt_ends_a_sleep_as_a_signal_would(signals: Signals, memory: Memory) -> None:
    results: list[object] = []

    async def wait() -> None:
        results.append(await signals.errno("futex_wait", memory.asid, WORD, 0, ANY, 5.0, False, TID))

    await signals("futex_interrupt", TID)  # not sleeping: nothing happens, nothing is kept
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        await signals("futex_interrupt", TID2)  # another thread's
        await trio.testing.wait_all_tasks_blocked()
        assert results == []
        await signals("futex_interrupt", TID)
    assert results == [ERESTARTSYS]
    assert await signals("futex_waiters", memory.asid, WORD) == 0


async def test_a_wake_that_came_first_stands_against_a_signal(signals: Signals, memory: Memory) -> None:
    await signals.catch(PID, USR1)
    results: list[object] = []

    async def wait() -> None:
        results.append(await signals("futex_wait", memory.asid, WORD, 0, ANY, None, False, TID))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_wake", memory.asid, WORD, 1, ANY) == 1
        await signals("send", PID, TID, USR1, INFO)  # before the woken thread ran again
    assert results == [0]


async def test_futex_wait_times_out(signals: Signals, memory: Memory) -> None:
    assert await signals.errno("futex_wait", memory.asid, WORD, 0, ANY, 0.0) == ETIMEDOUT
    assert await signals("futex_waiters", memory.asid, WORD) == 0


async def test_futex_wake_wakes_the_oldest_waiters_whose_bitset_matches(signals: Signals, memory: Memory) -> None:
    order: list[str] = []

    async def wait(name: str, bitset: int) -> None:
        await signals("futex_wait", memory.asid, WORD, 0, bitset, None)
        order.append(name)

    async with trio.open_nursery() as nursery:
        for name, bitset in (("a", 1), ("b", 2), ("c", 3)):
            nursery.start_soon(wait, name, bitset)
            await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_wake", memory.asid, WORD, 1, 2) == 1
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["b"]
        assert await signals("futex_wake", memory.asid, WORD, 0, ANY) == 0
        assert await signals("futex_wake", memory.asid, WORD, 1, ANY) == 1
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["b", "a"]
        assert await signals("futex_wake", memory.asid, WORD, 10, ANY) == 1
    assert order == ["b", "a", "c"]


async def test_a_futex_in_shared_memory_is_one_futex_across_address_spaces(
        sandbox: Sandbox, signals: Signals) -> None:
    parent = await Memory.create(sandbox, MAP_SHARED | MAP_ANONYMOUS)
    child = Memory(sandbox, await sandbox.call("mm", "fork", parent.asid))
    private = await Memory.create(sandbox)
    results: list[object] = []

    async def wait() -> None:
        results.append(await signals("futex_wait", child.asid, WORD, 0, ANY, None))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_wake", private.asid, WORD, 1, ANY) == 0
        assert await signals("futex_waiters", parent.asid, WORD) == 1
        assert await signals("futex_wake", parent.asid, WORD, 1, ANY) == 1
    assert results == [0]


async def test_a_private_futex_is_its_address_spaces_own_even_in_shared_memory(
        sandbox: Sandbox, signals: Signals) -> None:
    """FUTEX_PRIVATE keys by (address space, address), as Linux does: a private wait in a
    forked child's shared memory is not woken by its parent, shared or private, and a private
    wake does not reach a shared waiter."""
    parent = await Memory.create(sandbox, MAP_SHARED | MAP_ANONYMOUS)
    child = Memory(sandbox, await sandbox.call("mm", "fork", parent.asid))
    results: list[object] = []

    async def wait(private: bool) -> None:
        results.append(await signals("futex_wait", child.asid, WORD, 0, ANY, None, private))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, True)
        nursery.start_soon(wait, False)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_wake", parent.asid, WORD, 5, ANY, True) == 0
        assert await signals("futex_waiters", child.asid, WORD, True) == 1
        assert await signals("futex_wake", child.asid, WORD, 5, ANY, True) == 1
        assert await signals("futex_wake", parent.asid, WORD, 5, ANY, False) == 1
    assert results == [0, 0]


async def test_a_futex_in_private_memory_is_not_shared_by_a_forked_child(
        sandbox: Sandbox, signals: Signals) -> None:
    """Anonymous private memory keys by address space, shared flag or not: after fork the
    child's word is another futex, whichever page backs it."""
    parent = await Memory.create(sandbox)
    child = Memory(sandbox, await sandbox.call("mm", "fork", parent.asid))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(signals, "futex_wait", child.asid, WORD, 0, ANY, None)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_wake", parent.asid, WORD, 1, ANY) == 0
        assert await signals("futex_wake", child.asid, WORD, 1, ANY) == 1


async def test_futex_requeue_wakes_some_and_moves_the_rest(signals: Signals, memory: Memory) -> None:
    other = WORD + 64
    await memory.set(WORD, 7)
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(signals, "futex_wait", memory.asid, WORD, 7, ANY, None)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals.errno("futex_requeue", memory.asid, WORD, other, 1, 2, 8) == EAGAIN
        assert await signals("futex_requeue", memory.asid, WORD, other, 1, 2, 7) == 3
        assert await signals("futex_waiters", memory.asid, WORD) == 1
        assert await signals("futex_waiters", memory.asid, other) == 2
        assert await signals("futex_requeue", memory.asid, WORD, other, 0, 5, None) == 1
        assert await signals("futex_wake", memory.asid, other, 10, ANY) == 3


async def test_futex_wake_op_changes_the_second_word_and_wakes_by_its_old_value(
        signals: Signals, memory: Memory) -> None:
    second = WORD + 8
    await memory.set(second, 1)
    set_to_5_if_old_eq_1 = (0 << 28) | (0 << 24) | (5 << 12) | 1  # FUTEX_OP_SET, FUTEX_OP_CMP_EQ
    woken: list[str] = []

    async def wait(name: str, addr: int, value: int) -> None:
        await signals("futex_wait", memory.asid, addr, value, ANY, None)
        woken.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, "first", WORD, 0)
        nursery.start_soon(wait, "second", second, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert await signals("futex_wake_op", memory.asid, WORD, second, 1, 1, set_to_5_if_old_eq_1) == 2
    assert sorted(woken) == ["first", "second"]
    assert await memory.get(second) == 5
    assert await signals("futex_wake_op", memory.asid, WORD, second, 1, 1, set_to_5_if_old_eq_1) == 0
    assert await signals.errno("futex_wake_op", memory.asid, WORD, second, 1, 1, 7 << 28) == ENOSYS
    assert await memory.get(second) == 5


async def test_futex_errors(sandbox: Sandbox, signals: Signals, memory: Memory) -> None:
    assert await signals.errno("futex_wait", memory.asid, WORD, 0, 0, None) == EINVAL
    assert await signals.errno("futex_wake", memory.asid, WORD, 1, 0) == EINVAL
    assert await signals.errno("futex_wait", memory.asid, WORD + 2, 0, ANY, None) == EINVAL
    assert await signals.errno("futex_wait", memory.asid, WORD + PAGE_SIZE, 0, ANY, None) == EFAULT
    assert await signals.errno("futex_wake", memory.asid, WORD + PAGE_SIZE, 1, ANY) == EFAULT
    assert await signals.errno("futex_requeue", memory.asid, WORD, WORD + 4, -1, 0, None) == EINVAL
    await sandbox.call("mm", "mprotect", memory.asid, WORD, PAGE_SIZE, PROT_READ)
    assert await signals.errno("futex_wake_op", memory.asid, WORD, WORD + 4, 1, 1, 0) == EFAULT
