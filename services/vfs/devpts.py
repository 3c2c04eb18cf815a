"""devpts: pseudo-terminals made by the Sentry — /dev/ptmx and /dev/pts/N.

Opening /dev/ptmx makes a pseudo-terminal: the description it returns is the *master*, and
/dev/pts/N (N from TIOCGPTN, locked until TIOCSPTLCK unlocks it) is the *replica* a program
uses as its terminal. Nothing reaches a host pty: the Sentry is the line discipline, as
gVisor's devpts is. Bytes written to the master are the terminal's input: they pass through
the input modes (ICRNL, IGNCR, INLCR, ISTRIP), the signal characters (ISIG: ^C, ^\\, ^Z),
flow control (IXON: ^S, ^Q) and, in canonical mode, line editing (ERASE, WERASE, KILL, EOF,
EOL, LNEXT) before the replica may read them; echo and everything the replica writes pass
through the output modes (OPOST: ONLCR, OCRNL, ONOCR, ONLRET) on their way to the master.
Non-canonical reads follow VMIN and VTIME.

The ends close as Linux's do: with every replica closed the master reads EIO and polls
POLLHUP; with the master closed the pseudo-terminal is hung up (the replica reads 0, writes
EIO, polls everything) and /dev/pts/N is gone. Job control (the session a replica is the
controlling terminal of, its foreground group, the signals the line discipline raises) is the
kernel's (kernel/tty.py): the line discipline only records the signals it raised, and the
kernel takes them after each write to a master (:meth:`Pty.take_signals`).

The mount is docker's: ``gid=5,mode=620,ptmxmode=666``.
"""

from __future__ import annotations

import struct
import termios
from collections import deque
from typing import TYPE_CHECKING

import trio

from kernel.errors import Interrupted
from abi.errno import EAGAIN, EINVAL, EIO, ENOENT, ENOSPC, ENOTTY, ESPIPE, Errno
from abi.linux import (
    KERNEL_TERMIOS_SIZE,
    O_NONBLOCK,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    POLLWRNORM,
    S_IFCHR,
    TCFLSH,
    TCGETS,
    TCSBRK,
    TCSETS,
    TCSETSF,
    TCSETSW,
    TCXONC,
    TIOCGPTLCK,
    TIOCGPTN,
    TIOCGWINSZ,
    TIOCSPTLCK,
    TIOCSWINSZ,
    WINSIZE_SIZE,
    Signal,
)
from services.vfs.file import File, scatter
from services.vfs.inode import Dir, Filesystem, Inode
from services.vfs.poll import Changes

if TYPE_CHECKING:
    from abi.creds import Caller

#: devpts's statfs f_type.
DEVPTS_SUPER_MAGIC = 0x1CD1
#: Linux's device numbers: /dev/ptmx is 5:2, replicas are majors 136-143.
PTMX_RDEV = (5 << 8) | 2
_REPLICA_MAJOR = 136
#: The tty group, which docker's devpts mount gives every replica (gid=5,mode=620).
TTY_GID = 5
REPLICA_MODE = 0o620
#: /proc/sys/kernel/pty/max's default.
PTY_MAX = 4096
#: N_TTY_BUF_SIZE: the input a line discipline holds; a canonical line is one byte less.
INPUT_LIMIT = 4096
#: What a replica may write before the master reads it (a pty's tty buffer memory limit).
OUTPUT_LIMIT = 65536

# struct termios (the kernel's, 36 bytes): four u32 flag words, c_line, c_cc[19].
_FLAGS = struct.Struct("<4I")
_CC = 17
_VDISABLE = 0
_IFLAG, _OFLAG, _CFLAG, _LFLAG = range(4)
#: The control characters a line discipline turns into signals (ISIG).
_SIGNAL_CHARS = ((termios.VINTR, Signal.SIGINT), (termios.VQUIT, Signal.SIGQUIT), (termios.VSUSP, Signal.SIGTSTP))
#: Control characters ECHOCTL echoes as themselves, not as ^X.
_ECHO_AS_IS = frozenset(b"\t\n\x11\x13")


