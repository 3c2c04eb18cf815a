"""Deterministic runs: ``run --deterministic --seed N`` (and ``--chaos``).

Three things make a run with several threads differ from the last: how the threads interleave,
what the clocks read, and what the random sources give. Here each is drawn from the seed:

* **One guest thread at a time** (:class:`~kernel.determinism.scheduler.Scheduler`): a thread
  holds the *baton* while its guest code runs and while the Sentry serves its system calls. At
  every system call it hands the baton back, and the scheduler — once every other task of the
  Sentry has come to rest, so the set of threads ready to run no longer depends on host timing
  — picks who runs next with a ``random.Random(seed)``. A thread that sleeps in a system call
  (a futex wait, a pipe read, a sleep) gives the baton up until the call ends.
* **Virtual time** (:class:`VirtualClock`): the trio run's clock, which moves only when every
  guest thread sleeps: then it jumps to the next deadline. Every guest clock (``clock_gettime``,
  ``gettimeofday``, ``time``), every sleep, timeout and timer reads it, so a run's times are a
  function of its seed and its program, not of the machine.
* **Seeded entropy**: ``getrandom`` and ``/dev/urandom`` read a stream seeded by the seed.

The clock and the entropy are reached through :func:`clock_ns` and :func:`random_bytes`, which
read the host unless :func:`use` installed a deterministic :class:`Source`. Pids are handed out
in order and inode numbers come from the image's files (or a tmpfs's counter), so with the
order fixed they are the same in every run.

What still breaks determinism, plainly: a thread that computes without making system calls
cannot be preempted at a deterministic point without CPU performance counters (Hermit uses
them; we do not), so a thread spinning on a variable another thread sets never lets that thread
run; host signals sent to the guest from outside; CPU-time clocks (``CLOCK_*_CPUTIME_ID``,
``times``, ``getrusage``), which read the host's accounting; file times the Sentry stamps from
the host clock; the 16 bytes of ``AT_RANDOM`` the loader puts on the stack; network traffic with
the host; and a gofer's host-side timing when a thread blocks on it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import trio

from kernel.bus import random_bytes as bus_random_bytes
from kernel.bus import set_entropy
from abi.linux import CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_REALTIME_COARSE, CLOCK_TAI

#: The wall clock of every deterministic run starts here: 2026-01-01T00:00:00Z.
EPOCH_NS = 1_767_225_600 * 1_000_000_000
#: The monotonic clocks start here, as if the machine had booted 100 s before the run.
BOOT_NS = 100 * 1_000_000_000
_WALL_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI, CLOCK_REALTIME_ALARM})


class VirtualClock(trio.abc.Clock):
    """A trio clock that stands still until :meth:`advance` moves it.

    trio asks it how long to sleep until a deadline: at once for one already passed; for one
    still ahead, a short real while (the clock will not get there by itself: the scheduler jumps
    it when everything rests), so trio keeps polling the host as it would without us.
    """

    def __init__(self) -> None:
        self._now = 0.0

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return 0.0 if deadline <= self._now else 0.002

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

    @property
    def ns(self) -> int:
        return round(self._now * 1e9)


@dataclass
class Source:
    """Where the guest's clocks and random bytes come from in a deterministic run."""

    seed: int
    clock: VirtualClock
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"entropy:{self.seed}")

    def clock_ns(self, clockid: int) -> int:
        return (EPOCH_NS if clockid in _WALL_CLOCKS else BOOT_NS) + self.clock.ns

    def random_bytes(self, length: int) -> bytes:
        return self.rng.randbytes(length)


_source: Source | None = None


def use(source: Source | None) -> None:
    """Make ``source`` the guest's clocks and entropy (None: the host's again)."""
    global _source
    _source = source
    set_entropy(source.random_bytes if source is not None else None)


def clock_ns(clockid: int) -> int:
    """Clock ``clockid`` (one the host has) now, in ns: the host's, or the virtual one."""
    if _source is None:
        return time.clock_gettime_ns(clockid)
    return _source.clock_ns(clockid)


def uptime(boot_time: float) -> float:
    """Seconds since the sandbox booted (at host ``time.monotonic()`` ``boot_time``), or since
    the virtual machine did (:data:`BOOT_NS` before the run)."""
    if _source is None:
        return time.monotonic() - boot_time
    return _source.clock_ns(CLOCK_MONOTONIC) / 1e9


#: ``length`` random bytes: the host's urandom, or the seed's stream.
random_bytes = bus_random_bytes


async def sleep(seconds: float) -> None:
    """The Sentry's own wait (a fault rule's delay): real time, or in a deterministic run that
    much virtual time at once. (A thread holding the baton cannot wait for the virtual clock:
    it moves only when every thread rests.)"""
    if _source is None:
        await trio.sleep(seconds)
        return
    _source.clock.advance(seconds)
    await trio.lowlevel.checkpoint()


def seed_trio(seed: int) -> None:
    """Seed trio's own choice of which runnable task goes first (it flips a coin per batch, so
    that programs cannot come to rely on an order): the same seed, the same coin."""
    from trio._core import _run  # private: trio offers no public way to seed its scheduler

    _run._r.seed(f"trio:{seed}")


def deterministic() -> bool:
    return _source is not None
