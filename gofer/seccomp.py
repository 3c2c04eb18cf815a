"""The gofer's seccomp allowlist, and how a Python process installs a filter and names a refused call.

The allowlist is exactly what serving the protocol takes: CPython and glibc running the file
operations of :mod:`gofer.operations` over a socket per mount, on the process's one thread
(:mod:`gofer.server`: no event loop, no worker threads, so no thread or event-loop calls). It
was read off the code and measured (``python -m tests.security.census``: ``strace -c`` over
the test suite); each entry says why it is there. A few are listed that the suite does not
show, because they are made only on the way out or on paths it does not take: ``exit``,
``exit_group``, ``kill``, ``tgkill``, ``rt_sigprocmask``, ``getpid`` and ``write`` (reporting a
trap and dying of it), ``rt_sigreturn``, ``fdatasync`` and the write calls a test never made.
Calls that change the tree are listed only for a ``--rw`` gofer. Anything else is *trapped*:
the call does not run (it fails with ENOSYS), the process logs its name (to its stderr, a pipe
the Sentry logs) and ends with SIGSYS. A foreign architecture or the x32 ABI kills the process
outright.

The runtime half — :func:`install_filter` and :func:`report_traps` — is shared with the Sentry's
own confinement (:mod:`kernel.confine`).
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import signal
import struct

from abi.linux import (
    F_DUPFD_CLOEXEC,
    F_GETFD,
    F_GETFL,
    F_SETFD,
    F_SETFL,
    FIONBIO,
    O_ACCMODE,
    O_CREAT,
    O_TRUNC,
    PROT_EXEC,
)
from abi.seccomp import (
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_RET_TRAP,
    SECCOMP_SET_MODE_FILTER,
    Entry,
    PidTemplate,
    Policy,
    Rule,
    allow_if,
    clear,
    eq32,
    masked,
    one_of,
    rules_of,
    sigsys_trampoline,
)
from abi.syscalls import NAMES, number

log = logging.getLogger("sentrio.seccomp")

_NO_EXEC = clear(2, PROT_EXEC)


def gofer_entries(*, writable: bool, pid: int) -> list[Entry]:
    """The gofer's allowlist (``pid``: its own, the only process it may signal)."""
    entries = [
        # --- the connections
        Entry("recvfrom", "reading requests from the Sentry's sockets"),
        Entry("sendto", "writing replies"),
        Entry("sendmsg", "replies with a donated fd beside them (SCM_RIGHTS)"),
        Entry("poll", "which mount's socket has a request, for a gofer serving several"),
        # --- walking and reading the tree
        Entry("openat", "walking one component at a time (O_PATH|O_NOFOLLOW), opening files",
              Rule() if writable else allow_if(masked(2, O_ACCMODE | O_CREAT | O_TRUNC, 0))),
        Entry("newfstatat", "Tgetattr, and checking a name still names the file it walked to"),
        Entry("getdents64", "Treaddir"),
        Entry("lseek", "rewinding a directory before reading it"),
        Entry("readlinkat", "Treadlink, and the targets of the links a listing carries"),
        Entry("fstatfs", "Tstatfs"),
        Entry("read", "reading files (os.read)"),
        Entry("pread64", "Tread"),
        Entry("write", "logging to stderr (the pipe the Sentry reads)"),
        Entry("close", "Tclunk and every temporary fd"),
        Entry("fcntl", "fd flags (non-blocking, close-on-exec), os.dup",
              allow_if(*one_of(1, (F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC)))),
        Entry("ioctl", "FIONBIO: os.set_blocking, as an opened file drops the O_NONBLOCK it was opened with",
              allow_if(eq32(1, FIONBIO))),
        Entry("fsync", "Tfsync (the Sentry may sync a file it only read)"),
        Entry("fdatasync", "Tfsync with datasync"),
        Entry("fgetxattr", "Txattrget (user.* only, checked before)"),
        Entry("flistxattr", "Txattrlist"),
        # --- Python and glibc
        Entry("mmap", "the allocator; never executable memory", allow_if(_NO_EXEC)),
        Entry("mprotect", "the allocator; never executable", allow_if(_NO_EXEC)),
        Entry("munmap", "the allocator"),
        Entry("madvise", "the allocator returns memory"),
        Entry("brk", "the allocator"),
        Entry("mremap", "the allocator grows large buffers"),
        Entry("exit_group", "the gofer ends"),
        Entry("rt_sigaction", "the SIGSYS report, and Python's signal handling"),
        Entry("rt_sigprocmask", "signal.raise_signal blocks signals around its tgkill (the trap report)"),
        Entry("rt_sigreturn", "returning from a signal handler"),
        Entry("getpid", "every log record asks it (the trap report is one)"),
        Entry("kill", "ending itself with SIGSYS after a trap; only itself", allow_if(eq32(0, pid))),
        Entry("tgkill", "signal.raise_signal; only its own threads", allow_if(eq32(0, pid))),
    ]
    if writable:
        entries += [
            Entry("pwrite64", "Twrite, in a worker thread"),
            Entry("mkdirat", "Tmkdir"),
            Entry("unlinkat", "Tunlinkat"),
            Entry("renameat", "Trenameat"),
            Entry("renameat2", "Trenameat with RENAME_EXCHANGE/NOREPLACE"),
            Entry("linkat", "Tlink"),
            Entry("symlinkat", "Tsymlink"),
            Entry("mknodat", "Tmknod (fifos and sockets only; devices are refused before)"),
            Entry("fchmodat", "Tsetattr mode"),
            Entry("fchmod", "Tsetattr mode on an open file"),
            Entry("fchownat", "Tsetattr owner, and giving created files their guest owner"),
            Entry("fchown", "giving a created file its guest owner"),
            Entry("utimensat", "Tsetattr times"),
            Entry("ftruncate", "Tsetattr size, O_TRUNC"),
            Entry("fsetxattr", "Txattrset (user.* only, checked before)"),
            Entry("fremovexattr", "Txattrremove (user.* only)"),
        ]
    return entries


