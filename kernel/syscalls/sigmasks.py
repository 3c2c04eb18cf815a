"""Signal masks that a system call puts in place while it waits: sigsuspend, ppoll, pselect6,
epoll_pwait and epoll_pwait2.

The caller's mask is replaced for the wait and put back afterwards, as Linux's
``set_user_sigmask`` and ``restore_saved_sigmask_unless`` do: when the wait ends because a
signal is to be handled, the old mask is kept in ``Task.saved_mask`` so that the handler runs
under the temporary mask and the old one comes back with its frame (signal delivery reads
``saved_mask``); otherwise the old mask is restored at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from abi import structs
from abi.errno import EINTR, EINVAL, ERESTARTNOHAND, ERESTARTSYS, Errno
from abi.linux import UNBLOCKABLE

if TYPE_CHECKING:
    from kernel.task import Task

T = TypeVar("T")

#: sizeof(sigset_t) in the kernel: 64 signals.
SIGSET_SIZE = 8
#: The results of a wait that a signal for the thread ended.
_INTERRUPTED = frozenset({EINTR, ERESTARTNOHAND, ERESTARTSYS})


async def read_sigset(t: Task, addr: int, size: int) -> int:
    """A guest sigset_t; EINVAL unless ``size`` is the kernel's."""
    if size != SIGSET_SIZE:
        raise Errno(EINVAL)
    (bits,) = await t.mm.read_struct(structs.U64, addr)
    return bits


async def replace_mask(t: Task, mask: int) -> None:
    """Put ``mask`` in place for a wait, remembering the mask to restore (a restarted call keeps
    what the first attempt saved)."""
    old = await t.kernel.bus.call("signals", "set_mask", t.tid, mask & ~UNBLOCKABLE)
    if t.saved_mask is None:
        t.saved_mask = old


async def restore_mask(t: Task) -> None:
    """Put back the mask saved by :func:`replace_mask`."""
    saved, t.saved_mask = t.saved_mask, None
    if saved is not None:
        await t.kernel.bus.call("signals", "set_mask", t.tid, saved)


async def waiting_with_mask(t: Task, mask: int, wait: Awaitable[T]) -> T:
    """Await ``wait`` with ``mask`` as the thread's signal mask."""
    await replace_mask(t, mask)
    try:
        result = await wait
    except Errno as error:
        if error.errno not in _INTERRUPTED:
            await restore_mask(t)
        raise
    except BaseException:
        await restore_mask(t)
        raise
    await restore_mask(t)
    return result


async def masked(t: Task, sigmask: int, sigsetsize: int, wait: Coroutine[Any, Any, T]) -> T:
    """``wait`` under the guest sigset at ``sigmask`` (read first, as Linux reads it before
    waiting), or as it is when there is none."""
    if not sigmask:
        return await wait
    try:
        mask = await read_sigset(t, sigmask, sigsetsize)
    except BaseException:
        wait.close()
        raise
    return await waiting_with_mask(t, mask, wait)

