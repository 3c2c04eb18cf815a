"""Where stub threads run: next to the Sentry while they trap, anywhere while they compute.

A trapped system call is a round trip between a stub thread and the Sentry. On the same CPU the
switch is direct (13 µs per getppid here); across CPUs every stop and resume is a cross-CPU
wake-up (~20 µs each in this VM). gVisor pinned stubs to the tracer's CPU and stopped in 2020
because pinning also keeps a multi-threaded guest from using the other cores while it computes.
So placement follows behaviour, decided by what the stop waiter already knows for free:

* a stop that arrived while the Sentry spun means the thread came back quickly (it makes system
  calls in quick succession): after :data:`PIN_AFTER` such stops in a row it is pinned to the
  Sentry's CPU;
* a stop the Sentry had to sleep for means the thread computed for a while: it is unpinned at
  once, free to run on any CPU. (A pinned thread is waited for while trio has nothing else to
  do for up to ``PINNED_BLOCK_MOST_S``, 12 ms, not a short window: meanwhile it has the
  Sentry's CPU, which nothing else wanted; it is unpinned if trio needs the Sentry first.)

The Sentry itself is pinned to one CPU (its *home*) so the pairing holds.
"""

from __future__ import annotations

import os

#: Consecutive quick stops before a thread is moved next to the Sentry.
PIN_AFTER = 4


class CpuPlacement:
    """The Sentry's home CPU and the set every thread may spread to."""

    def __init__(self, enabled: bool = True) -> None:
        self.all_cpus = frozenset(os.sched_getaffinity(0))
        self.enabled = enabled and len(self.all_cpus) > 1
        self.home = {min(self.all_cpus)}
        if self.enabled:
            os.sched_setaffinity(0, self.home)

    def pinned(self, tid: int) -> bool:
        """Whether ``tid`` runs only on the Sentry's CPU now. A new stub thread inherits the CPUs
        of the thread that made it: the template stub was made on the Sentry's CPU, so a new
        thread starts pinned, however long it will compute."""
        if not self.enabled:
            return False
        try:
            return os.sched_getaffinity(tid) == self.home
        except OSError:
            return False

    def pin(self, tid: int) -> bool:
        """Keep ``tid`` on the Sentry's CPU; False if the thread is gone."""
        return self._set(tid, self.home)

    def unpin(self, tid: int) -> bool:
        return self._set(tid, self.all_cpus)

    def _set(self, tid: int, cpus: set[int] | frozenset[int]) -> bool:
        try:
            os.sched_setaffinity(tid, cpus)
            return True
        except OSError:
            return False
