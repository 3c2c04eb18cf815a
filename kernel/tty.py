"""Job control on the guest's terminal: its session and foreground process group.

The sandbox has one terminal, the host's (fds 0-2 when they are a tty, or the ``-t`` pty).
Like a Linux tty it belongs to at most one session (it is that session's controlling
terminal) and has a foreground process group: ^C signals that group, TIOCSPGRP changes it,
a background group reading from it gets SIGTTIN, and one writing to it (with TOSTOP) or
changing its foreground group gets SIGTTOU. A process has the terminal as its
controlling terminal when it is in the terminal's session.
"""

from __future__ import annotations

import struct
import termios
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi.errno import EINVAL, EIO, ENOTTY, EPERM, ERESTARTSYS, ESRCH
from abi.linux import (
    SI_KERNEL,
    SIG_IGN,
    TCGETS,
    TIOCGPGRP,
    TIOCGSID,
    TIOCNOTTY,
    TIOCSCTTY,
    TIOCSPGRP,
    Signal,
    sigbit,
)
from abi.creds import CAP_SYS_ADMIN
from abi.errno import Errno
from abi.structs import I32, SIGINFO_KILL
from kernel.files import vfs

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.process import ThreadGroup
    from kernel.task import Task
    from services.vfs.contract import Opened

#: struct termios's c_lflag: the fourth u32.
_LOCAL_MODES = struct.Struct("<12xI")

#: The ioctls this module answers.
JOB_CONTROL_IOCTLS = frozenset({TIOCGPGRP, TIOCSPGRP, TIOCSCTTY, TIOCNOTTY, TIOCGSID})


@dataclass
class Terminal:
    """The terminal's job-control state: the session it controls and its foreground group."""

    #: The session whose controlling terminal it is (None: no session's); the first
    #: process's session starts with it.
    sid: int | None = 1
    #: The foreground process group.
    foreground: int | None = 1

    def controls(self, process: ThreadGroup) -> bool:
        return self.sid is not None and process.sid == self.sid


async def _signal_group(kernel: Kernel, pgid: int, signo: int) -> None:
    info = SIGINFO_KILL.pack(signo, 0, SI_KERNEL, 0, 0, 0)
    for process in [p for p in kernel.processes.values() if p.pgid == pgid and not p.zombie]:
        if signo == Signal.SIGCONT:
            await process.resume()
        await kernel.bus.call("signals", "send", process.pid, None, signo, info)


async def signal_foreground(kernel: Kernel, signo: int) -> None:
    """``signo`` from the terminal to its foreground process group, as ^C sends SIGINT."""
    foreground = kernel.tty.foreground
    if foreground is not None:
        await _signal_group(kernel, foreground, signo)


async def job_control_ioctl(t: Task, opened: Opened, request: int, arg: int) -> int:
    """TIOCGPGRP, TIOCSPGRP, TIOCGSID, TIOCSCTTY and TIOCNOTTY on the terminal."""
    if not opened.terminal:
        raise Errno(ENOTTY)
    tty = t.kernel.tty
    process = t.process
    if request == TIOCSCTTY:
        if tty.controls(process):
            return 0
        stealing = arg == 1 and process.creds.has_cap(CAP_SYS_ADMIN)  # from another session
        if process.sid != process.pid or (tty.sid is not None and not stealing):
            raise Errno(EPERM)
        tty.sid, tty.foreground = process.sid, process.pgid
        return 0
    if not tty.controls(process):
        raise Errno(ENOTTY)
    if request == TIOCGPGRP:
        await t.mm.write_struct(I32, arg, tty.foreground or 0)
    elif request == TIOCGSID:
        await t.mm.write_struct(I32, arg, tty.sid or 0)
    elif request == TIOCSPGRP:
        await background_change(t)
        (pgrp,) = await t.mm.read_struct(I32, arg)
        if pgrp < 0:
            raise Errno(EINVAL)
        members = [p for p in t.kernel.processes.values() if p.pgid == pgrp and not p.zombie]
        if not members:
            raise Errno(ESRCH)
        if members[0].sid != process.sid:
            raise Errno(EPERM)
        tty.foreground = pgrp
    elif request == TIOCNOTTY:
        if process.sid == process.pid:  # the session leader lets go: its foreground gets SIGHUP
            foreground, tty.sid, tty.foreground = tty.foreground, None, None
            if foreground is not None:
                await _signal_group(t.kernel, foreground, Signal.SIGHUP)
                await _signal_group(t.kernel, foreground, Signal.SIGCONT)
    return 0


def orphaned(kernel: Kernel, pgid: int) -> bool:
    """Whether no member of group ``pgid`` has a parent in another group of its session (no
    shell is left to continue the group once it stops)."""
    for process in kernel.processes.values():
        parent = process.parent
        if process.pgid == pgid and not process.zombie and parent is not None \
                and parent.pgid != pgid and parent.sid == process.sid:
            return False
    return True


async def background_change(t: Task) -> None:
    """Linux's tty_check_change for a background group that writes with TOSTOP set or changes
    the terminal (TIOCSPGRP): SIGTTOU to the group and a restart; nothing when SIGTTOU is
    ignored or blocked (the change goes through); EIO for an orphaned group."""
    tty = t.kernel.tty
    process = t.process
    if not tty.controls(process) or tty.foreground is None or process.pgid == tty.foreground:
        return
    bus = t.kernel.bus
    handler = (await bus.call("signals", "sigaction", process.pid, int(Signal.SIGTTOU), None))[0]
    mask = await bus.call("signals", "sigprocmask", t.tid, 0, None)
    if handler == SIG_IGN or mask & sigbit(Signal.SIGTTOU):
        return
    if orphaned(t.kernel, process.pgid):
        raise Errno(EIO)
    await _signal_group(t.kernel, process.pgid, Signal.SIGTTOU)
    raise Errno(ERESTARTSYS)


def _in_background(t: Task) -> bool:
    """Whether the caller's process is in a background group of the terminal's session."""
    tty = t.kernel.tty
    process = t.process
    return tty.controls(process) and tty.foreground is not None and process.pgid != tty.foreground


async def check_background_write(t: Task, opened: Opened) -> None:
    """A write to the terminal by a background group stops it with SIGTTOU when the terminal
    has TOSTOP set (``stty tostop``); without TOSTOP background output is allowed."""
    if not opened.terminal or not _in_background(t):
        return
    try:
        modes = await vfs(t, "ioctl", opened.handle, TCGETS, 0)
    except Errno:
        return
    (local_modes,) = _LOCAL_MODES.unpack_from(modes)
    if local_modes & termios.TOSTOP:
        await background_change(t)


async def check_background_read(t: Task, opened: Opened) -> None:
    """A read of the terminal by a background group: SIGTTIN to the group and a restart, or
    EIO when SIGTTIN is ignored or blocked or the group is orphaned (Linux's job control check)."""
    if not opened.terminal:
        return
    tty = t.kernel.tty
    process = t.process
    if not tty.controls(process) or tty.foreground is None or process.pgid == tty.foreground:
        return
    bus = t.kernel.bus
    handler = (await bus.call("signals", "sigaction", process.pid, int(Signal.SIGTTIN), None))[0]
    mask = await bus.call("signals", "sigprocmask", t.tid, 0, None)
    if handler == SIG_IGN or mask & sigbit(Signal.SIGTTIN) or orphaned(t.kernel, process.pgid):
        raise Errno(EIO)
    await _signal_group(t.kernel, process.pgid, Signal.SIGTTIN)
    raise Errno(ERESTARTSYS)
