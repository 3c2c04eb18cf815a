"""The VFS actor's inotify state, driven directly: the limits (queue overflow, instances,
watches), the cost of a sandbox that watches nothing, and what an instance's close leaves."""

from __future__ import annotations

import pytest

from abi.creds import Caller, Credentials
from abi.errno import EMFILE, ENOSPC, Errno
from abi.inotify import IN_CREATE, IN_IGNORED, IN_MODIFY, IN_Q_OVERFLOW, INOTIFY_EVENT, inotify_max_user_watches
from abi.linux import O_DIRECTORY, O_NONBLOCK, O_PATH
from services.vfs.inode import Dir, Filesystem
from services.vfs.inotify import Inotify, Notifying

ROOT = Caller(pid=1, tid=1, creds=Credentials())
USER = Caller(pid=2, tid=2, creds=Credentials(uid=1000, euid=1000, fsuid=1000, gid=1000, egid=1000, fsgid=1000))


class Sandbox:
    """A VFS actor's inotify part over a tmpfs root."""

    def __init__(self) -> None:
        self.vfs = Notifying(None)  # type: ignore[arg-type]  # no bus: nothing here sends
        self.root = Dir(Filesystem(), 0o1777)
        self.vfs.root_dir = self.root
        self.handle = 0

    async def start(self) -> Sandbox:
        self.handle = self.vfs.new_handle(await self.root.open(O_PATH | O_DIRECTORY, ROOT))
        return self

    async def watch(self, instance: int, path: bytes, mask: int, caller: Caller = ROOT) -> int:
        return await self.vfs.inotify_add_watch(caller, instance, self.handle, self.handle, path, mask)

    async def create(self, name: bytes) -> None:
        self.vfs.notify_created(self.root, name, await self.root.make(name, 0o100644, 0, 0))



async def read_all(instance: Inotify) -> list[tuple[int, int, bytes]]:
    """Every queued event as (wd, mask, name), read as a guest reads them."""
    data = bytearray(4096)
    done = await instance.read([memoryview(data)])
    out: list[tuple[int, int, bytes]] = []
    offset = 0
    while offset < done:
        wd, mask, _, length = INOTIFY_EVENT.unpack_from(data, offset)
        offset += INOTIFY_EVENT.size
        out.append((wd, mask, bytes(data[offset:offset + length]).rstrip(b"\0")))
        offset += length
    return out


async def test_a_full_queue_ends_with_one_overflow_event() -> None:
    sandbox = await Sandbox().start()
    vfs = sandbox.vfs
    vfs.inotify.limits.max_queued_events = 3
    handle = await vfs.inotify_init(ROOT, O_NONBLOCK)
    instance = vfs.files[handle]
    assert isinstance(instance, Inotify)
    assert await sandbox.watch(handle, b"/", IN_CREATE) == 1
    for name in (b"a", b"b", b"c", b"d", b"e"):
        await sandbox.create(name)
    assert await read_all(instance) == [(1, IN_CREATE, b"a"), (1, IN_CREATE, b"b"), (1, IN_CREATE, b"c"),
                                        (-1, IN_Q_OVERFLOW, b"")]
    await sandbox.create(b"f")  # read: room again
    assert await read_all(instance) == [(1, IN_CREATE, b"f")]


async def test_instances_are_counted_per_user_and_freed_at_close() -> None:
    vfs = (await Sandbox().start()).vfs
    vfs.inotify.limits.max_user_instances = 2
    first = await vfs.inotify_init(ROOT, 0)
    await vfs.inotify_init(ROOT, 0)
    with pytest.raises(Errno) as error:
        await vfs.inotify_init(ROOT, 0)
    assert error.value.errno == EMFILE
    await vfs.inotify_init(USER, 0)  # another user's count
    vfs.release(first, 0)
    await vfs.inotify_init(ROOT, 0)


async def test_watches_are_counted_per_user_and_freed_by_rm_watch() -> None:
    sandbox = await Sandbox().start()
    vfs = sandbox.vfs
    vfs.inotify.limits.max_user_watches = 1
    await sandbox.create(b"a")
    handle = await vfs.inotify_init(ROOT, O_NONBLOCK)
    wd = await sandbox.watch(handle, b"/", IN_CREATE)
    assert await sandbox.watch(handle, b"/", IN_MODIFY) == wd  # the same inode: the same watch, no new count
    with pytest.raises(Errno) as error:
        await sandbox.watch(handle, b"/a", IN_MODIFY)
    assert error.value.errno == ENOSPC
    await vfs.inotify_rm_watch(ROOT, handle, wd)
    assert await sandbox.watch(handle, b"/a", IN_MODIFY) == wd + 1
    instance = vfs.files[handle]
    assert isinstance(instance, Inotify)
    assert await read_all(instance) == [(wd, IN_IGNORED, b"")]


async def test_nothing_watched_once_the_last_instance_closes() -> None:
    """The hooks test ``watched`` first: it must be empty again when no watch is left."""
    sandbox = await Sandbox().start()
    vfs = sandbox.vfs
    assert not vfs.watched
    handle = await vfs.inotify_init(ROOT, 0)
    await sandbox.watch(handle, b"/", IN_CREATE)
    assert vfs.watched
    vfs.release(handle, 0)
    assert not vfs.watched
    assert vfs.inotify.watches[0] == 0 and vfs.inotify.instances[0] == 0


def test_max_user_watches_scales_with_memory_between_linux_bounds() -> None:
    assert inotify_max_user_watches(1 << 30) == 8192
    assert inotify_max_user_watches(24 << 30) == 24 * (1 << 30) // 100 // 1312
    assert inotify_max_user_watches(1 << 40) == 1048576
