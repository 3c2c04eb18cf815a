"""procfs: the sandbox's processes as files, virtualized (nothing of the host shows through).

Directories and files are generated when looked up or opened: a :class:`ProcDir` lists its
children with a function, a :class:`ProcFile`'s bytes are made at open (a snapshot, as Linux's
seq files are), a :class:`ProcLink`'s target when read. "self" is the calling process: the
bus's ``current_caller`` names the guest task making the call.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from abi.errno import EACCES, ENOENT
from abi.linux import O_ACCMODE, O_PATH, O_RDONLY, PAGE_SIZE, S_IFREG
from kernel.bus import current_caller
from abi.errno import Errno
from services.vfs.file import File, PathFile, seek_position
from services.vfs.inode import Dir, Filesystem, Inode, Symlink
from services.vfs.path import path_of

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.process import ThreadGroup
    from kernel.task import Task
    from services.vfs.mounts import MountTable

PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
RELEASE = b"6.1.0-sentrio"

Generator = Callable[[], Awaitable[bytes]]


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

    def __init__(self, fs: Filesystem, generate: Generator, mode: int = 0o444) -> None:
        super().__init__(fs, S_IFREG | mode)
        self.generate = generate

    async def open(self, flags: int) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        if flags & O_ACCMODE != O_RDONLY:
            raise Errno(EACCES)
        return SnapshotFile(flags, self, await self.generate())


class ProcLink(Symlink):
    """A symlink whose target is computed when read."""

    def __init__(self, fs: Filesystem, target: Callable[[], Awaitable[bytes]]) -> None:
        super().__init__(fs, None)
        self.compute = target

    async def readlink(self) -> bytes:
        return await self.compute()

    def size(self) -> int:
        return 64


class MagicLink(ProcLink):
    """/proc/PID/fd/N, cwd and root: followed, they lead to the file itself, not to a path
    (so a pipe, a deleted file or stdin can be reopened through them)."""

    def __init__(self, fs: Filesystem, target: Callable[[], Awaitable[bytes]], inode: Inode | None) -> None:
        super().__init__(fs, target)
        self.inode = inode

    def magic(self) -> Inode | None:
        return self.inode


class ProcDir(Dir):
    """A directory whose children ``listing`` makes when it is looked in."""

    def __init__(self, fs: Filesystem, listing: Callable[[ProcDir], Awaitable[dict[bytes, Inode]]],
                 parent: Dir | None = None, name: bytes = b"", mode: int = 0o555) -> None:
        super().__init__(fs, mode, parent=parent, name=name)
        self.listing = listing

    async def _children(self) -> dict[bytes, Inode]:
        children = await self.listing(self)
        for name, child in children.items():
            if isinstance(child, Dir):
                child.parent, child.name = self, name
        return children

    async def lookup(self, name: bytes) -> Inode:
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


_STATE_NAMES = {"R": "R (running)", "S": "S (sleeping)", "T": "T (stopped)", "Z": "Z (zombie)"}


def _state(process: ThreadGroup) -> str:
    """/proc/PID/stat's state letter: Z(ombie), T (stopped), S (every thread asleep in a system
    call), else R."""
    if process.zombie:
        return "Z"
    if process.stopped:
        return "T"
    tasks = process.live_tasks
    return "S" if tasks and all(task.sleeping for task in tasks) else "R"


def _static(fs: Filesystem, data: bytes) -> ProcFile:
    async def generate() -> bytes:
        return data
    return ProcFile(fs, generate)


class ProcFs:
    """The procfs of one sandbox (and a minimal sysfs)."""

    def __init__(self, kernel: Kernel, root: Callable[[], Dir], mounts: MountTable) -> None:
        self.kernel = kernel
        self.fs = Filesystem(magic=PROC_SUPER_MAGIC, name=b"proc")
        self._root = root
        self._mounts = mounts

    # --- whose /proc/self ------------------------------------------------------------------

    def caller(self) -> ThreadGroup | None:
        """The process of the guest task making the current call."""
        who = current_caller.get()
        if not who.startswith("task "):
            return None
        task = self.kernel.threads.get(int(who[5:]))
        return task.process if task is not None else None

    # --- the tree --------------------------------------------------------------------------

    def root_dir(self) -> ProcDir:
        fs = self.fs

        async def top(directory: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {
                str(pid).encode(): self._process_dir(process) for pid, process in self.kernel.processes.items()
            }

            async def self_target() -> bytes:
                process = self.caller()
                if process is None:
                    raise Errno(ENOENT)
                return str(process.pid).encode()

            children[b"self"] = ProcLink(fs, self_target)
            for name, generate in self._globals().items():
                children[name] = ProcFile(fs, generate)
            children[b"sys"] = ProcDir(fs, self._sys)
            return children

        return ProcDir(fs, top)

    async def _sys(self, directory: ProcDir) -> dict[bytes, Inode]:
        fs = self.fs

        async def kernel_dir(_: ProcDir) -> dict[bytes, Inode]:
            return {
                b"hostname": _static(fs, self.kernel.config.hostname.encode() + b"\n"),
                b"ostype": _static(fs, b"Linux\n"),
                b"osrelease": _static(fs, RELEASE + b"\n"),
                b"pid_max": _static(fs, b"4194304\n"),
            }

        return {b"kernel": ProcDir(fs, kernel_dir)}

    def _globals(self) -> dict[bytes, Generator]:
        kernel = self.kernel

        async def meminfo() -> bytes:
            total = (kernel.config.memory_limit or 4 << 30) // 1024
            usage = await kernel.bus.call("mm", "usage")
            free = max(0, total - usage["allocated"] // 1024)
            rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", free), ("Buffers", 0),
                    ("Cached", 0), ("SwapCached", 0), ("SwapTotal", 0), ("SwapFree", 0),
                    ("Shmem", 0), ("Committed_AS", usage["committed"] // 1024)]
            return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in rows).encode()

        async def cpuinfo() -> bytes:
            blocks = []
            for cpu in range(kernel.online_cpus):
                blocks.append(f"processor\t: {cpu}\nvendor_id\t: SentrioVirtual\nmodel name\t: Sentrio virtual CPU\n"
                              f"cpu cores\t: {kernel.online_cpus}\nflags\t\t: fpu sse sse2\n\n")
            return "".join(blocks).encode()

        async def uptime() -> bytes:
            up = time.monotonic() - kernel.boot_time
            return f"{up:.2f} {up * kernel.online_cpus:.2f}\n".encode()

        async def loadavg() -> bytes:
            return f"0.00 0.00 0.00 1/{kernel.task_count()} {kernel._next_pid - 1}\n".encode()

        async def stat() -> bytes:
            boot = int(time.time() - (time.monotonic() - kernel.boot_time))
            lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
            lines += [f"cpu{n} 0 0 0 0 0 0 0 0 0 0" for n in range(kernel.online_cpus)]
            lines += [f"btime {boot}", f"processes {kernel._next_pid - 1}",
                      f"procs_running {kernel.task_count()}", "procs_blocked 0"]
            return ("\n".join(lines) + "\n").encode()

        async def filesystems() -> bytes:
            return b"nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\toverlay\nnodev\tpipefs\nnodev\tsysfs\n"

        async def mounts() -> bytes:
            return self._mount_table()

        return {b"meminfo": meminfo, b"cpuinfo": cpuinfo, b"uptime": uptime, b"loadavg": loadavg,
                b"stat": stat, b"filesystems": filesystems, b"mounts": mounts}

    def _mount_table(self) -> bytes:
        return self._mounts.proc_mounts()

    def _process_dir(self, process: ThreadGroup) -> ProcDir:
        fs = self.fs

        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            async def exe() -> bytes:
                return getattr(process, "exe", b"")

            async def cwd() -> bytes:
                return path_of(process.cwd, self._root())

            async def root() -> bytes:
                return b"/"

            children: dict[bytes, Inode] = {
                b"exe": ProcLink(fs, exe), b"cwd": MagicLink(fs, cwd, process.cwd),
                b"root": MagicLink(fs, root, process.root),
                b"fd": ProcDir(fs, self._fd_listing(process), mode=0o500),
                b"fdinfo": ProcDir(fs, self._fdinfo_listing(process), mode=0o500),
                b"task": ProcDir(fs, self._task_listing(process), mode=0o555),
            }
            for name, generate in self._process_files(process).items():
                children[name] = ProcFile(fs, generate)
            return children

        return ProcDir(fs, listing)

    def _task_listing(self, process: ThreadGroup) -> Callable[[ProcDir], Awaitable[dict[bytes, Inode]]]:
        """/proc/PID/task: a directory per live thread, with the process's files as that thread
        shows them (its own id in stat and status, its own state)."""
        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for task in process.live_tasks:
                files = {name: ProcFile(self.fs, generate)
                         for name, generate in self._process_files(process, task).items()}

                async def thread_dir(_: ProcDir, files: dict[bytes, Inode] = files) -> dict[bytes, Inode]:
                    return files

                children[str(task.tid).encode()] = ProcDir(self.fs, thread_dir, mode=0o555)
            return children
        return listing

    def _fd_listing(self, process: ThreadGroup) -> Callable[[ProcDir], Awaitable[dict[bytes, Inode]]]:
        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for fd in process.fds.fds():
                file = process.fds.get(fd)

                async def target(file: File = file) -> bytes:
                    return self.describe(file)

                children[str(fd).encode()] = MagicLink(self.fs, target, _reopenable(file))
            return children
        return listing

    def _fdinfo_listing(self, process: ThreadGroup) -> Callable[[ProcDir], Awaitable[dict[bytes, Inode]]]:
        """/proc/PID/fdinfo: each fd's offset, flags (close-on-exec included) and inode."""
        async def listing(_: ProcDir) -> dict[bytes, Inode]:
            children: dict[bytes, Inode] = {}
            for fd in process.fds.fds():
                file = process.fds.get(fd)
                cloexec = process.fds.get_cloexec(fd)

                async def info(file: File = file, cloexec: bool = cloexec) -> bytes:
                    flags = file.flags | (0o2000000 if cloexec else 0)
                    ino = file.inode.ino if file.inode is not None else 0
                    return b"pos:\t%d\nflags:\t0%o\nmnt_id:\t0\nino:\t%d\n" % (file.offset, flags, ino)

                children[str(fd).encode()] = ProcFile(self.fs, info)
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

    def _process_files(self, process: ThreadGroup, thread: Task | None = None) -> dict[bytes, Generator]:
        """/proc/PID's files, or with ``thread`` /proc/PID/task/TID's: the same but for the id
        and the state, which are the thread's."""
        shown_id = process.pid if thread is None else thread.tid

        def state() -> str:
            if thread is None or process.zombie or process.stopped:
                return _state(process)
            return "S" if thread.sleeping else "R"

        async def cmdline() -> bytes:
            return b"".join(arg + b"\0" for arg in getattr(process, "argv", []))

        async def environ() -> bytes:
            return b"".join(var + b"\0" for var in getattr(process, "envp", []))

        async def comm() -> bytes:
            return process.comm + b"\n"

        async def maps() -> bytes:
            rows = await process.mm.call("maps")
            lines = []
            for start, end, prot, flags, offset, name in rows:
                perms = "".join(c if prot & bit else "-" for c, bit in (("r", 1), ("w", 2), ("x", 4)))
                perms += "s" if flags & 1 else "p"
                lines.append(f"{start:08x}-{end:08x} {perms} {offset:08x} 00:00 0"
                             + (f"{'':<19}{name}" if name else "") + "\n")
            return "".join(lines).encode()

        async def statm() -> bytes:
            rows = await process.mm.call("maps")
            pages = sum(end - start for start, end, *_ in rows) // PAGE_SIZE
            return f"{pages} 0 0 0 0 0 0\n".encode()

        async def status() -> bytes:
            rows = await process.mm.call("maps")
            size_kb = sum(end - start for start, end, *_ in rows) // 1024
            c = process.creds
            return (f"Name:\t{process.comm.decode(errors='replace')}\nUmask:\t{process.umask:04o}\n"
                    f"State:\t{_STATE_NAMES[state()]}\nTgid:\t{process.pid}\nPid:\t{shown_id}\nPPid:\t{process.ppid}\n"
                    f"Uid:\t{c.uid}\t{c.euid}\t{c.suid}\t{c.suid}\nGid:\t{c.gid}\t{c.egid}\t{c.sgid}\t{c.sgid}\n"
                    f"FDSize:\t64\nVmSize:\t{size_kb} kB\nThreads:\t{len(process.live_tasks)}\n").encode()

        async def stat() -> bytes:
            fields = [str(shown_id), f"({process.comm.decode(errors='replace')})", state(),
                      str(process.ppid), str(process.pgid), str(process.sid)] + ["0"] * 46
            fields[7] = "-1"  # tpgid: no controlling terminal
            fields[19] = str(len(process.live_tasks))
            if not process.zombie:
                vsize = sum(end - start for start, end, *_ in await process.mm.call("maps"))
                fields[22], fields[23] = str(vsize), str(vsize // PAGE_SIZE)  # rss: all of it, as mapped eagerly
            return (" ".join(fields) + "\n").encode()

        async def mounts() -> bytes:
            return self._mount_table()

        async def mountinfo() -> bytes:
            return self._mounts.mountinfo()

        return {b"cmdline": cmdline, b"environ": environ, b"comm": comm, b"maps": maps, b"statm": statm,
                b"status": status, b"stat": stat, b"mounts": mounts, b"mountinfo": mountinfo}


def _reopenable(file: File) -> Inode | None:
    """The inode opening /proc/PID/fd/N reaches: the file's own, where it can be opened again."""
    from services.vfs.eventfd import Epoll, EventFd

    if isinstance(file, (EventFd, Epoll)) or file.inode is None:
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
