"""The ``ipc`` service's contract (services/ipc/contract.py), through the bus.

Every test talks to whatever actor serves ``ipc`` (ours, or ``--service ipc=...``) only with
operations, as the system call handlers do.
"""

from __future__ import annotations

import trio
import trio.testing

from abi.creds import Caller, Credentials
from abi.errno import E2BIG, EACCES, EAGAIN, EEXIST, EIDRM, EINVAL, ENOENT, ENOMSG, EPERM
from abi.ipc import (
    GETNCNT, GETVAL, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, MSG_NOERROR, SEM_UNDO, SETVAL, SHM_DEST,
)
from services.ipc.contract import MSG, SEM, SHM
from tests.contracts.conftest import Sandbox

#: A segment's memory is a file of the VFS, which needs the rest.
SERVICES = ("mm", "signals", "gofer", "proc", "vfs", "ipc")

ROOT = Caller(10, 10, Credentials())
OTHER = Caller(20, 20, Credentials.of_user(1000, 1000, caps=0))


async def test_keys_name_one_queue(sandbox: Sandbox) -> None:
    ident = await sandbox.call("ipc", "msgget", ROOT, 77, IPC_CREAT | 0o600)
    assert await sandbox.call("ipc", "msgget", ROOT, 77, 0) == ident
    assert await sandbox.errno("ipc", "msgget", ROOT, 77, IPC_CREAT | IPC_EXCL) == EEXIST
    assert await sandbox.errno("ipc", "msgget", ROOT, 78, 0) == ENOENT
    assert await sandbox.call("ipc", "msgget", ROOT, IPC_PRIVATE, 0o600) != ident
    assert await sandbox.errno("ipc", "msgget", OTHER, 77, 0o600) == EACCES


async def test_messages_by_type(sandbox: Sandbox) -> None:
    q = await sandbox.call("ipc", "msgget", ROOT, IPC_PRIVATE, 0o600)
    for mtype, text in ((3, b"c"), (1, b"a"), (2, b"bb")):
        await sandbox.call("ipc", "msgsnd", ROOT, q, mtype, text, 0)
    assert await sandbox.call("ipc", "msgrcv", ROOT, q, 10, -2, 0) == (1, b"a")
    assert await sandbox.errno("ipc", "msgrcv", ROOT, q, 1, 2, 0) == E2BIG
    assert await sandbox.call("ipc", "msgrcv", ROOT, q, 1, 2, MSG_NOERROR) == (2, b"b")
    assert await sandbox.call("ipc", "msgrcv", ROOT, q, 10, 0, 0) == (3, b"c")
    assert await sandbox.errno("ipc", "msgrcv", ROOT, q, 10, 0, IPC_NOWAIT) == ENOMSG
    assert await sandbox.errno("ipc", "msgsnd", ROOT, q, 0, b"x", 0) == EINVAL
    assert await sandbox.errno("ipc", "msgsnd", OTHER, q, 1, b"x", 0) == EACCES
    stat = await sandbox.call("ipc", "stat", ROOT, MSG, q, False, False)
    assert (stat.id, stat.qnum, stat.lrpid, stat.perm.mode) == (q, 0, ROOT.pid, 0o600)


