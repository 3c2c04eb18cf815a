"""The host system calls a confined Sentry may make, each with why it needs it.

Read off the code and measured: ``python -m tests.security.census`` runs the test suite with
every Sentry counted by ``strace -c`` from the moment it would install this filter (none is
installed then) and lists what they called. Every call it lists is here; nothing is here that
no Sentry calls, but for the four its entry explains (``exit_group``, ``mremap``,
``madvise``, ``mprotect``). Where gVisor filters arguments (ptrace requests, mmap protections, ioctl numbers,
signals sent) we do too. A call outside the list does not run: the Sentry logs its name and
dies of SIGSYS (see :mod:`kernel.confine.sentry`).

What the list does *not* need to forbid, because the namespaces already make it harmless:
``openat`` and the ``stat`` family reach only the empty read-only root (ENOENT for every host
path), and a ``kill`` reaches only processes of the sandbox's own uid. What it forbids outright
is what would open a way out if another wall failed: new processes and programs (``clone``,
``fork``, ``execve``), new tracing (``PTRACE_ATTACH``/``SEIZE``/``TRACEME``, ``process_vm_*``),
sockets (no ``socket``, ``connect`` or ``bind``: the Sentry serves the connections it accepted
before confinement), executable memory, namespaces and mounts, and every administrative call.
"""

from __future__ import annotations

from abi.linux import (
    F_DUPFD_CLOEXEC,
    F_GETFL,
    F_SETFL,
    FIONBIO,
    FIONREAD,
    PROT_EXEC,
    TCFLSH,
    TCGETS,
    TCSBRK,
    TCSETS,
    TCSETSF,
    TCSETSW,
    TCXONC,
    TIOCGPTPEER,
    TIOCGWINSZ,
    TIOCSWINSZ,
)
from abi.seccomp import SECCOMP_RET_TRAP, Entry, PidTemplate, Policy, allow_if, clear, eq, eq32, one_of, rules_of
from abi.syscalls import number
from platforms.ptrace.binding import (
    PTRACE_CONT,
    PTRACE_GETEVENTMSG,
    PTRACE_GETREGS,
    PTRACE_GETREGSET,
    PTRACE_GETSIGINFO,
    PTRACE_POKEUSER,
    PTRACE_SETREGS,
    PTRACE_SETREGSET,
    PTRACE_SYSEMU,
)
from platforms.ptrace.context import INTERRUPT_SIGNAL

#: ptrace requests on stubs the Sentry already traces: registers, FP state, resuming, stop
#: details. None makes a new tracee (ATTACH, SEIZE, TRACEME) or touches another's memory.
PTRACE_REQUESTS = (PTRACE_CONT, PTRACE_SYSEMU, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_POKEUSER,
                   PTRACE_GETREGSET, PTRACE_SETREGSET, PTRACE_GETSIGINFO, PTRACE_GETEVENTMSG)
#: Terminal ioctls on the host terminal and the ``run -t`` pty (isatty, the guest's modes, window
#: size, queues, flow, bytes waiting) and FIONBIO (trio's non-blocking sockets). Never TIOCSTI
#: (typing into a terminal), TIOCSETD, TIOCLINUX or TIOCCONS.
#: TIOCGPTPEER opens the pty's slave from its master: the guest's /dev/tty under -t, with no
#: path to open (services/vfs/hostfile.py).
IOCTL_REQUESTS = (TCGETS, TCSETS, TCSETSW, TCSETSF, TCSBRK, TCXONC, TCFLSH, TIOCGWINSZ, TIOCSWINSZ,
                  FIONREAD, FIONBIO, TIOCGPTPEER)
#: os.set_blocking (F_GETFL, F_SETFL) and os.dup (F_DUPFD_CLOEXEC).
FCNTL_COMMANDS = (F_GETFL, F_SETFL, F_DUPFD_CLOEXEC)
_SIGKILL, _SIGSYS = 9, 31
_NO_EXEC = clear(2, PROT_EXEC)