def _default_termios() -> bytes:
    """tty_std_termios: what a new terminal starts with (stty sane, 38400 baud, 8 bits)."""
    cc = bytearray(19)
    for index, value in ((termios.VINTR, 0x03), (termios.VQUIT, 0x1C), (termios.VERASE, 0x7F),
                         (termios.VKILL, 0x15), (termios.VEOF, 0x04), (termios.VMIN, 1), (termios.VSTART, 0x11),
                         (termios.VSTOP, 0x13), (termios.VSUSP, 0x1A), (termios.VREPRINT, 0x12),
                         (termios.VDISCARD, 0x0F), (termios.VWERASE, 0x17), (termios.VLNEXT, 0x16)):
        cc[index] = value
    flags = _FLAGS.pack(termios.ICRNL | termios.IXON, termios.OPOST | termios.ONLCR,
                        termios.B38400 | termios.CS8 | termios.CREAD | termios.HUPCL,
                        termios.ISIG | termios.ICANON | termios.ECHO | termios.ECHOE | termios.ECHOK
                        | termios.ECHOCTL | termios.ECHOKE | termios.IEXTEN)
    return flags + b"\0" + bytes(cc)


DEFAULT_TERMIOS = _default_termios()


class LineDiscipline:
    """N_TTY: the input a replica reads, the output the master reads, and the modes between.

    Input in canonical mode is kept as ``readable`` bytes with ``ends``, the offsets where a
    completed line (or an EOF) ends: a read never crosses one. ``line`` is the line being
    edited, which nobody may read yet.
    """

    def __init__(self) -> None:
        self.termios = bytearray(DEFAULT_TERMIOS)
        self.readable = bytearray()
        self.ends: deque[int] = deque()
        self.line = bytearray()
        self.output = bytearray()
        #: Output stopped by VSTOP (IXON) until VSTART.
        self.stopped = False
        #: The next input byte is taken literally (VLNEXT).
        self._literal = False
        #: Signals raised by input (ISIG), for the kernel to send to the foreground group.
        self.signals: list[int] = []
        self._column = 0

    # --- modes ------------------------------------------------------------------------------------

    def flag(self, word: int) -> int:
        return _FLAGS.unpack_from(self.termios)[word]

    def cc(self, index: int) -> int:
        return self.termios[_CC + index]

    @property
    def canonical(self) -> bool:
        return bool(self.flag(_LFLAG) & termios.ICANON)

    def set_termios(self, data: bytes) -> None:
        was_canonical = self.canonical
        self.termios[:] = data[:KERNEL_TERMIOS_SIZE]
        if was_canonical and not self.canonical:  # the line being edited becomes readable
            self.readable += self.line
            self.line.clear()
            self.ends.clear()
        elif not was_canonical and self.canonical:
            self.ends.clear()
            if self.readable:
                self.ends.append(len(self.readable))
        if not self.flag(_IFLAG) & termios.IXON:
            self.stopped = False

    def flush_input(self) -> None:
        self.readable.clear()
        self.ends.clear()
        self.line.clear()

    def flush_output(self) -> None:
        self.output.clear()

    # --- input: bytes typed at the master -----------------------------------------------------------

    def input_room(self) -> int:
        """Bytes the master may still write now (canonical input is never refused: a full
        line drops characters, as Linux's does)."""
        if self.canonical:
            return INPUT_LIMIT
        return max(0, INPUT_LIMIT - len(self.readable))

    def receive(self, data: bytes) -> None:
        """Process input bytes as the line discipline does, echoing as the modes say."""
        iflag, _, _, lflag = _FLAGS.unpack_from(self.termios)
        for byte in data:
            if iflag & termios.ISTRIP:
                byte &= 0x7F
            if self._literal:
                self._literal = False
                self._store(byte, lflag)
                continue
            if byte == 0x0D:
                if iflag & termios.IGNCR:
                    continue
                if iflag & termios.ICRNL:
                    byte = 0x0A
            elif byte == 0x0A and iflag & termios.INLCR:
                byte = 0x0D
            if iflag & termios.IXON and self._flow_control(byte, iflag):
                continue
            if lflag & termios.ISIG and self._signal_char(byte, lflag):
                continue
            if lflag & termios.ICANON:
                self._canonical(byte, lflag)
            else:
                self._store(byte, lflag)

    def _flow_control(self, byte: int, iflag: int) -> bool:
        if byte != _VDISABLE and byte == self.cc(termios.VSTOP):
            self.stopped = True
            return True
        if byte != _VDISABLE and byte == self.cc(termios.VSTART):
            self.stopped = False
            return True
        if iflag & termios.IXANY:
            self.stopped = False
        return False

    def _signal_char(self, byte: int, lflag: int) -> bool:
        for index, signo in _SIGNAL_CHARS:
            if byte != _VDISABLE and byte == self.cc(index):
                if not lflag & termios.NOFLSH:
                    self.flush_input()
                    self.flush_output()
                self.stopped = False
                self._echo(byte, lflag)
                self.signals.append(signo)
                return True
        return False

    def _canonical(self, byte: int, lflag: int) -> None:
        cc = self.cc
        if byte == _VDISABLE:
            self._store_line(byte, lflag)
        elif byte == cc(termios.VERASE):
            self._erase(lflag, word=False)
        elif byte == cc(termios.VWERASE) and lflag & termios.IEXTEN:
            self._erase(lflag, word=True)
        elif byte == cc(termios.VKILL):
            self._kill(lflag)
        elif byte == cc(termios.VLNEXT) and lflag & termios.IEXTEN:
            self._literal = True
            if lflag & termios.ECHO and lflag & termios.ECHOCTL:
                self._emit(b"^\b")
        elif byte == cc(termios.VEOF):
            self._end_line()
        elif byte == 0x0A or byte == cc(termios.VEOL) or (byte == cc(termios.VEOL2) and lflag & termios.IEXTEN):
            if lflag & termios.ECHO or (byte == 0x0A and lflag & termios.ECHONL):
                self._emit_processed(bytes([byte]))
            self.line.append(byte)
            self._end_line()
        elif byte == cc(termios.VREPRINT) and lflag & termios.IEXTEN and lflag & termios.ECHO:
            self._echo(byte, lflag)
            self._emit_processed(b"\n" + bytes(self.line))
        else:
            self._store_line(byte, lflag)

    def _store_line(self, byte: int, lflag: int) -> None:
        if len(self.readable) + len(self.line) < INPUT_LIMIT - 1:
            self.line.append(byte)
            self._echo(byte, lflag)

    def _store(self, byte: int, lflag: int) -> None:
        if lflag & termios.ICANON:
            self._store_line(byte, lflag)
        elif len(self.readable) < INPUT_LIMIT:
            self.readable.append(byte)
            self._echo(byte, lflag)

    def _end_line(self) -> None:
        self.readable += self.line
        self.line.clear()
        self.ends.append(len(self.readable))

    def _erase(self, lflag: int, word: bool) -> None:
        if not self.line:
            return
        count = 1
        if word:  # the spaces before the word, then the word
            end = len(self.line)
            while end and self.line[end - 1] in b" \t":
                end -= 1
            while end and self.line[end - 1] not in b" \t":
                end -= 1
            count = len(self.line) - end
        for _ in range(count):
            erased = self.line.pop()
            if lflag & termios.ECHO and lflag & termios.ECHOE:
                width = 2 if lflag & termios.ECHOCTL and erased < 0x20 and erased not in _ECHO_AS_IS else 1
                self._emit(b"\b \b" * width)
            elif lflag & termios.ECHO:
                self._echo(self.cc(termios.VERASE), lflag)

    def _kill(self, lflag: int) -> None:
        if lflag & termios.ECHO and lflag & termios.ECHOKE and lflag & termios.ECHOE:
            while self.line:
                self._erase(lflag, word=False)
            return
        self.line.clear()
        if lflag & termios.ECHO:
            self._echo(self.cc(termios.VKILL), lflag)
            if lflag & termios.ECHOK:
                self._emit_processed(b"\n")

    def _echo(self, byte: int, lflag: int) -> None:
        if not lflag & termios.ECHO:
            return
        if lflag & termios.ECHOCTL and (byte < 0x20 or byte == 0x7F) and byte not in _ECHO_AS_IS:
            self._emit(b"^" + bytes([byte ^ 0x40]))
        else:
            self._emit_processed(bytes([byte]))

    # --- output: bytes on their way to the master ---------------------------------------------------

    def _emit(self, data: bytes) -> None:
        self.output += data

    def _emit_processed(self, data: bytes) -> None:
        self.output += self.process_output(data)

    def process_output(self, data: bytes) -> bytes:
        """OPOST: newline and carriage-return translation (tabs and case are left alone)."""
        oflag = self.flag(_OFLAG)
        if not oflag & termios.OPOST or not oflag & (termios.ONLCR | termios.OCRNL | termios.ONOCR | termios.ONLRET):
            return data
        out = bytearray()
        for byte in data:
            if byte == 0x0A:
                if oflag & termios.ONLCR:
                    out += b"\r\n"
                    self._column = 0
                    continue
                if oflag & termios.ONLRET:
                    self._column = 0
            elif byte == 0x0D:
                if oflag & termios.ONOCR and self._column == 0:
                    continue
                if oflag & termios.OCRNL:
                    byte = 0x0A
                    if oflag & termios.ONLRET:
                        self._column = 0
                else:
                    self._column = 0
            else:
                self._column += 1
            out.append(byte)
        return bytes(out)

    # --- what a replica may read ------------------------------------------------------------------

    def available(self) -> int:
        """Bytes a read could return now (FIONREAD): complete lines only in canonical mode."""
        if self.canonical:
            return self.ends[-1] if self.ends else 0
        return len(self.readable)

    def can_read(self) -> bool:
        return bool(self.ends) if self.canonical else bool(self.readable)

    def take(self, size: int) -> bytes:
        """Up to ``size`` bytes for a reader: never past the end of a line in canonical mode
        (an EOF's empty record reads as 0)."""
        if self.canonical:
            if not self.ends:
                return b""
            size = min(size, self.ends[0])
        data = bytes(self.readable[:size])
        del self.readable[:size]
        if self.ends:
            if self.ends[0] == size:
                self.ends.popleft()
            self.ends = deque(end - size for end in self.ends)
        return data


