"""Job control on the guest's terminals: their sessions and foreground process groups.

The sandbox's own terminal is the host's (fds 0-2 when they are a tty, or the ``-t`` pty);
guests make more with /dev/ptmx (devpts, :mod:`services.vfs.devpts`, whose replicas are
terminals too). Like a Linux tty each belongs to at most one session (it is that session's
controlling terminal) and has a foreground process group: ^C signals that group, TIOCSPGRP
changes it, a background group reading from it gets SIGTTIN, and one writing to it (with
TOSTOP) or changing its foreground group gets SIGTTOU. A process has a terminal as its
controlling terminal when it is in the terminal's session. A session leader without one
takes a pseudo-terminal it opens without O_NOCTTY; a pseudo-terminal whose master closes
is hung up: its session loses it, and the session leader gets SIGHUP and SIGCONT.
"""

from __future__ import annotations

import struct
import termios
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi.errno import EINVAL, EIO, ENOTTY, EPERM, ERESTARTSYS, ESRCH
from abi.linux import (
    O_NOCTTY,
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
    """A terminal's job-control state: the session it controls and its foreground group."""

    #: The session whose controlling terminal it is (None: no session's); the first
    #: process's session starts with the sandbox's own terminal.
    sid: int | None = 1
    #: The foreground process group.
    foreground: int | None = 1
    #: Which terminal: None for the sandbox's own, N for /dev/pts/N.
    pts: int | None = None

    def controls(self, process: ThreadGroup) -> bool:
        return self.sid is not None and process.sid == self.sid


def terminal_of(kernel: Kernel, opened: Opened) -> Terminal | None:
    """The job-control state of the terminal ``opened`` is, None if it is not a terminal."""
    if not opened.terminal:
        return None
    if opened.pts is None:
        return kernel.tty
    terminal = kernel.pts_terminals.get(opened.pts)
    if terminal is None:
        terminal = kernel.pts_terminals[opened.pts] = Terminal(sid=None, foreground=None, pts=opened.pts)
    return terminal


def controlling_terminal(kernel: Kernel, process: ThreadGroup) -> Terminal | None:
    """The controlling terminal of ``process``'s session, if it has one."""
    if kernel.tty.controls(process):
        return kernel.tty
    for terminal in kernel.pts_terminals.values():
        if terminal.controls(process):
            return terminal
    return None


def acquire_on_open(kernel: Kernel, process: ThreadGroup, opened: Opened, flags: int) -> None:
    """tty_open's rule: a session leader with no controlling terminal that opens a terminal
    no session has, without O_NOCTTY, makes it its controlling terminal."""
    if flags & O_NOCTTY or opened.pts is None or not opened.terminal or process.sid != process.pid:
        return
    terminal = terminal_of(kernel, opened)
    if terminal is not None and terminal.sid is None and controlling_terminal(kernel, process) is None:
        terminal.sid, terminal.foreground = process.sid, process.pgid


async def hang_up(kernel: Kernel, pts: int) -> None:
    """/dev/pts/``pts`` lost its master: it leaves its session, whose leader gets SIGHUP and
    SIGCONT (tty_signal_session_leader)."""
    terminal = kernel.pts_terminals.pop(pts, None)
    if terminal is None or terminal.sid is None:
        return
    leader = kernel.processes.get(terminal.sid)
    if leader is not None and not leader.zombie and leader.sid == terminal.sid:
        for signo in (Signal.SIGHUP, Signal.SIGCONT):
            if signo == Signal.SIGCONT:
                await leader.resume()
            await kernel.bus.call("signals", "send", leader.pid, None, signo, SIGINFO_KILL.pack(signo, 0, SI_KERNEL, 0,
                                                                                                0, 0))


async def _signal_group(kernel: Kernel, pgid: int, signo: int) -> None:
    info = SIGINFO_KILL.pack(signo, 0, SI_KERNEL, 0, 0, 0)
    for process in [p for p in kernel.processes.values() if p.pgid == pgid and not p.zombie]:
        if signo == Signal.SIGCONT:
            await process.resume()
        await kernel.bus.call("signals", "send", process.pid, None, signo, info)


async def signal_foreground(kernel: Kernel, signo: int, terminal: Terminal | None = None) -> None:
    """``signo`` from a terminal (the sandbox's own by default) to its foreground process
    group, as ^C sends SIGINT."""
    foreground = (terminal or kernel.tty).foreground
    if foreground is not None:
        await _signal_group(kernel, foreground, signo)


async def job_control_ioctl(t: Task, opened: Opened, request: int, arg: int) -> int:
    """TIOCGPGRP, TIOCSPGRP, TIOCGSID, TIOCSCTTY and TIOCNOTTY on a terminal."""
    tty = terminal_of(t.kernel, opened)
    if tty is None:
        raise Errno(ENOTTY)
    process = t.process
    if request == TIOCSCTTY:
        if tty.controls(process):
            return 0
        stealing = arg == 1 and process.creds.has_cap(CAP_SYS_ADMIN)  # from another session
        if process.sid != process.pid or controlling_terminal(t.kernel, process) is not None \
                or (tty.sid is not None and not stealing):
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
        await background_change(t, tty)
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


async def background_change(t: Task, tty: Terminal | None) -> None:
    """Linux's tty_check_change for a background group that writes with TOSTOP set or changes
    the terminal ``tty`` (TIOCSPGRP): SIGTTOU to the group and a restart; nothing when SIGTTOU
    is ignored or blocked (the change goes through); EIO for an orphaned group."""
    process = t.process
    if tty is None or not tty.controls(process) or tty.foreground is None or process.pgid == tty.foreground:
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


def _in_background(t: Task, tty: Terminal | None) -> bool:
    """Whether the caller's process is in a background group of the terminal's session."""
    process = t.process
    return tty is not None and tty.controls(process) and tty.foreground is not None and process.pgid != tty.foreground


async def check_background_write(t: Task, opened: Opened) -> None:
    """A write to the terminal by a background group stops it with SIGTTOU when the terminal
    has TOSTOP set (``stty tostop``); without TOSTOP background output is allowed."""
    tty = terminal_of(t.kernel, opened)
    if not _in_background(t, tty):
        return
    try:
        modes = await vfs(t, "ioctl", opened.handle, TCGETS, 0)
    except Errno:
        return
    (local_modes,) = _LOCAL_MODES.unpack_from(modes)
    if local_modes & termios.TOSTOP:
        await background_change(t, tty)


async def check_background_read(t: Task, opened: Opened) -> None:
    """A read of the terminal by a background group: SIGTTIN to the group and a restart, or
    EIO when SIGTTIN is ignored or blocked or the group is orphaned (Linux's job control check)."""
    tty = terminal_of(t.kernel, opened)
    process = t.process
    if tty is None or not tty.controls(process) or tty.foreground is None or process.pgid == tty.foreground:
        return
    bus = t.kernel.bus
    handler = (await bus.call("signals", "sigaction", process.pid, int(Signal.SIGTTIN), None))[0]
    mask = await bus.call("signals", "sigprocmask", t.tid, 0, None)
    if handler == SIG_IGN or mask & sigbit(Signal.SIGTTIN) or orphaned(t.kernel, process.pgid):
        raise Errno(EIO)
    await _signal_group(t.kernel, process.pgid, Signal.SIGTTIN)
    raise Errno(ERESTARTSYS)
