"""System V message queues (Linux's ipc/msg.c): a list of (type, text) under a byte limit."""

from __future__ import annotations

import time

from abi.creds import Credentials
from abi.errno import E2BIG, EAGAIN, EINVAL, ENOMSG, Errno
from abi.ipc import IPC_NOWAIT, MSG_COPY, MSG_EXCEPT, MSG_NOERROR, MSGMAX, MSGMNB, S_IRUGO, S_IWUGO
from services.ipc.registry import IpcObject


class MessageQueue(IpcObject):
    def __init__(self, key: int, creds: Credentials, mode: int) -> None:
        super().__init__(key, creds, mode)
        self.messages: list[tuple[int, bytes]] = []
        self.cbytes = 0
        self.qbytes = MSGMNB
        self.lspid = self.lrpid = 0
        self.stime = self.rtime = 0

    async def send(self, creds: Credentials, pid: int, mtype: int, text: bytes, flags: int) -> None:
        """msgsnd once the queue is looked up: wait for room, then append."""
        self.check(creds, S_IWUGO)
        while len(text) + self.cbytes > self.qbytes or len(self.messages) + 1 > self.qbytes:
            if flags & IPC_NOWAIT:
                raise Errno(EAGAIN)
            await self.wait_change()
        self.messages.append((mtype, text))
        self.cbytes += len(text)
        self.lspid = pid
        self.stime = int(time.time())
        self.changed()

    async def receive(self, creds: Credentials, pid: int, size: int, msgtyp: int, flags: int) -> tuple[int, bytes]:
        """msgrcv once the queue is looked up: wait for a message ``msgtyp`` selects, take it."""
        self.check(creds, S_IRUGO)
        while True:
            index = self._find(msgtyp, flags)
            if index is not None:
                break
            if flags & IPC_NOWAIT:
                raise Errno(ENOMSG)
            await self.wait_change()
        mtype, text = self.messages[index]
        if len(text) > size and not flags & MSG_NOERROR:
            raise Errno(E2BIG)
        if flags & MSG_COPY:
            return mtype, text[:size]
        del self.messages[index]
        self.cbytes -= len(text)
        self.lrpid = pid
        self.rtime = int(time.time())
        self.changed()
        return mtype, text[:size]

    def _find(self, msgtyp: int, flags: int) -> int | None:
        messages = self.messages
        if flags & MSG_COPY:
            return msgtyp if 0 <= msgtyp < len(messages) else None
        if msgtyp == 0:
            return 0 if messages else None
        if msgtyp < 0:
            best: int | None = None
            for i, (mtype, _) in enumerate(messages):
                if mtype <= -msgtyp and (best is None or mtype < messages[best][0]):
                    best = i
            return best
        except_ = bool(flags & MSG_EXCEPT)
        for i, (mtype, _) in enumerate(messages):
            if (mtype != msgtyp) == except_:
                return i
        return None


def check_send(mtype: int, size: int) -> None:
    """msgsnd's argument checks before the queue is looked up."""
    if size > MSGMAX or size < 0 or mtype < 1:
        raise Errno(EINVAL)


def check_receive(size: int, flags: int) -> None:
    if size < 0 or (flags & MSG_COPY and (flags & MSG_EXCEPT or not flags & IPC_NOWAIT)):
        raise Errno(EINVAL)