class Pty:
    """One pseudo-terminal: its line discipline, window size, lock and open ends."""

    def __init__(self, index: int, registry: PtyRegistry, uid: int) -> None:
        self.index = index
        self.registry = registry
        self.discipline = LineDiscipline()
        self.winsize = bytes(WINSIZE_SIZE)
        self.locked = True
        self.masters = 0
        self.replicas = 0
        #: Every replica has been closed after one was opened (the master reads EIO).
        self.replica_gone = False
        #: The master is closed: the pseudo-terminal is hung up.
        self.hung_up = False
        self.changes = Changes()
        self.inode = ReplicaInode(registry.fs, self, uid)

    def take_signals(self) -> list[int]:
        signals, self.discipline.signals = self.discipline.signals, []
        return signals

    # --- ioctls both ends share -------------------------------------------------------------------

    def ioctl_read(self, request: int) -> bytes:
        if request == TCGETS:
            return bytes(self.discipline.termios)
        if request == TIOCGWINSZ:
            return self.winsize
        raise Errno(ENOTTY)

    def ioctl_write(self, request: int, arg: bytes | int) -> None:
        discipline = self.discipline
        if request in (TCSETS, TCSETSW, TCSETSF):
            assert isinstance(arg, bytes)
            if request == TCSETSF:
                discipline.flush_input()
            discipline.set_termios(arg)
        elif request == TIOCSWINSZ:
            assert isinstance(arg, bytes)
            self.winsize = arg[:WINSIZE_SIZE]
        elif request == TCFLSH:
            if arg not in (termios.TCIFLUSH, termios.TCOFLUSH, termios.TCIOFLUSH):
                raise Errno(EINVAL)
            if arg != termios.TCOFLUSH:
                discipline.flush_input()
            if arg != termios.TCIFLUSH:
                discipline.flush_output()
        elif request == TCXONC:
            if arg not in (termios.TCOOFF, termios.TCOON, termios.TCIOFF, termios.TCION):
                raise Errno(EINVAL)
            if arg in (termios.TCOOFF, termios.TCOON):
                discipline.stopped = arg == termios.TCOOFF
        elif request != TCSBRK:  # a break on a pty does nothing; a drain has nothing to wait for
            raise Errno(ENOTTY)
        self.changes.notify()

    # --- the ends ----------------------------------------------------------------------------------

    def master_closed(self) -> None:
        self.masters -= 1
        if self.masters == 0:
            self.hung_up = True
            self.registry.remove(self)
            self.changes.notify()

    def replica_opened(self) -> None:
        self.replicas += 1
        self.replica_gone = False
        self.changes.notify()

    def replica_closed(self) -> None:
        self.replicas -= 1
        if self.replicas == 0:
            self.replica_gone = True
            self.changes.notify()


