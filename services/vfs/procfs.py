"""procfs: the sandbox's processes as files, virtualized (nothing of the host shows through).

Directories and files are generated when looked up or opened: a :class:`ProcDir` lists its
children with a function, a :class:`ProcFile`'s bytes are made at open (a snapshot, as Linux's
seq files are), a :class:`ProcLink`'s target when read. What they show of processes comes from
the ``proc`` service (:mod:`services.proc.contract`) as snapshots, and "self" is the caller the
message names. A process's directory belongs to its effective user, with Linux's modes, so the
VFS's ordinary permission checks decide who may look; its fd, cwd, root and exe links need
what Linux's ptrace access check asks (the same user, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from abi.creds import CAP_SYS_PTRACE, Caller
from abi.errno import EACCES, ENOENT, Errno
from abi.linux import (MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, O_ACCMODE, O_PATH, O_RDONLY, PAGE_SIZE, PROC_SUPER_MAGIC,
                       S_IFREG, SYSFS_MAGIC)
from services.vfs.file import File, PathFile, seek_position
from services.vfs.inotify import InotifyLimits
from services.vfs.inode import Dir, Filesystem, Inode, Symlink
from services.vfs.path import path_of

if TYPE_CHECKING:
    from kernel.bus import Bus
    from services.proc.contract import ProcessInfo, SystemInfo
    from services.vfs.mounts import MountTable

RELEASE = b"6.1.0-sentrio"

Generator = Callable[[], Awaitable[bytes]]
Listing = Callable[["ProcDir"], Awaitable[dict[bytes, Inode]]]


class SnapshotFile(File):
    """An open procfs file: the bytes made at open, read from the description's offset."""

    def __init__(self, flags: int, inode: Inode, data: bytes) -> None:
        super().__init__(flags, inode)
        self.data = data

    async def read(self, buffers: list[memoryview]) -> int:
        n = await self.pread(buffers, self.offset)
        self.offset += n
        return n

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        done = 0
        for view in buffers:
            chunk = self.data[offset + done:offset + done + len(view)]
            view[:len(chunk)] = chunk
            done += len(chunk)
            if len(chunk) < len(view):
                break
        return done

    async def seek(self, offset: int, whence: int) -> int:
        self.offset = seek_position(self.offset, len(self.data), offset, whence)
        return self.offset


class ProcFile(Inode):
    """A read-only file whose bytes ``generate`` makes at each open."""

    def __init__(self, fs: Filesystem, generate: Generator, mode: int = 0o444, uid: int = 0, gid: int = 0) -> None:
        super().__init__(fs, S_IFREG | mode, uid, gid)
        self.generate = generate

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        if flags & O_ACCMODE != O_RDONLY:
            raise Errno(EACCES)
        return SnapshotFile(flags, self, await self.generate())


class ReaderProcFile(ProcFile):
    """A ProcFile whose bytes depend on who opens it (a namespace's names are the reader's)."""

    def __init__(self, fs: Filesystem, generate_for: Callable[[Caller], Awaitable[bytes]]) -> None:
        super().__init__(fs, _nothing)
        self.generate_for = generate_for

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        if flags & O_ACCMODE != O_RDONLY:
            raise Errno(EACCES)
        return SnapshotFile(flags, self, await self.generate_for(caller))


async def _nothing() -> bytes:
    return b""


class ProcLink(Symlink):
    """A symlink whose target is computed when read, for the caller reading it."""

    def __init__(self, fs: Filesystem, target: Callable[[Caller | None], Awaitable[bytes]]) -> None:
        super().__init__(fs, None)
        self.compute = target

    async def readlink(self, caller: Caller | None = None) -> bytes:
        return await self.compute(caller)

    def size(self) -> int:
        return 64


class MagicLink(ProcLink):
    """/proc/PID/fd/N, cwd and root: followed, they lead to the file itself, not to a path
    (so a pipe, a deleted file or stdin can be reopened through them). Reading or following
    one needs ptrace access to its process (``allowed``)."""

    def __init__(self, fs: Filesystem, target: Callable[[Caller | None], Awaitable[bytes]], inode: Inode | None,
                 allowed: Callable[[Caller | None], bool]) -> None:
        async def checked(caller: Caller | None) -> bytes:
            if not allowed(caller):
                raise Errno(EACCES)
            return await target(caller)

        super().__init__(fs, checked)
        self.inode = inode
        self._allowed = allowed

    def magic(self, caller: Caller | None = None) -> Inode | None:
        if not self._allowed(caller):
            raise Errno(EACCES)
        return self.inode