async def test_a_receiver_sleeps_until_a_send_and_removal_wakes_it(sandbox: Sandbox) -> None:
    q = await sandbox.call("ipc", "msgget", ROOT, IPC_PRIVATE, 0o600)
    got: list[object] = []

    async def receive() -> None:
        got.append(await sandbox.call("ipc", "msgrcv", ROOT, q, 10, 5, 0))
        got.append(await sandbox.errno("ipc", "msgrcv", ROOT, q, 10, 5, 0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        await sandbox.call("ipc", "msgsnd", ROOT, q, 5, b"hi", 0)
        await trio.testing.wait_all_tasks_blocked()
        assert await sandbox.errno("ipc", "remove", OTHER, MSG, q) == EPERM
        await sandbox.call("ipc", "remove", ROOT, MSG, q)
    assert got == [(5, b"hi"), EIDRM]
    assert await sandbox.errno("ipc", "stat", ROOT, MSG, q, False, False) == EINVAL


async def test_semop_is_atomic_and_sleeps(sandbox: Sandbox) -> None:
    s = await sandbox.call("ipc", "semget", ROOT, IPC_PRIVATE, 2, 0o600)
    assert await sandbox.errno("ipc", "semop", ROOT, s, ((0, 1, 0), (1, -1, IPC_NOWAIT)), None) == EAGAIN
    assert await sandbox.call("ipc", "semctl", ROOT, s, 0, GETVAL, 0) == 0
    assert await sandbox.errno("ipc", "semop", ROOT, s, ((0, -1, 0),), 0.01) == EAGAIN

    async def decrement() -> None:
        await sandbox.call("ipc", "semop", ROOT, s, ((1, -2, 0),), None)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(decrement)
        await trio.testing.wait_all_tasks_blocked()
        assert await sandbox.call("ipc", "semctl", ROOT, s, 1, GETNCNT, 0) == 1
        await sandbox.call("ipc", "semctl", ROOT, s, 1, SETVAL, 2)
    assert await sandbox.call("ipc", "semctl", ROOT, s, 1, GETVAL, 0) == 0
    assert await sandbox.call("ipc", "semctl", ROOT, s, 1, GETNCNT, 0) == 0


async def test_sem_undo_at_process_exit(sandbox: Sandbox) -> None:
    s = await sandbox.call("ipc", "semget", ROOT, IPC_PRIVATE, 1, 0o600)
    await sandbox.call("ipc", "semctl", ROOT, s, 0, SETVAL, 3)
    await sandbox.call("ipc", "semop", ROOT, s, ((0, -2, SEM_UNDO),), None)
    await sandbox.call("ipc", "semop", ROOT, s, ((0, -1, 0),), None)
    assert await sandbox.call("ipc", "semctl", ROOT, s, 0, GETVAL, 0) == 0
    await sandbox.call("ipc", "process_exit", ROOT.pid)
    assert await sandbox.call("ipc", "semctl", ROOT, s, 0, GETVAL, 0) == 2
    await sandbox.call("ipc", "process_exit", ROOT.pid)  # applied once
    assert await sandbox.call("ipc", "semctl", ROOT, s, 0, GETVAL, 0) == 2


async def test_info_counts_what_is_in_use(sandbox: Sandbox) -> None:
    await sandbox.call("ipc", "semget", ROOT, IPC_PRIVATE, 4, 0o600)
    fields, _ = await sandbox.call("ipc", "info", SEM, True)
    assert (fields[7], fields[9]) == (1, 4)
    fields, _ = await sandbox.call("ipc", "info", MSG, False)
    assert fields[2:5] == (8192, 16384, 32000)


async def test_a_segment_removed_while_attached_goes_at_its_last_detach(sandbox: Sandbox) -> None:
    m = await sandbox.call("ipc", "shmget", ROOT, 99, 5000, IPC_CREAT | 0o600)
    assert await sandbox.errno("ipc", "shmget", ROOT, 99, 5001, 0) == EINVAL
    assert await sandbox.errno("ipc", "shmat", OTHER, 1, m, 0) == EACCES
    handle, size = await sandbox.call("ipc", "shmat", ROOT, 1, m, 0)
    assert size == 5000
    assert (await sandbox.call("vfs", "fstat", handle)).size == 5000
    await sandbox.call("ipc", "shm_mapped", 1, m, 0x10000)
    await sandbox.call("ipc", "remove", ROOT, SHM, m)
    stat = await sandbox.call("ipc", "stat", ROOT, SHM, m, False, False)
    assert (stat.nattch, stat.perm.mode & SHM_DEST, stat.perm.key) == (1, SHM_DEST, 0)
    assert await sandbox.errno("ipc", "shmget", ROOT, 99, 0, 0) == ENOENT
    assert await sandbox.errno("ipc", "shmdt", ROOT, 1, 0x20000) == EINVAL
    assert await sandbox.call("ipc", "shmdt", ROOT, 1, 0x10000) == 5000
    assert await sandbox.errno("ipc", "stat", ROOT, SHM, m, False, False) == EINVAL


async def test_a_destroyed_address_space_detaches_its_segments(sandbox: Sandbox) -> None:
    m = await sandbox.call("ipc", "shmget", ROOT, IPC_PRIVATE, 4096, 0o600)
    for asid, addr in ((1, 0x10000), (2, 0x10000)):
        await sandbox.call("ipc", "shmat", ROOT, asid, m, 0)
        await sandbox.call("ipc", "shm_mapped", asid, m, addr)
    await sandbox.call("ipc", "address_space_gone", 1)
    assert (await sandbox.call("ipc", "stat", ROOT, SHM, m, False, False)).nattch == 1