class _PtyEnd(File):
    """What both ends of a pseudo-terminal have."""

    epollable = True
    may_block = True

    def __init__(self, flags: int, pty: Pty, inode: Inode) -> None:
        super().__init__(flags, inode)
        self.pty = pty
        self.pts_index = pty.index

    async def seek(self, offset: int, whence: int) -> int:
        raise Errno(ESPIPE)

    def ioctl_read(self, request: int, size: int) -> bytes:
        return self.pty.ioctl_read(request)

    def ioctl_write(self, request: int, arg: bytes | int) -> None:
        self.pty.ioctl_write(request, arg)

    async def wait(self, events: int) -> None:
        await self.pty.changes.wait()

    def notifier(self) -> Changes:
        return self.pty.changes

    @property
    def changes(self) -> int:
        return self.pty.changes.count

    async def _sleep(self) -> None:
        if self.flags & O_NONBLOCK:
            raise Errno(EAGAIN)
        await self.pty.changes.wait()

    async def _sleep_unless_interrupted(self, written: int) -> bool:
        """A write's wait for room: False when it should return the ``written`` bytes it has
        (a non-blocking write, or a signal, after some went through), as n_tty_write does."""
        try:
            await self._sleep()
        except Errno:
            if written:
                return False
            raise
        except (trio.Cancelled, Interrupted):
            if written:
                return False
            raise
        return True


