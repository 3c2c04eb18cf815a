"""mount(2) and umount2(2): the sandbox's mount table, for a guest holding CAP_SYS_ADMIN.

The table belongs to the VFS (services/vfs/mountops.py), which checks the capability from the
caller's credentials; these handlers copy the arguments in, in Linux's order (the target and
type strings, then the data page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.linux import PATH_MAX
from abi.mount import MS_BIND, MS_MOVE, MS_PROPAGATION, MS_REMOUNT
from kernel.files import vfs
from kernel.syscalls.args import Addr, Int, ULong
from kernel.syscalls.paths import read_path
from kernel.syscalls.status import partial
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: How much of ``data`` Linux copies in: one page (copy_mount_options).
_DATA_MAX = 4096


@syscall
@partial("one mount namespace for the sandbox; read-only and nosuid are kept per file system (a "
         "read-only bind remount makes its file system read-only); noexec is recorded, not enforced; "
         "mqueue, sysfs and other types are ENODEV")
async def mount(t: Task, source: Addr, target: Addr, filesystemtype: Addr, mountflags: ULong, data: Addr) -> int:
    flags = mountflags & 0xFFFFFFFF
    target_path = await read_path(t, target)
    needs_type = not flags & (MS_REMOUNT | MS_BIND | MS_MOVE | MS_PROPAGATION)
    fstype = await t.mm.read_cstring(filesystemtype, PATH_MAX) if needs_type and filesystemtype else None
    source_path = await t.mm.read_cstring(source, PATH_MAX) if source else None
    options = await _read_data(t, data) if data and needs_type else b""
    await vfs(t, "mount", t.process.root, t.process.cwd, source_path, target_path, fstype, flags, options)
    return 0


@syscall
async def umount2(t: Task, target: Addr, flags: Int) -> int:
    path = await read_path(t, target)
    await vfs(t, "umount", t.process.root, t.process.cwd, path, flags & 0xFFFFFFFF)
    return 0


async def _read_data(t: Task, addr: int) -> bytes:
    """mount's ``data`` as a file system reads its options: a string of up to a page."""
    return await t.mm.read_cstring(addr, _DATA_MAX)
