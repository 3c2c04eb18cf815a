"""The ``ipc`` service's contract: System V message queues and semaphore sets.

Objects are named by the ids the service hands out (``msgget``, ``semget``), as Linux names
them: ``seq * 32768 + index``. Every operation whose answer depends on who asks takes the
:class:`~abi.creds.Caller` first; permissions are Linux's ``ipcperms`` (owner, group, other
bits of the object's mode, CAP_IPC_OWNER overriding them) and, for IPC_SET and IPC_RMID, the
owner or creator or CAP_SYS_ADMIN. An id that names nothing fails with EINVAL; an object
removed while a caller sleeps on it wakes the caller with EIDRM.

Operations that sleep (``msgsnd``, ``msgrcv``, ``semop``) sleep inside the call; the caller
cancels the call to interrupt it (a signal), and the service leaves no trace of it. Replies are
immutable values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi.creds import Caller
from kernel.bus import Contract, operation

if TYPE_CHECKING:
    from services.ipc.mqueue import QueueOpened

#: Which kind of object an id names, for the operations common to both.
MSG = "msg"
SEM = "sem"
SHM = "shm"


@dataclass(frozen=True, slots=True)
class IpcPerm:
    """struct ipc64_perm."""

    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    seq: int


@dataclass(frozen=True, slots=True)
class IpcStat:
    """What IPC_STAT tells of an object. ``id`` is its full id (*_STAT replies it).

    A message queue fills ``stime`` (last msgsnd), ``rtime`` (last msgrcv), ``cbytes``,
    ``qnum``, ``qbytes``, ``lspid`` and ``lrpid``; a semaphore set ``otime`` (last semop) and
    ``nsems``; a shared memory segment ``segsz``, ``atime`` (last shmat), ``dtime`` (last
    shmdt), ``cpid``, ``lpid`` and ``nattch``. Times are seconds since the epoch, 0 for never.
    """

    id: int
    perm: IpcPerm
    ctime: int
    stime: int = 0
    rtime: int = 0
    cbytes: int = 0
    qnum: int = 0
    qbytes: int = 0
    lspid: int = 0
    lrpid: int = 0
    otime: int = 0
    nsems: int = 0
    segsz: int = 0
    atime: int = 0
    dtime: int = 0
    cpid: int = 0
    lpid: int = 0
    nattch: int = 0


#: One semop operation: (sem_num, sem_op, sem_flg).
SemOp = tuple[int, int, int]


class IpcContract(Contract):
    """The operations of the ``ipc`` service."""

    service = "ipc"

    # --- message queues -----------------------------------------------------------------------

    @operation
    async def msgget(self, caller: Caller, key: int, flags: int) -> int:
        """The id of the queue of ``key`` (a new one for IPC_PRIVATE or, with IPC_CREAT, an
        unknown key; its mode is ``flags & 0o777``). ENOENT for an unknown key without
        IPC_CREAT, EEXIST for a known one with IPC_CREAT|IPC_EXCL, EACCES if the mode bits of
        ``flags`` ask more than the caller may, ENOSPC past MSGMNI queues."""
        raise NotImplementedError

    @operation
    async def msgsnd(self, caller: Caller, msqid: int, mtype: int, text: bytes, flags: int) -> None:
        """Append a message; sleep while the queue is full. EINVAL for a bad id, ``mtype`` < 1
        or a text over MSGMAX, EACCES without write permission, EAGAIN if full with
        IPC_NOWAIT, EIDRM if the queue is removed meanwhile."""
        raise NotImplementedError

    @operation
    async def msgrcv(self, caller: Caller, msqid: int, size: int, msgtyp: int, flags: int) -> tuple[int, bytes]:
        """Take the first message that ``msgtyp`` selects (0 any, > 0 that type or, with
        MSG_EXCEPT, any other, < 0 the lowest type up to -msgtyp; with MSG_COPY the
        ``msgtyp``-th message, left in place); sleep until there is one. Reply (mtype, text
        cut to ``size`` with MSG_NOERROR). E2BIG for a longer text without MSG_NOERROR (the
        message stays), ENOMSG with IPC_NOWAIT, EINVAL for a bad id, a negative size or
        MSG_COPY without IPC_NOWAIT or with MSG_EXCEPT, EACCES, EIDRM."""
        raise NotImplementedError

    # --- semaphore sets -----------------------------------------------------------------------

    @operation
    async def semget(self, caller: Caller, key: int, nsems: int, flags: int) -> int:
        """The id of the set of ``key``, as ``msgget``; a new set has ``nsems`` semaphores of
        value 0. EINVAL for ``nsems`` outside 0..SEMMSL, 0 for a new set, or more than an
        existing set has; ENOSPC past SEMMNI sets or SEMMNS semaphores."""
        raise NotImplementedError

    @operation
    async def semop(self, caller: Caller, semid: int, ops: tuple[SemOp, ...], timeout: float | None) -> None:
        """Apply every operation at once, or sleep (at most ``timeout`` seconds) until all
        can be. SEM_UNDO operations are undone when the caller's process exits. EINVAL for a
        bad id or no operation, E2BIG past SEMOPM operations, EFBIG for a sem_num past the
        set, EACCES, EAGAIN with IPC_NOWAIT on the operation that would sleep or at the
        timeout, ERANGE past SEMVMX, EIDRM."""
        raise NotImplementedError

    @operation
    async def semctl(self, caller: Caller, semid: int, semnum: int, cmd: int,
                     value: int | tuple[int, ...]) -> int | tuple[int, ...]:
        """GETVAL, GETPID, GETNCNT, GETZCNT (of ``semnum``) and GETALL (a tuple) with read
        permission; SETVAL (``value``) and SETALL (a tuple of them) with write permission,
        which clear every process's undo adjustments for them. EINVAL for a bad id, semnum or
        command, ERANGE for a value outside 0..SEMVMX, EACCES."""
        raise NotImplementedError

    # --- shared memory segments --------------------------------------------------------------

    @operation
    async def shmget(self, caller: Caller, key: int, size: int, flags: int) -> int:
        """The id of the segment of ``key``, as ``msgget``; a new one is ``size`` zeroed bytes (a
        file in memory, as Linux's shmfs). EINVAL for a size outside SHMMIN..SHMMAX for a new
        segment or over an existing one's, ENOSPC past SHMMNI segments or SHMALL pages."""
        raise NotImplementedError

    @operation
    async def shmat(self, caller: Caller, asid: int, shmid: int, flags: int) -> tuple[int, int]:
        """Begin attaching segment ``shmid`` to address space ``asid``: reply the VFS handle of
        its file (to map MAP_SHARED) and its size; it counts as attached from now. The caller
        then reports ``shm_mapped`` or ``shm_unmapped`` (the mapping failed). Needs read
        permission, and write permission unless SHM_RDONLY. EINVAL, EACCES, EIDRM."""
        raise NotImplementedError

    @operation
    async def shm_mapped(self, asid: int, shmid: int, addr: int) -> None:
        """The segment ``shmat`` handed out is mapped at ``addr`` of ``asid``."""
        raise NotImplementedError

    @operation
    async def shm_unmapped(self, asid: int, shmid: int) -> None:
        """A mapping ``shmat`` began failed: it is not attached after all."""
        raise NotImplementedError

    @operation
    async def shmdt(self, caller: Caller, asid: int, addr: int) -> int:
        """Detach the segment attached at ``addr`` of ``asid``; reply its size (the caller
        unmaps it). A segment removed while attached goes at its last detach. EINVAL if no
        segment is attached there."""
        raise NotImplementedError

    @operation
    async def address_space_forked(self, parent: int, child: int) -> None:
        """Address space ``child`` was forked from ``parent``: it has the parent's attachments
        too (each counted in its segment's nattch, as Linux's fork counts them)."""
        raise NotImplementedError

    @operation
    async def address_space_gone(self, asid: int) -> None:
        """Address space ``asid`` is destroyed (exit, execve): every segment attached to it is
        detached."""
        raise NotImplementedError

    # --- every kind ---------------------------------------------------------------------------

    @operation
    async def stat(self, caller: Caller, kind: str, ident: int, any_caller: bool, by_index: bool) -> IpcStat:
        """IPC_STAT of id ``ident`` of ``kind`` (MSG, SEM or SHM); with ``by_index``
        (MSG_STAT, SEM_STAT, SHM_STAT) ``ident`` is a slot index. Needs read permission unless ``any_caller``
        (*_STAT_ANY). EINVAL for nothing there, EACCES."""
        raise NotImplementedError

    @operation
    async def set(self, caller: Caller, kind: str, ident: int, uid: int, gid: int, mode: int, qbytes: int) -> None:
        """IPC_SET: owner, group, the 0o777 bits of the mode and (a queue) its byte limit.
        EPERM unless the caller owns or created it or has CAP_SYS_ADMIN, or for a qbytes over
        MSGMNB without CAP_SYS_RESOURCE; EINVAL."""
        raise NotImplementedError

    @operation
    async def remove(self, caller: Caller, kind: str, ident: int) -> None:
        """IPC_RMID: the object goes at once and its sleepers fail with EIDRM; a segment still
        attached loses its key and goes at its last detach (SHM_DEST). EPERM, EINVAL."""
        raise NotImplementedError

    @operation
    async def info(self, kind: str, usage: bool) -> tuple[tuple[int, ...], int]:
        """IPC_INFO (the limits) or, with ``usage``, MSG_INFO/SEM_INFO/SHM_INFO: the fields of
        struct msginfo, seminfo, shminfo64 or shm_info in order, and the highest slot index in use (0 for none)."""
        raise NotImplementedError

    @operation
    async def proc_sysvipc(self, kind: str) -> bytes:
        """/proc/sysvipc/msg, sem or shm: a header line, then one line per object, as Linux."""
        raise NotImplementedError

    @operation
    async def process_exit(self, pid: int) -> None:
        """Process ``pid`` has exited: apply and forget its SEM_UNDO adjustments."""
        raise NotImplementedError

    # --- POSIX message queues (services/ipc/mqueue.py) ------------------------------------------
    # A queue is named without glibc's leading slash; its descriptors are VFS files that name it
    # by the id mq_open replies. ``deadline``: CLOCK_REALTIME nanoseconds, None to wait forever.

    @operation
    async def mq_open(self, caller: Caller, name: bytes, flags: int, mode: int,
                      attr: tuple[int, int] | None) -> QueueOpened:
        """Open (O_CREAT: make, with ``mode`` and ``attr`` = (maxmsg, msgsize) or the defaults)
        the queue ``name``; it counts one more descriptor. ENOENT, EEXIST (O_CREAT|O_EXCL),
        EACCES (the mode bits, a slash in the name), EINVAL (attr past the limits, O_ACCMODE),
        ENAMETOOLONG, ENOSPC (queues_max)."""
        raise NotImplementedError

    @operation
    async def mq_unlink(self, caller: Caller, name: bytes) -> None:
        """Remove the name; the queue lives on while a descriptor is open. ENOENT, EPERM."""
        raise NotImplementedError

    @operation
    async def mq_send(self, caller: Caller, qid: int, text: bytes, priority: int, nonblock: bool,
                      deadline: int | None) -> None:
        """Queue a message, sleeping while the queue is full. EMSGSIZE, EAGAIN (nonblock),
        ETIMEDOUT; the caller cancels the call for a signal."""
        raise NotImplementedError

    @operation
    async def mq_receive(self, caller: Caller, qid: int, size: int, nonblock: bool,
                         deadline: int | None) -> tuple[bytes, int]:
        """Take the oldest message of the highest priority: (text, priority). EMSGSIZE (``size``
        under the queue's msgsize), EAGAIN, ETIMEDOUT."""
        raise NotImplementedError

    @operation
    async def mq_notify(self, caller: Caller, qid: int, notification: tuple[int, int, int] | None) -> None:
        """Register the caller's process for (sigev_notify, signo, value), SIGEV_SIGNAL or
        SIGEV_NONE; None removes its registration. EBUSY if another is registered."""
        raise NotImplementedError

    @operation
    async def mq_getattr(self, qid: int) -> tuple[int, int, int]:
        """(maxmsg, msgsize, curmsgs)."""
        raise NotImplementedError

    @operation
    async def mq_close(self, qid: int) -> None:
        """A descriptor of the queue was released (its notification goes with the last one)."""
        raise NotImplementedError

    @operation
    async def mq_status(self, qid: int) -> bytes:
        """The line read(2) of a descriptor shows (QSIZE, NOTIFY, SIGNO, NOTIFY_PID)."""
        raise NotImplementedError