class PtyMaster(_PtyEnd):
    """The master end (/dev/ptmx): it types the terminal's input and reads its output."""

    def __init__(self, flags: int, pty: Pty, inode: Inode) -> None:
        super().__init__(flags, pty, inode)
        pty.masters += 1

    def ioctl_write(self, request: int, arg: bytes | int) -> None:
        """Modes and window size set on a master are the replica's (tty_mode_ioctl takes the
        pty's other end); its queues are the replica's the other way round (its input is what
        the replica wrote)."""
        if request == TCFLSH and arg in (termios.TCIFLUSH, termios.TCOFLUSH):
            self.pty.ioctl_write(TCFLSH, termios.TCOFLUSH if arg == termios.TCIFLUSH else termios.TCIFLUSH)
        else:
            self.pty.ioctl_write(request, arg)

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        discipline = self.pty.discipline
        return self._take_output(buffers) if discipline.output and not discipline.stopped else None

    def _take_output(self, buffers: list[memoryview]) -> int:
        discipline = self.pty.discipline
        size = min(sum(len(b) for b in buffers), len(discipline.output))
        scatter(memoryview(bytes(discipline.output[:size])), buffers)
        del discipline.output[:size]
        self.pty.changes.notify()
        return size

    def write_nowait(self, buffers: list[memoryview]) -> int | None:
        size = sum(len(b) for b in buffers)
        if size > self.pty.discipline.input_room():
            return None
        self.pty.discipline.receive(b"".join(bytes(b) for b in buffers))
        self.pty.changes.notify()
        return size

    async def read(self, buffers: list[memoryview]) -> int:
        pty = self.pty
        discipline = pty.discipline
        while not discipline.output or discipline.stopped:
            if pty.replica_gone:
                raise Errno(EIO)
            await self._sleep()
        return self._take_output(buffers)

    async def write(self, buffers: list[memoryview]) -> int:
        pty = self.pty
        data = b"".join(bytes(b) for b in buffers)
        written = 0
        while written < len(data):
            room = pty.discipline.input_room()
            if room == 0:
                if not await self._sleep_unless_interrupted(written):
                    break
                continue
            chunk = data[written:written + room]
            pty.discipline.receive(chunk)
            written += len(chunk)
            pty.changes.notify()
        return written

    def poll(self, caller: Caller | None = None) -> int:
        pty = self.pty
        discipline = pty.discipline
        events = POLLIN | POLLRDNORM if discipline.output and not discipline.stopped else 0
        if discipline.input_room():
            events |= POLLOUT | POLLWRNORM
        return events | POLLHUP if pty.replica_gone else events

    def readable_bytes(self) -> int:
        return len(self.pty.discipline.output)

    def unsent_bytes(self) -> int:
        return len(self.pty.discipline.readable) + len(self.pty.discipline.line)

    def device_ioctl(self, request: int, arg: int) -> int:
        """The master's own ioctls: TIOCGPTN (the replica's number), TIOCSPTLCK/TIOCGPTLCK."""
        if request == TIOCGPTN:
            return self.pty.index
        if request == TIOCSPTLCK:
            self.pty.locked = bool(arg)
            return 0
        if request == TIOCGPTLCK:
            return int(self.pty.locked)
        raise Errno(ENOTTY)

    def proc_target(self) -> bytes | None:
        return b"/dev/ptmx" if self._path is None and self.opened_at is None else None

    def release(self) -> None:
        self.pty.master_closed()


