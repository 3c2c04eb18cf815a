"""The VFS's contract: every operation on files, by path or by open file description.

The VFS owns the file system tree, every open file description (a *handle* to the kernel) and
every rule about who may do what to a file. The kernel keeps only fd tables — small integers
mapped to handles — and sends every file effect the guest can observe as one of the operations
below, so a swapped, traced or fault-injected VFS sees all of its service.

Conventions:

* ``caller`` is who asks (:class:`abi.creds.Caller`): permissions are decided from its
  credentials, /proc/self and signalfd reads from its pid and tid.
* A path is resolved from ``start`` (the handle of the cwd or of a dirfd) unless it is absolute,
  and never above ``root`` (the handle of the caller's root directory). An **empty path** means
  ``start`` itself: the kernel sends one only for AT_EMPTY_PATH (else it fails with ENOENT first).
* A handle is an integer naming an open file description. The VFS counts its references: a new
  handle comes with one, :meth:`VfsContract.hold` adds one per fd that ``dup`` or ``fork`` makes,
  and :meth:`VfsContract.drop` drops one (the last one releases the description).
* Data moves by reference: ``buffers`` are views of guest memory in the memory file, which the
  VFS reads into or writes from directly. Replies are handles and immutable values (named
  tuples: a stat or an open builds one per call, and a tuple is the cheapest immutable value).
* Failures raise :class:`abi.errno.Errno` with the errno Linux gives; each operation's docstring
  names the ones particular to it. Resolution can also fail with ENOENT, ENOTDIR, ENAMETOOLONG,
  ELOOP and EACCES (search permission), and any change with EROFS.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, NamedTuple

from abi.creds import Caller
from kernel.bus import Contract, operation
from services.netstack.contract import Opened as SocketOpened

if TYPE_CHECKING:
    import trio
    from services.ipc.mqueue import QueueOpened

#: An open file description, as the kernel holds it.
Handle = int


class PidFdTarget(NamedTuple):
    """Whom a pidfd names: the pid, the process's exit event (its identity: a pid reused after
    a reap has another), and whether the pidfd is non-blocking (waitid then does not wait).
    A PIDFD_THREAD pidfd names one thread: ``pid`` is its tid, ``exited`` the thread's end."""

    pid: int
    exited: trio.Event
    nonblocking: bool
    thread: bool = False


class Stat(NamedTuple):
    """What stat(2) reports of a file."""

    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int


class StatFs(NamedTuple):
    """What statfs(2) reports of a file's file system (``flags``: ST_RDONLY, ST_NOSUID ...)."""

    f_type: int
    bsize: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    namelen: int
    flags: int


class SocketIdentity(NamedTuple):
    """A socket description's identity: the netstack's id for it, and its family, type and
    protocol, which the kernel needs for socket calls without asking."""

    sid: int
    family: int
    type: int
    protocol: int


class SigioOwner(NamedTuple):
    """Who a description's signal-driven I/O signals go to (F_SETOWN_EX's struct f_owner_ex),
    with the real and effective uid of the process that set it, which decide whether a target
    may be signalled (Linux's sigio_perm)."""

    #: F_OWNER_TID, F_OWNER_PID or F_OWNER_PGRP.
    kind: int
    id: int
    uid: int
    euid: int


class Opened(NamedTuple):
    """A new open file description, and what the kernel keeps of it beside its fd."""

    handle: Handle
    #: It is the guest's terminal: job control applies to its reads, writes and ioctls.
    terminal: bool = False
    #: It is the sandbox's own ``run -t`` pty, whose modes the guest may set (a host terminal
    #: handed to ``run`` without ``-t`` is a terminal the guest may not change).
    pty: bool = False
    #: A FIFO end whose other end is not open yet: the open completes with ``finish_open``.
    pending: bool = False
    #: A socket's identity (None: not a socket).
    socket: SocketIdentity | None = None
    #: The devpts pseudo-terminal it is an end of (the replica when ``terminal``, else the
    #: master); None for anything else.
    pts: int | None = None