def gofer_policy(*, writable: bool, pid: int) -> Policy:
    return Policy(rules_of(gofer_entries(writable=writable, pid=pid), number), SECCOMP_RET_TRAP)


#: The filter of each kind of gofer (read-only, writable), to be given a gofer's pid.
TEMPLATES = {
    False: PidTemplate(lambda pid: gofer_policy(writable=False, pid=pid)),
    True: PidTemplate(lambda pid: gofer_policy(writable=True, pid=pid)),
}


def filter_program(*, writable: bool = True, pid: int | None = None) -> bytes:
    """The gofer's filter as an array of ``struct sock_filter``, for process ``pid`` (ours by
    default)."""
    return TEMPLATES[writable].program(os.getpid() if pid is None else pid)


# --- installing a filter ------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def install_filter(program: bytes) -> None:
    """Install ``program`` on every thread of this process (no_new_privs must be set)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer))
    if _libc.syscall(ctypes.c_long(number("seccomp")), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                     ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC), fprog) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"seccomp: {os.strerror(code)}")


# --- measuring what a process calls ----------------------------------------------------------------

#: When set to a directory, confined processes are not filtered but counted: where the filter
#: would be installed, ``strace -c`` attaches instead, and the counts land in DIR/ROLE-PID.txt
#: (``python -m tests.security.census`` runs the test suite this way and sums them up).
#: ``DIR;CALL,CALL...`` records every call of those, with its arguments, instead of counts.
CENSUS_VARIABLE = "SENTRIO_SYSCALL_CENSUS"
#: The same, for sandboxes started with a scrubbed environment (the differential harness): a
#: file at the root of this checkout naming the directory; only this checkout's code reads it.
CENSUS_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".syscall-census")


class Census:
    """A helper forked while the host is still reachable, which attaches ``strace -c`` to this
    process when :meth:`begin` asks (by then strace itself is out of this process's reach)."""

    def __init__(self, setting: str, role: str, follow_threads: bool) -> None:
        target = os.getpid()
        directory, _, calls = setting.partition(";")
        go_read, self._go = os.pipe2(os.O_CLOEXEC)
        self._ack, ack_write = os.pipe2(os.O_CLOEXEC)
        if os.fork() == 0:
            try:
                keep = sorted((go_read, ack_write))  # nothing else: the others' ends must see our EOFs
                os.closerange(0, keep[0])
                os.closerange(keep[0] + 1, keep[1])
                os.closerange(keep[1] + 1, os.sysconf("SC_OPEN_MAX"))
                if os.read(go_read, 1):
                    self._attach(target, os.path.join(directory, f"{role}-{target}.txt"), follow_threads, calls,
                                 ack_write)
            finally:
                os._exit(0)
        os.close(go_read)
        os.close(ack_write)

    @staticmethod
    def _attach(target: int, output: str, follow_threads: bool, calls: str, ack: int) -> None:
        import subprocess  # only for a census: a confined process never runs programs
        import time

        follow = ["-f"] if follow_threads else []
        what = ["-e", f"trace={calls}"] if calls else ["-c", "-U", "name,calls,errors"]
        strace = subprocess.Popen(["strace", *follow, *what, "-o", output, "-p", str(target)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{target}/status") as status:
                if any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in status):
                    break
            time.sleep(0.005)
        os.write(ack, b"A")
        strace.wait()

    @classmethod
    def requested(cls, role: str, *, follow_threads: bool = True) -> Census | None:
        """A census helper if :data:`CENSUS_VARIABLE` asks for one, else None."""
        directory = os.environ.get(CENSUS_VARIABLE)
        if not directory and os.path.exists(CENSUS_FILE):
            with open(CENSUS_FILE) as file:
                directory = file.read().strip()
        return cls(directory, role, follow_threads) if directory else None

    def begin(self) -> None:
        """Count every call from here on (instead of filtering them)."""
        os.write(self._go, b"G")
        os.read(self._ack, 1)
        os.close(self._ack)  # the go pipe stays open: the helper's strace ends with us


# --- naming a trapped call ------------------------------------------------------------------------


class _Sigaction(ctypes.Structure):
    """glibc's ``struct sigaction`` on x86-64."""

    _fields_ = (("handler", ctypes.c_void_p), ("mask", ctypes.c_uint64 * 16),
                ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p))


_SA_SIGINFO = 4
_SA_ONSTACK = 0x0800_0000
#: Where the trampoline leaves the number of the refused call, and the trampoline's page.
_refused = ctypes.c_int32(-1)
_trampoline: mmap.mmap | None = None
_reporter: logging.Logger = log


def report_traps(logger: logging.Logger | None = None) -> None:
    """Log the name of any call a ``SECCOMP_RET_TRAP`` filter refuses, then die of SIGSYS.

    Python's handler for SIGSYS sees no siginfo, so a few bytes of machine code
    (:func:`abi.seccomp.sigsys_trampoline`) become the real handler: they store ``si_syscall``,
    make the refused call fail with ENOSYS (Linux would have it "return" its own number, which
    C code may use as an address or a length before Python gets to run) and hand over to
    Python's own C handler, which runs :func:`_on_sigsys` at the next bytecode.
    Install before the filter (this maps one executable page, which the filter then forbids).

    The handler runs on the stack of the thread that made the call, never an alternate signal
    stack: a trap comes from a system call, not a stack overflow, and an alternate stack someone
    else sized (faulthandler, a C library) might not hold the signal frame of every CPU (with
    AVX-512 and AMX state it is over 11 KiB, more than the old ``SIGSTKSZ``).
    """
    global _trampoline, _reporter
    _reporter = logger or log
    signal.signal(signal.SIGSYS, _on_sigsys)
    if _trampoline is not None:
        return
    python_handler = _Sigaction()
    if _libc.sigaction(signal.SIGSYS, None, ctypes.byref(python_handler)) != 0:
        raise OSError(ctypes.get_errno(), "sigaction(SIGSYS)")
    code = sigsys_trampoline(ctypes.addressof(_refused), python_handler.handler)
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    if _libc.mprotect(ctypes.c_void_p(address), mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        raise OSError(ctypes.get_errno(), "mprotect of the SIGSYS trampoline")
    action = _Sigaction()
    action.handler = address
    action.mask = python_handler.mask
    action.flags = (python_handler.flags | _SA_SIGINFO) & ~_SA_ONSTACK
    if _libc.sigaction(signal.SIGSYS, ctypes.byref(action), None) != 0:
        raise OSError(ctypes.get_errno(), "sigaction(SIGSYS)")
    _trampoline = page


def refused_call() -> int:
    """The number of the last call the filter trapped (-1: none yet)."""
    return _refused.value


def _on_sigsys(signo: int, frame: object) -> None:
    nr = _refused.value
    if nr < 0:  # sent by kill(), not raised by the filter: there is no call to blame
        _reporter.critical("SIGSYS that no seccomp trap raised: ending this process")
    else:
        _reporter.critical("host system call %s (%d) is not in this process's seccomp allowlist: ending it",
                           NAMES.get(nr, "unknown"), nr)
    for handler in logging.getLogger().handlers + _all_handlers(_reporter):
        handler.flush()
    signal.signal(signal.SIGSYS, signal.SIG_DFL)
    signal.raise_signal(signal.SIGSYS)


def _all_handlers(logger: logging.Logger) -> list[logging.Handler]:
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found += current.handlers
        current = current.parent if current.propagate else None
    return found


__all__ = ["filter_program", "gofer_entries", "gofer_policy", "install_filter", "refused_call",
           "report_traps"]