class PtyReplica(_PtyEnd):
    """The replica end (/dev/pts/N): a program's terminal."""

    is_terminal = True
    is_pty = True

    def __init__(self, flags: int, pty: Pty) -> None:
        super().__init__(flags, pty, pty.inode)
        pty.replica_opened()

    async def read(self, buffers: list[memoryview]) -> int:
        pty = self.pty
        discipline = pty.discipline
        size = sum(len(b) for b in buffers)
        if size == 0:
            return 0
        if discipline.canonical:
            while not discipline.can_read():
                if pty.hung_up:
                    return 0
                await self._sleep()
            return self._deliver(discipline.take(size), buffers)
        return await self._read_raw(size, buffers)

    async def _read_raw(self, size: int, buffers: list[memoryview]) -> int:
        """Non-canonical input, as VMIN and VTIME say (termios(3))."""
        pty = self.pty
        discipline = pty.discipline
        minimum = min(discipline.cc(termios.VMIN), size)
        timeout = discipline.cc(termios.VTIME) / 10
        if not discipline.readable and (minimum == 0 and timeout == 0):
            if self.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            return 0
        if not discipline.readable and self.flags & O_NONBLOCK:
            raise Errno(EAGAIN)
        if minimum == 0:  # a byte, or none once VTIME has passed
            with trio.move_on_after(timeout):
                while not discipline.readable and not pty.hung_up:
                    await pty.changes.wait()
        else:  # VMIN bytes; with VTIME, or fewer once the gap after a byte passes VTIME
            while len(discipline.readable) < minimum and not pty.hung_up:
                if discipline.readable and timeout:
                    with trio.move_on_after(timeout) as gap:
                        await pty.changes.wait()
                    if gap.cancelled_caught:
                        break
                else:
                    await pty.changes.wait()
        return self._deliver(discipline.take(size), buffers)

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        discipline = self.pty.discipline
        size = sum(len(b) for b in buffers)
        if discipline.canonical:
            ready = discipline.can_read()
        else:
            ready = len(discipline.readable) >= max(1, min(discipline.cc(termios.VMIN), size))
        return self._deliver(discipline.take(size), buffers) if ready and size else None

    def write_nowait(self, buffers: list[memoryview]) -> int | None:
        pty = self.pty
        size = sum(len(b) for b in buffers)
        if pty.hung_up or pty.discipline.stopped or len(pty.discipline.output) + size > OUTPUT_LIMIT:
            return None
        pty.discipline.output += pty.discipline.process_output(b"".join(bytes(b) for b in buffers))
        pty.changes.notify()
        return size

    def _deliver(self, data: bytes, buffers: list[memoryview]) -> int:
        self.pty.changes.notify()  # room for the master's next write
        scatter(memoryview(data), buffers)
        return len(data)

    async def write(self, buffers: list[memoryview]) -> int:
        pty = self.pty
        data = b"".join(bytes(b) for b in buffers)
        if pty.hung_up:
            raise Errno(EIO)
        written = 0
        while written < len(data):
            room = 0 if pty.discipline.stopped else OUTPUT_LIMIT - len(pty.discipline.output)
            if room <= 0:
                if not await self._sleep_unless_interrupted(written):
                    break
                if pty.hung_up:
                    if written:
                        break
                    raise Errno(EIO)
                continue
            chunk = data[written:written + room]
            pty.discipline.output += pty.discipline.process_output(chunk)
            written += len(chunk)
            pty.changes.notify()
        return written

    def poll(self, caller: Caller | None = None) -> int:
        pty = self.pty
        if pty.hung_up:
            return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP
        events = POLLIN | POLLRDNORM if pty.discipline.can_read() else 0
        if len(pty.discipline.output) < OUTPUT_LIMIT and not pty.discipline.stopped:
            events |= POLLOUT | POLLWRNORM
        return events

    def readable_bytes(self) -> int:
        return self.pty.discipline.available()

    def unsent_bytes(self) -> int:
        return len(self.pty.discipline.output)

    def release(self) -> None:
        self.pty.replica_closed()