class Executable(NamedTuple):
    """A program opened for execve: a handle open for reading, and what exec needs to know."""

    opened: Opened
    stat: Stat
    #: The absolute path it was reached by (/proc/PID/exe).
    path: bytes
    #: The mount refuses set-id bits (nosuid).
    nosuid: bool


class Attrs(NamedTuple):
    """An attribute change (chmod, chown, utimensat): None leaves a field as it is."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None
    #: Both times are "now" (utimensat with NULL or UTIME_NOW): write permission suffices.
    times_now: bool = False


class RecordLock(NamedTuple):
    """A record lock as F_GETLK reports it (absolute byte range, ``end`` inclusive)."""

    kind: int
    start: int
    end: int
    pid: int


class PtyInfo(NamedTuple):
    """The ``run -t`` pty, as the VFS needs to know it: the guest's terminal device."""

    #: The master side, where the Sentry types the host's keys; the VFS types an end of file
    #: there when the host's input has ended.
    master: int
    #: The slave's device number: a host stream is the sandbox's terminal when it is this device.
    rdev: int
    #: The slave's host path, to open it again for /dev/tty; empty if unknown.
    slave_path: str



class MapGrant(NamedTuple):
    """What ``map_file`` grants: a host fd of the file's bytes (the caller's to close) and, for
    a file whose bytes cannot change while the sandbox lives (an image file the overlay has not
    copied up, under the exclusive policy), an ``identity``: private mappings made under one
    identity may share one copy of the bytes (services/mm/filecopies.py). None: no such promise."""

    fd: int
    identity: Hashable | None = None

