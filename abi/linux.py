"""Linux x86-64 constants used by the Sentry, grouped as in the kernel's uapi headers."""

from __future__ import annotations

import enum
import struct

PAGE_SIZE = 4096
PAGE_SHIFT = 12
#: Highest user address + 1 on x86-64 with 4-level paging (TASK_SIZE_MAX).
TASK_SIZE = 0x7FFF_FFFF_F000


def page_down(addr: int) -> int:
    return addr & ~(PAGE_SIZE - 1)


def page_up(addr: int) -> int:
    return (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


# --- <asm-generic/mman-common.h>, <asm/mman.h> ------------------------------------------------
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_32BIT = 0x40
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_UNINITIALIZED = 0x4000000

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

MS_ASYNC = 1
MS_INVALIDATE = 2
MS_SYNC = 4

MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_DONTDUMP = 16
MADV_DODUMP = 17
MADV_WIPEONFORK = 18
MADV_KEEPONFORK = 19
MADV_COLD = 20
MADV_PAGEOUT = 21
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
MADV_DONTNEED_LOCKED = 24
MADV_COLLAPSE = 25
MADV_HWPOISON = 100

# --- <linux/time.h> ---------------------------------------------------------------------------
CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_TAI = 11
TIMER_ABSTIME = 0x01
NSEC_PER_SEC = 1_000_000_000
USER_HZ = 100

# --- <linux/auxvec.h>, <asm/auxvec.h> ---------------------------------------------------------
AT_NULL = 0
AT_IGNORE = 1
AT_EXECFD = 2
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_NOTELF = 10
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_BASE_PLATFORM = 24
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_RSEQ_FEATURE_SIZE = 27
AT_RSEQ_ALIGN = 28
AT_EXECFN = 31
AT_SYSINFO_EHDR = 33
AT_MINSIGSTKSZ = 51

# --- <asm/prctl.h> ----------------------------------------------------------------------------
ARCH_SET_GS = 0x1001
ARCH_SET_FS = 0x1002
ARCH_GET_FS = 0x1003
ARCH_GET_GS = 0x1004
ARCH_GET_CPUID = 0x1011
ARCH_SET_CPUID = 0x1012

# --- <linux/resource.h> -----------------------------------------------------------------------
RLIMIT_CPU = 0
RLIMIT_FSIZE = 1
RLIMIT_DATA = 2
RLIMIT_STACK = 3
RLIMIT_CORE = 4
RLIMIT_RSS = 5
RLIMIT_NPROC = 6
RLIMIT_NOFILE = 7
RLIMIT_MEMLOCK = 8
RLIMIT_AS = 9
RLIMIT_LOCKS = 10
RLIMIT_SIGPENDING = 11
RLIMIT_MSGQUEUE = 12
RLIMIT_NICE = 13
RLIMIT_RTPRIO = 14
RLIMIT_RTTIME = 15
RLIM_NLIMITS = 16
RLIM_INFINITY = 0xFFFF_FFFF_FFFF_FFFF

# --- <uapi/linux/random.h> --------------------------------------------------------------------
GRND_NONBLOCK = 0x0001
GRND_RANDOM = 0x0002
GRND_INSECURE = 0x0004

# --- <asm-generic/ioctls.h> -------------------------------------------------------------------
TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TCSBRK = 0x5409
TCXONC = 0x540A
TCFLSH = 0x540B
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
#: Bytes written and not yet sent (SIOCOUTQ on a socket).
TIOCOUTQ = 0x5411
#: Open a pty's slave from its master, with no path (Linux 4.13).
TIOCGPTPEER = 0x5441
#: A pty master's replica number, its lock (unlockpt), and whether it is locked.
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTLCK = 0x80045439
#: Packet mode on a pty master.
TIOCPKT = 0x5420
TIOCSCTTY = 0x540E
TIOCNOTTY = 0x5422
TIOCGSID = 0x5429
FIONREAD = 0x541B
FIONBIO = 0x5421
FIONCLEX = 0x5450
FIOCLEX = 0x5451
#: Size of the kernel's struct termios (not glibc's larger one).
KERNEL_TERMIOS_SIZE = 36
WINSIZE_SIZE = 8

# --- <linux/rseq.h> ---------------------------------------------------------------------------
RSEQ_FLAG_UNREGISTER = 1

# --- <linux/futex.h> robust list --------------------------------------------------------------
ROBUST_LIST_HEAD_SIZE = 24

# --- fds --------------------------------------------------------------------------------------
AT_FDCWD = -100

# --- <asm-generic/fcntl.h>: open(2) flags -----------------------------------------------------
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_ACCMODE = 0o3
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_ASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE = 0o20200000
#: Status flags F_SETFL may change (fs/fcntl.c SETFL_MASK).
SETFL_MASK = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME
#: Flags open(2) accepts (fs/open.c VALID_OPEN_FLAGS).
VALID_OPEN_FLAGS = (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK
                    | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW
                    | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE)

# --- fcntl(2) commands ------------------------------------------------------------------------
F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_DUPFD_CLOEXEC = 1030
FD_CLOEXEC = 1

# --- <linux/fcntl.h>: *at(2) flags ------------------------------------------------------------
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000

# --- openat2(2) <linux/openat2.h> -------------------------------------------------------------
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20

# --- renameat2(2) -----------------------------------------------------------------------------
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2

# --- close_range(2) ---------------------------------------------------------------------------
CLOSE_RANGE_UNSHARE = 1 << 1
CLOSE_RANGE_CLOEXEC = 1 << 2

# --- access(2) --------------------------------------------------------------------------------
F_OK = 0
X_OK = 1
W_OK = 2
R_OK = 4

# --- utimensat(2) -----------------------------------------------------------------------------
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

# --- lseek(2) ---------------------------------------------------------------------------------
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4

# --- <linux/stat.h>: file types and mode bits -------------------------------------------------
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000
S_IXGRP = 0o0010

# statx(2) mask bits
STATX_TYPE = 0x001
STATX_MODE = 0x002
STATX_NLINK = 0x004
STATX_UID = 0x008
STATX_GID = 0x010
STATX_ATIME = 0x020
STATX_MTIME = 0x040
STATX_CTIME = 0x080
STATX_INO = 0x100
STATX_SIZE = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF
STATX__RESERVED = 0x80000000

# --- <linux/dirent.h>: d_type -----------------------------------------------------------------
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12


def dtype(mode: int) -> int:
    """The d_type a directory entry reports for a file of ``mode`` (IFTODT)."""
    return (mode & S_IFMT) >> 12


# --- <linux/limits.h> -------------------------------------------------------------------------
PATH_MAX = 4096
NAME_MAX = 255
#: Symlinks one path resolution may follow (fs/namei.c MAXSYMLINKS).
MAXSYMLINKS = 40
#: One read or write moves at most INT_MAX rounded down to a page (fs/read_write.c MAX_RW_COUNT).
MAX_RW_COUNT = 0x7FFF_F000
#: The most fds a process may have however high RLIMIT_NOFILE is (fs/file.c sysctl_nr_open).
NR_OPEN = 1 << 20

# --- <linux/magic.h>: statfs f_type -----------------------------------------------------------
TMPFS_MAGIC = 0x01021994
OVERLAYFS_SUPER_MAGIC = 0x794C7630
V9FS_MAGIC = 0x01021997
PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
SOCKFS_MAGIC = 0x534F434B
DEVPTS_SUPER_MAGIC = 0x1CD1
#: statfs f_flags
ST_RDONLY = 1
ST_NOSUID = 2

# --- <linux/wait.h> exit status encoding ------------------------------------------------------


def exit_status_code(code: int) -> int:
    """The wait status of a process that called exit(code)."""
    return (code & 0xFF) << 8


def signal_status(signo: int, core_dumped: bool = False) -> int:
    """The wait status of a process killed by ``signo``."""
    return signo | (0x80 if core_dumped else 0)


class Signal(enum.IntEnum):
    """Linux x86-64 signal numbers."""

    SIGHUP = 1
    SIGINT = 2
    SIGQUIT = 3
    SIGILL = 4
    SIGTRAP = 5
    SIGABRT = 6
    SIGBUS = 7
    SIGFPE = 8
    SIGKILL = 9
    SIGUSR1 = 10
    SIGSEGV = 11
    SIGUSR2 = 12
    SIGPIPE = 13
    SIGALRM = 14
    SIGTERM = 15
    SIGSTKFLT = 16
    SIGCHLD = 17
    SIGCONT = 18
    SIGSTOP = 19
    SIGTSTP = 20
    SIGTTIN = 21
    SIGTTOU = 22
    SIGURG = 23
    SIGXCPU = 24
    SIGXFSZ = 25
    SIGVTALRM = 26
    SIGPROF = 27
    SIGWINCH = 28
    SIGIO = 29
    SIGPWR = 30
    SIGSYS = 31


#: Signals whose default action dumps core (the 0x80 bit of the wait status).
CORE_DUMPING_SIGNALS = frozenset({
    Signal.SIGQUIT, Signal.SIGILL, Signal.SIGTRAP, Signal.SIGABRT, Signal.SIGBUS,
    Signal.SIGFPE, Signal.SIGSEGV, Signal.SIGXCPU, Signal.SIGXFSZ, Signal.SIGSYS,
})

# si_code values for faults (<asm-generic/siginfo.h>)
SI_USER = 0
SI_KERNEL = 0x80
SEGV_MAPERR = 1
SEGV_ACCERR = 2
BUS_ADRERR = 2

# --- <linux/sched.h> clone flags ----------------------------------------------------------------
CSIGNAL = 0x000000FF
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
CLONE_CLEAR_SIGHAND = 0x100000000
CLONE_INTO_CGROUP = 0x200000000
#: struct clone_args as clone3 first shipped it (CLONE_ARGS_SIZE_VER0), and its later sizes.
CLONE_ARGS_SIZE_VER0 = 64
CLONE_ARGS_SIZE_VER2 = 88

# --- <linux/futex.h> ----------------------------------------------------------------------------
FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_FD = 2
FUTEX_REQUEUE = 3
FUTEX_CMP_REQUEUE = 4
FUTEX_WAKE_OP = 5
FUTEX_LOCK_PI = 6
FUTEX_UNLOCK_PI = 7
FUTEX_TRYLOCK_PI = 8
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10
FUTEX_WAIT_REQUEUE_PI = 11
FUTEX_CMP_REQUEUE_PI = 12
FUTEX_LOCK_PI2 = 13
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
FUTEX_BITSET_MATCH_ANY = 0xFFFF_FFFF
FUTEX_WAITERS = 0x8000_0000
FUTEX_OWNER_DIED = 0x4000_0000
FUTEX_TID_MASK = 0x3FFF_FFFF
#: How many robust-list entries the kernel walks at most (ROBUST_LIST_LIMIT).
ROBUST_LIST_LIMIT = 2048
FUTEX_OP_SET = 0
FUTEX_OP_ADD = 1
FUTEX_OP_OR = 2
FUTEX_OP_ANDN = 3
FUTEX_OP_XOR = 4
FUTEX_OP_OPARG_SHIFT = 8
FUTEX_OP_CMP_EQ = 0
FUTEX_OP_CMP_NE = 1
FUTEX_OP_CMP_LT = 2
FUTEX_OP_CMP_LE = 3
FUTEX_OP_CMP_GT = 4
FUTEX_OP_CMP_GE = 5

# --- <linux/wait.h> -----------------------------------------------------------------------------
WNOHANG = 0x00000001
WUNTRACED = 0x00000002
WSTOPPED = WUNTRACED
WEXITED = 0x00000004
WCONTINUED = 0x00000008
WNOWAIT = 0x01000000
WNOTHREAD = 0x20000000
WALL = 0x40000000
WCLONE = 0x80000000
P_ALL = 0
P_PID = 1
P_PGID = 2
P_PIDFD = 3
#: si_code of SIGCHLD (<asm-generic/siginfo.h>)
CLD_EXITED = 1
CLD_KILLED = 2
CLD_DUMPED = 3
CLD_TRAPPED = 4
CLD_STOPPED = 5
CLD_CONTINUED = 6

# --- <linux/prctl.h> ----------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
TASK_COMM_LEN = 16

# --- <linux/resource.h> getrusage / priorities ----------------------------------------------------
RUSAGE_SELF = 0
RUSAGE_CHILDREN = -1
RUSAGE_THREAD = 1
PRIO_PROCESS = 0
PRIO_PGRP = 1
PRIO_USER = 2

#: The most pids the sandbox hands out at once (Linux's PID_MAX_DEFAULT).
PID_MAX = 32768

# --- <linux/binfmts.h> ----------------------------------------------------------------------------
#: Longest single argument or environment string, NUL included (32 pages).
MAX_ARG_STRLEN = 32 * PAGE_SIZE
MAX_ARG_STRINGS = 0x7FFF_FFFF
#: How much of a file execve reads to recognize it (and the longest #! line).
BINPRM_BUF_SIZE = 256
#: How many #! interpreters may chain before ELOOP.
MAX_INTERPRETER_DEPTH = 4

# --- fcntl(2) record locks (<asm-generic/fcntl.h>) --------------------------------------------
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_OFD_GETLK = 36
F_OFD_SETLK = 37
F_OFD_SETLKW = 38
F_RDLCK = 0
F_WRLCK = 1
F_UNLCK = 2
F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032
#: The largest pipe an unprivileged F_SETPIPE_SZ may ask for (/proc/sys/fs/pipe-max-size).
PIPE_MAX_SIZE = 1 << 20

# --- splice(2), tee(2) ------------------------------------------------------------------------
SPLICE_F_MOVE = 1
SPLICE_F_NONBLOCK = 2
SPLICE_F_MORE = 4
SPLICE_F_GIFT = 8
#: Flags open(2) uses but does not keep in the description (F_GETFL never shows them).
O_OPEN_ONLY_FLAGS = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC

# --- preadv2/pwritev2 flags (<uapi/linux/fs.h>) ---------------------------------------------
RWF_HIPRI = 0x01
RWF_DSYNC = 0x02
RWF_SYNC = 0x04
RWF_NOWAIT = 0x08
RWF_APPEND = 0x10
RWF_SUPPORTED = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND

# --- <asm/signal.h>, <asm-generic/signal-defs.h> --------------------------------------------------
NSIG = 64
SIGRTMIN = 32
SIG_DFL = 0
SIG_IGN = 1
SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2
SA_NOCLDSTOP = 0x00000001
SA_NOCLDWAIT = 0x00000002
SA_SIGINFO = 0x00000004
SA_UNSUPPORTED = 0x00000400
SA_EXPOSE_TAGBITS = 0x00000800
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
SS_ONSTACK = 1
SS_DISABLE = 2
SS_AUTODISARM = 1 << 31
MINSIGSTKSZ = 2048
#: si_code values (<asm-generic/siginfo.h>)
SI_QUEUE = -1
SI_TIMER = -2
SI_TKILL = -6
SEGV_PKUERR = 4
ILL_ILLOPN = 2
FPE_INTDIV = 1
TRAP_BRKPT = 1
#: uc_flags of a signal frame (<asm/ucontext.h>)
UC_FP_XSTATE = 0x1
UC_SIGCONTEXT_SS = 0x2
UC_STRICT_RESTORE_SS = 0x4
#: The magic numbers that frame XSAVE state in a signal frame (<asm/sigcontext.h>).
FP_XSTATE_MAGIC1 = 0x46505853
FP_XSTATE_MAGIC2 = 0x46505845
#: eflags bits a signal handler's sigreturn may change (FIX_EFLAGS in arch/x86/kernel/signal.c).
FIX_EFLAGS = 0x50DD5
#: Signals whose default action stops the process, continues it, or is nothing.
STOP_SIGNALS = frozenset({Signal.SIGSTOP, Signal.SIGTSTP, Signal.SIGTTIN, Signal.SIGTTOU})
IGNORED_BY_DEFAULT = frozenset({Signal.SIGCHLD, Signal.SIGURG, Signal.SIGWINCH, Signal.SIGCONT})


def sigbit(signo: int) -> int:
    """The bit of ``signo`` in a sigset_t."""
    return 1 << (signo - 1)


#: Signals that can be neither caught, blocked nor ignored.
UNBLOCKABLE = sigbit(Signal.SIGKILL) | sigbit(Signal.SIGSTOP)
#: Every valid bit of a 64-signal sigset.
ALL_SIGNALS = (1 << NSIG) - 1

# --- itimers --------------------------------------------------------------------------------------
ITIMER_REAL = 0
ITIMER_VIRTUAL = 1
ITIMER_PROF = 2

# --- pipes (<linux/pipe_fs_i.h>, <linux/limits.h>) ---------------------------------------------
#: Writes of at most this many bytes to a pipe are atomic.
PIPE_BUF = 4096
#: A new pipe's capacity (16 pages).
PIPE_DEFAULT_SIZE = 65536
PIPEFS_MAGIC = 0x50495045

# --- poll(2), epoll(7) (<uapi/asm-generic/poll.h>, <uapi/linux/eventpoll.h>) ------------------
POLLIN = 0x001
POLLPRI = 0x002
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020
POLLRDNORM = 0x040
POLLRDBAND = 0x080
POLLWRNORM = 0x100
POLLWRBAND = 0x200
POLLMSG = 0x400
POLLRDHUP = 0x2000
EPOLLIN = POLLIN
EPOLLOUT = POLLOUT
EPOLLERR = POLLERR
EPOLLHUP = POLLHUP
EPOLLRDHUP = POLLRDHUP
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLL_CLOEXEC = O_CLOEXEC
#: The most events one epoll_wait may ask for (INT_MAX / sizeof(struct epoll_event)).
EP_MAX_EVENTS = 0x7FFF_FFFF // 12
#: How deep epolls may watch epolls (fs/eventpoll.c EP_MAX_NESTS).
EP_MAX_NESTS = 4
#: FD_SETSIZE of select(2).
FD_SETSIZE = 1024

# --- eventfd(2) -------------------------------------------------------------------------------
EFD_SEMAPHORE = 1
EFD_CLOEXEC = O_CLOEXEC
EFD_NONBLOCK = O_NONBLOCK

# --- signalfd(2) ------------------------------------------------------------------------------
SFD_CLOEXEC = O_CLOEXEC
SFD_NONBLOCK = O_NONBLOCK
SI_SIGIO = -5

# --- memfd_create(2), fallocate(2), flock(2) --------------------------------------------------
MFD_CLOEXEC = 0x0001
MFD_ALLOW_SEALING = 0x0002
MFD_HUGETLB = 0x0004
MFD_NOEXEC_SEAL = 0x0008
MFD_EXEC = 0x0010
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
LOCK_SH = 1
LOCK_EX = 2
LOCK_NB = 4
LOCK_UN = 8

# --- <asm-generic/siginfo.h> sigevent ----------------------------------------------------------------
SIGEV_SIGNAL = 0
SIGEV_NONE = 1
SIGEV_THREAD = 2
SIGEV_THREAD_ID = 4

#: The largest file offset (loff_t's maximum): lseek beyond it is EINVAL, a lock of length 0
#: reaches it.
OFFSET_MAX = (1 << 63) - 1


# --- scheduling and process attributes: sched_*, membarrier, mlock, personality, UTS names --------

SCHED_OTHER = 0
SCHED_FIFO = 1
SCHED_RR = 2
SCHED_BATCH = 3
SCHED_IDLE = 5
SCHED_DEADLINE = 6
#: sched_ext (Linux 6.12): a fair policy scheduled by a BPF scheduler, or CFS without one.
SCHED_EXT = 7
SCHED_RESET_ON_FORK = 0x4000_0000
#: The real-time priorities of SCHED_FIFO and SCHED_RR (MAX_RT_PRIO - 1 at most).
MAX_RT_PRIO = 100
#: struct sched_attr: size, policy, flags, nice, priority, runtime, deadline, period,
#: util_min, util_max (SCHED_ATTR_SIZE_VER1); VER0 ends before util_min.
SCHED_ATTR = struct.Struct("<IIQiIQQQII")
SCHED_ATTR_SIZE_VER0 = 48
SCHED_FLAG_RESET_ON_FORK = 0x01
SCHED_FLAG_RECLAIM = 0x02
SCHED_FLAG_DL_OVERRUN = 0x04
SCHED_FLAG_KEEP_POLICY = 0x08
SCHED_FLAG_KEEP_PARAMS = 0x10
SCHED_FLAG_UTIL_CLAMP_MIN = 0x20
SCHED_FLAG_UTIL_CLAMP_MAX = 0x40
SCHED_FLAG_ALL = 0x7F
#: The round-robin time slice (RR_TIMESLICE, 100 ms).
RR_TIMESLICE_NS = 100_000_000

MEMBARRIER_CMD_QUERY = 0
MEMBARRIER_CMD_GLOBAL = 1 << 0
MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1
MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2
MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4
MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 5
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 6
MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ = 1 << 7
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ = 1 << 8
MEMBARRIER_CMD_GET_REGISTRATIONS = 1 << 9
MEMBARRIER_CMD_FLAG_CPU = 1 << 0

MCL_CURRENT = 1
MCL_FUTURE = 2
MCL_ONFAULT = 4
MLOCK_ONFAULT = 1

PER_LINUX = 0x0000
PER_MASK = 0x00FF
ADDR_NO_RANDOMIZE = 0x0040000
#: personality(0xffffffff) only asks.
PERSONALITY_QUERY = 0xFFFF_FFFF

#: The longest host and domain name (__NEW_UTS_LEN).
NEW_UTS_LEN = 64
CLONE_NEWTIME = 0x0000_0080

# --- extended attributes (include/uapi/linux/xattr.h, limits.h, capability.h) ---------------------

XATTR_CREATE = 0x1
XATTR_REPLACE = 0x2
#: The longest attribute name (prefix included), the largest value, the largest list.
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
XATTR_SECURITY_PREFIX = b"security."
XATTR_SYSTEM_PREFIX = b"system."
XATTR_TRUSTED_PREFIX = b"trusted."
XATTR_USER_PREFIX = b"user."
XATTR_NAME_CAPS = b"security.capability"
XATTR_NAME_POSIX_ACL_ACCESS = b"system.posix_acl_access"
XATTR_NAME_POSIX_ACL_DEFAULT = b"system.posix_acl_default"
#: struct xattr_args of setxattrat/getxattrat: value pointer, size, flags.
XATTR_ARGS_SIZE_VER0 = 16
#: security.capability values: struct vfs_cap_data (revision 2) and vfs_ns_cap_data (3).
VFS_CAP_REVISION_MASK = 0xFF000000
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_REVISION_3 = 0x03000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
XATTR_CAPS_SZ_2 = 20
XATTR_CAPS_SZ_3 = 24

# --- assorted calls of the compatibility issue (#15): advice, I/O priorities, the kernel log,
# --- clock adjustment, NUMA policies, protection keys -----------------------------------------

POSIX_FADV_NORMAL = 0
POSIX_FADV_DONTNEED = 4
POSIX_FADV_NOREUSE = 5
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
IOPRIO_CLASS_SHIFT = 13
IOPRIO_CLASS_NONE = 0
IOPRIO_CLASS_RT = 1
IOPRIO_CLASS_BE = 2
IOPRIO_CLASS_IDLE = 3
IOPRIO_NR_LEVELS = 8
IOPRIO_WHO_PROCESS = 1
IOPRIO_WHO_PGRP = 2
IOPRIO_WHO_USER = 3
#: SYSLOG_ACTION_CLOSE .. SYSLOG_ACTION_SIZE_BUFFER.
SYSLOG_ACTION_MAX = 10
SYSLOG_ACTION_READ_ALL = 3
SYSLOG_ACTION_SIZE_BUFFER = 10
#: struct timex (struct __kernel_timex): 208 bytes; modes is its first field.
TIMEX_SIZE = 208
ADJ_OFFSET_SINGLESHOT = 0x0001
ADJ_OFFSET_READONLY = 0x2000
ADJ_ADJTIME = ADJ_OFFSET_SINGLESHOT  # the bit that says "adjtime(3)"
ADJ_TICK = 0x4000
TIME_OK = 0
TIME_ERROR = 5
STA_UNSYNC = 0x0040
USER_HZ = 100
MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_LOCAL = 4
MPOL_PREFERRED_MANY = 5
MPOL_WEIGHTED_INTERLEAVE = 6
MPOL_MAX = 7
MPOL_F_NUMA_BALANCING = 1 << 13
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_F_STATIC_NODES = 1 << 15
MPOL_F_NODE = 1 << 0
MPOL_F_ADDR = 1 << 1
MPOL_F_MEMS_ALLOWED = 1 << 2
MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2
MPOL_MF_VALID = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL
MPOL_MF_LAZY = 1 << 3
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
PKEY_DISABLE_ACCESS = 0x1
PKEY_DISABLE_WRITE = 0x2
PKEY_ACCESS_MASK = PKEY_DISABLE_ACCESS | PKEY_DISABLE_WRITE

# --- POSIX message queues (include/linux/mqueue.h, ipc/mqueue.c) --------------------------------

MQ_PRIO_MAX = 32768
#: /proc/sys/fs/mqueue/: msg_default, msg_max, msgsize_default, msgsize_max, queues_max.
DFLT_MSG = 10
DFLT_MSGMAX = 10
DFLT_MSGSIZE = 8192
DFLT_MSGSIZEMAX = 8192
DFLT_QUEUESMAX = 256
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024
SI_MESGQ = -3
MQUEUE_MAGIC = 0x19800202

# --- futex2: futex_wake(2), futex_wait(2) (<uapi/linux/futex.h>, Linux 6.7) ---------------------
FUTEX2_SIZE_U32 = 0x02
FUTEX2_SIZE_MASK = 0x03
FUTEX2_NUMA = 0x04
FUTEX2_PRIVATE = 128
FUTEX2_VALID_FLAGS = FUTEX2_SIZE_MASK | FUTEX2_NUMA | FUTEX2_PRIVATE

# --- kcmp(2) (<uapi/linux/kcmp.h>) ------------------------------------------------------------
KCMP_FILE = 0
KCMP_VM = 1
KCMP_FILES = 2
KCMP_FS = 3
KCMP_SIGHAND = 4
KCMP_IO = 5
KCMP_SYSVSEM = 6
KCMP_EPOLL_TFD = 7

# --- <uapi/linux/uio.h> ------------------------------------------------------------------------
#: The most iovecs one call takes (UIO_MAXIOV).
IOV_MAX = 1024

# --- futex2: futex_waitv(2), futex_requeue(2) (<uapi/linux/futex.h>) ---------------------------
#: The most futexes one futex_waitv may wait on.
FUTEX_WAITV_MAX = 128

# --- signal-driven I/O: fcntl(2) "Managing signals", <uapi/asm-generic/fcntl.h>, siginfo's POLL_* -
F_SETOWN = 8
F_GETOWN = 9
F_SETSIG = 10
F_GETSIG = 11
F_SETOWN_EX = 15
F_GETOWN_EX = 16
#: struct f_owner_ex's types.
F_OWNER_TID = 0
F_OWNER_PID = 1
F_OWNER_PGRP = 2
#: The ioctl forms: O_ASYNC on or off, and the owner (a pid, or a negated process group).
FIOASYNC = 0x5452
FIOSETOWN = 0x8901
SIOCSPGRP = 0x8902
FIOGETOWN = 0x8903
SIOCGPGRP = 0x8904
#: si_code of a signal-driven I/O signal, and the si_band each carries (send_sigio's band_table).
POLL_IN = 1
POLL_OUT = 2
POLL_MSG = 3
POLL_ERR = 4
POLL_PRI = 5
POLL_HUP = 6
POLL_BANDS = {
    POLL_IN: POLLIN | POLLRDNORM,
    POLL_OUT: POLLOUT | POLLWRNORM | POLLWRBAND,
    POLL_MSG: POLLIN | POLLRDNORM | POLLMSG,
    POLL_ERR: POLLERR,
    POLL_PRI: POLLPRI | POLLRDBAND,
    POLL_HUP: POLLHUP | POLLERR,
}
