"""The ``ipc`` actor on its own: ids, permission rules and cancelled sleeps."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from abi.creds import CAP_IPC_OWNER, Caller, CapabilitySets, Credentials
from abi.errno import EACCES, EINVAL, Errno
from abi.ipc import GETNCNT, IPC_PRIVATE, IPCMNI_SEQ_MULTIPLIER
from kernel.bus import Bus
from services.ipc.actor import IpcNamespace
from services.ipc.contract import MSG

ROOT = Caller(1, 1, Credentials())
USER = Caller(2, 2, Credentials.of_user(1000, 1000, caps=0))
_OWNER = 1 << CAP_IPC_OWNER
OWNER_CAP = Caller(3, 3, Credentials.of_user(1001, 1001, caps=CapabilitySets(_OWNER, _OWNER, _OWNER)))


async def test_ids_carry_a_sequence_so_a_stale_id_fails() -> None:
    ipc = IpcNamespace(Bus())
    first = await ipc.msgget(ROOT, IPC_PRIVATE, 0o600)
    await ipc.remove(ROOT, MSG, first)
    second = await ipc.msgget(ROOT, IPC_PRIVATE, 0o600)
    assert second % IPCMNI_SEQ_MULTIPLIER == first % IPCMNI_SEQ_MULTIPLIER
    assert second != first
    with pytest.raises(Errno) as error:
        await ipc.msgsnd(ROOT, first, 1, b"x", 0)
    assert error.value.errno == EINVAL


async def test_cap_ipc_owner_overrides_the_mode() -> None:
    ipc = IpcNamespace(Bus())
    q = await ipc.msgget(ROOT, IPC_PRIVATE, 0o600)
    with pytest.raises(Errno) as error:
        await ipc.stat(USER, MSG, q, False, False)
    assert error.value.errno == EACCES
    assert (await ipc.stat(USER, MSG, q, True, False)).id == q  # MSG_STAT_ANY
    await ipc.msgsnd(OWNER_CAP, q, 1, b"x", 0)


async def test_a_cancelled_semop_leaves_no_sleeper_counted() -> None:
    ipc = IpcNamespace(Bus())
    s = await ipc.semget(ROOT, IPC_PRIVATE, 1, 0o600)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ipc.semop, ROOT, s, ((0, -1, 0),), None)
        await trio.testing.wait_all_tasks_blocked()
        assert await ipc.semctl(ROOT, s, 0, GETNCNT, 0) == 1
        nursery.cancel_scope.cancel()  # what a signal does to the sleeping call
    assert await ipc.semctl(ROOT, s, 0, GETNCNT, 0) == 0