class ReplicaInode(Inode):
    """/dev/pts/N: a character device owned by whoever opened the master, group tty, 0620."""

    def __init__(self, fs: Filesystem, pty: Pty, uid: int) -> None:
        super().__init__(fs, S_IFCHR | REPLICA_MODE, uid=uid, gid=TTY_GID,
                         rdev=((_REPLICA_MAJOR + (pty.index >> 8)) << 8) | (pty.index & 0xFF))
        self.pty = pty

    async def open(self, flags: int, caller: Caller) -> File:
        pty = self.pty
        if pty.hung_up:
            raise Errno(ENOENT)
        if pty.locked:
            raise Errno(EIO)
        return PtyReplica(flags, pty)


class PtmxInode(Inode):
    """/dev/ptmx (and /dev/pts/ptmx): each open makes a new pseudo-terminal."""

    def __init__(self, fs: Filesystem, registry: PtyRegistry) -> None:
        super().__init__(fs, S_IFCHR | 0o666, rdev=PTMX_RDEV)
        self.registry = registry

    async def open(self, flags: int, caller: Caller) -> File:
        pty = self.registry.create(caller.creds.fsuid if caller.creds else 0)
        return PtyMaster(flags, pty, self)


class PtyRegistry:
    """The devpts instance: its pseudo-terminals by number, and the /dev/pts directory."""

    def __init__(self) -> None:
        self.fs = Filesystem(magic=DEVPTS_SUPER_MAGIC, name=b"devpts")
        self.root = Dir(self.fs, 0o755)
        self.ptys: dict[int, Pty] = {}
        self.root.children[b"ptmx"] = PtmxInode(self.fs, self)
        self.root.children[b"ptmx"].mode = S_IFCHR | 0o666

    def create(self, uid: int) -> Pty:
        """A new pseudo-terminal with the lowest free number."""
        index = next((i for i in range(len(self.ptys) + 1) if i not in self.ptys), None)
        if index is None or index >= PTY_MAX:
            raise Errno(ENOSPC)
        pty = Pty(index, self, uid)
        self.ptys[index] = pty
        self.root.children[str(index).encode()] = pty.inode
        self.root.modified()
        return pty

    def remove(self, pty: Pty) -> None:
        if self.ptys.get(pty.index) is pty:
            del self.ptys[pty.index]
            self.root.children.pop(str(pty.index).encode(), None)
            self.root.modified()

    def open_replica(self, index: int, flags: int) -> PtyReplica:
        """A new description of replica ``index`` (TIOCGPTPEER, /dev/tty), as an open of it is."""
        pty = self.ptys.get(index)
        if pty is None or pty.hung_up:
            raise Errno(EIO)
        if pty.locked:
            raise Errno(EIO)
        return PtyReplica(flags, pty)