class ProcDir(Dir):
    """A directory whose children ``listing`` makes when it is looked in."""

    static_children = False  # computed at each listing: children is empty between them

    def __init__(self, fs: Filesystem, listing: Listing, parent: Dir | None = None, name: bytes = b"",
                 mode: int = 0o555, uid: int = 0, gid: int = 0,
                 find: Callable[[bytes], Awaitable[Inode | None]] | None = None) -> None:
        super().__init__(fs, mode, uid, gid, parent=parent, name=name)
        self.listing = listing
        #: Finds one child by name without listing them all (None: look in the listing).
        self.find = find

    async def _children(self) -> dict[bytes, Inode]:
        children = await self.listing(self)
        for name, child in children.items():
            if isinstance(child, Dir):
                child.parent, child.name = self, name
        return children

    def cached_child(self, name: bytes) -> Inode | None:
        return None  # the entries are computed at each lookup; ``children`` is the last listing

    async def lookup(self, name: bytes) -> Inode:
        if self.find is not None:
            child = await self.find(name)
            if child is None:
                raise Errno(ENOENT)
            if isinstance(child, Dir):
                child.parent, child.name = self, name
            return child
        try:
            return (await self._children())[name]
        except KeyError:
            raise Errno(ENOENT) from None

    async def entries(self) -> list[tuple[bytes, int, int]]:
        self.children = await self._children()
        listing = await Dir.entries(self)
        self.children = {}
        return listing

    async def make(self, *args: Any, **kwargs: Any) -> Inode:
        raise Errno(EACCES)

    async def remove(self, name: bytes, child: Inode) -> None:
        raise Errno(EACCES)

    async def add_link(self, name: bytes, child: Inode) -> None:
        raise Errno(EACCES)

    async def move(self, name: bytes, child: Inode, new_dir: Dir, new_name: bytes) -> None:
        raise Errno(EACCES)

    async def setattr(self, *args: Any, **kwargs: Any) -> None:
        raise Errno(EACCES)


#: One (a_type, a_val) pair of /proc/PID/auxv.
_AUXV_PAIR = struct.Struct("<QQ")
_STATE_NAMES = {"R": "R (running)", "S": "S (sleeping)", "T": "T (stopped)", "Z": "Z (zombie)"}


def _static(fs: Filesystem, data: bytes) -> ProcFile:
    async def generate() -> bytes:
        return data
    return ProcFile(fs, generate)


def _ipc_limits(fs: Filesystem) -> dict[bytes, Inode]:
    """/proc/sys/kernel's System V IPC limits (read-only: the ``ipc`` service keeps Linux's defaults)."""
    from abi import ipc

    values = {b"msgmax": ipc.MSGMAX, b"msgmnb": ipc.MSGMNB, b"msgmni": ipc.MSGMNI, b"shmmax": ipc.SHMMAX,
              b"shmall": ipc.SHMALL, b"shmmni": ipc.SHMMNI}
    files = {name: _static(fs, b"%d\n" % value) for name, value in values.items()}
    files[b"sem"] = _static(fs, b"%d\t%d\t%d\t%d\n" % (ipc.SEMMSL, ipc.SEMMNS, ipc.SEMOPM, ipc.SEMMNI))
    return files


def may_inspect(caller: Caller | None, process: ProcessInfo) -> bool:
    """Linux's ptrace access check for reading (PTRACE_MODE_READ_FSCREDS): the caller's fs ids
    match the process's ids and the process is dumpable, or the caller holds CAP_SYS_PTRACE."""
    if caller is None:
        return False
    creds, target = caller.creds, process.creds
    if caller.pid == process.pid:
        return True
    same_user = creds.fsuid in (target.uid, target.euid, target.suid) and \
        creds.fsgid in (target.gid, target.egid, target.sgid)
    return same_user and process.dumpable or creds.has_cap(CAP_SYS_PTRACE)


