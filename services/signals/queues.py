"""Signal actions, masks and pending queues, as Linux keeps them (kernel/signal.c).

A process's threads share its actions and a process-wide pending queue; each thread has its
own mask, pending queue and alternate stack. Standard signals (1-31) are pending at most once;
real-time signals (32-64) queue every instance, in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from abi.linux import (
    IGNORED_BY_DEFAULT,
    NSIG,
    SIG_DFL,
    SIG_IGN,
    SIGRTMIN,
    Signal,
    sigbit,
)

#: Signals Linux dequeues first when several are pending: the synchronous faults.
_SYNCHRONOUS = (sigbit(Signal.SIGSEGV) | sigbit(Signal.SIGBUS) | sigbit(Signal.SIGILL)
                | sigbit(Signal.SIGTRAP) | sigbit(Signal.SIGFPE) | sigbit(Signal.SIGSYS))


@dataclass(slots=True, frozen=True)
class Action:
    """struct sigaction: handler address (or SIG_DFL/SIG_IGN), flags, restorer, mask. Never
    changed once made (a new one replaces it), so a forked process shares its parent's."""

    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.handler, self.flags, self.restorer, self.mask


#: SIG_DFL with no flags: every signal's action in a first process.
DEFAULT_ACTION = Action()
#: SIG_IGN with no flags: what exec leaves of an ignored signal's action.
IGNORED_ACTION = Action(SIG_IGN)


@dataclass(slots=True)
class Pending:
    """A pending queue: a bitmask of what is pending and the siginfo of each instance, with the
    real uid whose RLIMIT_SIGPENDING it is charged to (None: not charged)."""

    bits: int = 0
    queue: deque[tuple[int, bytes, int | None]] = field(default_factory=deque)

    def add(self, signo: int, info: bytes, owner: int | None = None) -> bool:
        """Queue a signal; False if a standard signal was already pending (it coalesces)."""
        if signo < SIGRTMIN and self.bits & sigbit(signo):
            return False
        self.bits |= sigbit(signo)
        self.queue.append((signo, info, owner))
        return True

    def take(self, signo: int) -> tuple[bytes, int | None]:
        """Remove the first instance of ``signo``: its siginfo and the uid it was charged to."""
        info, owner = b"", None
        for index, (queued, queued_info, queued_owner) in enumerate(self.queue):
            if queued == signo:
                info, owner = queued_info, queued_owner
                del self.queue[index]
                break
        if not any(entry[0] == signo for entry in self.queue):
            self.bits &= ~sigbit(signo)
        return info, owner

    def discard(self, mask: int) -> list[int]:
        """Drop every pending signal in ``mask``; the uids the dropped instances were charged to."""
        if not self.bits & mask:
            return []
        owners = [owner for signo, _, owner in self.queue if sigbit(signo) & mask and owner is not None]
        self.queue = deque(entry for entry in self.queue if not sigbit(entry[0]) & mask)
        self.bits &= ~mask
        return owners


def next_signal(bits: int) -> int:
    """Which of the pending ``bits`` is delivered first: a synchronous fault, else the lowest."""
    if not bits:
        return 0
    chosen = bits & _SYNCHRONOUS or bits
    return (chosen & -chosen).bit_length()


@dataclass
class ThreadSignals:
    """One thread's signal state."""

    tid: int
    process: ProcessSignals
    mask: int = 0
    pending: Pending = field(default_factory=Pending)
    #: sigaltstack: (ss_sp, ss_flags, ss_size) as Linux stores them: a size of 0 means none;
    #: the flags are what was last set (0 for a process's first thread, SS_DISABLE for others).
    altstack: tuple[int, int, int] = (0, 0, 0)
    #: Signals a sigtimedwait/signalfd-style wait is after (0: none).
    waiting_for: int = 0


@dataclass
class ProcessSignals:
    """What a process's threads share."""

    pid: int
    actions: list[Action] = field(default_factory=lambda: [DEFAULT_ACTION] * (NSIG + 1))
    pending: Pending = field(default_factory=Pending)
    threads: list[ThreadSignals] = field(default_factory=list)
    #: A tracer traces a thread of the process: ignored signals are queued (its tracer sees them).
    traced: bool = False

    def ignored(self, signo: int) -> bool:
        """Whether a signal sent now would be thrown away (ignored, explicitly or by default)."""
        action = self.actions[signo]
        return action.handler == SIG_IGN or (action.handler == SIG_DFL and signo in IGNORED_BY_DEFAULT)
