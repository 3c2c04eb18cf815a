"""The kernel's side of the pseudo-terminals guests make (/dev/ptmx; the line discipline is
the VFS's, :mod:`services.vfs.devpts`).

A master's own ioctls move integers through guest memory (TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK) or
make a new fd (TIOCGPTPEER, as glibc's openpty asks first); and the signal characters typed
at a master (^C, ^\\, ^Z with ISIG) become signals to the foreground process group of the
replica's session, which only the kernel knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL, ENOTTY, Errno
from abi.linux import O_ACCMODE, O_CLOEXEC, O_NOCTTY, O_NONBLOCK, TIOCGPTLCK, TIOCGPTN, TIOCGPTPEER, TIOCPKT, TIOCSPTLCK
from abi.structs import I32
from kernel.files import install, vfs
from kernel.tty import acquire_on_open, signal_foreground

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.contract import Opened

#: The ioctls of a pty master answered here.
MASTER_IOCTLS = frozenset({TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCGPTPEER, TIOCPKT})
_PEER_FLAGS = O_ACCMODE | O_NOCTTY | O_NONBLOCK | O_CLOEXEC


def is_master(opened: Opened) -> bool:
    return opened.pts is not None and not opened.terminal


async def master_ioctl(t: Task, opened: Opened, request: int, arg: int) -> int:
    """TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCGPTPEER and TIOCPKT on a pty master."""
    if not is_master(opened):
        raise Errno(ENOTTY)
    if request in (TIOCGPTN, TIOCGPTLCK):
        await t.mm.write_struct(I32, arg, await vfs(t, "ioctl", opened.handle, request, 0))
        return 0
    if request == TIOCSPTLCK:
        (lock,) = await t.mm.read_struct(I32, arg)
        await vfs(t, "ioctl", opened.handle, request, lock)
        return 0
    if request == TIOCPKT:  # packet mode is not supported; turning it off is what it already is
        (on,) = await t.mm.read_struct(I32, arg)
        if on:
            raise Errno(EINVAL)
        return 0
    flags = arg & _PEER_FLAGS  # ptm_open_peer takes the flags as given; only these mean anything
    peer = await vfs(t, "pty_peer", opened.handle, flags)
    acquire_on_open(t.kernel, t.process, peer, flags)
    return await install(t, peer, bool(flags & O_CLOEXEC))


async def send_input_signals(t: Task, opened: Opened) -> None:
    """After a write to a pty master: the signals its input raised, to the foreground group of
    the replica's session (none if no session has the replica as its terminal)."""
    signals = await t.kernel.bus.call("vfs", "pty_signals", opened.handle)
    terminal = t.kernel.pts_terminals.get(opened.pts) if opened.pts is not None else None
    if terminal is None:
        return
    for signo in signals:
        await signal_foreground(t.kernel, signo, terminal)
