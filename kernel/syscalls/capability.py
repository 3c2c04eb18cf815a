"""capget and capset: a process's capability sets through ``linux/capability.h``'s structures.

The header (``struct __user_cap_header_struct``: version, pid) says how many 32-bit words each
set takes in the data array that follows it (``struct __user_cap_data_struct``: effective,
permitted, inheritable): one for version 1, two for versions 2 and 3. A version the kernel
does not know is answered with the version it prefers, written back into the header, and
EINVAL — except that capget with no data pointer is exactly how programs ask, and succeeds.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAPABILITY_U32S, KERNEL_CAPABILITY_VERSION, Credentials
from abi.errno import EFAULT, EINVAL, EPERM, ESRCH
from abi.errno import Errno
from kernel import creds as rules
from kernel.syscalls.args import Addr
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: One ``struct __user_cap_data_struct``: a 32-bit word of each set.
CAP_DATA = struct.Struct("<III")
_WORD = 0xFFFF_FFFF


async def _words_per_set(t: Task, header: int) -> int:
    """``cap_validate_magic``: the header's version as a count of words per set."""
    (version,) = await t.mm.read_struct(structs.U32, header)
    if version not in CAPABILITY_U32S:
        await t.mm.write_struct(structs.U32, header, KERNEL_CAPABILITY_VERSION)
        raise Errno(EINVAL)
    return CAPABILITY_U32S[version]


def _target_credentials(t: Task, pid: int) -> Credentials:
    """The credentials of thread ``pid`` (0: the caller), a zombie's included."""
    if pid in (0, t.tid):
        return t.process.creds
    task = t.kernel.threads.get(pid)
    if task is not None:
        return task.process.creds
    process = t.kernel.processes.get(pid)
    if process is None:
        raise Errno(ESRCH)
    return process.creds


@syscall
async def capget(t: Task, header: Addr, data: Addr) -> int:
    """Read the effective, permitted and inheritable sets of thread ``header->pid``."""
    try:
        words = await _words_per_set(t, header)
    except Errno as error:
        if error.errno == EINVAL and not data:
            return 0
        raise
    if not data:
        return 0
    (pid,) = await t.mm.read_struct(structs.I32, header + 4)
    if pid < 0:
        raise Errno(EINVAL)
    creds = _target_credentials(t, pid)
    sets = (creds.cap_effective, creds.cap_permitted, creds.cap_inheritable)
    await t.mm.copy_out(data, b"".join(CAP_DATA.pack(*(s >> 32 * i & _WORD for s in sets))
                                       for i in range(words)))
    return 0


@syscall
async def capset(t: Task, header: Addr, data: Addr) -> int:
    """Set the caller's effective, permitted and inheritable sets (the rules of
    :func:`kernel.creds.capset`); a version 1 header clears the upper 32 capabilities."""
    words = await _words_per_set(t, header)
    (pid,) = await t.mm.read_struct(structs.I32, header + 4)
    if pid not in (0, t.tid):
        raise Errno(EPERM)  # only a thread's own capabilities may change
    try:
        raw = await t.mm.copy_in(data, CAP_DATA.size * words)
    except Errno:
        raise Errno(EFAULT) from None
    effective = permitted = inheritable = 0
    for i in range(words):
        e, p, h = CAP_DATA.unpack_from(raw, CAP_DATA.size * i)
        effective |= e << 32 * i
        permitted |= p << 32 * i
        inheritable |= h << 32 * i
    rules.commit(t.process, rules.capset(t.process.creds, effective, permitted, inheritable))
    return 0