def sentry_entries(pid: int) -> list[Entry]:
    """The confined Sentry's allowlist (``pid``: its own, the only process it sends SIGSYS to)."""
    return [
        # --- the ptrace platform
        Entry("ptrace", "run and inspect the stubs it traces; never a new tracee",
              allow_if(*one_of(0, PTRACE_REQUESTS))),
        Entry("wait4", "learn of stub stops and exits (waitpid), reap the terminal watchdog"),
        Entry("tgkill", "interrupt a stub thread that has a signal to take; SIGSYS to itself after a trap",
              allow_if(eq32(2, INTERRUPT_SIGNAL), (eq32(0, pid), eq32(2, _SIGSYS)))),
        Entry("kill", "SIGKILL a stub process whose address space is gone", allow_if(eq32(1, _SIGKILL))),
        Entry("pidfd_open", "watch a guest thread of each stub with a thread pidfd: a stub killed from "
                            "outside is a SIGKILL of its guest process, learnt at once"),
        Entry("sched_setaffinity", "pin a trapping stub thread to the Sentry's CPU, unpin a computing one"),
        Entry("sched_getaffinity", "whether a new stub thread was born on the Sentry's CPU (ptrace/placement.py)"),
        Entry("sched_yield", "let a stub thread resumed on the Sentry's own CPU run at once (ptrace/waiter.py)"),
        # --- memory: the memory file, file mappings, the Sentry's own heap
        Entry("mmap", "map the memory file and files of the page cache; Python's heap. Never executable",
              allow_if(_NO_EXEC)),
        Entry("munmap", "unmap page-cache windows and heap"),
        Entry("mprotect", "glibc's malloc makes more of a thread arena's reserved heap writable; "
              "size-dependent, as mremap (a failed huge allocation showed it). Never executable",
              allow_if(_NO_EXEC)),
        Entry("brk", "Python's heap"),
        Entry("mremap", "resize a large heap block in place (a big guest read's buffer); size-dependent, "
              "so a run may or may not need it"),
        Entry("madvise", "the heap gives large blocks back; size-dependent, as mremap"),
        Entry("memfd_create", "tmpfs files, copied-up files and the guest's own memfds are memfds"),
        Entry("fallocate", "punch freed guest pages out of the memory file; the guest's fallocate on memfds"),
        Entry("ftruncate", "size a memfd: tmpfs truncate, copy-up"),
        # --- the files it holds: stdio, the pty master, gofer sockets, donated files, memfds
        Entry("read", "host stdio, the pty master, the gofer sockets, the SIGCHLD signalfd"),
        Entry("write", "host stdio, the pty master, the log"),
        Entry("readv", "a guest's readv of a host stream"),
        Entry("writev", "a guest's writev of a host stream"),
        Entry("pread64", "a page of a file into the page cache; an idle tmpfs file's bytes as it is parked"),
        Entry("pwrite64", "a changed page written back; a parked tmpfs file's bytes into its new memfd"),
        Entry("preadv2", "a guest's read of a donated file or memfd, straight into guest memory (os.preadv)"),
        Entry("pwritev2", "a guest's write of a donated file or memfd, straight from guest memory (os.pwritev)"),
        Entry("lseek", "SEEK_DATA/SEEK_HOLE over the memory file when a process forks; file offsets"),
        Entry("sendfile", "copy-up of a file of the image into a memfd"),
        Entry("newfstatat", "fstat of an fd (size, identity for the page cache); a host path only fails: "
              "the root is empty"),
        Entry("openat", "opens /proc/PID/task/TID/schedstat and stat of a stub (a thread's CPU time, the CPU "
              "it runs on); a host path can only fail: the root holds nothing else"),
        Entry("close", "fds of released files and memfds"),
        Entry("dup2", "the host's stdio put back after run -t"),
        Entry("fcntl", "non-blocking mode, duplicating fds (os.dup)", allow_if(*one_of(1, FCNTL_COMMANDS))),
        Entry("ioctl", "modes and window size of the host terminal and the run -t pty; close-on-exec",
              allow_if(*one_of(1, IOCTL_REQUESTS))),
        # --- the event loop and the sockets it was handed before confinement
        Entry("epoll_create1", "trio's I/O manager"),
        Entry("epoll_ctl", "trio's I/O manager"),
        Entry("epoll_wait", "trio's I/O manager"),
        Entry("poll", "a readiness check of a host stream that must not wait"),
        Entry("pselect6", "select(): a brief wait on the SIGCHLD signalfd for a stub's stop; flushing the pty "
              "before exit"),
        Entry("accept4", "a ps/inspect client on the control socket bound at start"),
        Entry("recvfrom", "control requests; gofer replies; trio's wake-up channel; the bytes and datagrams "
                          "of connections out (services/netstack/egress.py)"),
        Entry("sendto", "control replies; gofer requests; trio's wake-up channel; requests to the net helper "
                        "and the bytes of connections out"),
        Entry("recvmsg", "gofer replies with a donated fd beside them, the net helper's with a connected "
                         "socket (SCM_RIGHTS)"),
        Entry("getsockname", "trio asks an accepted control connection's address"),
        Entry("setsockopt", "trio's options on an accepted control connection; SO_LINGER 0 to reset a "
                            "connection out"),
        Entry("shutdown", "half-closing a published port's or a connection out's host socket when the guest "
                          "ends its side"),
        # --- Python and glibc
        Entry("futex", "glibc's locks"),
        Entry("rt_sigaction", "trio's and Python's signal handling (SIGWINCH under -t, SIGINT)"),
        Entry("rt_sigreturn", "returning from a signal handler"),
        Entry("getpid", "logging, trio, the trap report"),
        Entry("getrandom", "os.urandom: the guest's /dev/random, /dev/urandom and AT_RANDOM"),
        Entry("clock_gettime", "CPU clocks of stub processes (the guest's CLOCK_PROCESS_CPUTIME_ID)"),
        Entry("clock_nanosleep", "time.sleep while exited stubs are reaped"),
        Entry("sysinfo", "the guest's sysinfo"),
        Entry("prlimit64", "reading its own limits (a new process's defaults, the memfd and fd-cache budgets); "
              "never setting, never another's",
              allow_if((eq32(0, 0), eq(2, 0)))),
        Entry("exit_group", "the Sentry ends (strace cannot count it: it never returns)"),
    ]


def sentry_policy(pid: int) -> Policy:
    return Policy(rules_of(sentry_entries(pid), number), SECCOMP_RET_TRAP)


#: The Sentry's filter, to be given its pid.
SENTRY_TEMPLATE = PidTemplate(sentry_policy)
