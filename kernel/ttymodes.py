"""Setting the guest terminal's modes: TCSETS, TCSETSW, TCSETSF, TIOCSWINSZ, TCFLSH, TCXONC, TCSBRK.

Only terminals of the sandbox can be set: either end of a pseudo-terminal a guest made
(/dev/ptmx, served by the Sentry's own line discipline), and the ``run -t`` pty, whose slave
is the guest's stdio. Its modes are applied to that pty as they are (the host's line discipline then does
what Linux's would: echo, canonical input, VMIN/VTIME ...), so tcsetattr, cfmakeraw, stty,
readline and full-screen programs work.

Any other file gets ENOTTY, and so does a host terminal handed to ``run`` without ``-t`` (its
stdin the user's tty): the sandbox does not own that terminal and must never change it, and
ENOTTY is what such a guest sees under ``docker run`` without ``-t`` (a pipe, not a terminal),
so programs take the path they take without a terminal (stty reports "Inappropriate ioctl
for device"; busybox, readline and getpass carry on without raw mode) and the user's terminal
is left exactly as it was.

As Linux's tty_check_change, a background process group that changes the terminal (all of
these but TIOCSWINSZ) gets SIGTTOU instead, unless it ignores or blocks SIGTTOU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import ENOTTY
from abi.linux import (
    KERNEL_TERMIOS_SIZE,
    TCFLSH,
    TCSBRK,
    TCSETS,
    TCSETSF,
    TCSETSW,
    TCXONC,
    TIOCGWINSZ,
    TIOCSWINSZ,
    WINSIZE_SIZE,
    Signal,
)
from abi.errno import Errno
from kernel.files import vfs
from kernel.tty import Terminal, background_change, signal_foreground, terminal_of

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.contract import Opened

#: The requests that take a struct, by the struct's size in guest memory.
_STRUCT_SIZES = {TCSETS: KERNEL_TERMIOS_SIZE, TCSETSW: KERNEL_TERMIOS_SIZE, TCSETSF: KERNEL_TERMIOS_SIZE,
                 TIOCSWINSZ: WINSIZE_SIZE}
#: The requests that take an integer argument (tcflush, tcflow, tcdrain/tcsendbreak).
_INT_REQUESTS = frozenset({TCFLSH, TCXONC, TCSBRK})
#: The ioctls this module answers.
TERMINAL_SET_IOCTLS = frozenset(_STRUCT_SIZES) | _INT_REQUESTS


def _int_argument(request: int, arg: int) -> int:
    """The unsigned long argument as the host's ioctl takes it (a C int): TCSBRK only asks
    whether it is 0 (a break) or not (a drain); TCFLSH and TCXONC reject what they do not know."""
    if request == TCSBRK:
        return 1 if arg else 0
    arg &= 0xFFFF_FFFF
    return arg - (1 << 32) if arg >= 1 << 31 else arg


def _resized(t: Task, opened: Opened) -> Terminal | None:
    """The terminal whose window a TIOCSWINSZ on ``opened`` resizes: a pseudo-terminal's from
    either end (none yet if no session has it), else the sandbox's own."""
    if opened.pts is None:
        return t.kernel.tty
    return t.kernel.pts_terminals.get(opened.pts) or Terminal(sid=None, foreground=None, pts=opened.pts)


async def terminal_set_ioctl(t: Task, opened: Opened, request: int, arg: int) -> int:
    """Change a terminal's modes, window size, queues or flow, as tty_ioctl does: the
    sandbox's own pty, or either end of a devpts pseudo-terminal."""
    if not opened.pty and opened.pts is None:
        raise Errno(ENOTTY)
    tty = terminal_of(t.kernel, opened)
    if request != TIOCSWINSZ:  # Linux resizes without tty_check_change
        await background_change(t, tty)
    if request in _INT_REQUESTS:
        await vfs(t, "ioctl", opened.handle, request, _int_argument(request, arg))
        return 0
    data = await t.mm.copy_in(arg, _STRUCT_SIZES[request])
    if request == TIOCSWINSZ:
        before = await vfs(t, "ioctl", opened.handle, TIOCGWINSZ, 0)
        await vfs(t, "ioctl", opened.handle, request, data)
        if data != before:  # tty_do_resize: the foreground group learns of a new size
            await signal_foreground(t.kernel, Signal.SIGWINCH, _resized(t, opened))
        return 0
    await vfs(t, "ioctl", opened.handle, request, data)
    return 0
