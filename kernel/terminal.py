"""``run -t``: the guest's terminal, wired to the host's.

Until the sandbox has a terminal of its own (a pty in its devfs), ``-t`` gives the guest a host
pseudo-terminal: its slave becomes the Sentry's fds 0-2 (which are the guest's), and the Sentry
copies bytes between the master and the terminal it was started from. That terminal is put in
raw mode, so keys reach the guest's line discipline unchanged, and restored on exit whatever
happens; a window-size change (SIGWINCH) is passed on to the pty. Without ``-i`` the host's
keystrokes are not forwarded, as under docker.

The pty is nobody's controlling terminal on the host, so its line discipline echoes ^C, ^\\ and
^Z and flushes its input but signals no one: the Sentry, which sees those keys pass, sends the
signal to the guest's foreground process group itself (:func:`signal_foreground`).

"Whatever happens" includes a SIGKILLed Sentry, which runs no code at all: a small watchdog
process, forked when raw mode begins, waits on a pipe only the Sentry holds and puts the
terminal's modes back if that pipe reaches its end before the Sentry said it had done so itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import signal
import termios
import tty
from collections.abc import Iterator
from typing import TYPE_CHECKING

import trio

from abi.linux import Signal
from kernel.tty import signal_foreground
from services.vfs.contract import PtyInfo
from services.vfs.hostfile import epoll_accepts

if TYPE_CHECKING:
    from kernel.kernel import Kernel

log = logging.getLogger("sentrio.terminal")

_WINSIZE = b"\0" * 8
_CHUNK = 1 << 16
#: The control characters a line discipline turns into signals when ISIG is set.
_SIGNAL_KEYS = ((termios.VINTR, Signal.SIGINT), (termios.VQUIT, Signal.SIGQUIT), (termios.VSUSP, Signal.SIGTSTP))
#: A control character set to this is disabled.
_DISABLED = 0


def copy_window_size(source: int, target: int) -> None:
    """Give the terminal ``target`` the window size of ``source`` (if ``source`` is a terminal)."""
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, _WINSIZE)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)


class HostTerminal:
    """A pty whose slave is the guest's stdio, and the copying between it and the host."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.host_in = os.dup(0)
        self.host_out = os.dup(1)
        self.host_err = os.dup(2)
        self.master, slave = os.openpty()
        copy_window_size(self.host_in, slave)
        #: The pty as the guest's stdio sees it: the one terminal whose modes it may set.
        self.pty = PtyInfo(self.master, os.fstat(slave).st_rdev, os.ttyname(slave))
        for fd in (0, 1, 2):  # the guest's stdin, stdout and stderr: all the terminal, as docker -t
            os.dup2(slave, fd)
        os.close(slave)
        # The slave is the Sentry's alone (fds 0-2 share one description), and only this thread
        # drains the master: a blocking write of more than the pty holds would never return.
        os.set_blocking(0, False)
        os.set_blocking(self.master, False)
        self._saved: list | None = None  # type: ignore[type-arg]
        self._watchdog: tuple[int, int] | None = None  # (pid, write end of its pipe)
        #: The sandbox whose foreground process group ^C signals (set once the kernel exists).
        self.kernel: Kernel | None = None

    @contextlib.contextmanager
    def raw(self) -> Iterator[None]:
        """The host terminal in raw mode for the duration; restored on the way out."""
        if os.isatty(self.host_in):
            self._saved = termios.tcgetattr(self.host_in)
            try:
                self._watchdog = _start_watchdog(self.host_in, self._saved)
            except OSError as error:  # no process to spare: raw mode still ends with a normal exit
                log.warning("no watchdog for the terminal's modes: %s", error.strerror or error)
            tty.setraw(self.host_in, termios.TCSANOW)
        try:
            yield
        finally:
            self._flush_output()  # written out in raw mode, as the guest's terminal processed it
            self.restore()

    def restore(self) -> None:
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.host_in, termios.TCSADRAIN, self._saved)
            self._saved = None
        if self._watchdog is not None:
            pid, pipe = self._watchdog
            self._watchdog = None
            with contextlib.suppress(OSError):
                os.write(pipe, b"done")  # the modes are back: the watchdog leaves them alone
            os.close(pipe)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Copy in both directions and forward window sizes until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._output)
            if self.interactive:
                nursery.start_soon(self._input)
            if os.isatty(self.host_in):
                await nursery.start(self._window_changes)
            task_status.started()

    async def _output(self) -> None:
        while True:
            await trio.lowlevel.wait_readable(self.master)
            if not self._copy_output_once():
                return

    def _copy_output_once(self) -> bool:
        """Move what the guest wrote to the host; False once the pty has nothing more to give."""
        try:
            data = os.read(self.master, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as error:
            if error.errno == errno.EIO:  # no slave open any more
                return False
            raise
        if not data:
            return False
        try:
            _write_all(self.host_out, data)
        except OSError:  # nobody reads the host side any more: the guest's output goes nowhere
            pass
        return True

    async def _input(self) -> None:
        """Keys from the host to the guest; at the end of the host's input, an end of file
        (:meth:`services.vfs.hostfile.HostFile.read`: a VEOF sent now could be read as data once the guest
        has turned ICANON off, as busybox's line editor does)."""
        pollable = epoll_accepts(self.host_in)  # a file or /dev/null never blocks, and epoll refuses it
        while True:
            if pollable:
                await trio.lowlevel.wait_readable(self.host_in)
            else:
                await trio.lowlevel.checkpoint()
            try:
                data = os.read(self.host_in, _CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the guest's reads see an end of file from now on, whatever its modes
                if self.kernel is not None:
                    await self.kernel.bus.call("vfs", "terminal_input_ended")
                return
            keys = self._signal_keys()
            signals = [keys[key] for key in data if key in keys]
            if signals:  # no await from the drain to the flush: no guest write can land between
                self._drain_output()
                data = data[_write_now(self.master, data):]
                _settle_line_discipline()
            await self._send(data)
            for signo in signals:
                if self.kernel is not None:
                    await signal_foreground(self.kernel, signo)

    def _flush_output(self) -> None:
        """Copy out what the guest last wrote, before the host terminal leaves raw mode: output
        copied after would be processed twice (the guest's ONLCR, then the host's: \r\r\n)."""
        while True:
            try:
                if not self._copy_output_once() or not _pending(self.master):
                    break
            except OSError:
                break

    def _drain_output(self) -> None:
        """Copy out everything the guest has written so far, before a signal key goes in.

        The pty's line discipline answers ^C, ^\\ or ^Z (ISIG without NOFLSH) by discarding the
        output it has not delivered to the master yet. The guest wrote that output before the
        key reached the Sentry (guest writes are served by this thread), so a user at a real
        terminal would already have it; only this relay's copying lagged. Without the drain,
        a shell's "after 130" and its next prompt could vanish under a quick ^C, leaving the
        user looking at a shell that seems to ignore every ^C. A read of the master first runs
        the kernel's pending buffer work, so even output not yet reported readable is taken.
        """
        while True:
            try:
                data = os.read(self.master, _CHUNK)
            except OSError:  # nothing more now (EAGAIN), or no slave open any more (EIO)
                return
            if not data:
                return
            with contextlib.suppress(OSError):
                _write_all(self.host_out, data)

    def _signal_keys(self) -> dict[int, int]:
        """The guest terminal's signal-generating keys (none unless ISIG is set): byte -> signal."""
        try:
            attrs = termios.tcgetattr(self.master)
        except termios.error:
            return {}
        if not attrs[3] & termios.ISIG:
            return {}
        keys: dict[int, int] = {}
        for index, signo in _SIGNAL_KEYS:
            key = attrs[6][index]
            key = key[0] if isinstance(key, bytes) else key
            if key != _DISABLED:
                keys.setdefault(key, signo)
        return keys

    async def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            await trio.lowlevel.wait_writable(self.master)
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                continue

    async def _window_changes(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGWINCH) as changes:
            task_status.started()
            async for _ in changes:
                copy_window_size(self.host_in, self.master)

    def close(self) -> None:
        """Flush what the guest last wrote, restore the host terminal, and let go of the pty."""
        self._flush_output()
        self.restore()
        os.close(self.master)
        for fd, host in enumerate((self.host_in, self.host_out, self.host_err)):  # the Sentry's own again
            os.dup2(host, fd)
            os.close(host)


def _start_watchdog(terminal: int, modes: list) -> tuple[int, int]:  # type: ignore[type-arg]
    """Fork a process that puts ``modes`` back on ``terminal`` if we die without doing it.

    Returns its pid and the write end of its pipe: write to it once the modes are restored
    (the watchdog then just exits); if it is closed unwritten (we died), the watchdog restores.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the watchdog: only system calls from here on, and never back into the Sentry
        try:
            for signo in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP,
                          signal.SIGTTIN, signal.SIGTTOU):
                signal.signal(signo, signal.SIG_IGN)
            keep = sorted({terminal, read_end})
            os.closerange(0, keep[0])
            for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")]):
                os.closerange(low + 1, high)
            if not os.read(read_end, 1):
                termios.tcsetattr(terminal, termios.TCSADRAIN, modes)
        finally:
            os._exit(0)
    os.close(read_end)
    return pid, write_end


def _write_now(fd: int, data: bytes) -> int:
    """Write what ``fd`` takes without waiting; how many bytes that was."""
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def _settle_line_discipline() -> None:
    """Make the guest side of the pty act on the keys just written, now.

    The kernel hands bytes written to the master to the slave's line discipline from a work
    queue, so a ^C's flush of undelivered output may come a while later, under load long
    enough for the guest to write more (its reaction to an earlier ^C) that the flush then
    discards. A poll of the slave (the Sentry's fd 0 while the pty is the guest's terminal)
    runs that pending work before returning, and no guest write can come in between: the
    guest's writes are served by this same thread.
    """
    probe = select.poll()
    probe.register(0, select.POLLIN)
    probe.poll(0)


def _pending(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])