class ProcFs:
    """The procfs of one sandbox (and a minimal sysfs)."""

    #: /proc/sys/fs/inotify's limits (the VFS's, which it enforces).
    inotify_limits = InotifyLimits()

    def __init__(self, bus: Bus, root: Callable[[], Dir], mounts: MountTable, files: dict[int, File]) -> None:
        self.bus = bus
        self.fs = Filesystem(magic=PROC_SUPER_MAGIC, name=b"proc")
        self._root = root
        self._mounts = mounts
        #: The VFS's open descriptions by handle: what a process's fd handles name.
        self._files = files

    async def _process(self, pid: int) -> ProcessInfo:
        try:
            return await self.bus.call("proc", "process", pid)
        except Errno:
            raise Errno(ENOENT) from None

    async def _system(self) -> SystemInfo:
        return await self.bus.call("proc", "system")

    # --- the tree --------------------------------------------------------------------------

    def root_dir(self) -> ProcDir:
        fs = self.fs

        async def self_target(caller: Caller | None) -> bytes:
            if caller is None or caller.pid == 0:
                raise Errno(ENOENT)
            return str(caller.pid).encode()

        #: The entries besides the processes' that are not plain files, each made when asked for.
        special: dict[bytes, Callable[[], Inode]] = {
            b"self": lambda: ProcLink(fs, self_target), b"sys": lambda: ProcDir(fs, self._sys),
            b"net": lambda: ProcDir(fs, self._net), b"sysvipc": lambda: ProcDir(fs, self._sysvipc),
        }

        def fixed() -> dict[bytes, Inode]:
            children = {name: make() for name, make in special.items()}
            for name, generate in self._globals().items():
                children[name] = ProcFile(fs, generate)
            return children

        def fixed_one(name: bytes) -> Inode | None:
            make = special.get(name)
            if make is not None:
                return make()
            generate = self._globals().get(name)
            return None if generate is None else ProcFile(fs, generate)

        async def top(directory: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for pid in await self.bus.call("proc", "pids"):
                try:
                    children[str(pid).encode()] = self._process_dir(await self._process(pid))
                except Errno:  # reaped meanwhile
                    continue
            return {**children, **fixed()}

        async def find(name: bytes) -> Inode | None:
            """One name: a process asked for by its pid alone, not the whole table."""
            if name.isdigit() and not name.startswith(b"0"):
                try:
                    return self._process_dir(await self._process(int(name)))
                except Errno:
                    return None
            return fixed_one(name)

        return ProcDir(fs, top, find=find)

    async def _sys(self, directory: ProcDir) -> dict[bytes, Inode]:
        fs = self.fs

        async def hostname(caller: Caller) -> bytes:
            return (await self._process(caller.pid)).hostname + b"\n"

        async def domainname(caller: Caller) -> bytes:
            return (await self._process(caller.pid)).domainname + b"\n"

        async def kernel_dir(_: ProcDir) -> dict[bytes, Inode]:
            return {
                b"hostname": ReaderProcFile(fs, hostname),
                b"domainname": ReaderProcFile(fs, domainname),
                b"ostype": _static(fs, b"Linux\n"),
                b"osrelease": _static(fs, RELEASE + b"\n"),
                b"pid_max": _static(fs, b"4194304\n"),
                **_ipc_limits(fs),
            }

        async def fs_dir(_: ProcDir) -> dict[bytes, Inode]:
            return {b"mqueue": ProcDir(fs, mqueue_dir), b"inotify": ProcDir(fs, inotify_dir)}

        async def inotify_dir(_: ProcDir) -> dict[bytes, Inode]:
            limits = self.inotify_limits
            values = {b"max_user_instances": limits.max_user_instances, b"max_user_watches": limits.max_user_watches,
                      b"max_queued_events": limits.max_queued_events}
            return {name: _static(fs, b"%d\n" % value) for name, value in values.items()}

        async def mqueue_dir(_: ProcDir) -> dict[bytes, Inode]:
            from abi import linux

            values = {b"msg_default": linux.DFLT_MSG, b"msg_max": linux.DFLT_MSGMAX,
                      b"msgsize_default": linux.DFLT_MSGSIZE, b"msgsize_max": linux.DFLT_MSGSIZEMAX,
                      b"queues_max": linux.DFLT_QUEUESMAX}
            return {name: _static(fs, b"%d\n" % value) for name, value in values.items()}

        return {b"kernel": ProcDir(fs, kernel_dir), b"fs": ProcDir(fs, fs_dir)}

    async def _net(self, directory: ProcDir) -> dict[bytes, Inode]:
        """/proc/net: the sandbox's sockets and interfaces, as the netstack tells them."""
        def table(name: str) -> Generator:
            async def generate() -> bytes:
                return await self.bus.call("netstack", "proc_net", name)
            return generate

        return {name.encode(): ProcFile(self.fs, table(name)) for name in ("tcp", "tcp6", "udp", "udp6", "unix", "dev")}

    async def _sysvipc(self, directory: ProcDir) -> dict[bytes, Inode]:
        """/proc/sysvipc: the ``ipc`` service's queues, sets and segments."""
        def table(kind: str) -> Generator:
            async def generate() -> bytes:
                return await self.bus.call("ipc", "proc_sysvipc", kind)
            return generate

        return {kind.encode(): ProcFile(self.fs, table(kind)) for kind in ("msg", "sem", "shm")}

    def _globals(self) -> dict[bytes, Generator]:
        async def meminfo() -> bytes:
            system = await self._system()
            total = (system.memory_limit or 4 << 30) // 1024
            usage = await self.bus.call("mm", "usage")
            # files kept in memory (tmpfs, memfd, the overlay's upper layer) are Shmem and
            # Cached, as Linux shows tmpfs pages, and are used memory; so are pipe buffers
            shmem = usage.get("shmem", 0) // 1024
            used = (usage["allocated"] + usage.get("buffers", 0)) // 1024 + shmem
            free = max(0, total - used)
            rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", free), ("Buffers", 0),
                    ("Cached", shmem), ("SwapCached", 0), ("SwapTotal", 0), ("SwapFree", 0),
                    ("Shmem", shmem), ("Committed_AS", usage["committed"] // 1024)]
            return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in rows).encode()

        async def cpuinfo() -> bytes:
            cpus = (await self._system()).online_cpus
            blocks = []
            for cpu in range(cpus):
                blocks.append(f"processor\t: {cpu}\nvendor_id\t: SentrioVirtual\nmodel name\t: Sentrio virtual CPU\n"
                              f"cpu cores\t: {cpus}\nflags\t\t: fpu sse sse2\n\n")
            return "".join(blocks).encode()

        async def uptime() -> bytes:
            system = await self._system()
            up = time.monotonic() - system.boot_monotonic
            return f"{up:.2f} {up * system.online_cpus:.2f}\n".encode()

        async def loadavg() -> bytes:
            system = await self._system()
            return f"0.00 0.00 0.00 1/{system.tasks} {system.last_pid}\n".encode()

        async def stat() -> bytes:
            system = await self._system()
            boot = int(time.time() - (time.monotonic() - system.boot_monotonic))
            lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
            lines += [f"cpu{n} 0 0 0 0 0 0 0 0 0 0" for n in range(system.online_cpus)]
            lines += [f"btime {boot}", f"processes {system.last_pid}",
                      f"procs_running {system.tasks}", "procs_blocked 0"]
            return ("\n".join(lines) + "\n").encode()

        async def filesystems() -> bytes:
            return b"nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\toverlay\nnodev\tpipefs\nnodev\tsysfs\n"

        async def mounts() -> bytes:
            return self._mounts.proc_mounts()

        return {b"meminfo": meminfo, b"cpuinfo": cpuinfo, b"uptime": uptime, b"loadavg": loadavg,
                b"stat": stat, b"filesystems": filesystems, b"mounts": mounts}

    def _inode_of(self, handle: int | None) -> Inode | None:
        file = self._files.get(handle) if handle is not None else None
        return file.inode if file is not None else None

    def _process_dir(self, process: ProcessInfo) -> ProcDir:
        fs = self.fs
        uid, gid = process.creds.euid, process.creds.egid

        def allowed(caller: Caller | None) -> bool:
            return may_inspect(caller, process)

        async def exe(caller: Caller | None) -> bytes:
            if not allowed(caller):
                raise Errno(EACCES)
            if process.asid is None:  # a zombie has no program any more
                raise Errno(ENOENT)
            return process.exe

        async def cwd(caller: Caller | None) -> bytes:
            directory = self._inode_of(process.cwd)
            if not isinstance(directory, Dir):
                raise Errno(ENOENT)
            return path_of(directory, self._root())

        async def root(caller: Caller | None) -> bytes:
            if process.root is None:  # a zombie's directories are gone
                raise Errno(ENOENT)
            return b"/"

        #: The entries that are not plain files, each made when asked for.
        special: dict[bytes, Callable[[], Inode]] = {
            b"exe": lambda: ProcLink(fs, exe),
            b"cwd": lambda: MagicLink(fs, cwd, self._inode_of(process.cwd), allowed),
            b"root": lambda: MagicLink(fs, root, self._inode_of(process.root), allowed),
            b"fd": lambda: ProcDir(fs, self._fd_listing(process), mode=0o500, uid=uid, gid=gid,
                                   find=self._fd_find(process)),
            b"fdinfo": lambda: ProcDir(fs, self._fdinfo_listing(process), mode=0o500, uid=uid, gid=gid),
            b"task": lambda: ProcDir(fs, self._task_listing(process), mode=0o555, uid=uid, gid=gid),
        }

        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children = {name: make() for name, make in special.items()}
            for name, (generate, mode) in self._process_files(process).items():
                children[name] = ProcFile(fs, generate, mode, uid, gid)
            return children

        async def find(name: bytes) -> Inode | None:
            """One entry (a path through /proc/PID/fd/N walks here): not all forty."""
            make = special.get(name)
            if make is not None:
                return make()
            entry = self._process_files(process).get(name)
            return None if entry is None else ProcFile(fs, entry[0], entry[1], uid, gid)

        return ProcDir(fs, listing, uid=uid, gid=gid, find=find)

    def _task_listing(self, process: ProcessInfo) -> Listing:
        """/proc/PID/task: a directory per live thread, with the process's files as that thread
        shows them (its own id in stat and status, its own state)."""
        uid, gid = process.creds.euid, process.creds.egid

        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for thread in (await self._process(process.pid)).threads:
                files = {name: ProcFile(self.fs, generate, mode, uid, gid)
                         for name, (generate, mode) in self._process_files(process, thread.tid, thread.state).items()}

                async def thread_dir(_: ProcDir, files: dict[bytes, Inode] = files) -> dict[bytes, Inode]:
                    return files

                children[str(thread.tid).encode()] = ProcDir(self.fs, thread_dir, mode=0o555, uid=uid, gid=gid)
            return children
        return listing

    def _fd_listing(self, process: ProcessInfo) -> Listing:
        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for fd, handle, _cloexec in (await self._process(process.pid)).fds:  # as they are now
                file = self._files.get(handle)
                if file is not None:
                    children[str(fd).encode()] = self._fd_link(process, file)
            return children
        return listing

    def _fd_find(self, process: ProcessInfo) -> Callable[[bytes], Awaitable[Inode | None]]:
        """/proc/PID/fd/N alone, as the listing would show it."""
        async def find(name: bytes) -> Inode | None:
            if not name.isdigit() or (name.startswith(b"0") and name != b"0"):
                return None
            try:
                handle = await self.bus.call("proc", "fd_handle", process.pid, int(name))  # as it is now
            except Errno:
                return None
            file = self._files.get(handle) if handle is not None else None
            return self._fd_link(process, file) if file is not None else None
        return find

    def _fd_link(self, process: ProcessInfo, file: File) -> MagicLink:
        """/proc/PID/fd/N of ``file``: followed only by who may inspect ``process``."""
        async def target(caller: Caller | None) -> bytes:
            return self.describe(file)

        return MagicLink(self.fs, target, _reopenable(file), lambda caller: may_inspect(caller, process))

    def _fdinfo_listing(self, process: ProcessInfo) -> Listing:
        """/proc/PID/fdinfo: each fd's offset, flags (close-on-exec included) and inode."""
        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for fd, handle, cloexec in (await self._process(process.pid)).fds:
                file = self._files.get(handle)
                if file is None:
                    continue

                async def info(file: File = file, cloexec: bool = cloexec) -> bytes:
                    flags = file.flags | (0o2000000 if cloexec else 0)
                    ino = file.inode.ino if file.inode is not None else 0
                    return b"pos:\t%d\nflags:\t0%o\nmnt_id:\t0\nino:\t%d\n" % (file.offset, flags, ino)

                children[str(fd).encode()] = ProcFile(self.fs, info, 0o400, process.creds.euid, process.creds.egid)
            return children
        return listing

    def describe(self, file: File) -> bytes:
        """What /proc/PID/fd/N points at."""
        from services.vfs.pipe import Pipe

        path = getattr(file, "path", None)
        if path is not None:
            return path
        if isinstance(file.inode, Pipe):
            return b"pipe:[%d]" % file.inode.ino
        if isinstance(file.inode, Dir):
            return path_of(file.inode, self._root())
        return file.proc_target() or b"/dev/null"

    def _process_files(self, process: ProcessInfo, tid: int | None = None,
                       thread_state: str | None = None) -> dict[bytes, tuple[Generator, int]]:
        """/proc/PID's files with their modes, or with ``tid`` /proc/PID/task/TID's: the same
        but for the id and the state, which are the thread's."""
        shown_id = process.pid if tid is None else tid
        state = process.state if thread_state is None or process.state in "ZT" else thread_state
        mm = process.asid

        async def maps_rows() -> list[tuple[int, int, int, int, int, str]]:
            return [] if mm is None else await self.bus.call("mm", "maps", mm)

        async def cmdline() -> bytes:
            return b"".join(arg + b"\0" for arg in process.argv)

        async def environ() -> bytes:
            return b"".join(var + b"\0" for var in process.envp)

        async def comm() -> bytes:
            return process.comm + b"\n"

        async def auxv() -> bytes:
            return b"".join(_AUXV_PAIR.pack(key, value) for key, value in process.auxv)

        def maps_line(start: int, end: int, prot: int, flags: int, offset: int, name: str) -> str:
            perms = "".join(c if prot & bit else "-" for c, bit in (("r", 1), ("w", 2), ("x", 4)))
            perms += "s" if flags & 1 else "p"
            return f"{start:08x}-{end:08x} {perms} {offset:08x} 00:00 0" + (f"{'':<19}{name}" if name else "") + "\n"

        async def maps() -> bytes:
            rows = await maps_rows() + [(start, end, prot, MAP_PRIVATE, 0, name)
                                        for start, end, prot, name in process.platform_mappings]
            return "".join(maps_line(*row) for row in rows).encode()

        async def smaps_rows() -> list[tuple[int, int, int, int, int, str, int, int, int]]:
            return [] if mm is None else await self.bus.call("mm", "smaps", mm)

        async def smaps() -> bytes:
            """Per VMA: resident memory, and how much of it another mapping shares (copy-on-write
            pages since fork count as shared until one side writes, as in Linux)."""
            lines = []
            for *row, rss, shared, pss in await smaps_rows():
                flags = row[3]
                anonymous = 0 if flags & MAP_SHARED else rss  # (private pages: anonymous, as written)
                lines.append(maps_line(*row))  # type: ignore[arg-type]
                for field, value in (("Size", row[1] - row[0]), ("KernelPageSize", PAGE_SIZE),
                                     ("MMUPageSize", PAGE_SIZE), ("Rss", rss), ("Pss", pss), ("Pss_Dirty", pss),
                                     ("Shared_Clean", 0),
                                     ("Shared_Dirty", shared), ("Private_Clean", 0), ("Private_Dirty", rss - shared),
                                     ("Referenced", rss), ("Anonymous", anonymous), ("Swap", 0)):
                    lines.append(f"{field + ':':<16}{value // 1024:>8} kB\n")
            return "".join(lines).encode()

        async def rss_fields() -> str:
            """VmRSS and its parts: private memory (RssAnon; a private file mapping's pages are
            its own copy here), pages of shared files (RssFile), shared anonymous (RssShmem)."""
            parts = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0}
            for *row, rss, _, _ in await smaps_rows():
                flags = row[3]
                kind = "RssAnon" if not flags & MAP_SHARED else "RssShmem" if flags & MAP_ANONYMOUS else "RssFile"
                parts[kind] += rss
            fields = {"VmRSS": sum(parts.values()), **parts}
            return "".join(f"{name}:\t{value // 1024:>8} kB\n" for name, value in fields.items())

        async def statm() -> bytes:
            pages = sum(end - start for start, end, *_ in await maps_rows()) // PAGE_SIZE
            return f"{pages} 0 0 0 0 0 0\n".encode()

        async def signal_fields() -> str:
            """The shown thread's pending, blocked, ignored and caught signals, as masks."""
            try:
                masks = await self.bus.call("signals", "status", shown_id)
            except Errno:  # a zombie has no signal state left
                masks = (0, 0, 0, 0, 0)
            names = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
            return "".join(f"{name}:\t{mask:016x}\n" for name, mask in zip(names, masks))

        async def status() -> bytes:
            size_kb = sum(end - start for start, end, *_ in await maps_rows()) // 1024
            c = process.creds
            seccomp = next(((t.seccomp_mode, t.seccomp_filters) for t in process.threads if t.tid == shown_id), (0, 0))
            tracer = next((t.tracer_pid for t in process.threads if t.tid == shown_id), 0)
            return (f"Name:\t{process.comm.decode(errors='replace')}\nUmask:\t{process.umask:04o}\n"
                    f"State:\t{_STATE_NAMES[state]}\nTgid:\t{process.pid}\nPid:\t{shown_id}\nPPid:\t{process.ppid}\n"
                    f"TracerPid:\t{tracer}\n"
                    f"Uid:\t{c.uid}\t{c.euid}\t{c.suid}\t{c.fsuid}\nGid:\t{c.gid}\t{c.egid}\t{c.sgid}\t{c.fsgid}\n"
                    f"Groups:\t{' '.join(map(str, c.groups))}{' ' if c.groups else ''}\n"
                    f"FDSize:\t64\nVmSize:\t{size_kb} kB\n{await rss_fields()}Threads:\t{len(process.threads)}\n"
                    f"{await signal_fields()}CapInh:\t{c.cap_inheritable:016x}\nCapPrm:\t{c.cap_permitted:016x}\n"
                    f"CapEff:\t{c.cap_effective:016x}\nCapBnd:\t{c.cap_bounding:016x}\n"
                    f"CapAmb:\t{c.cap_ambient:016x}\nNoNewPrivs:\t{int(process.no_new_privs)}\n"
                    f"Seccomp:\t{seccomp[0]}\nSeccomp_filters:\t{seccomp[1]}\n").encode()

        async def stat() -> bytes:
            fields = [str(shown_id), f"({process.comm.decode(errors='replace')})", state,
                      str(process.ppid), str(process.pgid), str(process.sid)] + ["0"] * 46
            fields[7] = "-1"  # tpgid: no controlling terminal
            fields[19] = str(len(process.threads))
            if mm is not None:
                vsize = sum(end - start for start, end, *_ in await maps_rows())
                fields[22], fields[23] = str(vsize), str(vsize // PAGE_SIZE)  # rss: all of it, as mapped eagerly
            return (" ".join(fields) + "\n").encode()

        async def mounts() -> bytes:
            return self._mounts.proc_mounts()

        async def mountinfo() -> bytes:
            return self._mounts.mountinfo()

        return {b"cmdline": (cmdline, 0o444), b"environ": (environ, 0o400), b"comm": (comm, 0o644),
                b"auxv": (auxv, 0o400),
                b"maps": (maps, 0o444), b"smaps": (smaps, 0o444), b"statm": (statm, 0o444),
                b"status": (status, 0o444),
                b"stat": (stat, 0o444), b"mounts": (mounts, 0o444), b"mountinfo": (mountinfo, 0o444)}


def _reopenable(file: File) -> Inode | None:
    """The inode opening /proc/PID/fd/N reaches: the file's own, where it can be opened again."""
    from services.vfs.eventfd import AnonInodeFile

    if isinstance(file, AnonInodeFile) or file.inode is None:
        return None  # anonymous inodes: followed by their text, which names nothing
    return file.inode


def make_sysfs(online_cpus: int) -> Dir:
    """A minimal /sys: devices/system/cpu/{online,possible,present}."""
    fs = Filesystem(magic=SYSFS_MAGIC, name=b"sysfs")
    root = Dir(fs, 0o555)
    cpus = b"0\n" if online_cpus == 1 else b"0-%d\n" % (online_cpus - 1)
    node = root
    for name in (b"devices", b"system", b"cpu"):
        child = Dir(fs, 0o755, parent=node, name=name)
        node.children[name] = child
        node = child
    for name in (b"online", b"possible", b"present"):
        node.children[name] = _static(fs, cpus)
    return root