class VfsContract(Contract):
    """The operations of the ``vfs`` service."""

    service = "vfs"

    # --- the sandbox's tree and streams -----------------------------------------------------------

    @operation
    async def root(self, caller: Caller) -> Handle:
        """A new O_PATH handle of the sandbox's root directory (the first process's root and cwd)."""
        raise NotImplementedError

    @operation
    async def host_streams(self, fds: tuple[int, ...], pty: PtyInfo | None,
                           owned: bool = False) -> tuple[Opened | None, ...]:
        """Descriptions of the Sentry's own host ``fds`` (its stdin, stdout, stderr), one per fd,
        None where the fd is not open. ``pty`` is the ``run -t`` terminal when the guest has one.
        ``owned``: the fds are given to the VFS (an exec's pipes), closed with their
        descriptions; else they stay the Sentry's."""
        raise NotImplementedError

    @operation
    async def terminal_input_ended(self) -> None:
        """The host's input to the ``run -t`` pty has ended: a read that would wait returns 0."""
        raise NotImplementedError

    # --- names ------------------------------------------------------------------------------------

    @operation
    async def open(self, caller: Caller, root: Handle, start: Handle, path: bytes, flags: int, mode: int,
                   resolve: int = 0) -> Opened:
        """open(2)/openat2(2), flags already validated; ``mode`` is the creation mode after the
        umask; ``resolve`` holds openat2's RESOLVE_* flags. EEXIST (O_CREAT|O_EXCL), EISDIR,
        ENOTDIR (O_DIRECTORY), ELOOP (O_NOFOLLOW on a symlink), ENXIO, EXDEV (RESOLVE_BENEATH),
        EACCES (the mode's permission, O_TRUNC, creating), EPERM, ETXTBSY."""
        raise NotImplementedError

    @operation
    async def finish_open(self, caller: Caller, handle: Handle) -> None:
        """Wait (interruptibly) until a pending FIFO end's other end is opened."""
        raise NotImplementedError

    @operation
    async def open_exec(self, caller: Caller, root: Handle, start: Handle, path: bytes,
                        follow: bool = True) -> Executable:
        """Open a program for execve (the empty path: ``start``'s file, execveat's AT_EMPTY_PATH):
        EACCES unless a regular file the caller may execute (execute permission, not read);
        ELOOP for a symlink not ``follow``ed; ENOEXEC never (the kernel decides that)."""
        raise NotImplementedError

    @operation
    async def stat(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool) -> Stat:
        """stat/lstat/fstatat/statx of a path (the empty path: ``start``, even O_PATH)."""
        raise NotImplementedError

    @operation
    async def access(self, caller: Caller, root: Handle, start: Handle, path: bytes, mode: int, follow: bool,
                     effective: bool) -> None:
        """access/faccessat2: EACCES unless R_OK/W_OK/X_OK in ``mode`` are granted, checked with
        the real ids (or the effective ones with AT_EACCESS); EROFS for W_OK on a read-only mount."""
        raise NotImplementedError

    @operation
    async def readlink(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> bytes:
        """The target of the symlink ``path`` names (never followed). EINVAL for another file."""
        raise NotImplementedError

    @operation
    async def mknod(self, caller: Caller, root: Handle, start: Handle, path: bytes, mode: int, rdev: int) -> None:
        """mknod/mkdir (``mode`` carries the type and the permission bits after the umask).
        EEXIST, EPERM (a device without CAP_MKNOD), EACCES (write and search on the directory)."""
        raise NotImplementedError

    @operation
    async def symlink(self, caller: Caller, target: bytes, root: Handle, start: Handle, path: bytes) -> None:
        """symlink(2): ENOENT for an empty target, EEXIST."""
        raise NotImplementedError

    @operation
    async def link(self, caller: Caller, root: Handle, old_start: Handle, old_path: bytes, new_start: Handle,
                   new_path: bytes, follow: bool) -> None:
        """link/linkat (an empty ``old_path``: AT_EMPTY_PATH, the file ``old_start`` is). EPERM
        for a directory or what protected_hardlinks refuses, EXDEV across file systems, EEXIST,
        ENOENT for an unlinked file that is not an O_TMPFILE."""
        raise NotImplementedError

    @operation
    async def unlink(self, caller: Caller, root: Handle, start: Handle, path: bytes, directory: bool) -> None:
        """unlink(2), or rmdir(2) when ``directory``. EISDIR, ENOTDIR, ENOTEMPTY, EBUSY, EINVAL
        (rmdir of "."), EPERM (the sticky bit), EACCES."""
        raise NotImplementedError

    @operation
    async def rename(self, caller: Caller, root: Handle, old_start: Handle, old_path: bytes, new_start: Handle,
                     new_path: bytes, flags: int) -> None:
        """rename/renameat2 with RENAME_NOREPLACE or RENAME_EXCHANGE. EXDEV, EBUSY, EINVAL (into
        itself), EISDIR, ENOTDIR, ENOTEMPTY, EEXIST, EPERM (the sticky bit), EACCES."""
        raise NotImplementedError

    @operation
    async def setattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool,
                      attrs: Attrs) -> None:
        """chmod/chown/utimensat of a path (the empty path: ``start``). EPERM unless the owner
        (or CAP_FOWNER; CAP_CHOWN to give a file away), EACCES for "now" without write permission."""
        raise NotImplementedError

    @operation
    async def truncate(self, caller: Caller, root: Handle, start: Handle, path: bytes, length: int) -> None:
        """truncate(2): EISDIR, EINVAL (not a regular file), EACCES (write permission), EFBIG."""
        raise NotImplementedError

    @operation
    async def statfs(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> StatFs:
        """statfs/fstatfs (the empty path: ``start``) of the file system holding the file."""
        raise NotImplementedError

    @operation
    async def chdir(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> Handle:
        """chdir/fchdir (the empty path: ``start``): a new O_PATH handle of the directory, for
        the caller's new cwd. ENOTDIR, EACCES (search permission)."""
        raise NotImplementedError

    @operation
    async def getcwd(self, caller: Caller, root: Handle, cwd: Handle) -> bytes:
        """The path of ``cwd`` as seen from ``root``. ENAMETOOLONG past PATH_MAX."""
        raise NotImplementedError

    # --- the mount table (services/vfs/mountops.py) ---------------------------------------------

    @operation
    async def mount(self, caller: Caller, root: Handle, start: Handle, source: bytes | None, target: bytes,
                    fstype: bytes | None, flags: int, data: bytes) -> None:
        """mount(2) on the directory ``target`` names: a new tmpfs, proc or devpts, a bind mount
        (MS_BIND, MS_REC), a remount (MS_REMOUNT), a propagation change, a move (MS_MOVE). EPERM
        without CAP_SYS_ADMIN, ENOENT, ENOTDIR, ENODEV (an unknown type), EINVAL (not a mount point
        where one is needed, bad options), EBUSY."""
        raise NotImplementedError

    @operation
    async def umount(self, caller: Caller, root: Handle, start: Handle, target: bytes, flags: int) -> None:
        """umount2(2) of the mount whose root ``target`` names (with its submounts under
        MNT_DETACH). EPERM, EINVAL (not a mount point, bad flags), EBUSY (in use, without
        MNT_DETACH), EAGAIN (MNT_EXPIRE's first call)."""
        raise NotImplementedError

    # --- references -------------------------------------------------------------------------------

    @operation
    async def hold(self, handles: tuple[Handle, ...]) -> None:
        """One more reference to each handle (dup, fork, a shared cwd)."""
        raise NotImplementedError

    @operation
    async def drop(self, handles: tuple[Handle, ...], table: int) -> tuple[int, ...]:
        """One reference fewer to each handle: fd table ``table`` closed an fd of it, so that
        table's POSIX locks on the file go; the last reference releases the description. The
        reply names the pseudo-terminals this hung up (their master's last reference went), for
        the kernel to take from their sessions."""
        raise NotImplementedError

    # --- data ---------------------------------------------------------------------------------------

    @operation
    async def read(self, caller: Caller, handle: Handle, buffers: list[memoryview], nowait: bool) -> int | None:
        """read/readv at the description's offset. With ``nowait`` a read that would have to
        wait (an empty pipe, a terminal) returns None instead, and the kernel asks again without
        it inside an interruptible sleep. EBADF (not open for reading), EISDIR, EAGAIN
        (O_NONBLOCK), EINVAL."""
        raise NotImplementedError

    @operation
    async def write(self, caller: Caller, handle: Handle, buffers: list[memoryview], nowait: bool) -> int | None:
        """write/writev at the description's offset (its end with O_APPEND); ``nowait`` as for
        read. EBADF, EPIPE (the kernel then sends SIGPIPE), EAGAIN, ENOSPC, EFBIG."""
        raise NotImplementedError

    @operation
    async def pread(self, caller: Caller, handle: Handle, buffers: list[memoryview], offset: int) -> int:
        """pread/preadv at ``offset``, the description's offset unchanged. ESPIPE, EBADF, EISDIR."""
        raise NotImplementedError

    @operation
    async def pwrite(self, caller: Caller, handle: Handle, buffers: list[memoryview], offset: int) -> int:
        """pwrite/pwritev at ``offset``. ESPIPE, EBADF, EFBIG."""
        raise NotImplementedError

    @operation
    async def seek(self, handle: Handle, offset: int, whence: int) -> int:
        """lseek(2): the new offset. ESPIPE, EINVAL (negative or overflowing), EBADF (O_PATH)."""
        raise NotImplementedError

    @operation
    async def fstat(self, handle: Handle) -> Stat:
        """fstat(2) of the description's file."""
        raise NotImplementedError

    @operation
    async def getdents(self, handle: Handle, size: int, legacy: bool = False) -> bytes:
        """getdents64(2): as many ``linux_dirent64`` records as fit in ``size`` bytes from the
        description's position, which moves past them (``legacy``: getdents(2)'s
        ``linux_dirent``). ENOTDIR, EINVAL (the next one does not fit), EBADF (O_PATH)."""
        raise NotImplementedError

    @operation
    async def fsync(self, handle: Handle) -> None:
        """fsync/fdatasync: the file's changes reach its store. EINVAL for a file that cannot."""
        raise NotImplementedError

    @operation
    async def ftruncate(self, caller: Caller, handle: Handle, length: int) -> None:
        """ftruncate(2): EINVAL unless a regular file open for writing, EBADF (O_PATH), EFBIG."""
        raise NotImplementedError

    @operation
    async def fallocate(self, caller: Caller, handle: Handle, mode: int, offset: int, length: int) -> None:
        """fallocate(2): EBADF, ESPIPE (a pipe), ENODEV (not a regular file), EFBIG, ENOSPC."""
        raise NotImplementedError

    @operation
    async def fsetattr(self, caller: Caller, handle: Handle, attrs: Attrs) -> None:
        """fchmod/fchown/futimens of the description's file (EBADF for O_PATH)."""
        raise NotImplementedError

    @operation
    async def get_flags(self, handle: Handle) -> int:
        """F_GETFL: the access mode and status flags."""
        raise NotImplementedError

    @operation
    async def set_flags(self, handle: Handle, flags: int, fd: int | None = None) -> None:
        """F_SETFL (and FIONBIO, FIOASYNC): the settable status flags (O_APPEND, O_NONBLOCK,
        O_ASYNC, O_DIRECT, O_NOATIME) become those of ``flags``; EBADF for O_PATH. ``fd``, with
        O_ASYNC: the fd number it was set through, which its signals carry as si_fd."""
        raise NotImplementedError

    # --- signal-driven I/O (services/vfs/fasync.py) ----------------------------------------------

    @operation
    async def set_async(self, handle: Handle, on: bool, fd: int) -> None:
        """FIOASYNC: O_ASYNC on or off, set through ``fd``; ENOTTY for a file that cannot
        signal its readiness (anything but pipes, sockets, terminals and inotify)."""
        raise NotImplementedError

    @operation
    async def set_owner(self, handle: Handle, owner: SigioOwner | None) -> None:
        """F_SETOWN, F_SETOWN_EX: who gets the description's signal once O_ASYNC is set and the
        file becomes ready (None: nobody). The caller checked that the owner exists."""
        raise NotImplementedError

    @operation
    async def owner(self, handle: Handle) -> SigioOwner | None:
        """F_GETOWN, F_GETOWN_EX: the description's owner."""
        raise NotImplementedError

    @operation
    async def set_sigio_signal(self, handle: Handle, signo: int) -> None:
        """F_SETSIG: the signal sent instead of SIGIO (0: SIGIO itself); EINVAL past the last."""
        raise NotImplementedError

    @operation
    async def sigio_signal(self, handle: Handle) -> int:
        """F_GETSIG."""
        raise NotImplementedError

    @operation
    async def ioctl(self, caller: Caller, handle: Handle, request: int, arg: bytes | int) -> bytes | int:
        """A file's own ioctl: FIONREAD and TIOCOUTQ (the int), terminal queries (TCGETS, TIOCGWINSZ: the
        struct's bytes) and, for the sandbox's own pty, settings (TCSETS*, TIOCSWINSZ with the
        struct's bytes; TCFLSH, TCXONC, TCSBRK with the int). ENOTTY for anything else."""
        raise NotImplementedError

    @operation
    async def pty_peer(self, caller: Caller, handle: Handle, flags: int) -> Opened:
        """TIOCGPTPEER: a new description of the replica of the pty whose master ``handle``
        is, opened with ``flags`` as an open of /dev/pts/N would be. ENOTTY for anything else."""
        raise NotImplementedError

    @operation
    async def pty_signals(self, handle: Handle) -> tuple[int, ...]:
        """The signals the line discipline raised for input written to the pty master
        ``handle`` (ISIG's ^C, ^\\, ^Z), now taken: the kernel sends them to the terminal's
        foreground process group."""
        raise NotImplementedError

    @operation
    async def pipe_size(self, handle: Handle, size: int | None) -> int:
        """F_GETPIPE_SZ (``size`` None) or F_SETPIPE_SZ: the pipe's capacity. EBADF for a file
        that is not a pipe, EPERM above the limit, EBUSY below what it holds."""
        raise NotImplementedError

    @operation
    async def map_file(self, caller: Caller, handle: Handle, prot: int, shared: bool) -> MapGrant | None:
        """mmap(2) of a description: a host fd (the caller's to close) holding the file's bytes,
        for the MM to map, with the file's identity if its bytes cannot change; None for a file
        whose mapping is fresh anonymous memory (/dev/zero). EACCES (not readable, or a shared
        writable mapping of a file not open for writing), ENODEV (a file that cannot be
        mapped), EBADF (O_PATH)."""
        raise NotImplementedError

    # --- locks --------------------------------------------------------------------------------------

    @operation
    async def record_lock(self, caller: Caller, handle: Handle, table: int, ofd: bool, kind: int, whence: int,
                          start: int, length: int, wait: bool) -> None:
        """fcntl F_SETLK/F_SETLKW (POSIX, owned by fd table ``table``) or F_OFD_SETLK[W] (``ofd``,
        owned by the description), over the range struct flock's whence/start/len describe.
        EAGAIN on a conflict without ``wait``, EDEADLK, EBADF (a read lock needs the file open
        for reading, a write lock for writing), EINVAL (a bad range)."""
        raise NotImplementedError

    @operation
    async def record_lock_query(self, caller: Caller, handle: Handle, table: int, ofd: bool, kind: int,
                                whence: int, start: int, length: int) -> RecordLock | None:
        """F_GETLK/F_OFD_GETLK: the first lock that would conflict, or None."""
        raise NotImplementedError

    @operation
    async def flock(self, caller: Caller, handle: Handle, kind: int, wait: bool) -> None:
        """flock(2) with F_RDLCK, F_WRLCK or F_UNLCK as ``kind``. EWOULDBLOCK without ``wait``."""
        raise NotImplementedError

    # --- readiness --------------------------------------------------------------------------------

    @operation
    async def poll(self, caller: Caller, interests: tuple[tuple[Handle, int], ...],
                   deadline: float | None) -> tuple[int, ...]:
        """poll/select: the revents of each (handle, events), waiting until one is ready or the
        trio ``deadline`` passes (None: no deadline). A handle of -1 reports POLLNVAL."""
        raise NotImplementedError

    @operation
    async def epoll_create(self, flags: int) -> Handle:
        """epoll_create1(2): a new epoll instance (``flags``: O_CLOEXEC is the kernel's)."""
        raise NotImplementedError

    @operation
    async def epoll_ctl(self, handle: Handle, op: int, fd: int, target: Handle, events: int, data: int) -> None:
        """epoll_ctl(2), the interest keyed by (fd, target). EINVAL (not an epoll, the epoll
        itself, EPOLLEXCLUSIVE with MOD), EPERM (a file epoll cannot watch), EEXIST, ENOENT,
        ELOOP (a cycle of epolls or nesting deeper than Linux allows)."""
        raise NotImplementedError

    @operation
    async def epoll_wait(self, caller: Caller, handle: Handle, maxevents: int,
                         deadline: float | None) -> list[tuple[int, int]]:
        """epoll_wait(2): up to ``maxevents`` (events, data) pairs, waiting until one is ready
        or the deadline passes. EINVAL for a handle that is not an epoll."""
        raise NotImplementedError

    # --- anonymous files --------------------------------------------------------------------------

    @operation
    async def pipe(self, caller: Caller, flags: int) -> tuple[Handle, Handle]:
        """pipe2(2): the read end and the write end (``flags``: O_NONBLOCK, O_DIRECT)."""
        raise NotImplementedError

    @operation
    async def eventfd(self, caller: Caller, initval: int, flags: int) -> Handle:
        """eventfd2(2) (``flags``: EFD_NONBLOCK, EFD_SEMAPHORE)."""
        raise NotImplementedError

    @operation
    async def eventfd_signal(self, handle: Handle, value: int) -> None:
        """The kernel adds ``value`` to an eventfd's counter, as Linux's eventfd_signal (an AIO
        completion, for one): it never blocks, it saturates at 2^64-1, and it wakes the readers.
        EINVAL if ``handle`` is not an eventfd (a ``value`` of 0 only checks that)."""
        raise NotImplementedError

    @operation
    async def signalfd(self, caller: Caller, handle: Handle | None, mask: int, flags: int) -> Handle:
        """signalfd4(2): a new signalfd (``handle`` None: a new handle), or a new mask for the
        existing one ``handle`` (which is returned, with no new reference). EINVAL for a handle
        that is not a signalfd."""
        raise NotImplementedError

    @operation
    async def socket_file(self, caller: Caller, socket: SocketOpened, family: int, type: int, protocol: int,
                          flags: int) -> Opened:
        """A description for a socket the netstack made (socket, socketpair, accept): reads,
        writes and readiness go to the netstack; its last reference releases the socket.
        ``flags`` may hold O_NONBLOCK."""
        raise NotImplementedError

    @operation
    async def facts(self, handle: Handle) -> Opened:
        """What the kernel keeps beside an fd for ``handle``, a description it was handed
        (SCM_RIGHTS); no new reference. EBADF if there is none."""
        raise NotImplementedError

    @operation
    async def memfd_create(self, caller: Caller, name: bytes, flags: int) -> Handle:
        """memfd_create(2): an unlinked regular file in memory (``flags``: MFD_*)."""
        raise NotImplementedError

    # --- moving data between files ------------------------------------------------------------------

    @operation
    async def sendfile(self, caller: Caller, sink: Handle, source: Handle, offset: int | None,
                       count: int) -> tuple[int, int | None, int]:
        """sendfile(2): (bytes moved, the source offset after, when ``offset`` was given, and
        the errno that cut the copy short after some bytes moved, else 0: the caller still owes
        its signal, SIGXFSZ for EFBIG, SIGPIPE for EPIPE). Only the wait for the first bytes can
        be interrupted (the kernel runs the call as an interruptible sleep); once data moved the
        call finishes. The sink's writes keep the caller's RLIMIT_FSIZE. EBADF, EINVAL (an
        O_APPEND sink), EAGAIN, EPIPE, EFBIG."""
        raise NotImplementedError

    @operation
    async def splice(self, caller: Caller, source: Handle, source_offset: int | None, sink: Handle,
                     sink_offset: int | None, count: int, flags: int) -> tuple[int, int | None, int | None]:
        """splice(2) (one side a pipe): (bytes moved, the offsets after). EINVAL, ESPIPE, EBADF,
        EAGAIN, EPIPE."""
        raise NotImplementedError

    @operation
    async def tee(self, caller: Caller, source: Handle, sink: Handle, count: int, flags: int) -> int:
        """tee(2) between two pipes: bytes copied, left in the source. EINVAL, EBADF, EAGAIN."""
        raise NotImplementedError

    @operation
    async def copy_file_range(self, caller: Caller, source: Handle, source_offset: int | None, sink: Handle,
                              sink_offset: int | None, count: int) -> tuple[int, int | None, int | None, int]:
        """copy_file_range(2) between regular files: (bytes copied, the offsets after, and the
        errno that cut it short, as sendfile's). EBADF, EINVAL (not regular files, overlapping
        ranges of one file), EFBIG, EXDEV never (we copy)."""
        raise NotImplementedError

    # --- timerfd (services/vfs/timerfd.py) ---------------------------------------------------------

    @operation
    async def timerfd_create(self, caller: Caller, clock: Callable[[], int], flags: int) -> Handle:
        """timerfd_create(2) on ``clock``, which reads a clock the caller may use in ns (the
        kernel's reading of it; ``flags``: O_NONBLOCK)."""
        raise NotImplementedError

    @operation
    async def timerfd_settime(self, caller: Caller, handle: Handle, value: int, interval: int,
                              absolute: bool) -> tuple[int, int]:
        """timerfd_settime(2) in ns (``value`` 0 disarms; ``absolute``: TFD_TIMER_ABSTIME): the old
        (time left, interval). EINVAL for a handle that is not a timerfd."""
        raise NotImplementedError

    @operation
    async def timerfd_gettime(self, caller: Caller, handle: Handle) -> tuple[int, int]:
        """timerfd_gettime(2): (ns until the next expiry, 0 if disarmed; interval). EINVAL for a
        handle that is not a timerfd."""
        raise NotImplementedError

    # --- pidfd (services/vfs/pidfd.py) -------------------------------------------------------------

    @operation
    async def pidfd_open(self, caller: Caller, pid: int, exited: trio.Event, flags: int) -> Handle:
        """pidfd_open(2): a pidfd naming process ``pid``, whose exit sets ``exited`` (``flags``:
        O_NONBLOCK, and PIDFD_THREAD for a pidfd naming thread ``pid``, whose end sets
        ``exited``)."""
        raise NotImplementedError

    @operation
    async def pidfd_target(self, handle: Handle) -> PidFdTarget:
        """The process a pidfd names. EBADF for a handle that is not a pidfd."""
        raise NotImplementedError

    @operation
    async def proc_pid(self, handle: Handle) -> int:
        """The pid of the /proc/PID directory open as ``handle`` (pidfd_send_signal takes one for
        a pidfd). EBADF for any other file."""
        raise NotImplementedError

    # --- extended attributes (services/vfs/xattr.py) ---------------------------------------------
    # The file is (start, path, follow); an empty path is the description ``start`` (EBADF if
    # it is O_PATH), as the f* calls name it.

    @operation
    async def getxattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool, name: bytes,
                       size: int) -> bytes | int:
        """getxattr(2): the value, or its length when ``size`` is 0. ENODATA, ERANGE (``size``
        too small), EOPNOTSUPP (a namespace we do not serve), EACCES, EPERM."""
        raise NotImplementedError

    @operation
    async def setxattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool, name: bytes,
                       value: bytes, flags: int) -> None:
        """setxattr(2) with XATTR_CREATE/XATTR_REPLACE: EEXIST, ENODATA, EPERM (user.* of a
        special file, trusted.* or security.* without the capability), EACCES, EINVAL."""
        raise NotImplementedError

    @operation
    async def listxattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool,
                        size: int) -> bytes | int:
        """listxattr(2): the NUL-terminated names the caller may see, or their length when
        ``size`` is 0. ERANGE."""
        raise NotImplementedError

    @operation
    async def removexattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool,
                          name: bytes) -> None:
        """removexattr(2): ENODATA, EPERM, EACCES."""
        raise NotImplementedError

    # --- POSIX message queue descriptors (services/vfs/mqueue.py) ---------------------------------

    @operation
    async def mqueue_file(self, caller: Caller, queue: QueueOpened, name: bytes, flags: int) -> Handle:
        """A new description of the queue the ``ipc`` service opened (``flags``: the access
        mode and O_NONBLOCK); its last close tells the ``ipc`` service."""
        raise NotImplementedError

    @operation
    async def mq_identity(self, handle: Handle) -> tuple[int, int]:
        """(queue id, status flags) of a message queue description; EBADF for any other file."""
        raise NotImplementedError

    # --- inotify (services/vfs/inotify.py) ---------------------------------------------------------

    @operation
    async def inotify_init(self, caller: Caller, flags: int) -> Handle:
        """inotify_init1(2) (``flags``: O_NONBLOCK): a new instance, counted against the
        caller's real uid; EMFILE past max_user_instances."""
        raise NotImplementedError

    @operation
    async def inotify_add_watch(self, caller: Caller, handle: Handle, root: Handle, start: Handle, path: bytes,
                                mask: int) -> int:
        """inotify_add_watch(2): the watch descriptor of the instance's watch on the inode
        ``path`` names (the same one if it is watched already). EINVAL (not an instance, a bad
        mask), ENOTDIR (IN_ONLYDIR), EACCES (no read permission), EEXIST (IN_MASK_CREATE),
        ENOSPC (max_user_watches)."""
        raise NotImplementedError

    @operation
    async def inotify_rm_watch(self, caller: Caller, handle: Handle, wd: int) -> None:
        """inotify_rm_watch(2): the watch goes, and its IN_IGNORED is queued. EINVAL for a
        handle that is not an instance or an unknown ``wd``."""
        raise NotImplementedError
